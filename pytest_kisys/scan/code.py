"""The ``code`` check: bandit, and semgrep when rules are configured, merged into one result.

``scan = code`` runs every code scanner that is set up (semgrep only with ``semgrep_rules``);
``code:bandit`` or ``code:semgrep`` picks one. The scanners run side by side (each in its own
processes); a scanner that could not run makes the check inconclusive, while the other's
findings still count. The same problem reported by both counts once
(:mod:`pytest_kisys.scan.merge`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pytest_kisys.errors import ScanError
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import Scanner
from pytest_kisys.scan.interface import ScanOutput
from pytest_kisys.scan.merge import merge_findings
from pytest_kisys.settings import CODE_TOOLS
from pytest_kisys.settings import Settings


def code_tools(settings: Settings) -> tuple[str, ...]:
    """The code scanners this run uses, in :data:`CODE_TOOLS` order."""
    chosen = tuple(t for t in CODE_TOOLS if f"code:{t}" in settings.scan)
    if chosen:
        return chosen
    return ("bandit", "semgrep") if settings.semgrep_rules else ("bandit",)


def tool_scanner(tool: str) -> Scanner:
    """The scanner object of one code tool."""
    if tool == "semgrep":
        from pytest_kisys.scan.semgrep import SemgrepScanner

        return SemgrepScanner()
    from pytest_kisys.scan.bandit import BanditScanner

    return BanditScanner()


class CodeScanner:
    """Runs the chosen code scanners and merges what they found."""

    kind = "code"

    def __init__(self, tools: tuple[str, ...], scanners: dict[str, Scanner] | None = None) -> None:
        self.tools = tools
        self.tool = "+".join(tools)
        self.scanners = scanners or {t: tool_scanner(t) for t in tools}

    def scan(self, settings: Settings) -> ScanOutput:
        """Every scanner's output, findings merged; ScanError only when none could run."""
        if len(self.tools) == 1:
            output = self.scanners[self.tools[0]].scan(settings)
            return ScanOutput(
                tool_version=output.tool_version, findings=output.findings,
                inconclusive=output.inconclusive, baselined=output.baselined,
                items_checked=output.items_checked, cache_hits=output.cache_hits,
                tool_versions={self.tools[0]: output.tool_version},
                tool_source=output.tool_source,
            )
        with ThreadPoolExecutor(len(self.tools), thread_name_prefix="kisys-code") as pool:
            futures = {t: pool.submit(self._one, t, settings) for t in self.tools}
            outputs = {t: futures[t].result() for t in self.tools}
        groups: list[tuple[Finding, ...]] = []
        inconclusive: list[Inconclusive] = []
        baselined: list[Finding] = []
        for tool in self.tools:
            output = outputs[tool]
            groups.append(output.findings)
            inconclusive.extend(output.inconclusive)
            baselined.extend(output.baselined)
        return ScanOutput(
            tool_version=", ".join(f"{t} {outputs[t].tool_version}" for t in self.tools),
            findings=tuple(merge_findings(groups, settings.code_rule_pairs)),
            inconclusive=tuple(inconclusive),
            baselined=tuple(baselined),
            items_checked=max(o.items_checked for o in outputs.values()),
            cache_hits=sum(o.cache_hits for o in outputs.values()),
            tool_versions={t: outputs[t].tool_version for t in self.tools},
            # Where each ran from, when not all from the same place: "bandit: kisys tool environment".
            tool_source=_sources({t: outputs[t].tool_source for t in self.tools}),
        )

    def _one(self, tool: str, settings: Settings) -> ScanOutput:
        try:
            return self.scanners[tool].scan(settings)
        except (ScanError, OSError) as exc:
            reason = f"check could not run: {exc}"
            return ScanOutput(tool_version="", inconclusive=(Inconclusive(tool, tool, reason),))


def _sources(by_tool: dict[str, str]) -> str:
    """One source when every tool ran from the same place, else ``tool: source`` pairs."""
    known = {t: s for t, s in by_tool.items() if s}
    if len(set(known.values())) <= 1:
        return next(iter(known.values()), "")
    return ", ".join(f"{t}: {s}" for t, s in known.items())
