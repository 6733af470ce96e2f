"""The example project's data: seeded synthetic patients with the identifiers, bias and drift a
real clinical extract has (``datasets``; their fake identifiers are made in ``identities``)."""
