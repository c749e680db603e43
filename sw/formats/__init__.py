"""File formats: the compressed-model file, EIE's CSC encoding, Huffman coding.
"""
