"""``python -m pytest_kisys`` runs the ``kisys`` console script."""

from __future__ import annotations

from pytest_kisys.cli import main


raise SystemExit(main())
