"""`goreliable archive status|backfill`: the SLO event archive (events.archive, sources.archive).

The archive is GORELIABLE_ARCHIVE_URI, else `--archive`, else `<--out>/archive` of the runs (default: the
project's reports/archive): the same place the SLO report and the postmortem keep their days.
"""

from __future__ import annotations

import argparse
import json
import os

import pandas as pd

from goreliable_lib.errors import BadInputError
from goreliable_lib.events.archive import backfill, counted_objectives, definitions_by_key, status
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.paths import reports_dir
from goreliable_lib.sources.archive import ArchiveSource
from goreliable_lib.sources.connect import connect
from goreliable_lib.timeutil import parse_time, to_rfc3339


def archive_uri(args: argparse.Namespace) -> str:
    """The archive the command works on (see the module notes)."""
    if args.archive:
        return str(args.archive)
    if explicit := os.environ.get("GORELIABLE_ARCHIVE_URI"):
        return explicit
    out = args.out or str(reports_dir())
    return f"{out.rstrip('/')}/archive"


def _cmd_status(args: argparse.Namespace) -> int:
    archive = ArchiveSource(archive_uri(args))
    slos = counted_objectives(read_catalog(args.catalog).slos, args.services)
    end = parse_time(args.end, field="--end") if args.end else connect().now().floor("D")
    rows = status(archive, slos, end)
    known = {row["key"] for row in rows}
    others = {key: names for key, names in definitions_by_key(archive).items() if key not in known}
    if args.json:
        print(json.dumps({"archive": archive.uri, "slos": rows, "other_keys": others}, indent=2))
        return 0
    print(f"archive {archive.uri}")
    for row in rows:
        if not row["days"]:
            print(f"  {row['slo']:<28} (key {row['key']}) no day archived")
            continue
        missing, partial = row["missing_days"], row["partial_days"]
        print(f"  {row['slo']:<28} {row['first_day']} .. {row['last_day']}: {row['days']} days; "
              f"missing {len(missing)}{' (' + _span(missing) + ')' if missing else ''}; "
              f"partial {len(partial)}{' (' + _span(partial) + ')' if partial else ''}")
    for key, names in others.items():
        print(f"  (no longer in the catalog) key {key}: {names or 'unnamed'}")
    return 0


def _span(days: list[str], limit: int = 6) -> str:
    return ", ".join(days[:limit]) + (f" and {len(days) - limit} more" if len(days) > limit else "")


def _cmd_backfill(args: argparse.Namespace) -> int:
    start = parse_time(args.from_, field="--from").floor("D")
    end = parse_time(args.to, field="--to").floor("D") + pd.Timedelta(days=1)  # --to is the last day, inclusive
    if end <= start:
        raise BadInputError(f"--to: {args.to!r} must be after --from {args.from_!r}")
    slos = counted_objectives(read_catalog(args.catalog).slos, args.services)
    sources = connect("live")
    end = min(end, sources.now().floor("D"))  # only whole days the server has finished
    archive = ArchiveSource(archive_uri(args))
    rows = backfill(sources.prometheus, archive, slos, start, end)
    for name in dict.fromkeys(r["slo"] for r in rows):
        own = [r for r in rows if r["slo"] == name]
        print(f"{name}: {sum(r['written'] for r in own)} days written, {sum(r['kept'] for r in own)} already "
              f"there, {sum(r['replaced'] for r in own)} partial days replaced ({to_rfc3339(start)} .. "
              f"{to_rfc3339(end)}) -> {archive.uri}")
    return 0


def configure(archive: argparse.ArgumentParser) -> None:
    """The commands of `archive`: status and backfill."""
    commands = archive.add_subparsers(dest="archive_command", metavar="status|backfill", required=True)
    for name, handler, text in (("status", _cmd_status, "per SLO: first and last day, missing and partial days"),
                                ("backfill", _cmd_backfill, "fill it from a server that still has the data")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--catalog", default="params/slos.yaml", help="SLO catalog (default params/slos.yaml)")
        command.add_argument("--services", default="all", help="services or SLO names (comma-separated; all)")
        command.add_argument("--archive", metavar="DIR|s3://bucket/prefix",
                             help="the archive (default GORELIABLE_ARCHIVE_URI, else <out>/archive)")
        command.add_argument("--out", metavar="DIR|s3://bucket/prefix",
                             help="the runs' --out whose archive this is (default: <project>/reports)")
        command.set_defaults(func=handler)
        if name == "status":
            command.add_argument("--end", default=None,
                                 help="count missing days up to this day (default: the day of the sources' clock: "
                                      "today, GORELIABLE_NOW, or a snapshot's time)")
            command.add_argument("--json", action="store_true", help="machine-readable output")
        else:
            command.add_argument("--from", dest="from_", required=True, metavar="DATE", help="first day (UTC)")
            command.add_argument("--to", required=True, metavar="DATE", help="last day (UTC, inclusive)")
