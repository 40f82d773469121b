"""The small, safe ``if`` language of stages. Parsed by hand, evaluated by walking the tree:
nothing here ever calls ``eval``.

Grammar (lowest precedence first)::

    expr    := and_expr ("or" and_expr)*
    and_expr:= not_expr ("and" not_expr)*
    not_expr:= "not" not_expr | compare
    compare := atom (("==" | "!=") atom)?
    atom    := STRING | NUMBER | "true" | "false" | REF | "(" expr ")"
    REF     := "env." NAME | "settings." NAME | "matrix." NAME

Every value is a string: a missing environment variable is ``""``, a boolean setting is
``"true"``/``"false"``, a list setting is its items joined by commas. A value is true unless it
is empty or one of ``0``, ``false``, ``no``, ``off`` (any case).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
import dataclasses
from dataclasses import dataclass
from pathlib import Path
import re
from typing import Any
from typing import TYPE_CHECKING

from pytest_kisys.errors import StageError


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings


FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*")
  | (?P<op>==|!=|\(|\))
  | (?P<ref>(?:env|settings|matrix)\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "true", "false"})


class ConditionError(StageError):
    """An ``if`` expression could not be parsed or names something unknown."""


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class Scope:
    """The values an expression can see: environment, settings and the stage's matrix values."""

    env: Mapping[str, str]
    settings: Settings | None = None
    matrix: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def lookup(self, ref: str) -> str:
        """The string value of ``env.X``, ``settings.x`` or ``matrix.x``."""
        space, _, name = ref.partition(".")
        if space == "env":
            return self.env.get(name, "")
        if space == "matrix":
            return self.matrix.get(name, "")
        if self.settings is None:
            return ""
        return _as_text(getattr(self.settings, name))


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path | int | float):
        return str(value)
    if isinstance(value, Mapping):
        return ",".join(sorted(str(key) for key in value))
    if isinstance(value, Iterable):
        return ",".join(sorted(str(item) for item in value))
    return str(value)


def truthy(value: str | bool) -> bool:
    """The truthiness rule of the language (see the module docstring)."""
    if isinstance(value, bool):
        return value
    return value.strip().lower() not in FALSE_WORDS


@dataclass(frozen=True)
class _Literal:
    value: str

    def evaluate(self, scope: Scope) -> str | bool:
        return self.value


@dataclass(frozen=True)
class _Ref:
    ref: str

    def evaluate(self, scope: Scope) -> str | bool:
        return scope.lookup(self.ref)


@dataclass(frozen=True)
class _Bool:
    value: bool

    def evaluate(self, scope: Scope) -> str | bool:
        return self.value


@dataclass(frozen=True)
class _Not:
    operand: _Node

    def evaluate(self, scope: Scope) -> str | bool:
        return not truthy(self.operand.evaluate(scope))


@dataclass(frozen=True)
class _Logic:
    op: str
    left: _Node
    right: _Node

    def evaluate(self, scope: Scope) -> str | bool:
        left = truthy(self.left.evaluate(scope))
        if self.op == "and":
            return left and truthy(self.right.evaluate(scope))
        return left or truthy(self.right.evaluate(scope))


@dataclass(frozen=True)
class _Compare:
    op: str
    left: _Node
    right: _Node

    def evaluate(self, scope: Scope) -> str | bool:
        left = _compared(self.left.evaluate(scope))
        right = _compared(self.right.evaluate(scope))
        return (left == right) if self.op == "==" else (left != right)


def _compared(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


_Node = _Literal | _Ref | _Bool | _Not | _Logic | _Compare


@dataclass(frozen=True)
class Condition:
    """A parsed ``if`` expression; build one with :meth:`parse`."""

    text: str
    tree: _Node
    refs: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, *, settings_names: Iterable[str] | None = None) -> Condition:
        """Parse ``text``; raises :class:`ConditionError` saying where and what is wrong.

        ``settings_names``, when given, are the valid ``settings.*`` names.
        """
        tokens = _tokenize(text)
        parser = _Parser(text, tokens)
        tree = parser.parse()
        refs = tuple(token.text for token in tokens if token.kind == "ref")
        if settings_names is not None:
            known = set(settings_names)
            for ref in refs:
                space, _, name = ref.partition(".")
                if space == "settings" and name not in known:
                    raise ConditionError(
                        f"unknown setting {ref!r} in {text!r}; known settings: "
                        + ", ".join(sorted(known))
                    )
        return cls(text, tree, refs)

    def evaluate(self, scope: Scope) -> bool:
        """Whether the condition holds in ``scope``."""
        return truthy(self.tree.evaluate(scope))


def settings_names() -> tuple[str, ...]:
    """The names ``settings.*`` may use: every field of :class:`~pytest_kisys.settings.Settings`."""
    from pytest_kisys.settings import Settings

    return tuple(f.name for f in dataclasses.fields(Settings) if f.name != "sources")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ConditionError(f"unexpected {text[pos]!r} at position {pos} in {text!r}")
        kind = match.lastgroup or ""
        value = match.group()
        if kind == "word":
            if value not in _KEYWORDS:
                raise ConditionError(
                    f"unknown name {value!r} at position {pos} in {text!r}; use env.NAME, "
                    "settings.name, matrix.name, a quoted string, true, false, and, or, not"
                )
            kind = value
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind != "space":
            tokens.append(_Token(kind, value, pos))
        pos = match.end()
    return tokens


# Far above any real condition; keeps the recursive descent (and evaluation) off Python's limit.
MAX_DEPTH = 64


class _Parser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def _deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(
                f"'if' expression nests more than {MAX_DEPTH} levels of parentheses or 'not': "
                f"{self.text[:60]!r}..."
            )

    def parse(self) -> _Node:
        if not self.tokens:
            raise ConditionError("empty 'if' expression")
        node = self._or()
        if self.index < len(self.tokens):
            token = self.tokens[self.index]
            raise ConditionError(
                f"unexpected {token.text!r} at position {token.pos} in {self.text!r}"
            )
        return node

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self, *kinds: str) -> _Token | None:
        token = self._peek()
        if token is not None and (token.kind in kinds or token.text in kinds):
            self.index += 1
            return token
        return None

    def _or(self) -> _Node:
        node = self._and()
        while self._take("or"):
            node = _Logic("or", node, self._and())
        return node

    def _and(self) -> _Node:
        node = self._not()
        while self._take("and"):
            node = _Logic("and", node, self._not())
        return node

    def _not(self) -> _Node:
        if self._take("not"):
            self._deeper()
            node = _Not(self._not())
            self.depth -= 1
            return node
        return self._compare()

    def _compare(self) -> _Node:
        node = self._atom()
        op = self._take("==", "!=")
        if op is not None:
            node = _Compare(op.text, node, self._atom())
        return node

    def _atom(self) -> _Node:
        token = self._peek()
        if token is None:
            raise ConditionError(f"expression {self.text!r} ends too early")
        self.index += 1
        if token.kind in ("string", "number"):
            return _Literal(token.text)
        if token.kind == "ref":
            return _Ref(token.text)
        if token.kind in ("true", "false"):
            return _Bool(token.kind == "true")
        if token.text == "(":
            self._deeper()
            node = self._or()
            if not self._take(")"):
                raise ConditionError(f"missing ')' in {self.text!r}")
            self.depth -= 1
            return node
        raise ConditionError(f"unexpected {token.text!r} at position {token.pos} in {self.text!r}")
