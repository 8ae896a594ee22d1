"""GoReliable Notebooks: reliability analytics for the GoReliable platform.

`src = goreliable_lib.connect()` gives the Prometheus, Kubecost and drill-log sources the environment points
at (see the README); `%load_ext goreliable_lib` adds the `%promql` magics to IPython.

The package itself imports nothing heavy: `connect`, `Sources` and `load_ipython_extension` are loaded when first
used (PEP 562), so `goreliable --version` or a report's kernel pays only for what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goreliable_lib.lab.magics import load_ipython_extension
    from goreliable_lib.sources.connect import Sources, connect

__version__ = "0.1.0"
__all__ = ["Sources", "__version__", "connect", "load_ipython_extension"]

#: The package's public names and the module each comes from.
_LAZY = {"Sources": "goreliable_lib.sources.connect", "connect": "goreliable_lib.sources.connect",
         "load_ipython_extension": "goreliable_lib.lab.magics"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
