"""nbmlops: tagged Jupyter notebooks become pinned, tracked, auditable pipeline runs."""

__version__ = "0.1.0"
