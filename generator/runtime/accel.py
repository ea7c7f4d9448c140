"""The compiled accelerator of validation (the C extension ``fhirgen.runtime._accel``).

``ACCEL`` is the extension module when it was built (``pip install`` builds it where a C compiler
is at hand) and not switched off by the environment variable ``FHIRGEN_PURE_PYTHON=1``; else
None, and every caller runs the pure-Python path, which is always the reference: each compiled
part only skips work whose outcome the Python runtime would give, and tests hold the two equal.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["ACCEL", "PURE_PYTHON"]

#: The environment variable that switches the accelerator off (any non-empty value but "0").
PURE_PYTHON = "FHIRGEN_PURE_PYTHON"


def _load() -> ModuleType | None:
    if os.environ.get(PURE_PYTHON, "") not in ("", "0"):
        return None
    try:
        from . import _accel
    except ImportError:
        return None
    return _accel


ACCEL: ModuleType | None = _load()
