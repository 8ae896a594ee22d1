"""The series of one selector as the server lists them (`Family`): `le` spellings of one bucket bound are one
counter, and a family can write a narrowed selector holding just some of its counters (for raw samples and
look-ups of those alone)."""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from goreliable_lib.analysis.counters import series_label_codes, series_labels
from goreliable_lib.events.promql import TERM_LABEL
from goreliable_lib.inputs.promql import Matcher, Selector, le_regex, regex_escape

#: A counter's identity: its labels as sorted (name, value) pairs, `le` in its canonical spelling.
CounterKey = tuple[tuple[str, str], ...]


def _with_name(frame: pd.DataFrame, name: str | None) -> pd.DataFrame:
    """Functions and aggregations may drop `__name__`: put the family's back (keys always carry it)."""
    if name is None or frame.empty:
        return frame
    return frame.assign(**{"__name__": name})


@dataclass
class Family:
    """The series of one metric name of a selector, as listed by the server."""

    name: str | None
    selector: Selector  # le widened, one metric
    keys: list[CounterKey]  # distinct counters (le canonical)
    spellings: dict[int, list[dict[str, str]]]  # raw label sets of each counter
    index: dict[CounterKey, int]
    raw_mode: set[int]  # counters listed under several spellings: corrected from raw samples at every minute
    all_values: dict[str, set[str]]  # label -> raw values over the family (to narrow selectors)

    def key_of(self, frame: pd.DataFrame) -> np.ndarray:
        """Counter index per row of a result frame (-1 for a series not listed)."""
        if frame.empty:
            return np.zeros(0, dtype=np.int64)
        codes, labels = series_label_codes(_with_name(frame.drop(columns=[TERM_LABEL], errors="ignore"), self.name))
        return np.array([self.index.get(lab, -1) for lab in labels], dtype=np.int64)[codes]

    def narrow(self, keys: Iterable[int]) -> str:
        """A selector (PromQL) holding at least the given counters' series: the family's selector plus, per
        label, a regex of the values those series have (only where it excludes something). An `le` value matches
        every spelling of its bound: a counter's samples under a spelling not listed in the range (`0.3` before a
        silence, `0.30` after it) are its own."""
        keys = list(keys)
        values: dict[str, set[str]] = defaultdict(set)
        present: dict[str, int] = Counter()
        count = 0
        for key in keys:
            for labels in self.spellings[key]:
                count += 1
                for label, value in labels.items():
                    if label != "__name__":
                        values[label].add(value)
                        present[label] += 1
        extra = []
        for label in sorted(values):
            wanted = set(values[label])
            if present[label] < count:
                wanted.add("")  # some series lack the label
            everything = self.all_values.get(label, set())
            if wanted >= everything | ({""} if "" in wanted else set()):
                continue
            extra.append(Matcher(label, "=~", "|".join(sorted({_value_pattern(label, v) for v in wanted}))))
        return Selector(self.selector.metric, self.selector.matchers + tuple(extra)).to_promql()


def _value_pattern(label: str, value: str) -> str:
    """The regex of one label value in a narrowed selector: every spelling of the bound for `le`."""
    if label == "le" and value:
        with contextlib.suppress(ValueError):
            return le_regex(value)
    return regex_escape(value)


def family_of(selector: Selector, name: str | None, listed: pd.DataFrame) -> Family:
    raw_sets = [{k: v for k, v in row.items() if isinstance(v, str) and v != ""}
                for row in listed.to_dict("records")] if len(listed) else []
    keys_per_row = series_labels(listed) if len(listed) else []
    index: dict[CounterKey, int] = {}
    keys: list[CounterKey] = []
    spellings: dict[int, list[dict[str, str]]] = defaultdict(list)
    all_values: dict[str, set[str]] = defaultdict(set)
    for key, labels in zip(keys_per_row, raw_sets, strict=True):
        if key not in index:
            index[key] = len(keys)
            keys.append(key)
        spellings[index[key]].append(labels)
    for labels_list in spellings.values():
        for labels in labels_list:
            for label, value in labels.items():
                all_values[label].add(value)
    names = {label for labels_list in spellings.values() for labels in labels_list for label in labels}
    for labels_list in spellings.values():  # a label some series lack: "" is one of its values
        for labels in labels_list:
            for label in names - set(labels):
                all_values[label].add("")
    raw_mode = {k for k, sets in spellings.items() if len(sets) > 1}
    return Family(name, selector, keys, dict(spellings), index, raw_mode, dict(all_values))
