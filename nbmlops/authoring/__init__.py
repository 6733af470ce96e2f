"""What a scientist writes: stage metadata and the parameters cell (``stage``, ``cell_code``),
the checked DAG of a folder compiled to Ploomber (``pipeline``), parameter overrides
(``parameters``)."""
