"""levtop: a terminal live monitor of crypto derivatives leverage."""

__version__ = "0.1.0"
