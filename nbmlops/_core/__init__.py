"""Primitives every layer shares, each written once: atomic writes, digests, ids and UTC time,
project paths, the current user. Imports nothing from nbmlops but ``errors``."""
