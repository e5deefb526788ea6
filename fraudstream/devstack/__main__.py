from fraudstream.devstack.cli import main

raise SystemExit(main())
