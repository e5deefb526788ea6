"""``python -m fraudstream``: the same command line as the ``fraudstream`` console script.

The program's entry point, run and never imported: the command line lives in
the composition root (``wiring``), above the services, and this only hands
over to it. No module of the core imports this one.
"""

from fraudstream.wiring.cli import main

raise SystemExit(main())
