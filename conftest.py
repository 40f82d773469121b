"""Root conftest: pytester for behaviour tests, and shared fixtures live in tests/."""

from __future__ import annotations


pytest_plugins = [
    "pytester",
    "tests.support.pkgindex",
    "tests.support.otlp_receiver",
    "tests.support.venvs",
    "tests.support.installindex",
    "tests.support.osv_server",
]
