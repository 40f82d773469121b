"""Turning the raw ``stages`` entries of ``kisys.yaml`` / ``[tool.kisys.stages]`` into stages.

Accepted shapes (both can be mixed): a list of mappings that each carry ``name``, or one mapping
of stage name to its mapping (what ``[tool.kisys.stages.lint]`` tables give). Each stage::

    name: lint                  # letters, digits, '_', '.', '-'
    run: [ruff, check, .]       # an argument list; a string only together with shell: true
    shell: false                # run through the shell only when written
    needs: [install]            # a name or a list of names
    if: "env.CI == 'true'"      # see pytest_kisys.stages.condition
    always: false               # run even when a need failed or was skipped
    retry: 3                    # attempts, or {attempts: 3, backoff: 1.0, max_backoff: 30}
    timeout: 120                # seconds per attempt
    matrix: {python: ["3.11", "3.12"]}   # ${matrix.python} is substituted in run, cwd, env
    severity: high              # of the finding a non-zero exit becomes
    cwd: docs                   # relative to rootdir
    env: {LC_ALL: C}            # extra environment variables
    description: Lint the sources
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import difflib
import math
from pathlib import Path
from typing import Any

from pytest_kisys.settings import SEVERITIES
from pytest_kisys.stages.command import run_command
from pytest_kisys.stages.condition import Condition
from pytest_kisys.stages.condition import ConditionError
from pytest_kisys.stages.condition import settings_names
from pytest_kisys.stages.model import Retry
from pytest_kisys.stages.model import Stage
from pytest_kisys.stages.model import StageConfigError


FIELDS = (
    "name",
    "run",
    "shell",
    "needs",
    "if",
    "always",
    "retry",
    "timeout",
    "matrix",
    "severity",
    "cwd",
    "env",
    "description",
)
RETRY_FIELDS = ("attempts", "backoff", "max_backoff")

_Fail = Callable[[str], StageConfigError]


StageSource = str | Callable[[int, str | None], str]
"""Where the stages came from: one place for all, or ``(index, name) -> place`` per stage
(``kisys.yaml:12``, the stage's own line; ``name`` is None for an entry without one)."""


def parse_stages(raw: Sequence[Mapping[str, Any]], source: StageSource = "config") -> tuple[Stage, ...]:
    """Config stages from the raw ``settings.stages`` entries; bad input is a StageConfigError."""

    def where(index: int, name: str | None) -> str:
        return source(index, name) if callable(source) else source

    entries: list[tuple[str, Mapping[str, Any], str]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise StageConfigError(
                f"stages[{index}] ({where(index, None)}): expected a mapping with 'name' and "
                f"'run', got {type(item).__name__}"
            )
        if "name" in item:
            entries.append((str(item["name"]), item, where(index, None)))
        elif item and all(isinstance(value, Mapping) for value in item.values()):
            entries.extend(
                (str(name), {"name": name, **spec}, where(index, str(name)))
                for name, spec in item.items()
            )
        else:
            raise StageConfigError(
                f"stages[{index}] ({where(index, None)}): a stage needs a 'name' (or use a "
                "table of name = {run = [...]})"
            )
    return tuple(_parse_one(name, spec, place) for name, spec, place in entries)


def _parse_one(name: str, spec: Mapping[str, Any], source: str) -> Stage:
    where = f"stage {name!r} ({source})"

    def fail(problem: str) -> StageConfigError:
        return StageConfigError(f"{where}: {problem}")

    for key in spec:
        if key not in FIELDS:
            hint = difflib.get_close_matches(str(key), FIELDS, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise fail(f"unknown field {key!r}{suggestion}; allowed: {', '.join(FIELDS)}")
    if not isinstance(spec["name"], str) or not spec["name"]:
        raise fail("'name' must be a non-empty string")
    shell = _bool(spec, "shell", fail)
    run = _run(spec.get("run"), shell, fail)
    condition = spec.get("if")
    matrix = _matrix(spec.get("matrix"), fail)
    if condition is not None:
        if not isinstance(condition, str):
            raise fail(f"'if' must be a string expression, got {type(condition).__name__}")
        try:
            parsed = Condition.parse(condition, settings_names=settings_names())
        except ConditionError as error:
            raise fail(f"bad 'if': {error}") from error
        for ref in parsed.refs:
            space, _, key = ref.partition(".")
            if space == "matrix" and key not in matrix:
                known = ", ".join(f"matrix.{k}" for k in matrix) or "none: the stage has no matrix"
                raise fail(f"bad 'if': {ref!r} is not a matrix key of this stage ({known})")
    severity = spec.get("severity", "high")
    if severity not in SEVERITIES:
        raise fail(f"'severity' must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    timeout = spec.get("timeout")
    if timeout is not None and (not _is_number(timeout) or timeout <= 0):
        raise fail(f"'timeout' must be a positive number of seconds, got {timeout!r}")
    return Stage(
        name=name,
        needs=_names(spec.get("needs", ()), "needs", fail),
        condition=condition,
        always=_bool(spec, "always", fail),
        retry=_retry(spec.get("retry"), fail),
        timeout=float(timeout) if timeout is not None else None,
        matrix=matrix,
        run=run,
        shell=shell,  # nosec B604 - a Stage field, not a subprocess call
        cwd=_optional_str(spec, "cwd", fail),
        env=_env(spec.get("env"), fail),
        severity=severity,
        description=_optional_str(spec, "description", fail) or "",
        source=source,
        action=run_command,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bool(spec: Mapping[str, Any], key: str, fail: _Fail) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise fail(f"{key!r} must be true or false, got {value!r}")
    return value


def _optional_str(spec: Mapping[str, Any], key: str, fail: _Fail) -> str | None:
    value = spec.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def _run(value: Any, shell: bool, fail: _Fail) -> tuple[str, ...]:
    if value is None:
        raise fail("missing 'run' (the command, as an argument list)")
    if isinstance(value, str):
        if not shell:
            raise fail(
                "'run' must be an argument list such as [ruff, check, .]; a string command "
                "runs only with 'shell: true' written next to it"
            )
        return (value,)
    if (
        not isinstance(value, Sequence)
        or not value
        or not all(_is_number(arg) or isinstance(arg, str) for arg in value)
    ):
        raise fail(f"'run' must be a non-empty list of strings, got {value!r}")
    return tuple(str(arg) for arg in value)


def _names(value: Any, key: str, fail: _Fail) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise fail(f"{key!r} must be a stage name or a list of names, got {value!r}")


def _retry(value: Any, fail: _Fail) -> Retry:
    if value is None:
        return Retry()
    if _is_number(value) and int(value) == value:
        spec: Mapping[str, Any] = {"attempts": int(value)}
    elif isinstance(value, Mapping):
        spec = value
    else:
        raise fail(f"'retry' must be a number of attempts or a mapping, got {value!r}")
    for key in spec:
        if key not in RETRY_FIELDS:
            raise fail(f"unknown field 'retry.{key}'; allowed: {', '.join(RETRY_FIELDS)}")
    attempts = spec.get("attempts", 1)
    if not _is_number(attempts) or int(attempts) != attempts or attempts < 1:
        raise fail(f"'retry.attempts' must be a whole number >= 1, got {attempts!r}")
    base = spec.get("backoff", 1.0)
    cap = spec.get("max_backoff", 30.0)
    for key, number in (("backoff", base), ("max_backoff", cap)):
        if not _is_number(number) or number < 0:
            raise fail(f"'retry.{key}' must be a number of seconds >= 0, got {number!r}")
    return Retry(attempts=int(attempts), base=float(base), cap=float(cap))


# A stage matrix runs every combination as its own stage; past this it is a typo, not a plan.
MAX_MATRIX = 256


def _matrix(value: Any, fail: _Fail) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not value:
        raise fail(
            f"'matrix' must map a name to a list of values, e.g. {{python: ['3.11', '3.12']}}, "
            f"got {value!r}"
        )
    matrix: dict[str, tuple[str, ...]] = {}
    for key, values in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise fail(f"matrix key {key!r} must be a plain name")
        if (
            isinstance(values, str)
            or not isinstance(values, Sequence)
            or not values
            or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
        ):
            raise fail(f"'matrix.{key}' must be a non-empty list of strings or numbers")
        matrix[key] = tuple(str(v) for v in values)
    combinations = math.prod(len(v) for v in matrix.values())
    if combinations > MAX_MATRIX:
        raise fail(
            f"'matrix' expands to {combinations} stages ("
            + " x ".join(f"{len(v)} {k}" for k, v in matrix.items())
            + f"); at most {MAX_MATRIX} are allowed"
        )
    return matrix


def _env(value: Any, fail: _Fail) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in value.items()
    ):
        raise fail(f"'env' must map variable names to strings, got {value!r}")
    return {key: str(item) for key, item in value.items()}


def yaml_stage_lines(path: Path) -> dict[tuple[int, str | None], int]:
    """``(index, name) -> line`` of every stage under ``stages:`` in ``path`` (a kisys.yaml the
    settings already read); empty when it cannot be read again, so messages fall back to the
    key's line."""
    import yaml

    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return {}
    lines: dict[tuple[int, str | None], int] = {}
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key_node, value_node in node.value:
        if getattr(key_node, "value", None) != "stages" or not isinstance(value_node, yaml.SequenceNode):
            continue
        for index, item in enumerate(value_node.value):
            lines[(index, None)] = item.start_mark.line + 1
            if isinstance(item, yaml.MappingNode):
                for name_node, _spec in item.value:
                    if isinstance(name_node, yaml.ScalarNode):
                        lines[(index, name_node.value)] = name_node.start_mark.line + 1
    return lines
