"""Board top levels and build/flash flows (amaranth-boards platforms).

Boards request resources and call ``platform.build``; they never contain core
logic. The iCEBreaker and ULX3S flows arrive with the board issue.
"""
