from ringlab.cli import main

raise SystemExit(main())
