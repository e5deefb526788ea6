from fraudstream.cli import main

raise SystemExit(main())
