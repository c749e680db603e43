"""Huffman coding of symbol streams (weight indices, relative indices).

Codes are canonical: the table is just a code length per symbol, which is
what a decoder (or a file) needs to rebuild the exact code.
"""

import heapq
from collections import Counter

__all__ = ["code_lengths", "canonical_codes", "encode", "decode", "encoded_bits"]


def code_lengths(symbols):
    """Huffman code length of every symbol that occurs: ``{symbol: bits}``."""
    counts = Counter(int(s) for s in symbols)
    if not counts:
        return {}
    if len(counts) == 1:
        return {next(iter(counts)): 1}
    # Heap of (weight, tie-breaker, {symbol: depth}); the tie-breaker keeps
    # the result deterministic whatever the symbols are.
    heap = [(n, i, {s: 0}) for i, (s, n) in enumerate(sorted(counts.items()))]
    heapq.heapify(heap)
    order = len(heap)
    while len(heap) > 1:
        n1, _, a = heapq.heappop(heap)
        n2, _, b = heapq.heappop(heap)
        merged = {s: d + 1 for s, d in {**a, **b}.items()}
        heapq.heappush(heap, (n1 + n2, order, merged))
        order += 1
    return heap[0][2]


def canonical_codes(lengths):
    """Canonical code words ``{symbol: (value, length)}`` for given lengths."""
    codes, value, prev = {}, 0, 0
    for symbol, length in sorted(lengths.items(), key=lambda kv: (kv[1], kv[0])):
        value <<= length - prev
        codes[symbol] = (value, length)
        value += 1
        prev = length
    return codes


def encoded_bits(symbols):
    """Size in bits of ``symbols`` once Huffman coded (table not included)."""
    lengths = code_lengths(symbols)
    counts = Counter(int(s) for s in symbols)
    return sum(counts[s] * lengths[s] for s in counts)


def encode(symbols):
    """``(data, lengths)``: the bit stream packed MSB first, and the code table."""
    lengths = code_lengths(symbols)
    codes = canonical_codes(lengths)
    acc, nbits, out = 0, 0, bytearray()
    for s in symbols:
        value, length = codes[int(s)]
        acc = (acc << length) | value
        nbits += length
        while nbits >= 8:
            nbits -= 8
            out.append((acc >> nbits) & 0xFF)
        acc &= (1 << nbits) - 1
    if nbits:
        out.append((acc << (8 - nbits)) & 0xFF)
    return bytes(out), lengths


def decode(data, lengths, count):
    """The first ``count`` symbols of ``data`` coded with ``lengths``."""
    by_code = {(length, value): s for s, (value, length) in canonical_codes(lengths).items()}
    longest = max(lengths.values(), default=0)
    symbols, value, length = [], 0, 0
    for byte in data:
        for bit in range(7, -1, -1):
            value = (value << 1) | ((byte >> bit) & 1)
            length += 1
            if (length, value) in by_code:
                symbols.append(by_code[(length, value)])
                if len(symbols) == count:
                    return symbols
                value = length = 0
            elif length > longest:
                raise ValueError("corrupt Huffman stream: no code word matches")
    if len(symbols) < count:
        raise ValueError(f"truncated Huffman stream: {len(symbols)} of {count} symbols")
    return symbols
