"""The vetting engine: parse, look up, check and decide whether a distribution may be installed.

Public interface: :mod:`pytest_kisys.vet.interface` (``VetRequest``, ``Decision``,
``parse_requirement``, ...), the :class:`~pytest_kisys.vet.vetter.Vetter` and the pure policy
:func:`~pytest_kisys.vet.policy.decide`. Nothing heavy is imported here; urllib3 is imported only
when an index lookup actually happens. See docs/security-model.md.
"""
