"""Amaranth generators: one concept a module."""
