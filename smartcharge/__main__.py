"""Run the command line: ``python -m smartcharge``."""

from smartcharge.cli import main

raise SystemExit(main())
