"""Static scan of test files and conftests: which imports and ``requires`` markers they hold.

Nothing is imported or executed: the source is read, pre-filtered with a cheap regular
expression and, when it may hold anything of interest, parsed with :mod:`ast`. Each import is
classified by *how* it is used (:data:`ImportKind`), not by *what* it is: whether a name is
stdlib, first-party or third-party is decided later (:mod:`pytest_kisys.resolve.names`,
:mod:`pytest_kisys.resolve.firstparty`), so a file's scan depends only on its bytes and can be
cached by content hash (:class:`ScanCache`).

Kinds, and what the collector does with them:

* ``required``: module or class level, unguarded: collection fails without it. Installed.
* ``plugin``: named in ``pytest_plugins``. Installed (a missing plugin breaks the conftest).
* ``dynamic``: ``importlib.import_module("x")`` / ``__import__("x")`` with a constant name at
  module level. Installed, like ``required``.
* ``lazy``: inside a function: only the test that runs it needs it. Reported, not installed.
* ``importorskip``: ``pytest.importorskip("x")``: the suite skips on purpose. Not installed.
* ``guarded``: under ``try/except ImportError`` (or ``ModuleNotFoundError``, ``Exception``,
  a bare ``except``) or ``with contextlib.suppress(ImportError)``. Not installed.
* ``type_checking``: under ``if TYPE_CHECKING``. Never imported at run time.
* ``expected_missing``: under ``with pytest.raises(ImportError)``. Never installed.
* ``conditional``: under an ``if`` whose test cannot be decided statically. Not installed;
  ``sys.version_info`` and ``sys.platform`` comparisons are decided against this interpreter.
* ``relative``: ``from . import x``: always first-party.
"""

from __future__ import annotations

import ast
import bisect
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import hashlib
import json
import operator
import os
from pathlib import Path
import re
import sys
import threading
from typing import Any
from typing import Literal


__all__ = [
    "INSTALL_KINDS",
    "MAX_CACHE_ENTRIES",
    "FileScan",
    "ImportKind",
    "ImportUse",
    "MarkerUse",
    "ScanCache",
    "scan_file",
    "scan_source",
]

ImportKind = Literal[
    "required",
    "plugin",
    "dynamic",
    "lazy",
    "importorskip",
    "guarded",
    "type_checking",
    "expected_missing",
    "conditional",
    "relative",
]

INSTALL_KINDS: frozenset[str] = frozenset({"required", "plugin", "dynamic"})
"""Kinds whose absence breaks collection, so they justify an install before it."""

MAX_CACHE_ENTRIES = 20_000
"""The scan cache keeps the most recently used entries of this many file versions."""

# Bump when the scan's output changes shape or meaning: old cache entries are then ignored.
_SCAN_VERSION = 1

# Matched at the start of a line that contains "import" (found with bytes.find, not a scan).
_IMPORT_LINE = re.compile(rb"[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import|import[ \t]+([^#\n]+))")
# An import after ";" or ":" on the same line (``if x: import y``) needs the parser.
_COMPOUND = re.compile(rb"[;:][ \t]*(?:import|from)[ \t]")
# Anything that needs the full parse even when every import line is harmless.
_NEEDS_AST = (b"requires", b"pytest_plugins", b"importorskip", b"import_module", b"__import__")
# Where the AST walk must look inside expressions (everything else: statements only).
_INTERESTING = (b"requires", b"importorskip", b"import_module", b"__import__")
# Statements that span none of these lines cannot hold an import or a marker.
_RELEVANT = (b"import", b"requires", b"pytest_plugins")
_GUARD_KINDS = frozenset({"guarded", "type_checking", "expected_missing"})
_ALWAYS_PRESENT = frozenset({"pytest", "_pytest", "pluggy", "__future__"})
_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@dataclass(frozen=True)
class ImportUse:
    """One import statement (or import-like call) found in a file."""

    name: str
    """The dotted module name as written (``google.protobuf.json_format``).

    Empty for ``from . import x``."""
    line: int
    kind: ImportKind

    @property
    def top_level(self) -> str:
        """The first component of :attr:`name`, the one a distribution provides."""
        return self.name.split(".", 1)[0]

    def to_json(self) -> dict[str, Any]:
        """The cache and report form."""
        return {"name": self.name, "line": self.line, "kind": self.kind}


