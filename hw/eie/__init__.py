"""The EIE sparse matrix-vector engine (Han et al., ISCA 2016)."""

from .engine import EieEngine
from .sequencer import LayerSequencer
from .fetcher import WordFetcher
from .broadcaster import Broadcaster
from .pe import ProcessingElement
from .pointers import PointerRead
from .spmat import SparseMatrixRead
from .arithmetic import ArithmeticUnit
from .writeback import WriteBack
from .lnzd import LeadingNonzero

__all__ = ["EieEngine", "LayerSequencer", "WordFetcher", "Broadcaster", "ProcessingElement",
           "PointerRead", "SparseMatrixRead", "ArithmeticUnit", "WriteBack", "LeadingNonzero"]
