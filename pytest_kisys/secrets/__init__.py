"""Secrets for tests: the ``kisys_secrets`` fixture, its backends, and the one redactor.

Nothing here is imported while kisys is off. :mod:`pytest_kisys.secrets.redact` has no
dependency beyond the standard library, so every output writer can import it cheaply.
"""