@dataclass(frozen=True)
class MarkerUse:
    """One ``pytest.mark.requires(...)`` call found in a file, with its constant arguments."""

    requirements: tuple[str, ...]
    line: int
    target: str
    """What it decorates: a function or class name, ``"pytestmark"``, or ``"<call>"`` elsewhere."""

    def to_json(self) -> dict[str, Any]:
        """The cache and report form."""
        return {"requirements": list(self.requirements), "line": self.line, "target": self.target}


@dataclass(frozen=True)
class FileScan:
    """Everything the static scan learned about one file."""

    path: Path
    digest: str
    imports: tuple[ImportUse, ...] = ()
    markers: tuple[MarkerUse, ...] = ()
    error: str | None = None
    """Why the file could not be parsed (pytest will report the same error at collection)."""
    parsed: bool = True
    """False when the text pre-filter showed there was nothing to parse for."""

    def needed(self) -> Iterator[ImportUse]:
        """Imports whose absence breaks collection (:data:`INSTALL_KINDS`)."""
        return (use for use in self.imports if use.kind in INSTALL_KINDS)

    def lazy(self) -> Iterator[ImportUse]:
        """Imports made inside functions."""
        return (use for use in self.imports if use.kind == "lazy")

    def requirements(self) -> Iterator[tuple[str, int]]:
        """Every constant requirement string of every ``requires`` marker, with its line."""
        for marker in self.markers:
            for text in marker.requirements:
                yield text, marker.line

    def to_json(self) -> dict[str, Any]:
        """The cache form (without the path: the same bytes scan the same anywhere)."""
        return {
            "imports": [use.to_json() for use in self.imports],
            "markers": [marker.to_json() for marker in self.markers],
            "error": self.error,
            "parsed": self.parsed,
        }

    @classmethod
    def from_json(cls, path: Path, digest: str, data: dict[str, Any]) -> FileScan:
        """Inverse of :meth:`to_json`."""
        return cls(
            path=path,
            digest=digest,
            imports=tuple(
                ImportUse(str(item["name"]), int(item["line"]), item["kind"]) for item in data["imports"]
            ),
            markers=tuple(
                MarkerUse(tuple(map(str, item["requirements"])), int(item["line"]), str(item["target"]))
                for item in data["markers"]
            ),
            error=data.get("error"),
            parsed=bool(data.get("parsed", True)),
        )


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _triple_quoted(data: bytes) -> list[tuple[int, int]]:
    """Spans of triple-quoted strings (approximate: escapes are ignored, which only costs a parse)."""
    spans: list[tuple[int, int]] = []
    # Next opening of each kind, refreshed only once passed: each find runs over the data once.
    nxt = {b'"""': data.find(b'"""'), b"'''": data.find(b"'''")}
    pos = 0
    while True:
        for quote, at in nxt.items():
            if at != -1 and at < pos:
                nxt[quote] = data.find(quote, pos)
        candidates = [(at, quote) for quote, at in nxt.items() if at != -1]
        if not candidates:
            return spans
        start, quote = min(candidates)
        end = data.find(quote, start + 3)
        if end == -1:
            spans.append((start, len(data)))
            return spans
        spans.append((start, end + 3))
        pos = end + 3


def _lines_with(data: bytes, word: bytes) -> Iterator[int]:
    """Start offsets of the lines containing ``word``, each once, found with ``bytes.find``."""
    pos = data.find(word)
    while pos != -1:
        yield data.rfind(b"\n", 0, pos) + 1
        newline = data.find(b"\n", pos)
        if newline == -1:
            return
        pos = data.find(word, newline)


