"""What Python source does when it is imported, read from its syntax tree (never run).

:func:`import_time_behaviour` walks only the code that runs at import: module-level statements,
class bodies, decorators and default values, but not function or lambda bodies, nor
``if __name__ == "__main__":`` and ``if TYPE_CHECKING:`` blocks. Calls are resolved through
the module's import aliases (``import subprocess as sp``, ``from os import system``,
``__import__("os").system``), so renaming a function does not hide it. ``exec`` of a string
literal is analysed as the code it contains; ``exec``, ``eval`` or ``compile`` of anything
computed (decoded base64, decompressed bytes, joined ``chr`` values, a variable) is reported,
except source read from a file of the module's own package (``open(os.path.join(
os.path.dirname(__file__), "version.py"))``, the version-file idiom): that is named in
:attr:`Analysis.runs_files`, and the wheel's rule inspects the named file as import-time code.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
import re
from typing import Literal


Kind = Literal["decoded-exec", "process", "network", "credentials", "env-exfiltration"]

PROCESS_CALLS = frozenset(
    {
        "os.system",
        "os.popen",
        "os.startfile",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
        "subprocess.Popen",
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "asyncio.create_subprocess_exec",
        "asyncio.create_subprocess_shell",
    }
)
PROCESS_PREFIXES = ("os.exec", "os.spawn", "os.posix_spawn")
NETWORK_CALLS = frozenset(
    {
        "socket.socket",
        "socket.create_connection",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "urllib.request.urlopen",
        "urllib.request.urlretrieve",
        "urllib.request.build_opener",
        "http.client.HTTPConnection",
        "http.client.HTTPSConnection",
        "ftplib.FTP",
        "smtplib.SMTP",
        "smtplib.SMTP_SSL",
        "telnetlib.Telnet",
        "urllib3.PoolManager",
        "urllib3.request",
        "aiohttp.ClientSession",
    }
)
NETWORK_PREFIXES = ("requests.", "httpx.", "urllib2.", "websocket.", "websockets.", "paramiko.")
DECODERS = frozenset(
    {
        "base64.b64decode",
        "base64.b32decode",
        "base64.b16decode",
        "base64.b85decode",
        "base64.a85decode",
        "base64.decodebytes",
        "base64.urlsafe_b64decode",
        "base64.standard_b64decode",
        "binascii.a2b_base64",
        "binascii.unhexlify",
        "binascii.a2b_hex",
        "zlib.decompress",
        "gzip.decompress",
        "bz2.decompress",
        "lzma.decompress",
        "marshal.loads",
        "pickle.loads",
        "codecs.decode",
        "bytes.fromhex",
        "bytearray.fromhex",
        "chr",
    }
)
# pickle and marshal turn bytes into code objects or calls on their own.
CODE_LOADERS = frozenset({"marshal.loads", "pickle.loads", "pickle.load", "dill.loads"})
EXEC_CALLS = frozenset({"exec", "eval", "compile", "builtins.exec", "builtins.eval", "builtins.compile"})
BUILTIN_MODULES = frozenset({"builtins", "__builtins__"})
CREDENTIAL_PATH = re.compile(
    r"(^|[/\\~])\.(ssh|aws|netrc|pypirc|git-credentials|gnupg|kube|docker/config\.json|electrum)\b"
    r"|id_rsa|id_ed25519|wallet\.dat|Login Data|Local State|Local Storage[/\\]leveldb"
    r"|Exodus[/\\]exodus\.wallet|Library[/\\]Keychains|\.config[/\\](gcloud|gh)\b",
    re.IGNORECASE,
)
_ENV_WHOLE_METHODS = frozenset({"copy", "items", "keys", "values"})
# Every behaviour above needs one of these words in the source (a call is resolved through
# names that appear in the file), so a file without any is not worth parsing.
_TRIGGERS = re.compile(
    r"exec|eval|compile|getattr|builtins|__import__|import_module|marshal|pickle|dill"
    r"|system|popen|Popen|subprocess|spawn|fork|startfile|getoutput|getstatusoutput|check_call"
    r"|check_output|socket|urlopen|urlretrieve|build_opener|HTTPConnection|HTTPSConnection"
    r"|FTP|SMTP|Telnet|PoolManager|urllib3|ClientSession|requests|httpx|urllib2|websocket|paramiko"
)


@dataclass(frozen=True)
class Behaviour:
    """One thing the code does at import: ``kind``, source line and a short description."""

    kind: Kind
    line: int
    detail: str


class _ImportTimeVisitor(ast.NodeVisitor):
    def __init__(self, line_offset: int = 0) -> None:
        self.aliases: dict[str, str] = {}
        self.found: list[Behaviour] = []
        self.imports: list[tuple[str, int]] = []
        self.env_lines: list[int] = []
        self.network_lines: list[int] = []
        self.offset = line_offset
        # Names bound to values derived from __file__ (a path, its open file, its source, its
        # code object), with the .py file they name when a literal says so.
        self.own: dict[str, str | None] = {}
        self.runs_files: list[tuple[str | None, int]] = []

    # -- the version-file idiom: source read from the package's own files

    def _from_own_file(self, node: ast.AST) -> bool:
        return any(
            isinstance(sub, ast.Name) and (sub.id == "__file__" or sub.id in self.own)
            for sub in ast.walk(node)
        )

    def _own_file_name(self, node: ast.AST) -> str | None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value.endswith(".py"):
                return sub.value
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and self.own.get(sub.id):
                return self.own[sub.id]
        return None

    def visit_Assign(self, node: ast.Assign) -> None:
        if self._from_own_file(node.value):
            named = self._own_file_name(node.value)
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.own[target.id] = named
        self.generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            if isinstance(item.optional_vars, ast.Name) and self._from_own_file(item.context_expr):
                self.own[item.optional_vars.id] = self._own_file_name(item.context_expr)
        self.generic_visit(node)

    # -- scopes that do not run at import

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._signature_only(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._signature_only(node)

    def _signature_only(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for default in node.args.defaults:
            self.visit(default)

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test).replace("'", '"')
        if test in {'__name__ == "__main__"', "TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

    # -- imports and aliases

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".", 1)[0]
                self.aliases[top] = top
            self.imports.append((alias.name, self._line(node)))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            if node.level == 0 and module:
                self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
        if node.level == 0 and module:
            self.imports.append((module, self._line(node)))

    # -- calls

    def _line(self, node: ast.AST) -> int:
        return int(getattr(node, "lineno", 0)) + self.offset

    def dotted(self, node: ast.AST) -> str | None:
        """The fully qualified name a call target refers to, through import aliases."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            # __import__("os").system / importlib.import_module("os").system
            target = self.dotted(node.func)
            if target in {"__import__", "importlib.import_module"} and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    return first.value
                return "<computed-module>"
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = self.dotted(node.func) or ""
        line = self._line(node)
        if name in {"__import__", "importlib.import_module"} and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self.imports.append((first.value, line))
            elif self._decoders(first):
                # A module name computed from a variable is a common plugin idiom; one decoded
                # from base64 or chr() joins only hides what is imported.
                self.found.append(Behaviour("decoded-exec", line, f"{name} of a decoded module name"))
        if name in EXEC_CALLS:
            self._exec(node, name, line)
        elif name == "getattr" and node.args and self.dotted(node.args[0]) in BUILTIN_MODULES:
            self.found.append(Behaviour("decoded-exec", line, "getattr on builtins (hidden exec/eval)"))
        elif name in CODE_LOADERS:
            self.found.append(Behaviour("decoded-exec", line, f"{name} turns data into code"))
        elif name in PROCESS_CALLS or name.startswith(PROCESS_PREFIXES):
            self.found.append(Behaviour("process", line, f"starts a process ({name})"))
        elif name in NETWORK_CALLS or name.startswith(NETWORK_PREFIXES) or name.startswith("<computed"):
            self.network_lines.append(line)
            self.found.append(Behaviour("network", line, f"opens a network connection ({name})"))
        if name.startswith("os.environ.") and name.rsplit(".", 1)[1] in _ENV_WHOLE_METHODS:
            self.env_lines.append(line)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            if self.dotted(arg) == "os.environ":
                self.env_lines.append(line)
            self._credentials(arg, line)
        self.generic_visit(node)

    def _credentials(self, node: ast.AST, line: int) -> None:
        for sub in ast.walk(node):
            if (
                isinstance(sub, ast.Constant)
                and isinstance(sub.value, str)
                and CREDENTIAL_PATH.search(sub.value)
            ):
                self.found.append(Behaviour("credentials", line, f"reads a credential store ({sub.value!r})"))
                return

    def _exec(self, node: ast.Call, name: str, line: int) -> None:
        if not node.args:
            return
        code = node.args[0]
        if isinstance(code, ast.Constant) and isinstance(code.value, str):
            # exec of literal source (the pytest-cov .pth idiom): analyse what it contains.
            try:
                inner = ast.parse(code.value)
            except SyntaxError:
                self.found.append(Behaviour("decoded-exec", line, f"{name} of unparsable source"))
                return
            nested = _ImportTimeVisitor(line - 1)
            nested.aliases = dict(self.aliases)
            nested.visit(inner)
            self.found.extend(nested.found)
            self.imports.extend(nested.imports)
            self.env_lines.extend(nested.env_lines)
            self.network_lines.extend(nested.network_lines)
            return
        if isinstance(code, ast.Constant) and isinstance(code.value, bytes):
            self.found.append(Behaviour("decoded-exec", line, f"{name} of a bytes literal"))
            return
        if self._from_own_file(code) and not self._decoders(code):
            # Source from the package's own file: the caller inspects that file instead.
            self.runs_files.append((self._own_file_name(code), line))
            return
        decoders = self._decoders(code)
        what = f"decoded data ({', '.join(decoders)})" if decoders else "computed data"
        self.found.append(Behaviour("decoded-exec", line, f"{name} of {what}"))

    def _decoders(self, node: ast.AST) -> list[str]:
        """The decoding functions called anywhere inside ``node``."""
        found = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                name = self.dotted(sub.func) or ""
                if name in DECODERS or name.endswith((".decode", ".decompress")):
                    found.add(name)
        return sorted(found)

    # -- os.environ taken whole

    def visit_For(self, node: ast.For) -> None:
        if self.dotted(node.iter) == "os.environ":
            self.env_lines.append(self._line(node))
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None and self.dotted(value) == "os.environ":
                self.env_lines.append(self._line(node))
        self.generic_visit(node)


@dataclass(frozen=True)
class Analysis:
    """Behaviours found, plus the modules imported (name, line) for callers that care."""

    behaviours: tuple[Behaviour, ...]
    imports: tuple[tuple[str, int], ...]
    runs_files: tuple[tuple[str | None, int], ...] = ()
    """``(file name or None, line)`` of each exec/compile of source read from the package's own
    files; None when no literal names the file (the rule then reports it as computed data)."""


def might_behave(source: str) -> bool:
    """False when ``source`` cannot contain any behaviour :func:`import_time_behaviour` finds."""
    return bool(_TRIGGERS.search(source) or CREDENTIAL_PATH.search(source))


def import_time_behaviour(tree: ast.Module, line_offset: int = 0) -> Analysis:
    """Analyse the code of ``tree`` that runs at import time."""
    visitor = _ImportTimeVisitor(line_offset)
    visitor.visit(tree)
    found = list(visitor.found)
    if visitor.env_lines and visitor.network_lines:
        found.append(
            Behaviour(
                "env-exfiltration",
                visitor.env_lines[0],
                "collects the environment variables and sends them over the network "
                f"(line {visitor.network_lines[0]})",
            )
        )
    return Analysis(tuple(found), tuple(visitor.imports), tuple(visitor.runs_files))
