"""GoReliable Notebooks: reliability analytics for the GoReliable platform.

`src = goreliable_lib.connect()` gives the Prometheus, Kubecost and drill-log sources the environment points
at (see the README); `%load_ext goreliable_lib` adds the `%promql` magics to IPython.
"""

from __future__ import annotations

from goreliable_lib.lab.magics import load_ipython_extension
from goreliable_lib.sources.connect import Sources, connect

__version__ = "0.1.0"
__all__ = ["Sources", "__version__", "connect", "load_ipython_extension"]
