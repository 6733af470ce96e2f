"""Review views of a fitted model: what a human signs off before a model is used.

``nbmlops.review.fairness`` computes per-group metrics, their bootstrap intervals, gaps between
groups and pass/fail checks, with small groups suppressed. Submodules import their heavy libraries
(pandas, numpy, fairlearn) lazily, so importing this package costs nothing.
"""
