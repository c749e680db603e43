"""Training: the bundled data sets and the numpy network stacks trained on them.
"""
