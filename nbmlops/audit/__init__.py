"""What an auditor runs: ``verify`` checks the ledger against every other copy of its hashes."""
