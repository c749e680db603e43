"""The host side of a board: the serial driver, and a simulated board it can open.

Importable on every OS: only ``simulated`` needs the toolchain (and so Unix).
"""

from sw.host.driver import Device, DeviceError

__all__ = ["Device", "DeviceError"]
