"""Running a command where file modes apply, even as root (CI runs the tests as root).

Root ignores ``chmod 000`` through two capabilities; ``setpriv`` drops them for the child
(``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``), so the child meets the permission checks a user
would. As a normal user no prefix is needed.
"""

from __future__ import annotations

import os
import shutil

import pytest


DROP_CAPS = "-dac_override,-dac_read_search"


def mode_checked_prefix() -> list[str]:
    """The command prefix under which ``chmod 000`` denies access; skips the test, saying why,
    when root has no way to drop the capabilities."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: chmod 000 cannot deny root access")
    return [setpriv, f"--inh-caps={DROP_CAPS}", f"--bounding-set={DROP_CAPS}"]
