"""What ``kisys vet`` would install, inspected: resolve like the installer, fetch, inspect.

Nothing is installed. The requested names are resolved for ``python`` with the batch's own
resolver options (index, cooldown, ``index_for`` pins), each requested wheel is downloaded
into a temporary directory (hash checked) and inspected with the rules the installer applies,
against that environment. Transitive wheels are resolved but not fetched: ``kisys vet`` is
about the names asked for; ``kisys install`` inspects the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
import tempfile
from typing import TYPE_CHECKING

from pytest_kisys.errors import KisysError
from pytest_kisys.inspect import WheelInspection
from pytest_kisys.install import gate_options
from pytest_kisys.install import release_gate
from pytest_kisys.install.backends import make_backend
from pytest_kisys.install.environment import describe_environment
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.settings import Settings


if TYPE_CHECKING:
    from pytest_kisys.vet.vetter import Vetter


@dataclass(frozen=True)
class Preview:
    """What would be installed for each requested name, and what inspecting its wheel found.

    ``error`` is set when nothing could be resolved (then nothing was inspected); a name in
    ``unavailable`` could not be resolved; a name in neither ``items`` nor ``unavailable`` is
    already satisfied in the environment.
    """

    items: Mapping[str, PlannedItem] = field(default_factory=dict)
    inspections: Mapping[str, WheelInspection] = field(default_factory=dict)
    unavailable: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


def preview(
    settings: Settings, requirements: Sequence[str], vetter: Callable[[], Vetter], python: str
) -> Preview:
    """Resolve ``requirements`` for ``python``, fetch and inspect the requested wheels."""
    try:
        env = describe_environment(python)
        backend = make_backend(settings, env)
        try:
            options = gate_options.resolver_options(settings, vetter)
            resolution = backend.resolver(env, options).resolve(list(requirements))
        finally:
            backend.discard()
    except KisysError as exc:
        return Preview(error=str(exc))
    requested = {item.name: item for item in resolution.items if item.requested}
    with tempfile.TemporaryDirectory(prefix="kisys-vet-wheels-") as tmp:
        inspection = release_gate.inspect_batch(
            list(requested.values()), env, Path(tmp), cert=settings.index.cert
        )
    return Preview(requested, dict(inspection.results), dict(resolution.unavailable))
