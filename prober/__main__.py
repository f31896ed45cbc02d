"""`python -m prober`: the same as the `prober` console script."""

from .cli import main

raise SystemExit(main())
