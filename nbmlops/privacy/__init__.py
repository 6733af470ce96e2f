"""Nothing leaves the machine and no identifier leaks: telemetry switches and the PHI policy
(``telemetry``), the PHI scan (``phi``, a package), Safe Harbor de-identification (``deid``, with
``deid_detect`` and ``deid_columns``), the keyed hashes of a project's identifiers
(``identifiers``) and the census name lists (``names``)."""
