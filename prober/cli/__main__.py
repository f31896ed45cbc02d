"""`python -m prober.cli`: the same as the `prober` console script."""

from .main import main

raise SystemExit(main())
