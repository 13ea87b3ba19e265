from nyx_core.cli import main

raise SystemExit(main())
