"""eiegen's software: compression, golden models, file formats, flows, host driver, CLI.

A package per role; ``docs/architecture.md`` draws how they connect.
"""
