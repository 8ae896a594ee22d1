"""`goreliable stack up|down|status`: the local stack (devstack.stack.manager) from the command line."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import requests

from goreliable_lib.devstack.stack.backends import TSDBS
from goreliable_lib.devstack.stack.manager import (
    LocalStack,
    StackState,
    alive,
    default_stack_dir,
    read_state,
    state_file,
    stop_pid,
)
from goreliable_lib.timeutil import to_rfc3339


def running_stack(stack_dir: Path) -> StackState | None:
    """The stack whose state `stack_dir` holds, when any of its processes still runs."""
    existing = read_state(stack_dir)
    return existing if existing and any(alive(pid) for pid in existing.pids.values()) else None


def start_stack(stack_dir: Path, *, seed: int | None = None, as_of: str | None = None,
                ports: dict[str, int] | None = None, tsdb: str = "prometheus") -> StackState:
    """Start the stack in the background (it outlives this process), save its state in `stack_dir`; progress on
    stderr."""
    started = time.monotonic()
    stack = LocalStack(stack_dir, seed=seed, as_of=as_of, ports=ports, tsdb=tsdb)
    print(f"# starting the local stack ({stack.tsdb}, seed {stack.seed}, as_of {to_rfc3339(stack.as_of)}) ...",
          file=sys.stderr)
    state = stack.start()
    stack.detach()
    state_file(stack_dir).write_text(json.dumps(asdict(state), indent=1))
    print(f"# up in {time.monotonic() - started:.1f} s; state in {state_file(stack_dir)}; "
          "`goreliable stack down` stops it", file=sys.stderr)
    return state


def stack_up(args: argparse.Namespace) -> int:
    """`goreliable stack up`: start the stack in the background and print its environment."""
    stack_dir = default_stack_dir()
    existing = running_stack(stack_dir)
    if existing is not None:
        print(f"# the stack is already up (state in {state_file(stack_dir)}); `goreliable stack down` first",
              file=sys.stderr)
        _print_env(existing)
        return 0
    ports = {name: value for name, value in (("prometheus", args.prometheus_port),
                                             ("kubecost", args.kubecost_port)) if value}
    state = start_stack(stack_dir, seed=args.seed, as_of=args.as_of, ports=ports, tsdb=args.tsdb)
    print("# point the kit at it with: eval \"$(goreliable stack up)\"", file=sys.stderr)
    _print_env(state)
    return 0


def _print_env(state: StackState) -> None:
    for name, value in state.env().items():
        print(f"export {name}={shlex.quote(value)}")


def stack_down(args: argparse.Namespace) -> int:
    """`goreliable stack down`: stop every process of the stack."""
    stack_dir = default_stack_dir()
    state = read_state(stack_dir)
    if state is None:
        print("goreliable: no stack is up", file=sys.stderr)
        return 0
    for name, pid in state.pids.items():
        stop_pid(pid)
        print(f"stopped {name} (pid {pid})", file=sys.stderr)
    state_file(stack_dir).unlink()
    return 0


def stack_status(args: argparse.Namespace) -> int:
    """`goreliable stack status`: which servers are up. Exit 0 when all are, 1 otherwise."""
    state = read_state()
    if state is None:
        print("no stack is up (goreliable stack up)")
        return 1
    ready = "/health" if state.tsdb == "victoriametrics" else "/-/ready"
    checks = {state.tsdb: state.prometheus_url + ready, "s3": state.s3_endpoint,
              "kubecost": state.kubecost_url + "/healthz", "opencost": state.opencost_url + "/healthz"}
    healthy = True
    for name, url in checks.items():
        try:
            ok = requests.get(url, timeout=2).status_code < 500
        except requests.RequestException:
            ok = False
        healthy &= ok
        print(f"{name:10} {'up' if ok else 'DOWN':5} pid {state.pids.get(name)}  {url}")
    return 0 if healthy else 1


def configure(stack: argparse.ArgumentParser) -> None:
    """The commands of `stack`: up, down and status."""
    commands = stack.add_subparsers(dest="stack_command", metavar="up|down|status", required=True)
    up = commands.add_parser("up", help="start the stack and print the environment that points the kit at it")
    up.add_argument("--seed", type=int, default=None, help="simulator seed (default: the standard dataset)")
    up.add_argument("--as-of", default=None, help="the simulated world's end time (default 2026-11-23T06:00:00Z)")
    up.add_argument("--tsdb", choices=TSDBS, default="prometheus",
                    help="the Prometheus-API back-end holding the metrics (default prometheus)")
    up.add_argument("--prometheus-port", type=int, default=None,
                    help="port of the back-end's query API (Prometheus or VictoriaMetrics)")
    up.add_argument("--kubecost-port", type=int, default=None)
    up.set_defaults(func=stack_up)
    commands.add_parser("down", help="stop the stack").set_defaults(func=stack_down)
    commands.add_parser("status", help="show which servers are up").set_defaults(func=stack_status)
