"""The one redactor: every piece of text kisys lets out of the process, or into a cache, goes
through :meth:`Redactor.redact` first.

What it masks, in this order:

1. **Registered values** (:meth:`Redactor.register`): fetched secrets, values of environment
   variables whose names look secret, values a test hands to ``kisys_secrets.mask``. Each value
   is masked together with its common encodings: its ``repr`` and JSON escapes, its URL-quoted
   forms and its base64 forms. A labelled value becomes ``***label***``, others ``***``. Values
   shorter than :data:`MIN_SUBSTRING_LENGTH` are only masked where they are the whole text:
   masking them inside other text would shred ordinary output.
2. **Shapes** (:data:`PATTERNS`): private key blocks, URL credentials
   (``https://***@host``), credential-shaped tokens (AWS access key ids, GitHub, GitLab, Slack,
   Stripe, Google, npm and PyPI tokens, JWTs), ``Authorization:`` header values and values
   assigned to secret-looking names (``password=...``, ``"token": "..."``).
3. **High-entropy strings**: runs of 20 or more base64 characters mixing upper case, lower
   case and digits whose Shannon entropy is at least :data:`ENTROPY_THRESHOLD` bits per
   character (detect-secrets' limit for base64 strings). Hex strings (hashes, trace ids) never
   reach that limit, so fingerprints survive.

The same rules apply at every boundary (terminal, JUnit XML, JSON report, SARIF, spans, stage
output, scan caches), so what one output hides no other output shows.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import json
import math
import re
import threading
from typing import Any
from urllib.parse import quote
from urllib.parse import quote_plus

from pytest_kisys.options import DEFAULT_MASK_ENV


MASK = "***"
# Shorter values would mask ordinary words and numbers everywhere; they are masked only as a
# whole text (an attribute value, an environment value printed alone).
MIN_SUBSTRING_LENGTH = 6
ENTROPY_THRESHOLD = 4.5
# No shape or entropy rule can match text shorter than this ("a://b@", 20-character runs).
_MIN_SHAPE_LENGTH = 6
_CACHE_SIZE = 8192
_MIN_ENTROPY_RUN = 20
# Texts looked at one by one once a changed block has been halved down to this many.
_SWEEP_LEAF = 4

# A pattern of names, not a password (S105).
_SECRET_WORD = r"(?:token|secret|passw(?:or)?d|passphrase|api[_-]?key|private[_-]?key|credential|auth)"  # noqa: S105
# A name containing a secret word that ends there, is plural, or goes on after a separator:
# ``auth_token``, ``passwords``, ``oauth``; not ``author`` or ``tokenize``.
_SECRET_NAME = rf"(?<![\w.-])[\w.-]*{_SECRET_WORD}(?:s|[_.-][\w.-]*)?\b"

# Each shape: (pattern, replacement, substrings one of which the text must hold for the pattern
# to be tried at all; cheap ``in`` tests keep clean text at str.find speed).
PATTERNS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    # A PEM private key, whole (or up to the end of the text when cut short).
    (
        re.compile(
            r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        MASK + "PRIVATE KEY" + MASK,
        ("PRIVATE KEY-----",),
    ),
    # user[:password]@ right after a scheme.
    (re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"<>]+@"), r"\1" + MASK + "@", ("://",)),
    # Credential-shaped tokens of well-known services.
    (
        re.compile(
            r"\b(?:(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"
            r"|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}"
            r"|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
            r"|[rs]k_live_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{35}|npm_[A-Za-z0-9]{36}"
            r"|pypi-[A-Za-z0-9_-]{50,}"
            r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
        ),
        MASK,
        (
            *("AKIA", "ASIA", "ABIA", "ACCA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
            *("glpat-", "xox", "k_live_", "AIza", "npm_", "pypi-", "eyJ"),
        ),
    ),
    # Authorization: Bearer <value>
    (
        re.compile(r"(?i)\b(authorization\s*[:=]\s*['\"]?(?:bearer|basic|token)\s+)[^\s'\",]+"),
        r"\1" + MASK,
        ("uthorization", "UTHORIZATION"),
    ),
)
_ENTROPY_CANDIDATE = re.compile(rf"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{{{_MIN_ENTROPY_RUN},}}={{0,2}}")
_SECRET_OPTION = re.compile(rf"(?i)^--?[\w.-]*{_SECRET_WORD}(?:s|[_.-][\w.-]*)?$")
# Assignments are found from the secret word outwards (a pattern starting at every name would
# cost a backtracking scan of every identifier in the text), the words by str.find.
_WORDS = (
    *("token", "secret", "passw", "passphrase", "apikey", "api_key", "api-key", "private"),
    *("credential", "auth"),
)
_WORD_AT = re.compile(rf"(?i){_SECRET_WORD}")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_NAME_REST = re.compile(r"(?:s|[_.-][\w.-]*)?\b")
# name = 'value', "name": "value", name: b'value' (quoted: locals, JSON, YAML, messages).
_QUOTED_VALUE = re.compile(r"(['\"]?\s*[:=]\s*[bru]?)(['\"])(?!\*\*\*)(?:\\.|(?!\2).)+\2")
# name=value (no spaces: queries, command lines, environment dumps), not name==value.
_PLAIN_VALUE = re.compile(r"(=)(?!=)(['\"]?)(?!\*\*\*)[^\s'\",;&)]+")


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` over its own character frequencies."""
    if not text:
        return 0.0
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


