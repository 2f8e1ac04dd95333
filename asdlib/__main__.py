"""``python -m asdlib``: the command-line entry point (see ``asdlib.cli``)."""

from asdlib.cli import main

raise SystemExit(main())
