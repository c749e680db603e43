"""The EIE sparse matrix-vector engine (Han et al., ISCA 2016)."""

from .engine import EieEngine
from .pe import ProcessingElement

__all__ = ["EieEngine", "ProcessingElement"]
