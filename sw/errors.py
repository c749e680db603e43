"""The errors eiegen reports as one line, without a traceback.

Plain Python, importable everywhere (the host driver and the model loader run
on Windows too): nothing here may pull in a Unix-only module.
"""

__all__ = ["EiegenError", "ToolchainError", "DoesNotFit"]


class EiegenError(Exception):
    """An error the CLI reports as one line, without a traceback."""


class ToolchainError(EiegenError):
    """A simulator or synthesis tool is missing or failed."""


class DoesNotFit(ToolchainError):
    """A core needs more of some resource than the target device has:
    ``shortfall`` says which and how much ("needs 61 block RAMs, the device
    has 30")."""

    def __init__(self, core, target, shortfall, fix):
        super().__init__(f"{core} does not fit the {target}: it {shortfall}; {fix}")
        self.shortfall = shortfall
