"""``python -m shared.cli``: the ``bff`` command."""

from shared.cli.app import main

raise SystemExit(main())
