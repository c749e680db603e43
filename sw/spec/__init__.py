"""What hardware and software must agree on: numerics, packing, the host-link
protocol, low-bit widths, the Winograd transforms.

The only part of ``sw`` that ``hw`` may import (a test enforces it).
"""
