"""``kisys stages [--dot] [--rootdir DIR]``: show the workflow stage graph of a project.

The graph is the one ``pytest --kisys`` runs: the built-in stages plus the ``stages`` of
``[tool.kisys]`` / ``kisys.yaml``, validated the same way. Stages that plugins add through
``pytest_kisys_stages`` exist only inside a pytest run and are not shown.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from pytest_kisys.errors import ConfigError
from pytest_kisys.errors import StageError
from pytest_kisys.stages.builtin import builtin_stages
from pytest_kisys.stages.builtin import off_reasons
from pytest_kisys.stages.builtin import with_report_last
from pytest_kisys.stages.command import shown_command
from pytest_kisys.stages.config import parse_stages
from pytest_kisys.stages.graph import build_graph
from pytest_kisys.stages.graph import StageGraph
from pytest_kisys.stages.model import Stage
from pytest_kisys.stages.plugin import config_source


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``stages`` verb's options."""
    parser.add_argument("--dot", action="store_true", help="print the graph as Graphviz DOT")
    parser.add_argument(
        "--rootdir",
        type=Path,
        default=None,
        help="project directory holding pyproject.toml / kisys.yaml (default: current directory)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the graph; 2 when the configuration or the graph is invalid."""
    from pytest_kisys.settings import for_command

    try:
        settings = for_command({}, args.rootdir)
        declared = [*builtin_stages(settings), *parse_stages(settings.stages, config_source(settings))]
        graph = build_graph(with_report_last(declared))
    except (ConfigError, StageError) as error:
        print(f"kisys stages: {error}", file=sys.stderr)
        return 2
    off = off_reasons(settings)
    print(render_dot(graph, off) if args.dot else render_text(graph, off), end="")
    return 0


def levels(graph: StageGraph) -> dict[str, int]:
    """Each stage's depth: 0 for no needs, else one more than its deepest need.

    Stages of the same level do not depend on each other and may run in parallel.
    """
    depth: dict[str, int] = {}
    for stage in graph.stages:
        depth[stage.name] = 1 + max((depth[n] for n in stage.needs), default=-1)
    return depth


def _traits(stage: Stage, off: dict[str, str], describe: bool = False) -> list[str]:
    traits = [stage.description] if describe and stage.description else []
    if stage.name in off:
        traits.append(off[stage.name])
    if stage.condition:
        traits.append(f"if: {stage.condition}")
    if stage.always:
        traits.append("always")
    if stage.retry.attempts > 1:
        traits.append(f"retry: {stage.retry.attempts} attempts")
    if stage.timeout is not None:
        traits.append(f"timeout: {stage.timeout:g}s")
    if stage.run:
        traits.append(f"run: {shown_command(stage.run, stage.shell)}")
    return traits


def render_text(graph: StageGraph, off: dict[str, str] | None = None) -> str:
    """One line per stage in run order: level, name, source, needs and traits."""
    off = off or {}
    depth = levels(graph)
    width = max(len(name) for name in graph.names)
    lines = [f"{len(graph.stages)} stages in run order (same level: may run in parallel)"]
    for stage in graph.stages:
        needs = f"needs: {', '.join(stage.needs)}" if stage.needs else "needs: -"
        extra = "".join(f"; {trait}" for trait in _traits(stage, off))
        lines.append(
            f"  {depth[stage.name]:>2}  {stage.name:<{width}}  [{stage.source}]  {needs}{extra}"
        )
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(graph: StageGraph, off: dict[str, str] | None = None) -> str:
    """The graph in Graphviz DOT: an edge from each need to the stage needing it.

    Built-in stages are grey, ``always`` stages have a double border, stages switched off
    are dashed; the node tooltip holds the stage's traits.
    """
    off = off or {}
    lines = [
        'digraph "kisys stages" {',
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica"];',
    ]
    for stage in graph.stages:
        attrs = [f"label={_quote(stage.name)}"]
        if stage.source == "built-in":
            attrs.append("fillcolor=gray90")
        if stage.always:
            attrs.append("peripheries=2")
        if stage.name in off:
            attrs.append('style="rounded,dashed"')
        traits = _traits(stage, off, describe=True)
        if traits:
            attrs.append(f"tooltip={_quote('; '.join(traits))}")
        lines.append(f"  {_quote(stage.name)} [{', '.join(attrs)}];")
    for stage in graph.stages:
        for need in stage.needs:
            lines.append(f"  {_quote(need)} -> {_quote(stage.name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
