"""Turns a scan finding (any object or mapping) into ``security_rule.*``/``artifact.*`` attributes.

Duck-typed on purpose: the scanners' result classes live in another subsystem and this module
must not import them. Only identifying facts are taken (rule, severity, file, line, package,
version, fingerprint), never a matched secret value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


# attribute name -> candidate field names on the finding, first present wins
_FIELDS: dict[str, tuple[str, ...]] = {
    "security_rule.uuid": ("rule_id", "rule", "test_id", "check_id"),
    "security_rule.name": ("title", "rule_name", "name_of_rule"),
    "security_rule.category": ("category", "kind", "type"),
    "security_rule.ruleset.name": ("scanner", "tool", "source"),
    "security_rule.reference": ("url", "reference", "more_info"),
    "security_rule.description": ("message", "description", "text"),
    "kisys.finding.severity": ("severity", "level"),
    "kisys.finding.id": ("fingerprint", "id", "advisory_id"),
    "code.file.path": ("path", "file", "filename"),
    "code.line.number": ("line", "lineno", "line_number"),
    "artifact.filename": ("package", "dependency", "distribution"),
    "artifact.version": ("version", "installed_version"),
    "artifact.purl": ("purl",),
    "artifact.hash": ("hash", "hashed_secret", "secret_hash"),
}
_MAX_TEXT = 500


def _get(finding: Any, name: str) -> Any:
    if isinstance(finding, Mapping):
        return finding.get(name)
    return getattr(finding, name, None)


def _attribute_value(value: Any) -> str | int | float | bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool | int | float):
        return value
    text = getattr(value, "value", value)  # enums such as Severity.HIGH
    return str(text)[:_MAX_TEXT]


def finding_attributes(finding: Any) -> dict[str, str | int | float | bool]:
    """The event attributes for one finding; fields the finding lacks are left out."""
    attrs: dict[str, str | int | float | bool] = {}
    for attribute, candidates in _FIELDS.items():
        for candidate in candidates:
            value = _attribute_value(_get(finding, candidate))
            if value is not None:
                attrs[attribute] = value
                break
    if "artifact.purl" not in attrs and "artifact.filename" in attrs:
        from pytest_kisys.purl import purl

        version = attrs.get("artifact.version")
        attrs["artifact.purl"] = purl(str(attrs["artifact.filename"]), str(version) if version else None)
    return attrs
