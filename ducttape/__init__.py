"""A pure-Python implementation of the ducttape 0.3 workflow language (``ducttape`` command).

Standalone: only the standard library; imports are lazy so the command starts fast.
"""

__version__ = "0.1.0"
DUCTTAPE_VERSION = "0.3"
