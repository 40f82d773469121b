"""Validating the declared stages and putting them in a runnable order.

:func:`build_graph` expands matrices, then checks names, ``needs`` and cycles, and returns a
:class:`StageGraph` whose :attr:`~StageGraph.stages` are in topological order (declaration
order among stages that do not depend on each other). Every problem is a
:class:`~pytest_kisys.stages.model.StageConfigError` that names the stage.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
import dataclasses
from dataclasses import dataclass
import difflib
import graphlib
import heapq
import itertools
import re

from pytest_kisys.stages.condition import Condition
from pytest_kisys.stages.condition import ConditionError
from pytest_kisys.stages.condition import settings_names
from pytest_kisys.stages.model import Stage
from pytest_kisys.stages.model import StageConfigError


NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class StageGraph:
    """A validated stage graph; :attr:`stages` are in topological order."""

    stages: tuple[Stage, ...]
    by_name: Mapping[str, Stage] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen: the index is computed once here, hence object.__setattr__.
        object.__setattr__(self, "by_name", {stage.name: stage for stage in self.stages})

    def __getitem__(self, name: str) -> Stage:
        return self.by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    @property
    def names(self) -> tuple[str, ...]:
        """Stage names in topological order."""
        return tuple(stage.name for stage in self.stages)

    def dependants(self, name: str) -> tuple[str, ...]:
        """Names of the stages that directly need ``name``."""
        return tuple(stage.name for stage in self.stages if name in stage.needs)

    def upstream(self, name: str) -> tuple[str, ...]:
        """Every stage ``name`` needs, directly or not, in topological order."""
        seen: set[str] = set()
        todo = list(self[name].needs)
        while todo:
            need = todo.pop()
            if need not in seen:
                seen.add(need)
                todo.extend(self[need].needs)
        return tuple(n for n in self.names if n in seen)


def matrix_name(base: str, values: Mapping[str, str]) -> str:
    """The name of one matrix expansion: ``lint[3.12]``, ``lint[3.12-src]`` (pytest-id style)."""
    return f"{base}[{'-'.join(values.values())}]"


def expand_matrix(stage: Stage) -> tuple[Stage, ...]:
    """One stage per combination of the matrix values (the stage itself without a matrix).

    ``${matrix.NAME}`` in ``run`` arguments, ``cwd`` and ``env`` values is replaced by the value.
    """
    if not stage.matrix:
        return (stage,)
    keys = list(stage.matrix)
    expanded = []
    for combo in itertools.product(*(stage.matrix[key] for key in keys)):
        values = dict(zip(keys, combo, strict=True))
        expanded.append(
            dataclasses.replace(
                stage,
                name=matrix_name(stage.name, values),
                base=stage.name,
                matrix={},
                matrix_values=values,
                run=tuple(_substitute(arg, values) for arg in stage.run),
                cwd=_substitute(stage.cwd, values) if stage.cwd else stage.cwd,
                env={key: _substitute(value, values) for key, value in stage.env.items()},
            )
        )
    return tuple(expanded)


def _substitute(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("${matrix." + key + "}", value)
    return text


def build_graph(stages: Iterable[Stage]) -> StageGraph:
    """Expand, validate and order ``stages``; raises ``StageConfigError`` on the first problem."""
    declared = list(stages)
    seen: dict[str, Stage] = {}
    for stage in declared:
        _check_fields(stage)
        if not NAME.match(stage.name):
            raise StageConfigError(
                f"stage {stage.name!r} ({stage.source}): invalid name; use letters, digits, "
                "'_', '.', '-'"
            )
        if stage.name in seen:
            raise StageConfigError(
                f"duplicate stage {stage.name!r}: declared by {seen[stage.name].source} "
                f"and by {stage.source}"
            )
        seen[stage.name] = stage
    expansions = {stage.name: expand_matrix(stage) for stage in declared}
    flat: list[Stage] = []
    for stage in declared:
        for expanded in expansions[stage.name]:
            if expanded.name != stage.name and expanded.name in seen:
                raise StageConfigError(
                    f"duplicate stage {expanded.name!r}: matrix of {stage.name!r} expands to "
                    f"the name of a stage declared by {seen[expanded.name].source}"
                )
            flat.append(expanded)
    if len({stage.name for stage in flat}) != len(flat):
        names = [stage.name for stage in flat]
        dup = next(name for name in names if names.count(name) > 1)
        raise StageConfigError(f"duplicate stage {dup!r} after matrix expansion")
    resolved = [_resolve_needs(stage, expansions) for stage in flat]
    return StageGraph(_topological(resolved))


def _check_fields(stage: Stage) -> None:
    """Types and values of a stage built in code (config stages were checked when parsed)."""
    where = f"stage {stage.name!r} ({stage.source})"
    # Plugins build stages in code: check what the annotations cannot promise at run time.
    name: object = stage.name
    needs: object = stage.needs
    if not isinstance(name, str):
        raise StageConfigError(f"{where}: the name must be a string")
    if not isinstance(needs, tuple | list) or not all(isinstance(n, str) for n in needs):
        raise StageConfigError(f"{where}: 'needs' must be a tuple of stage names")
    if stage.retry.attempts < 1 or stage.retry.base < 0 or stage.retry.cap < 0:
        raise StageConfigError(f"{where}: retry needs attempts >= 1 and backoff times >= 0")
    if stage.timeout is not None and not stage.timeout > 0:
        raise StageConfigError(f"{where}: 'timeout' must be a positive number of seconds")
    if stage.action is not None and not callable(stage.action):
        raise StageConfigError(f"{where}: 'action' must be callable")
    if stage.condition is not None:
        try:
            Condition.parse(stage.condition, settings_names=settings_names())
        except ConditionError as error:
            raise StageConfigError(f"{where}: bad 'if': {error}") from error


def _resolve_needs(stage: Stage, expansions: Mapping[str, tuple[Stage, ...]]) -> Stage:
    """Check every need exists and replace a need on a matrix stage by all its expansions."""
    needs: list[str] = []
    for need in stage.needs:
        if need not in expansions:
            hint = difflib.get_close_matches(need, list(expansions), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise StageConfigError(
                f"stage {stage.declared_name!r} ({stage.source}) needs unknown stage "
                f"{need!r}{suggestion}; known stages: {', '.join(expansions)}"
            )
        needs.extend(expanded.name for expanded in expansions[need])
    return dataclasses.replace(stage, needs=tuple(dict.fromkeys(needs)))


def _topological(stages: list[Stage]) -> tuple[Stage, ...]:
    """:mod:`graphlib` order, stable in declaration order; a cycle is named in full."""
    position = {stage.name: index for index, stage in enumerate(stages)}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for stage in stages:
        sorter.add(stage.name, *stage.needs)
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        members = set(error.args[1])
        cycle = _find_cycle({stage.name: stage for stage in stages if stage.name in members})
        raise StageConfigError(
            f"stage {cycle[0]!r} is part of a cycle: {' -> '.join(cycle)} "
            "(each needs the next); remove one of these needs"
        ) from None
    # A heap of declaration positions keeps the order stable among ready stages.
    ready: list[int] = []
    ordered: list[Stage] = []
    while sorter.is_active():
        for name in sorter.get_ready():
            heapq.heappush(ready, position[name])
        stage = stages[heapq.heappop(ready)]
        ordered.append(stage)
        sorter.done(stage.name)
    return tuple(ordered)


def _find_cycle(left: Mapping[str, Stage]) -> list[str]:
    """Walk ``needs`` among the stages that could not be ordered until a name repeats."""
    start = next(iter(left))
    path: list[str] = [start]
    while True:
        current = left[path[-1]]
        following = next(need for need in current.needs if need in left)
        if following in path:
            cycle = path[path.index(following) :]
            return [*cycle, cycle[0]]
        path.append(following)
