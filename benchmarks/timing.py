"""Whole-process timing shared by the ``speed`` benchmarks: wall and CPU, min-max, load.

CPU time is user + system of the timed processes and everything they waited for (pip's and
uv's own children included), read from ``RUSAGE_CHILDREN`` around the run; nothing else may
start child processes meanwhile, so the benchmarks run their variants one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import os
import resource
import statistics
import subprocess
import time


@dataclass(frozen=True)
class Sample:
    """One timed run: wall seconds and CPU seconds (user + system, children included)."""

    wall: float
    cpu: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    """``os.getloadavg()`` as ``"1.23 / 1.10 / 0.98"``."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def run_timed(
    commands: Sequence[Sequence[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    ok_codes: Sequence[int] = (0,),
) -> Sample:
    """Run ``commands`` one after another; fails loudly when one exits outside ``ok_codes``."""
    cpu = _children_cpu()
    started = time.perf_counter()
    for command in commands:
        proc = subprocess.run(
            list(command), env=dict(env) if env is not None else None, cwd=cwd,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode not in ok_codes:
            raise SystemExit(
                f"{' '.join(command[:6])} ... exited {proc.returncode}:\n"
                f"{proc.stderr.strip()[-2000:] or proc.stdout.strip()[-2000:]}"
            )
    return Sample(time.perf_counter() - started, _children_cpu() - cpu)


def spread(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """``median [min-max]`` of ``values`` times ``scale``."""
    med = statistics.median(values) * scale
    return f"{med:.{digits}f} [{min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f}]"


def summary_row(label: str, samples: Sequence[Sample], base: Sequence[Sample], base_label: str) -> str:
    """One table row: wall and CPU, and the ratio of medians to ``base`` (with the min-max of
    the per-round ratios, rounds paired in order)."""
    walls = [s.wall for s in samples]
    cpus = [s.cpu for s in samples]
    pairs = list(zip(samples, base, strict=False))
    wall_ratios = [s.wall / b.wall for s, b in pairs if b.wall]
    cpu_ratios = [s.cpu / b.cpu for s, b in pairs if b.cpu]
    wall_x = statistics.median(walls) / statistics.median([b.wall for b in base])
    cpu_x = statistics.median(cpus) / max(1e-9, statistics.median([b.cpu for b in base]))
    return (
        f"  {label:<18} wall {spread(walls)} s  CPU {spread(cpus)} s  "
        f"x{base_label}: wall {wall_x:.2f} [{min(wall_ratios):.2f}-{max(wall_ratios):.2f}] "
        f"CPU {cpu_x:.2f} [{min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}]"
    )
