"""The one redactor: registered values and their encodings, shapes, entropy, what it leaves alone."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote
from urllib.parse import quote_plus

import pytest

from pytest_kisys.secrets.redact import is_secret_name
from pytest_kisys.secrets.redact import looks_random
from pytest_kisys.secrets.redact import MASK
from pytest_kisys.secrets.redact import redact_shapes
from pytest_kisys.secrets.redact import Redactor


VALUE = "p@ss w/rd+&'quoted'\n-line2"  # awkward on purpose: every encoding differs from it


def test_registered_value_and_every_encoding_are_masked_with_the_label() -> None:
    redactor = Redactor()
    redactor.register(VALUE, "db_password")
    forms = {
        "plain": VALUE,
        "repr": repr(VALUE),
        "json": json.dumps(VALUE),
        "quote": quote(VALUE),
        "quote-safe": quote(VALUE, safe=""),
        "quote_plus": quote_plus(VALUE),
        "base64": base64.b64encode(VALUE.encode()).decode(),
        "urlsafe-base64": base64.urlsafe_b64encode(VALUE.encode()).decode(),
    }
    for name, form in forms.items():
        text = f"before {form} after"
        masked = redactor.redact(text)
        assert form.strip("'\"=") not in masked, name
        assert "***db_password***" in masked, name
        assert masked.startswith("before "), name
        assert masked.endswith(" after"), name


def test_short_values_are_masked_only_as_the_whole_text() -> None:
    redactor = Redactor(["abc12"])
    assert redactor.redact("abc12") == MASK
    assert redactor.redact("  abc12\n") == MASK
    assert redactor.redact("xabc12y and abc12") == "xabc12y and abc12"


def test_longest_value_wins_when_one_contains_another() -> None:
    redactor = Redactor()
    redactor.register("secret-part", "a")
    redactor.register("secret-part-and-more", "b")
    assert redactor.redact("x secret-part-and-more y") == "x ***b*** y"


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("key AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),  # pragma: allowlist secret
        ("tok ghp_" + "a1B2c3D4" * 5 + " end", "ghp_a1B2"),
        ("https://bob:hunter2pw@index.example/simple", "hunter2pw"),
        ("pip --index-url https://tok3n@example.org/simple", "tok3n"),
        ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi"),
        ("db_password=hunter22&x=1", "hunter22"),
        ("password   = 'hunter2value'", "hunter2value"),
        ('{"api_key": "abcdef12345"}', "abcdef12345"),
        ("Possible hardcoded password: 'Sup3rS3cret'", "Sup3rS3cret"),
        ("blob Zx8Qp2Lm9Rt4Vb7Nc1Kd6Hs3Jf5Gw0Ye in text", "Zx8Qp2Lm9Rt4Vb7Nc1Kd6Hs3Jf5Gw0Ye"),
    ],
)
def test_credential_shapes_and_high_entropy_strings(text: str, gone: str) -> None:
    masked = redact_shapes(text)
    assert gone not in masked
    assert MASK in masked


def test_private_key_block_whole_or_cut_short() -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----"
    assert redact_shapes(f"a {key} b") == "a ***PRIVATE KEY*** b"
    assert "MIIEow" not in redact_shapes("x -----BEGIN PRIVATE KEY-----\nMIIEowIBAAKCAQEA")


@pytest.mark.parametrize(
    "text",
    [
        "sha256 73906d5c908c1e0b73c5436faeff7d93698fc074e3b0c44298fc1c149afbf4c8",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
        "tests/test_secrets_redact.py::test_credential_shapes_and_high_entropy_strings[x]",
        "https://github.com/python/cpython/blob/73906d5c908c1e0b73c5436faeff7d93698fc074/Lib/x.py",
        "token == expected",
        "author = 'John Smith'",
        "tokenize.generate_tokens(readline)",
        "password = self._get_password(url)",
        "KeyError: 'x'",
        "secrets: 3 findings",
    ],
)
def test_ordinary_output_is_left_alone(text: str) -> None:
    assert redact_shapes(text) == text


def test_hex_never_reads_as_random_but_mixed_base64_does() -> None:
    assert not looks_random("73906d5c908c1e0b73c5436faeff7d93698fc074")
    assert not looks_random("test_masking_costs_at_most_five_percent")
    assert looks_random("Zx8Qp2Lm9Rt4Vb7Nc1Kd6Hs3Jf5Gw0Ye")


def test_environment_names_by_part() -> None:
    assert is_secret_name("GITHUB_TOKEN")
    assert is_secret_name("MY_API_KEY")
    assert is_secret_name("OAUTH")
    assert is_secret_name("db_password")
    assert not is_secret_name("GIT_AUTHOR_NAME")
    assert not is_secret_name("AWS_ACCESS_KEY_ID")  # an identifier; its shape is masked anyway
    assert not is_secret_name("HOME")
    assert is_secret_name("SENTRY_DSN", ["DSN"])
    redactor = Redactor.from_environment(
        {"CI_JOB_TOKEN": "job-token-value-1", "GIT_AUTHOR_NAME": "Jane Q Public"}
    )
    assert redactor.redact("job-token-value-1 by Jane Q Public") == "*** by Jane Q Public"


def test_json_documents_keys_and_nested_values() -> None:
    redactor = Redactor(["nested-secret-1"])
    doc = {"a": ["x nested-secret-1", {"nested-secret-1": 3}], "n": 1, "b": None}
    assert redactor.redact_json(doc) == {"a": ["x ***", {"***": 3}], "n": 1, "b": None}


def test_off_masks_nothing() -> None:
    redactor = Redactor(["visible-value-1"], enabled=False)
    assert redactor.redact("visible-value-1 AKIAIOSFODNN7EXAMPLE") == (  # pragma: allowlist secret
        "visible-value-1 AKIAIOSFODNN7EXAMPLE"  # pragma: allowlist secret
    )


def test_command_lines_hide_the_value_after_a_secret_option() -> None:
    redactor = Redactor()
    assert redactor.redact_args(["-k", "x", "--api-token", "t0ken", "--db-password=pw"]) == [
        "-k",
        "x",
        "--api-token",
        MASK,
        "--db-password=***",
    ]


def test_a_value_registered_later_is_masked_in_text_seen_before() -> None:
    redactor = Redactor()
    text = "connecting with registered-later-1"
    assert redactor.redact(text) == text  # remembered...
    redactor.register("registered-later-1", "late")
    assert redactor.redact(text) == "connecting with ***late***"  # ...but not past a registration


# Node-id-like texts, clean and not: one of each rule, texts that only match across a line
# break of the joined block, and the kinds redact_many hands to redact one by one.
_MANY = [
    *(f"tests/test_mod_{i % 7}.py::test_case[{i}]" for i in range(300)),
    "tests/test_a.py::test_key[AKIAIOSFODNN7EXAMPLE]",  # pragma: allowlist secret
    "tests/test_a.py::test_url[https://bob:hunter2pw@index.example/simple]",
    "tests/test_a.py::test_assign[db_password=hunter22]",
    "tests/test_a.py::test_blob[Zx8Qp2Lm9Rt4Vb7Nc1Kd6Hs3Jf5Gw0Ye]",
    "tests/test_a.py::test_reg[x-registered-many-1-y]",
    "tests/test_a.py::test_ends_with_token",
    "='quoted-after-a-line-break'",
    "-----BEGIN PRIVATE KEY-----",
    "tests/test_a.py::test_auth[Authorization: Bearer abc.def]",
    "tests/test_ü.py::test_PASSWORD=hunter33",  # non-ASCII: lowered text changes length
    "tests/test_a.py::test_nl[a\ntoken='x']",
    "short",
    "exact-short",
    "  padded  ",
]


def test_redact_many_gives_redact_s_answer_for_every_text() -> None:
    redactor = Redactor(["sh0rt"])
    redactor.register("registered-many-1", "r")
    redactor.register("exact", "e")  # short: masked only as a whole text
    reference = Redactor(["sh0rt"])
    reference.register("registered-many-1", "r")
    reference.register("exact", "e")
    expected = {text: reference.redact(text) for text in [*_MANY, "exact", "sh0rt"]}
    answers = redactor.redact_many([*_MANY, "exact", "sh0rt", _MANY[0]])
    assert answers == expected
    # The rules really fired where they should, and clean ids came back whole.
    assert (
        answers["tests/test_a.py::test_reg[x-registered-many-1-y]"]
        == "tests/test_a.py::test_reg[x-***r***-y]"
    )
    assert "AKIAIOSFODNN7EXAMPLE" not in answers[_MANY[300]]  # pragma: allowlist secret
    assert answers["exact"] == "***e***"
    assert answers[_MANY[5]] == _MANY[5]
    assert sum(1 for text, answer in answers.items() if answer != text) >= 8
    # Later calls are answered from what redact_many remembered, until a registration.
    assert redactor.redact(_MANY[300]) == answers[_MANY[300]]
    redactor.register("test_mod_3", "late")
    assert redactor.redact(_MANY[3]) == "tests/***late***.py::test_case[3]"


def test_redact_many_finds_the_one_secret_among_many_clean_texts() -> None:
    redactor = Redactor()
    ids = [f"tests/test_x.py::test_y[{i}]" for i in range(20_000)]
    ids[12_345] = "tests/test_x.py::test_y[ghp_" + "a1B2c3D4" * 5 + "]"
    answers = redactor.redact_many(ids)
    assert answers[ids[12_345]] == "tests/test_x.py::test_y[***]"
    assert [text for text, answer in answers.items() if answer != text] == [ids[12_345]]
    assert redactor.redact(ids[12_345]) == "tests/test_x.py::test_y[***]"


def test_redact_many_masks_nothing_when_off() -> None:
    redactor = Redactor(["registered-many-2"], enabled=False)
    text = "tests/t.py::test[registered-many-2]"
    assert redactor.redact_many([text]) == {text: text}