def looks_random(token: str) -> bool:
    """Whether ``token`` (a run of base64 characters) reads as a random secret, not a word."""
    body = token.rstrip("=")
    if len(body) < _MIN_ENTROPY_RUN:
        return False
    if not (any(c.isupper() for c in body) and any(c.islower() for c in body)):
        return False
    if not any(c.isdigit() for c in body):
        return False
    # A path or URL path (``blob/73906d5c.../Lib``): a plain lower-case word between slashes.
    if "/" in body and any(len(seg) >= 3 and seg.isalpha() and seg.islower() for seg in body.split("/")):
        return False
    return shannon_entropy(body) >= ENTROPY_THRESHOLD


def _mask_assignments(text: str) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few non-ASCII letters change length when lowered
        lowered = text
    hits: set[int] = set()
    for needle in _WORDS:
        at = lowered.find(needle)
        while at >= 0:
            hits.add(at)
            at = lowered.find(needle, at + 1)
    if not hits:
        return text
    pieces: list[str] = []
    pos = 0
    for at in sorted(hits):
        if at < pos:
            continue
        word = _WORD_AT.match(text, at)
        if word is None:
            continue
        start = at
        while start > pos and text[start - 1] in _NAME_CHARS:
            start -= 1
        if start > 0 and text[start - 1] in _NAME_CHARS:
            continue  # the name began inside text already masked
        rest = _NAME_REST.match(text, word.end())
        if rest is None:
            continue
        quoted = _QUOTED_VALUE.match(text, rest.end())
        if quoted is not None:
            quote_char = quoted.group(2)
            pieces.append(text[pos : quoted.end(1)] + quote_char + MASK + quote_char)
            pos = quoted.end()
            continue
        plain = _PLAIN_VALUE.match(text, rest.end())
        if plain is not None:
            pieces.append(text[pos : plain.end(2)] + MASK)
            pos = plain.end()
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


def _entropy_sub(match: re.Match[str]) -> str:
    token = match.group(0)
    return MASK if looks_random(token) else token


def redact_shapes(text: str) -> str:
    """``text`` with credential shapes, secret assignments and high-entropy strings masked.

    The rules that need no registered value; :meth:`Redactor.redact` applies them too.
    """
    for pattern, replacement, needles in PATTERNS:
        for needle in needles:
            if needle in text:
                text = pattern.sub(replacement, text)
                break
    text = _mask_assignments(text)
    return _ENTROPY_CANDIDATE.sub(_entropy_sub, text)


def is_secret_name(name: str, parts: Sequence[str] = DEFAULT_MASK_ENV) -> bool:
    """Whether an environment variable ``name`` holds a secret, by its ``_``-separated parts.

    ``parts`` entries match a run of whole parts (``API_KEY`` matches ``MY_API_KEY``) or the end
    of one part (``AUTH`` matches ``OAUTH_X``), so ``GIT_AUTHOR_NAME`` is not a secret name.
    """
    words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
    joined = "_" + "_".join(words) + "_"
    for part in parts:
        wanted = "_".join(w for w in re.split(r"[^A-Z0-9]+", part.upper()) if w)
        if not wanted:
            continue
        if f"_{wanted}_" in joined or any(w.endswith(wanted) for w in words):
            return True
    return False


