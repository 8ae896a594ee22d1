"""`goreliable drill event`: record one validated goreliable.drill/v1 event (`sources.drill_writer`)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from goreliable_lib.errors import BadInputError
from goreliable_lib.sources.drill_writer import append_event
from goreliable_lib.sources.drills import EVENT_TYPES
from goreliable_lib.timeutil import parse_time, to_rfc3339


def configure(drill: argparse.ArgumentParser) -> None:
    """The commands of `drill`: event."""
    commands = drill.add_subparsers(dest="drill_command", metavar="COMMAND")
    commands.required = True
    parser = commands.add_parser(
        "event", help="append one goreliable.drill/v1 event to the drill log under GORELIABLE_DRILLS_URI",
        description="Append one goreliable.drill/v1 event to the drill's log (S3 or folder) named by "
                    "GORELIABLE_DRILLS_URI. An invalid event is refused (exit 2) and nothing is written.")
    parser.add_argument("--drill-id", required=True, help="e.g. 2026-11-12-cluster-replacement")
    parser.add_argument("--component", required=True, help="component slug, or '*' for the whole drill")
    parser.add_argument("--event", required=True, help="one of: " + ", ".join(EVENT_TYPES))
    parser.add_argument("--data-loss-seconds", help="seconds of data lost (data_loss events only)")
    parser.add_argument("--ts", help="event time: RFC3339, unix seconds or now-5m (default: now)")
    parser.add_argument("--scenario", help="drill scenario (default: the drill log's, e.g. cluster-replacement)")
    parser.add_argument("--note", help="free text")
    parser.add_argument("--uri", help="drills URI (default: $GORELIABLE_DRILLS_URI)")
    parser.set_defaults(func=run_event)


def run_event(args: argparse.Namespace) -> int:
    """Handler of `goreliable drill event`: prints where the event was written."""
    uri = args.uri or os.environ.get("GORELIABLE_DRILLS_URI")
    if not uri:
        raise BadInputError("GORELIABLE_DRILLS_URI is not set (s3://bucket/prefix or a folder), or pass --uri")
    event: dict[str, Any] = {"drill_id": args.drill_id, "component": args.component, "event": args.event}
    if args.ts is not None:
        event["ts"] = to_rfc3339(parse_time(args.ts, field="--ts"))
    if args.data_loss_seconds is not None:
        try:
            event["data_loss_seconds"] = float(args.data_loss_seconds)
        except ValueError:
            raise BadInputError(f"--data-loss-seconds: {args.data_loss_seconds!r} is not a number of seconds; "
                                f"nothing written") from None
    for name in ("scenario", "note"):
        if getattr(args, name) is not None:
            event[name] = getattr(args, name)
    print(append_event(uri, event))
    return 0
