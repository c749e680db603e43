"""The ``eiegen`` command line."""

from sw.cli.main import main

__all__ = ["main"]
