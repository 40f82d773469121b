"""The static import reader: what a file imports, without importing or executing anything.

The source is read, pre-filtered with a cheap regular expression and, when it may hold
anything of interest, parsed with :mod:`ast` (see :mod:`pytest_kisys.resolve.imports` for
the kinds it tells apart).
"""

from __future__ import annotations

import ast
import bisect
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
import hashlib
import operator
from pathlib import Path
import re
import sys
from typing import Any

from pytest_kisys.resolve.imports import FileImports
from pytest_kisys.resolve.imports import ImportKind
from pytest_kisys.resolve.imports import ImportUse
from pytest_kisys.resolve.imports import MarkerUse


__all__ = ["content_digest", "read_imports"]

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




def content_digest(data: bytes) -> str:
    """The content hash that keys cached results."""
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


def read_imports(data: bytes, path: Path, *, digest: str | None = None) -> FileImports:
    """Read one file's imports and markers. Never raises for bad source: the error is kept in the result."""
    digest = digest or content_digest(data)
    quick = _prefilter(data)
    if quick is not None:
        return FileImports(path=path, digest=digest, imports=tuple(quick), parsed=False)
    trees = _parse_chunks(data, str(path))
    if trees is None:
        try:
            trees = [(0, ast.parse(data, filename=str(path)))]
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            # pytest reports the same error when it imports the file; the reader only notes it.
            return FileImports(path=path, digest=digest, error=f"{type(exc).__name__}: {exc}")
    interesting = _line_numbers(data, _INTERESTING)
    relevant = _line_numbers(data, _RELEVANT)
    visitor = _Visitor(interesting, relevant)
    for offset, tree in trees:
        visitor.offset = offset
        visitor.visit(tree)
    return FileImports(
        path=path,
        digest=digest,
        imports=tuple(visitor.imports),
        markers=tuple(visitor.markers),
    )

