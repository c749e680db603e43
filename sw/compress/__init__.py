"""Compression: Deep Compression's stages and pipeline, low rank, BN folding,
distillation, dense-sparse-dense, and the experiments that compare them.
"""
