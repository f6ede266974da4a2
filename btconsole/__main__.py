"""Allow ``python -m btconsole``."""

from btconsole.cli import main

raise SystemExit(main())
