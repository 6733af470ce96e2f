"""The ``nbmlops`` command: ``main`` (the arguments and exit codes) and one module of subcommands
per area: ``stages`` (stage, compile), ``runs`` (status, run), ``records`` (env, audit, records,
ui), ``review`` (review, signer). Parsing arguments and printing only; heavy libraries load when
a subcommand needs them."""
