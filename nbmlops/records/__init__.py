"""What a run leaves behind: the ``RunRecord`` model, the records writer, the hash-chained
ledger, the MLflow recorder and scraps (``record()`` inside notebooks)."""
