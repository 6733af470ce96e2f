"""Sweeps: a pipeline (or one notebook) run over a set of parameter points, resumable, each point
recorded (:mod:`~nbmlops.sweep.spec`, :mod:`~nbmlops.sweep.execute`)."""
