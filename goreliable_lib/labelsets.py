"""Label sets in a long frame as integers: one code per row for a label, one per distinct combination of labels.

A source's long frame (`timestamp`, `value`, one column per label) repeats each series' labels on every row; the
engine, the SLO maths and `promjson.wide` group rows by series. Factorising each label column once and combining
the codes is one hashing pass per column, where testing each row for a missing label (`isna` over an `object`
column) was a second full pass.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def factorize_label(column: np.ndarray, missing: object = None) -> tuple[np.ndarray, np.ndarray]:
    """(one code per row, the values the codes index) of a label column; a missing label (None or NaN) is given
    as `missing`, sharing the code of an equal value when there is one (`missing=""`: an empty label is absent)."""
    codes, uniques = pd.factorize(np.asarray(column, dtype=object), use_na_sentinel=True)
    values = np.asarray(uniques, dtype=object)
    absent = codes < 0
    if absent.any():
        equal = np.flatnonzero(values == missing) if missing is not None else np.zeros(0, dtype=np.int64)
        if len(equal):
            codes[absent] = equal[0]
        else:
            codes[absent] = len(values)
            values = np.append(values, np.array([missing], dtype=object))
    return codes.astype(np.int64, copy=False), values


def combination_codes(column_codes: Iterable[np.ndarray], rows: int) -> np.ndarray:
    """One code per distinct combination of the columns' codes (each a code per row), numbered in order of first
    appearance (0 for every row when there is no column)."""
    combined = np.zeros(rows, dtype=np.int64)
    for codes in column_codes:
        combined = pd.factorize(combined * (int(codes.max(initial=0)) + 1) + codes)[0].astype(np.int64, copy=False)
    return combined
