from seqpack.cli import main

raise SystemExit(main())
