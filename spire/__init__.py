"""Spire reproduction kit: speech units, data builders, training, decoding and metrics."""

__version__ = "0.1.0"
