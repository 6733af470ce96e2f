"""The ``nbmlops`` command: ``main`` (every subcommand but review) and ``review``. Parsing
arguments and printing only; heavy libraries load when a subcommand needs them."""
