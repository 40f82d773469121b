"""The workflow stage graph the guard runs on.

Built-in stages (resolve, vet, install, scan.code, scan.deps, scan.secrets, tests, report),
stages from the ``stages`` configuration and stages from ``pytest_kisys_stages`` plugins form
one validated graph that runs in topological order, independent stages in parallel.

Plugins build :class:`Stage` objects with an ``action`` callable; subsystems take part with
:func:`bind_stage` (the runner calls the action) or :func:`stage_scope` (they do the work
themselves, timed and recorded as that stage). See docs/stages.md.
"""

from __future__ import annotations

from pytest_kisys.stages.model import BUILTIN_STAGES
from pytest_kisys.stages.model import Retry
from pytest_kisys.stages.model import Stage
from pytest_kisys.stages.model import StageConfigError
from pytest_kisys.stages.model import StageContext
from pytest_kisys.stages.model import StageFinding
from pytest_kisys.stages.model import StageOutcome
from pytest_kisys.stages.model import StageResult
from pytest_kisys.stages.plugin import add_check_stage
from pytest_kisys.stages.plugin import bind_stage
from pytest_kisys.stages.plugin import has_stage
from pytest_kisys.stages.plugin import settle_stages
from pytest_kisys.stages.plugin import stage_result
from pytest_kisys.stages.plugin import stage_scope


__all__ = [
    "BUILTIN_STAGES",
    "Retry",
    "Stage",
    "StageConfigError",
    "StageContext",
    "StageFinding",
    "StageOutcome",
    "StageResult",
    "add_check_stage",
    "bind_stage",
    "has_stage",
    "settle_stages",
    "stage_result",
    "stage_scope",
]
