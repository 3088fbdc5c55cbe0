from levtop.cli import main

raise SystemExit(main())
