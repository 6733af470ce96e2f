"""Nothing leaves the machine and no identifier leaks: telemetry switches and the PHI policy
(``telemetry``), the PHI scan (``phi``), Safe Harbor de-identification (``deid``) and the keyed
hashes of a project's identifiers (``identifiers``)."""