def _prefilter(data: bytes) -> list[ImportUse] | None:
    """The imports of a simple file without parsing it, or None when it needs :mod:`ast`.

    A file qualifies when it has no markers, plugins or import-like calls, no compound
    one-line statement holding an import, no import line inside a triple-quoted string, and
    every *indented* import (the only ones a guard or a function could surround) is of a
    module that is always importable here (stdlib, pytest). Column-0 imports are module
    level and unguarded by construction, so they are ``required``.
    """
    if any(word in data for word in _NEEDS_AST):
        return None
    strings: list[tuple[int, int]] | None = None
    uses: list[ImportUse] = []
    stdlib = sys.stdlib_module_names
    line = 1
    last = 0
    for start in _lines_with(data, b"import"):
        end = data.find(b"\n", start)
        if _COMPOUND.search(data, start, end if end != -1 else len(data)):
            return None
        match = _IMPORT_LINE.match(data, start)
        if match is None:
            continue
        if strings is None:
            strings = _triple_quoted(data)
        at = bisect.bisect_right(strings, (start, len(data))) - 1
        if at >= 0 and start < strings[at][1]:
            return None
        line += data.count(b"\n", last, start)
        last = start
        indented = data[start : start + 1] in (b" ", b"\t")
        from_name, import_names = match.group(1), match.group(2)
        if from_name is not None:
            names = [from_name.decode()]
        else:
            text = import_names.decode("utf-8", "replace")
            names = [part.split()[0] for part in text.split(",") if part.strip()]
        for name in names:
            top = name.split(".", 1)[0]
            if name.startswith("."):
                uses.append(ImportUse(name.lstrip("."), line, "relative"))
            elif top in stdlib or top in _ALWAYS_PRESENT:
                uses.append(ImportUse(name, line, "required"))
            elif indented or not name.replace(".", "").replace("_", "").isalnum():
                return None
            else:
                uses.append(ImportUse(name, line, "required"))
    return uses


