from wiring.cli import main

raise SystemExit(main())
