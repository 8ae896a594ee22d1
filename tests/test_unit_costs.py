"""Unit costs (analysis/unit_costs.py) on hand-made frames; every expected value is derived in the comments."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from goreliable_lib.analysis import unit_costs as uc
from goreliable_lib.inputs.services_map import parse_services_map

D0 = pd.Timestamp("2026-11-01T00:00:00Z")
DAY = pd.Timedelta(days=1)
MIN = pd.Timedelta(minutes=1)

MAP = parse_services_map({"services": [
    {"name": "checkout", "allocations": {"aggregate": "label:app", "values": ["checkout", "checkout-db"]},
     "requests": "checkout-availability"},
    {"name": "llm", "allocations": {"aggregate": "label:app", "values": ["llm-gateway", "vllm"]},
     "requests": "llm-latency", "kind": "llm"},
    {"name": "inference", "team": "ml", "allocations": {"aggregate": "label:app", "values": ["predictor"]},
     "requests": "inference-availability", "kind": "inference"},
    {"name": "ghost", "allocations": {"aggregate": "label:app", "values": ["nothing-by-that-name"]},
     "requests": "x"},
]}, source="test map")
CHECKOUT, LLM, INFERENCE, GHOST = MAP.services


def _alloc(day: int, app: str, team: str | None, total: float, gpu: float = 0.0, *, idle: bool = False,
           unallocated: bool = False) -> dict[str, object]:
    start = D0 + day * DAY
    return {"name": app, "start": start, "end": start + DAY, "app": app, "cost_team": team, "total_cost": total,
            "gpu_cost": gpu, "is_idle": idle, "is_unallocated": unallocated}


def _events(first: pd.Timestamp, minutes: int, good: float, total: float) -> pd.DataFrame:
    times = pd.date_range(first + MIN, periods=minutes, freq="min")
    return pd.DataFrame({"timestamp": times, "good": good, "total": total})


# --------------------------------------------------------------------------------------------- the ratios
def test_ratios_and_no_denominator_is_none_never_zero() -> None:
    # $12 for 4,000,000 requests of which 3,000,000 good: 12 / 4 = $3 per million, 12 / 3 = $4 per million good,
    # the failed million took 12 x 1/4 = $3
    assert uc.cost_per_million(12.0, 4_000_000) == pytest.approx(3.0)
    assert uc.cost_per_million_good(12.0, 3_000_000) == pytest.approx(4.0)
    assert uc.failed_requests_cost(12.0, 3_000_000, 4_000_000) == pytest.approx(3.0)
    assert uc.per_unit(5.0, 2_000, 1000.0) == pytest.approx(2.5)  # $5 for 2,000 inferences: $2.50 per 1,000
    assert uc.cost_per_million(12.0, 0) is None and uc.cost_per_million_good(12.0, 0) is None
    assert uc.failed_requests_cost(12.0, 0, 0) is None and uc.cost_per_million(None, 5) is None
    assert uc.cost_per_million(math.nan, 5) is None and uc.share(1.0, 0.0) is None


def test_day_periods_cut_at_utc_midnight() -> None:
    start, end = D0 + pd.Timedelta(hours=6), D0 + 2 * DAY + pd.Timedelta(hours=6)
    assert uc.day_periods(start, end) == [(start, D0 + DAY), (D0 + DAY, D0 + 2 * DAY), (D0 + 2 * DAY, end)]
    assert uc.day_periods(D0, D0 + DAY) == [(D0, D0 + DAY)]


def test_minute_sums_take_the_minutes_after_the_start_up_to_the_end() -> None:
    # minutes 00:01 .. 24:00 of day 0 (1440) and 00:01 .. 00:10 of day 1 (10); the one at 24:00 is day 0's
    events = _events(D0, 1450, good=2.0, total=3.0)
    events.loc[5, "total"] = math.nan  # a scrape gap's minute counts 0
    sums = uc.minute_sums(events, [(D0, D0 + DAY), (D0 + DAY, D0 + 2 * DAY)], ["good", "total"])
    assert sums["good"].tolist() == [2.0 * 1440, 2.0 * 10]
    assert sums["total"].tolist() == [3.0 * 1439, 3.0 * 10]


# --------------------------------------------------------------------------------------------- one service
def _frame() -> pd.DataFrame:
    return pd.DataFrame([
        _alloc(0, "checkout", "shop", 10.0), _alloc(0, "checkout-db", "shop", 2.0), _alloc(0, "other", "shop", 50.0),
        _alloc(0, uc.IDLE, None, 7.0, idle=True), _alloc(0, uc.UNALLOCATED, None, 3.0, unallocated=True),
        _alloc(1, "checkout", "shop", 14.0), _alloc(1, "checkout-db", "shop", 2.0),
        # day 2: Kubecost has nothing at all
        _alloc(3, "checkout", "shop", 18.0), _alloc(3, "checkout-db", "shop", 2.0),
        _alloc(0, "llm-gateway", "ml", 1.0), _alloc(0, "vllm", "ml", 19.0, gpu=15.0),
        _alloc(1, "llm-gateway", "ml", 1.0), _alloc(1, "vllm", "ml", 19.0, gpu=15.0),
        _alloc(3, "llm-gateway", "ml", 1.0), _alloc(3, "vllm", "ml", 19.0, gpu=15.0),
        _alloc(0, "predictor", "ml", 8.0, gpu=6.0), _alloc(1, "predictor", "ml", 8.0, gpu=6.0),
        _alloc(3, "predictor", "ml", 8.0, gpu=6.0),
    ])


PERIODS = [(D0 + i * DAY, D0 + (i + 1) * DAY) for i in range(4)]


def _periods() -> tuple[pd.DataFrame, list[str]]:
    frame = _frame()
    covered = uc.has_cost_data([frame], PERIODS)
    # checkout: 1,000 requests a minute, 990 good -> 1,440,000 a day, 1,425,600 good
    checkout = uc.service_periods(CHECKOUT, frame, "app", "cost_team", PERIODS, covered,
                                  _events(D0, 4 * 1440, good=990.0, total=1000.0))
    # llm: 10 requests a minute, all good; 500 prompt and 200 generated tokens a minute
    tokens = _events(D0, 4 * 1440, good=0, total=0).drop(columns=["good", "total"]).assign(prompt=500.0,
                                                                                         generated=200.0)
    llm = uc.service_periods(LLM, frame, "app", "cost_team", PERIODS, covered, _events(D0, 4 * 1440, 10.0, 10.0),
                             tokens)
    # inference: 100 a minute, 99 good -> 144,000 a day
    inference = uc.service_periods(INFERENCE, frame, "app", "cost_team", PERIODS, covered,
                                   _events(D0, 4 * 1440, 99.0, 100.0))
    ghost = uc.service_periods(GHOST, frame, "app", "cost_team", PERIODS, covered, _events(D0, 4 * 1440, 1.0, 1.0))
    nothing = [p["service"].iloc[0] for p in (checkout, llm, inference, ghost) if p.attrs["maps_to_nothing"]]
    return pd.concat([checkout, llm, inference, ghost], ignore_index=True), nothing


def test_service_periods_select_the_mapped_allocations_never_idle_or_unallocated() -> None:
    periods, nothing = _periods()
    assert nothing == ["ghost"]
    checkout = periods[periods["service"] == "checkout"]
    # day 0: checkout 10 + checkout-db 2 (not `other`, idle or unallocated); day 2 has no data at all: NaN, not 0
    assert checkout["cost"].tolist()[:2] == [12.0, 16.0] and math.isnan(checkout["cost"].iloc[2])
    assert checkout["cost"].iloc[3] == 20.0
    assert checkout["has_cost_data"].tolist() == [True, True, False, True]
    assert checkout["team"].iloc[0] == "shop"
    assert checkout["requests"].tolist() == [1_440_000.0] * 4
    ghost = periods[periods["service"] == "ghost"]
    assert ghost["cost"].tolist()[:2] == [0.0, 0.0] and ghost["team"].iloc[0] is None
    assert periods.loc[periods["service"] == "inference", "team"].iloc[0] == "ml"  # the `team` field wins


def test_window_figures_are_ratios_of_sums_over_the_days_with_cost_data() -> None:
    periods, nothing = _periods()
    by_service = uc.window(periods, nothing).set_index("service")
    checkout = by_service.loc["checkout"]
    # days 0, 1, 3 (day 2 has no cost data: its requests are left out too): cost 12 + 16 + 20 = 48,
    # requests 3 x 1,440,000 = 4,320,000, good 3 x 1,425,600 = 4,276,800
    assert checkout["cost"] == pytest.approx(48.0)
    assert checkout["requests"] == 4_320_000 and checkout["good_requests"] == 4_276_800
    assert checkout["cost_per_million_requests"] == pytest.approx(48 / 4.32)
    assert checkout["cost_per_million_good_requests"] == pytest.approx(48 / 4.2768)
    assert checkout["failed_requests_cost"] == pytest.approx(48 * 0.01)  # 1% of the requests failed
    # daily cost per million good: 12/1.4256, 16/1.4256, (none), 20/1.4256 at days 0, 1, 3: the least-squares slope
    # through (0, 12k), (1, 16k), (3, 20k) with k = 1/1.4256: mean x = 4/3, mean y = 16k;
    # slope = sum((x - 4/3)(y - 16k)) / sum((x - 4/3)^2) = (16/3 + 0 + 20/3)k / (16/9 + 1/9 + 25/9) = 12k / (42/9)
    assert checkout["trend_per_day"] == pytest.approx(12 / (42 / 9) / 1.4256)
    ghost = by_service.loc["ghost"]
    # mapped to nothing: no cost and no ratio (None in a frame reads NaN), never 0
    assert ghost[["cost", "cost_per_million_requests", "cost_per_million_good_requests", "failed_requests_cost",
                  "trend_per_day"]].isna().all()


def test_team_rows_sum_their_services() -> None:
    periods, nothing = _periods()
    teams = uc.teams(uc.window(periods, nothing)).set_index("team")
    assert list(teams.index) == ["ml", "shop"]  # ghost has no team and no cost
    ml = teams.loc["ml"]
    # llm 3 x 20 = 60 and inference 3 x 8 = 24; requests 3 x 14,400 + 3 x 144,000 = 475,200
    assert ml["cost"] == pytest.approx(84.0) and ml["requests"] == 475_200 and ml["services"] == 2
    assert ml["cost_per_million_requests"] == pytest.approx(84 / 0.4752)
    # failed: llm none; inference 24 x 1% = 0.24
    assert ml["failed_requests_cost"] == pytest.approx(0.24)
    assert ml["gpu_share"] == pytest.approx((45 + 18) / 84)


def test_ml_unit_costs() -> None:
    periods, nothing = _periods()
    figures = uc.ml(uc.window(periods, nothing))
    assert figures is not None
    # inference: $24 for 3 x 144,000 = 432,000 inferences -> 24 / 432 = $0.0556 per 1,000; GPU 18 of 24
    assert figures["inference_requests"] == 432_000
    assert figures["cost_per_1k_inferences"] == pytest.approx(24 / 432)
    assert figures["inference_gpu_share"] == pytest.approx(0.75)
    # llm: $60 for 3 days x 1,440 minutes x 700 tokens = 3,024,000 tokens -> 60 / 3.024 per million; GPU 45 of 60
    assert figures["prompt_tokens"] == 3 * 1440 * 500 and figures["generated_tokens"] == 3 * 1440 * 200
    assert figures["cost_per_million_tokens"] == pytest.approx(60 / 3.024)
    assert figures["llm_gpu_share"] == pytest.approx(0.75)
    assert figures["gpu_share"] == pytest.approx(63 / 84)
    assert uc.ml(uc.window(periods[periods["kind"].isna()], nothing)) is None


def test_ml_tokens_unknown_without_the_counters() -> None:
    frame = _frame()
    covered = uc.has_cost_data([frame], PERIODS)
    llm = uc.service_periods(LLM, frame, "app", "cost_team", PERIODS, covered, _events(D0, 4 * 1440, 10.0, 10.0))
    figures = uc.ml(uc.window(llm))
    assert figures is not None
    assert figures["prompt_tokens"] is None and figures["cost_per_million_tokens"] is None
    assert figures["llm_cost"] == pytest.approx(60.0)


def test_not_mapped_cost_is_shown_apart() -> None:
    periods, nothing = _periods()
    # the cluster's days 0, 1, 3: 12+50+7+3+20+8 = 100, 16+20+8 = 44, 20+20+8 = 48 -> 192; the services 48+60+24
    assert uc.not_mapped_cost(192.0, uc.window(periods, nothing)) == pytest.approx(192 - 132)
