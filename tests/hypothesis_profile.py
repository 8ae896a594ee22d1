"""The hypothesis profile of the fuzz tests (tests/test_fuzz_*.py) and a counter of the examples they run.

    from hypothesis_profile import FUZZ, count

    @FUZZ
    @given(...)
    def test_property(...):
        count("property")
        ...

`FUZZ` is the registered `goreliable-fuzz` profile used as a decorator (it is not loaded globally, so other
modules' hypothesis settings are untouched): a bounded number of examples per test and no deadline (the machine
is shared and slow; timing noise must not fail a property). `GORELIABLE_FUZZ_EXAMPLES` changes the number.
The examples are the same on every run (`derandomize`), so `make test` on a clean clone passes or fails alike;
`GORELIABLE_FUZZ_EXPLORE=1` draws new ones (what hypothesis finds that way becomes an `@example`).
The counts are written to test-artifacts/fuzz-examples.json when a fuzz module finishes (`write_counts`).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, settings

#: Examples per property (a property with a small strategy may run fewer).
FUZZ_EXAMPLES = int(os.environ.get("GORELIABLE_FUZZ_EXAMPLES", "200"))
#: Draw new examples on each run instead of the same ones.
FUZZ_EXPLORE = os.environ.get("GORELIABLE_FUZZ_EXPLORE") == "1"
PROFILE = "goreliable-fuzz"

settings.register_profile(
    PROFILE, max_examples=FUZZ_EXAMPLES, deadline=None, print_blob=True, derandomize=not FUZZ_EXPLORE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture])
FUZZ = settings.get_profile(PROFILE)

#: Examples actually run, per property.
EXAMPLES_RUN: Counter[str] = Counter()
COUNTS_FILE = Path(__file__).resolve().parents[1] / "test-artifacts" / "fuzz-examples.json"


def count(name: str) -> None:
    """Count one example of the property `name` (call it first thing in the test body)."""
    EXAMPLES_RUN[name] += 1


def write_counts() -> dict[str, int]:
    """Merge this process's counts into test-artifacts/fuzz-examples.json; returns the merged counts."""
    merged: dict[str, int] = {}
    if COUNTS_FILE.is_file():
        try:
            merged = {str(k): int(v) for k, v in json.loads(COUNTS_FILE.read_text()).get("examples", {}).items()}
        except (ValueError, AttributeError):
            merged = {}
    merged.update(EXAMPLES_RUN)
    COUNTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    COUNTS_FILE.write_text(json.dumps({"total": sum(merged.values()), "examples": dict(sorted(merged.items()))},
                                      indent=1) + "\n")
    return merged
