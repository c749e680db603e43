"""Flows: the toolchain wrapper and, per core, generate / simulate / synthesize.

``testbench`` holds the cocotb benches the flows run inside Verilator.
"""