def encodings(value: str) -> set[str]:
    """``value`` and the forms it takes in output: repr/JSON escapes, URL quoting, base64."""
    forms = {value, repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms |= {quote(value), quote(value, safe=""), quote_plus(value)}
    raw = value.encode("utf-8", "surrogatepass")
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii").rstrip("=")
        if len(text) >= MIN_SUBSTRING_LENGTH:
            forms.add(text)
    return {form for form in forms if form}


class Redactor:
    """Thread-safe masker. Registered values only ever grow; ``enabled=False`` masks nothing."""

    def __init__(self, values: Iterable[str] = (), *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._labels: dict[str, str] = {}  # value -> label ("" for none)
        self._exact: dict[str, str] = {}  # short value -> mask (whole-text only)
        self._forms: dict[str, str] = {}  # encoded form -> mask
        self._literal: re.Pattern[str] | None = None
        self._generation = 0
        self._cache: dict[str, tuple[int, str]] = {}
        self._cache_limit = _CACHE_SIZE
        self.add(values)

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str],
        names: Sequence[str] = DEFAULT_MASK_ENV,
        extra: Iterable[str] = (),
        *,
        enabled: bool = True,
    ) -> Redactor:
        """A redactor masking the values of ``environ``'s secret-looking variables and ``extra``."""
        redactor = cls(enabled=enabled)
        redactor.add([value for name, value in environ.items() if is_secret_name(name, names)])
        redactor.add(extra)
        return redactor

    def register(self, value: str, label: str | None = None) -> None:
        """Mask ``value`` (and its encodings) from now on, as ``***label***`` when labelled."""
        if not isinstance(value, str) or not value or value == MASK:
            return
        self._register_many([(value, label or "")])

    def add(self, values: Iterable[str]) -> None:
        """Mask each of ``values`` from now on, unlabelled (empty values are ignored)."""
        self._register_many([(v, "") for v in values if isinstance(v, str) and v])

    def _register_many(self, items: Sequence[tuple[str, str]]) -> None:
        with self._lock:
            new = [(v, label) for v, label in items if self._labels.get(v) != label]
            if not new:
                return
            for value, label in new:
                self._labels[value] = label
                mask = f"{MASK}{label}{MASK}" if label else MASK
                if len(value.strip()) < MIN_SUBSTRING_LENGTH:
                    self._exact[value] = mask
                    self._exact[value.strip()] = mask
                    continue
                for form in encodings(value):
                    if len(form) >= MIN_SUBSTRING_LENGTH:
                        self._forms[form] = mask
            # Longest first, so a value containing another is masked whole.
            ordered = sorted(self._forms, key=len, reverse=True)
            self._literal = re.compile("|".join(map(re.escape, ordered))) if ordered else None
            self._generation += 1

    def redact(self, text: str) -> str:
        """``text`` with registered values, credential shapes and high-entropy strings masked."""
        if not self.enabled or not text:
            return text
        # Reports repeat the same strings (node ids per phase, source lines per parametrized
        # test): remember answers, stamped with the registration generation they were made in.
        generation = self._generation
        hit = self._cache.get(text)
        if hit is not None and hit[0] == generation:
            return hit[1]
        result = self._redact(text)
        if len(self._cache) >= self._cache_limit:
            self._cache.clear()
        self._cache[text] = (generation, result)
        return result

    @property
    def generation(self) -> int:
        """Counts registrations: an answer of :meth:`redact` holds while this is unchanged."""
        return self._generation

    def redact_many(self, texts: Iterable[str]) -> dict[str, str]:
        """Each of ``texts`` mapped to what :meth:`redact` makes of it (the same answers).

        For many short texts that are mostly clean (a run's node ids): ASCII texts without a
        line break are joined by newlines and the block is masked as one text; a block that
        comes back unchanged proves every line in it clean (no rule matches across a line
        break without changing the block, and a line break bounds names, words and tokens as
        the end of a text does), so only the halves of a changed block are looked at again,
        down to single texts.
        """
        generation = self._generation  # before looking: a value registered meanwhile counts
        answers: dict[str, str] = {}
        batch: list[str] = []
        for text in dict.fromkeys(texts):
            if (
                not self.enabled
                or len(text) < _MIN_SHAPE_LENGTH
                or not text.isascii()
                or "\n" in text
                or text in self._exact
                or text.strip() in self._exact
            ):
                answers[text] = self.redact(text)
            else:
                batch.append(text)
        self._sweep(batch, answers)
        # Remembered like redact's own answers; the cache makes room for all of them, so the
        # texts asked for next (every phase's report repeats its node id) are all hits.
        cache = self._cache
        self._cache_limit = max(self._cache_limit, len(answers) + _CACHE_SIZE)
        for text, answer in answers.items():
            cache[text] = (generation, answer)
        return answers

    def _sweep(self, texts: list[str], answers: dict[str, str]) -> None:
        if len(texts) <= _SWEEP_LEAF:
            for text in texts:
                answers[text] = self.redact(text)
            return
        block = "\n".join(texts)
        if self._redact(block) == block:
            answers.update(zip(texts, texts, strict=True))
            return
        half = len(texts) // 2
        self._sweep(texts[:half], answers)
        self._sweep(texts[half:], answers)

    def _redact(self, text: str) -> str:
        exact = self._exact.get(text) or self._exact.get(text.strip())
        if exact is not None:
            return exact
        literal, forms = self._literal, self._forms
        if literal is not None:
            text = literal.sub(lambda m: forms.get(m.group(0), MASK), text)
        if len(text) < _MIN_SHAPE_LENGTH:
            return text
        return redact_shapes(text)

    def redact_json(self, data: Any, *, keys: bool = True) -> Any:
        """A copy of a JSON-like structure with every string redacted (keys too, unless
        ``keys=False`` for documents whose keys are fixed names)."""
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, Mapping):
            if keys:
                return {self.redact(str(k)): self.redact_json(v) for k, v in data.items()}
            return {k: self.redact_json(v, keys=False) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact_json(v, keys=keys) for v in data]
        return data

    def redact_args(self, args: Sequence[str]) -> list[str]:
        """A command line with secrets masked, including the value after ``--api-token``."""
        masked: list[str] = []
        hide_next = False
        for arg in args:
            if hide_next:
                masked.append(MASK)
                hide_next = False
                continue
            name, sep, _ = arg.partition("=")
            if _SECRET_OPTION.match(name):
                if sep:
                    masked.append(f"{name}={MASK}")
                    continue
                hide_next = True
            masked.append(self.redact(arg))
        return masked