def _dotted(node: ast.expr) -> str:
    """``a.b.c`` for an attribute chain of names, else ``""``."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _handler_catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(_dotted(t).rsplit(".", 1)[-1] in _IMPORT_ERRORS for t in types)


def _mentions_import_error(args: Iterable[ast.expr]) -> bool:
    for arg in args:
        candidates = arg.elts if isinstance(arg, ast.Tuple) else [arg]
        if any(_dotted(c).rsplit(".", 1)[-1] in _IMPORT_ERRORS for c in candidates):
            return True
    return False


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _static_value(node: ast.expr) -> object:
    """The value of ``sys.version_info``/``sys.platform``/constants, or ``_UNKNOWN``."""
    name = _dotted(node)
    if name == "sys.version_info":
        return tuple(sys.version_info)
    if name == "sys.platform":
        return sys.platform
    if isinstance(node, ast.Subscript) and _dotted(node.value) == "sys.version_info":
        try:
            return tuple(sys.version_info)[ast.literal_eval(node.slice)]
        except (ValueError, TypeError, IndexError):
            return _UNKNOWN
    if isinstance(node, ast.Attribute) and _dotted(node.value) == "sys.version_info":
        return getattr(sys.version_info, node.attr, _UNKNOWN)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNKNOWN


_UNKNOWN = object()


def _decide(test: ast.expr) -> bool | None:
    """Whether an ``if`` test is true on this interpreter, when that can be known statically."""
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right = _static_value(test.left), _static_value(test.comparators[0])
        compare = _COMPARE.get(type(test.ops[0]))
        if left is _UNKNOWN or right is _UNKNOWN or compare is None:
            return None
        try:
            return bool(compare(left, right))
        except TypeError:
            return None
    if isinstance(test, ast.Call) and _dotted(test.func) == "sys.platform.startswith":
        if len(test.args) == 1 and isinstance(test.args[0], ast.Constant):
            prefix = test.args[0].value
            if isinstance(prefix, str):
                return sys.platform.startswith(prefix)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _decide(test.operand)
        return None if inner is None else not inner
    return None


class _Visitor(ast.NodeVisitor):
    """Walks one module keeping a stack of the contexts that change what an import means."""

    def __init__(self, interesting: Sequence[int] = (), relevant: Sequence[int] = ()) -> None:
        self.imports: list[ImportUse] = []
        self.markers: list[MarkerUse] = []
        self._interesting = interesting
        self._relevant = relevant
        self.offset = 0
        """Lines before the parsed chunk (its line numbers start at 1)."""
        # The innermost context wins, except that "lazy" (function scope) is sticky.
        self._context: list[ImportKind] = []
        self._target: list[str] = []

    def visit(self, node: ast.AST) -> Any:
        """Visit ``node`` unless its lines cannot hold anything of interest.

        Statements are skipped unless they span a line mentioning ``import``, ``requires`` or
        ``pytest_plugins``; expressions unless they span a line with a call of interest.
        """
        if isinstance(node, ast.stmt):
            lines = self._relevant
        elif isinstance(node, ast.expr):
            lines = self._interesting
        else:
            return super().visit(node)
        # A decorated definition's lineno is its "def" line; the decorators come first.
        decorators = getattr(node, "decorator_list", None)
        first = (decorators[0].lineno if decorators else node.lineno) + self.offset
        at = bisect.bisect_left(lines, first)
        if at == len(lines) or lines[at] > (node.end_lineno or node.lineno) + self.offset:
            return None
        return super().visit(node)

    def _line(self, node: ast.stmt | ast.expr) -> int:
        return node.lineno + self.offset

    # -- context -----------------------------------------------------------------------

    def _kind(self, default: ImportKind = "required") -> ImportKind:
        # A guard anywhere around the import decides; otherwise function scope makes it lazy.
        for kind in reversed(self._context):
            if kind in _GUARD_KINDS:
                return kind
        if default == "importorskip":
            return default
        if "lazy" in self._context:
            return "lazy"
        return self._context[-1] if self._context else default

    def _visit_in(self, kind: ImportKind | None, nodes: Iterable[ast.AST]) -> None:
        if kind is not None:
            self._context.append(kind)
        for node in nodes:
            self.visit(node)
        if kind is not None:
            self._context.pop()

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # Decorators and defaults run at import time; the body does not.
        for deco in node.decorator_list:
            self._visit_decorator(deco, node.name)
        self._visit_in(None, node.args.defaults + [d for d in node.args.kw_defaults if d])
        self._target.append(node.name)
        self._visit_in("lazy", node.body)
        self._target.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_in("lazy", [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for deco in node.decorator_list:
            self._visit_decorator(deco, node.name)
        self._visit_in(None, node.bases)
        self._target.append(node.name)
        self._visit_in(None, node.body)
        self._target.pop()

    def _visit_decorator(self, deco: ast.expr, target: str) -> None:
        self._target.append(target)
        self.visit(deco)
        self._target.pop()

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(_handler_catches_import_error(h) for h in node.handlers)
        self._visit_in("guarded" if guarded else None, node.body)
        # A fallback import in the handler is only needed when the guarded one is missing.
        self._visit_in("conditional" if guarded else None, node.handlers)
        self._visit_in(None, [*node.orelse, *node.finalbody])

    visit_TryStar = visit_Try  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        name = _dotted(node.test)
        if name.rsplit(".", 1)[-1] == "TYPE_CHECKING":
            self._visit_in("type_checking", node.body)
            self._visit_in(None, node.orelse)
            return
        decided = _decide(node.test)
        self.visit(node.test)
        if decided is None:
            self._visit_in("conditional", [*node.body, *node.orelse])
        elif decided:
            self._visit_in(None, node.body)
        else:
            self._visit_in(None, node.orelse)

    def visit_With(self, node: ast.With) -> None:
        kind: ImportKind | None = None
        for item in node.items:
            expr = item.context_expr
            if isinstance(expr, ast.Call) and _mentions_import_error(expr.args):
                func = _dotted(expr.func).rsplit(".", 1)[-1]
                if func == "suppress":
                    kind = "guarded"
                elif func == "raises":
                    kind = "expected_missing"
            self.visit(expr)
        self._visit_in(kind, node.body)

    visit_AsyncWith = visit_With  # type: ignore[assignment]

    # -- imports -------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports.append(ImportUse(alias.name, self._line(node), self._kind()))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.imports.append(ImportUse(node.module or "", self._line(node), "relative"))
        elif node.module and node.module != "__future__":
            self.imports.append(ImportUse(node.module, self._line(node), self._kind()))

    def visit_Assign(self, node: ast.Assign) -> None:
        names = {t.id for t in node.targets if isinstance(t, ast.Name)}
        if "pytest_plugins" in names and not self._target:
            for value in _constant_strings(node.value):
                self.imports.append(ImportUse(value, self._line(node), self._kind("plugin")))
        if "pytestmark" in names:
            self._target.append("pytestmark")
            self.visit(node.value)
            self._target.pop()
            return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = _dotted(node.func)
        leaf = func.rsplit(".", 1)[-1]
        first = node.args[0] if node.args else None
        constant = first.value if isinstance(first, ast.Constant) else None
        if func.endswith("mark.requires"):
            texts = tuple(
                a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
            )
            target = self._target[-1] if self._target else "<call>"
            self.markers.append(MarkerUse(texts, self._line(node), target))
        elif leaf == "importorskip" and isinstance(constant, str):
            self.imports.append(ImportUse(constant, self._line(node), self._kind("importorskip")))
        elif func in ("importlib.import_module", "import_module", "__import__") and isinstance(constant, str):
            kind = self._kind("dynamic")
            self.imports.append(ImportUse(constant, self._line(node), kind))
        self.generic_visit(node)


def _constant_strings(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


_NOT_A_STATEMENT_START = frozenset(b" \t\r\n#)]}")
_CONTINUATIONS = (b"else", b"elif", b"except", b"finally", b"case")
_CHUNK_WORDS = (b"import", *_NEEDS_AST)


def _parse_chunks(data: bytes, filename: str) -> list[tuple[int, ast.Module]] | None:
    """Parse only the top-level statements that mention an import or a keyword of interest.

    Top-level statements start at column 0 (outside triple-quoted strings; ``else``/``except``
    and closing brackets continue the previous one; decorators stick to what follows). Each
    chunk holding a word of interest is parsed on its own, with line numbers shifted back.
    Returns None when any chunk does not parse (a boundary guessed wrong, or a real syntax
    error): the caller then parses the whole file, which is always correct.
    """
    strings = _triple_quoted(data)
    starts: list[int] = []
    offset = 0
    previous_decorator = False
    length = len(data)
    while offset < length:
        first = data[offset]
        if first not in _NOT_A_STATEMENT_START:
            at = bisect.bisect_right(strings, (offset, length)) - 1
            inside = at >= 0 and offset < strings[at][1]
            if not inside:
                head = data[offset : offset + 8]
                continued = previous_decorator or any(
                    head.startswith(word) and not head[len(word) : len(word) + 1].isalnum()
                    for word in _CONTINUATIONS
                )
                if not continued:
                    starts.append(offset)
                previous_decorator = first == 0x40  # "@"
        newline = data.find(b"\n", offset)
        if newline == -1:
            break
        offset = newline + 1
    if not starts:
        return []
    starts.append(length)
    trees: list[tuple[int, ast.Module]] = []
    for begin, end in zip(starts, starts[1:], strict=False):
        chunk = data[begin:end]
        if not any(word in chunk for word in _CHUNK_WORDS):
            continue
        try:
            tree = ast.parse(chunk, filename=filename)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        trees.append((data.count(b"\n", 0, begin), tree))
    return trees


def _line_numbers(data: bytes, words: Sequence[bytes]) -> list[int]:
    """Sorted 1-based numbers of the lines that contain any of ``words``."""
    return sorted({data.count(b"\n", 0, start) + 1 for word in words for start in _lines_with(data, word)})


def scan_source(data: bytes, path: Path, *, digest: str | None = None) -> FileScan:
    """Scan one file's bytes. Never raises for bad source: the error is kept in the result."""
    digest = digest or _digest(data)
    quick = _prefilter(data)
    if quick is not None:
        return FileScan(path=path, digest=digest, imports=tuple(quick), parsed=False)
    trees = _parse_chunks(data, str(path))
    if trees is None:
        try:
            trees = [(0, ast.parse(data, filename=str(path)))]
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            # pytest reports the same error when it imports the file; the scan only notes it.
            return FileScan(path=path, digest=digest, error=f"{type(exc).__name__}: {exc}")
    interesting = _line_numbers(data, _INTERESTING)
    relevant = _line_numbers(data, _RELEVANT)
    visitor = _Visitor(interesting, relevant)
    for offset, tree in trees:
        visitor.offset = offset
        visitor.visit(tree)
    return FileScan(
        path=path,
        digest=digest,
        imports=tuple(visitor.imports),
        markers=tuple(visitor.markers),
    )


