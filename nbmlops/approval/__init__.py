"""From evidence to a signed decision: the evidence a review rests on, signers and their keys,
signed decisions, the MLflow registry mirror and the review session widget."""
