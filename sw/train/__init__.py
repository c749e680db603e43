"""Training: the bundled data sets, the numpy network stack and training loop
(``sw.train.nn``), and the MLP, CNN and low-bit trainers that run on it.
"""