@dataclass
class ScanCache:
    """Scan results keyed by content hash, in memory and optionally in one JSON file on disk.

    The on-disk file is written atomically (temporary file + rename) by :meth:`save`; a corrupt
    or foreign file is ignored, never trusted.
    """

    path: Path | None = None
    _entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    _dirty: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    hits: int = 0
    misses: int = 0

    @classmethod
    def load(cls, path: Path | None) -> ScanCache:
        """A cache backed by ``path`` (which need not exist yet)."""
        cache = cls(path=path)
        if path is None:
            return cache
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cache
        if isinstance(raw, dict) and raw.get("version") == _SCAN_VERSION:
            entries = raw.get("entries")
            if isinstance(entries, dict):
                cache._entries = entries
        return cache

    def scan(self, path: Path) -> FileScan:
        """The scan of ``path``, from the cache when its bytes were seen before."""
        data = path.read_bytes()
        digest = _digest(data)
        with self._lock:
            cached = self._entries.get(digest)
        if cached is not None:
            try:
                result = FileScan.from_json(path, digest, cached)
            except (KeyError, TypeError, ValueError):
                result = None
            if result is not None:
                self.hits += 1
                with self._lock:
                    # Most recently used last: trimming in save() drops the oldest first.
                    self._entries[digest] = self._entries.pop(digest, cached)
                return result
        self.misses += 1
        result = scan_source(data, path, digest=digest)
        with self._lock:
            self._entries[digest] = result.to_json()
            self._dirty = True
        return result

    def save(self) -> None:
        """Write the cache back to disk if anything changed (best effort: a cache is optional)."""
        if self.path is None or not self._dirty:
            return
        with self._lock:
            excess = len(self._entries) - MAX_CACHE_ENTRIES
            for digest in list(self._entries)[: max(excess, 0)]:
                del self._entries[digest]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": _SCAN_VERSION, "entries": self._entries}), encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            # A read-only cache directory only costs the next run a re-scan.
            return
        self._dirty = False


def scan_file(path: Path, cache: ScanCache | None = None) -> FileScan:
    """Scan one file, through ``cache`` when given."""
    if cache is not None:
        return cache.scan(path)
    return scan_source(path.read_bytes(), path)
