"""The always-on role of an enabled run: header, settings hook, per-setting sources."""

from __future__ import annotations

import pytest

from pytest_kisys.secrets.masking import redactor_of
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.settings import describe_sources
from pytest_kisys.settings import Settings


class KisysCore:
    """Announces the resolved settings and calls ``pytest_kisys_configure`` once."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        config.hook.pytest_kisys_configure.call_historic(
            kwargs={"config": config, "settings": settings}
        )

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """``kisys: level=...`` in the header; with ``-v`` each non-default setting's source."""
        s = self.settings
        scans = ",".join(sorted(s.scan)) or "none"
        lines = [
            f"kisys: level={s.level} offline={str(s.offline).lower()} scan={scans} "
            f"fail_on={s.fail_on} trace={s.trace} backend={s.backend}"
        ]
        if config.get_verbosity() > 0:
            # Index and OSV URLs may carry credentials.
            redact = Redactor(enabled=s.mask).redact
            redactor = redactor_of(config)
            if redactor is not None:
                redact = redactor.redact
            lines.extend(f"kisys:   {redact(line)}" for line in describe_sources(s))
        return lines
