"""Fanout Studio: run one prompt over many inputs and models at once, side by side."""

from __future__ import annotations

__version__ = "0.1.0"
