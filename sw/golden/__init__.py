"""Golden models: plain numpy, naive on purpose, shared with no hardware.

Every hardware test compares with these.
"""
