"""The SLO event layer, between `sources` and `reports`: exact per-minute good and total events of an SLO from a
Prometheus-API server, and the SLO event archive's days.

- `promql`: every PromQL expression the engine and the SLO report send (tested by its text);
- `questions`: the requests the engine sends and what it learns on the way (interval, data start, look-ups);
- `series`: a selector's series as the server lists them (`Family`);
- `family`: one family's steps (sums, plan, corrections) over an explicit state;
- `engine`: `fetch_slo_events`, the families put together into an SLO's events and data facts (`SLOEvents`);
- `archive`: which archived days a run takes, and the archive's backfill and status jobs;
- `threshold`: thresholdMetric SLIs evaluated by the server per time slice.
"""
