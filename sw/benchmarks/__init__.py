"""``eiegen bench``: measured figures and plots into docs/benchmarks.md.
"""
