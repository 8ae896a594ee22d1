"""labelsets: a label column as codes (missing labels as one value), label combinations as codes; expected values
written out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from goreliable_lib.labelsets import combination_codes, factorize_label


def test_missing_labels_become_one_value_after_the_others() -> None:
    codes, values = factorize_label(np.array(["api", None, "web", np.nan, "api"], dtype=object))
    # api -> 0, web -> 1 in order of appearance; None and NaN are the one missing value, None, appended
    assert codes.tolist() == [0, 2, 1, 2, 0] and values.tolist() == ["api", "web", None]


def test_a_missing_label_can_share_the_code_of_an_empty_one() -> None:
    codes, values = factorize_label(np.array(["", "api", None], dtype=object), missing="")
    assert codes.tolist() == [0, 1, 0] and values.tolist() == ["", "api"]  # absent and empty: one label set
    codes, values = factorize_label(np.array(["api", None], dtype=object), missing="")
    assert codes.tolist() == [0, 1] and values.tolist() == ["api", ""]  # no empty one: "" appended


def test_a_column_of_pandas_string_dtype_gives_the_same_codes() -> None:
    column = pd.Series(["a", None, "b"], dtype="str").to_numpy(dtype=object)
    codes, values = factorize_label(column)
    assert codes.tolist() == [0, 2, 1] and values.tolist() == ["a", "b", None]
    assert codes.dtype == np.int64


def test_combinations_are_numbered_in_order_of_first_appearance() -> None:
    service = np.array([0, 0, 1, 1, 0])
    code = np.array([1, 0, 1, 1, 1])
    # (0,1) -> 0, (0,0) -> 1, (1,1) -> 2
    assert combination_codes([service, code], 5).tolist() == [0, 1, 2, 2, 0]
    assert combination_codes([], 3).tolist() == [0, 0, 0]  # no label: one series
