"""`goreliable lab`: JupyterLab on notebooks/, pointed at a source from the first query (what `make lab` runs).

`--profile` chooses what the lab's kernels connect to:
- `stack` (the default): the local stack, reused when one is up (`goreliable stack status`; its state file in
  `GORELIABLE_STACK_DIR`, default `.goreliable/stack`) or started in the background (10-30 s; it stays up after the
  lab stops, for the next one: `goreliable stack down` stops it). The kernels get its environment, what
  `goreliable stack up` prints (`GORELIABLE_PROFILE=live`, `GORELIABLE_PROMETHEUS_URL`, `GORELIABLE_NOW`, ...); the
  caller's other source settings (`GORELIABLE_PROMETHEUS_*`, `_KUBECOST_*`, `_THANOS_*`, `_DRILLS_URI`) are unset so
  that nothing of another server mixes in.
- `demo`: the bundled demo snapshot, no server (a query it did not record says so in one line).
- `snapshot:PATH`: a recorded snapshot (a relative PATH starts at the project root).
- `live`: your own servers, from the environment as it is (`GORELIABLE_PROMETHEUS_URL` and the rest).

JupyterLab listens on 127.0.0.1 only, opens no browser when there is no display (`--no-browser`), and is given
`--allow-root` when it runs as root (it refuses root otherwise). `--dry-run` starts or reuses the stack all the same,
then prints the environment (`export`/`unset` lines) and the JupyterLab command instead of running it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import sys
from pathlib import Path

from goreliable_lib.cli.stack import running_stack, start_stack
from goreliable_lib.config import load_settings
from goreliable_lib.devstack.stack.backends import TSDBS
from goreliable_lib.devstack.stack.manager import alive, default_stack_dir, state_file
from goreliable_lib.errors import BadInputError, StackError
from goreliable_lib.paths import project_root, resolve
from goreliable_lib.sources.snapshot import MANIFEST

PROFILES = ("stack", "demo", "live", "snapshot:PATH")
#: The caller's settings that point at other servers: unset when the lab is pointed at the local stack.
OTHER_SERVER_SETTINGS = ("GORELIABLE_PROMETHEUS_", "GORELIABLE_KUBECOST_", "GORELIABLE_THANOS_",
                         "GORELIABLE_DRILLS_URI")


def lab_environment(profile: str, *, tsdb: str = "prometheus",
                    environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """The variables to set (a value) or unset (None) in JupyterLab's environment for `profile`; `stack` starts
    the local stack unless one is up."""
    environ = dict(os.environ if environ is None else environ)
    if profile == "stack":
        stack_dir = default_stack_dir()
        state = running_stack(stack_dir)
        if state is None:
            state = start_stack(stack_dir, tsdb=tsdb)
        else:
            down = sorted(name for name, pid in state.pids.items() if not alive(pid))
            if state.tsdb in down:
                raise StackError(f"the local stack in {state_file(stack_dir)} is partly down ({', '.join(down)} "
                                 "exited): `goreliable stack down`, then start the lab again")
            print(f"# reusing the local stack ({state.tsdb} at {state.prometheus_url}; state in "
                  f"{state_file(stack_dir)})", file=sys.stderr)
        changes: dict[str, str | None] = {name: None for name in sorted(environ)
                                          if name.startswith(OTHER_SERVER_SETTINGS)}
        changes.update(state.env())
        return changes
    if profile == "demo":
        return {"GORELIABLE_PROFILE": "demo"}
    if profile == "live":
        if not load_settings(environ, profile="live").prometheus_url:
            raise BadInputError("goreliable lab --profile live: no GORELIABLE_PROMETHEUS_URL set (export it, or use "
                                "the local stack: make lab)")
        return {"GORELIABLE_PROFILE": "live"}
    if profile.startswith("snapshot:") and len(profile) > len("snapshot:"):
        folder = resolve(profile.partition(":")[2])
        if not (folder / MANIFEST).is_file():
            raise BadInputError(f"goreliable lab --profile {profile}: {folder} holds no {MANIFEST} "
                                "(is it a snapshot folder?)")
        return {"GORELIABLE_PROFILE": f"snapshot:{folder}"}
    raise BadInputError(f"goreliable lab --profile: {profile!r} is not one of {', '.join(PROFILES)}")


def has_display(environ: dict[str, str] | None = None) -> bool:
    """True where a browser can open: macOS and Windows, or an X11 or Wayland display."""
    environ = dict(os.environ if environ is None else environ)
    return sys.platform in ("darwin", "win32") or bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def jupyter_command(notebooks: Path, *, port: int | None = None, root: bool | None = None,
                    browser: bool | None = None, extra: list[str] | None = None) -> list[str]:
    """The JupyterLab command line: this interpreter's JupyterLab on `notebooks`, listening on 127.0.0.1."""
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebooks}", "--ServerApp.ip=127.0.0.1"]
    if port is not None:
        command.append(f"--ServerApp.port={port}")
    if not (has_display() if browser is None else browser):
        command.append("--no-browser")
    if root is None:
        root = hasattr(os, "geteuid") and os.geteuid() == 0
    if root:
        command.append("--allow-root")
    return command + list(extra or [])


def lab(args: argparse.Namespace) -> int:
    """`goreliable lab`: point the environment at the profile's sources and run JupyterLab (or print it)."""
    notebooks = project_root() / "notebooks"
    if not notebooks.is_dir():
        raise BadInputError(f"goreliable lab: no notebooks/ folder in {project_root()} (run it from the project, "
                            "or set GORELIABLE_PROJECT_ROOT)")
    if importlib.util.find_spec("jupyterlab") is None:
        raise BadInputError("goreliable lab: JupyterLab is not installed (pip install 'goreliable-notebooks[lab]')")
    extra = list(args.jupyter_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    changes = lab_environment(args.profile, tsdb=args.tsdb)
    command = jupyter_command(notebooks, port=args.port, extra=extra)
    if args.dry_run:
        for name, value in changes.items():
            print(f"unset {name}" if value is None else f"export {name}={shlex.quote(value)}")
        print(shlex.join(command))
        return 0
    environment = {name: value for name, value in os.environ.items() if name not in changes}
    environment.update({name: value for name, value in changes.items() if value is not None})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, environment)  # JupyterLab replaces this process: Ctrl-C stops it as usual
    return 0  # pragma: no cover - execve does not return


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of `lab`."""
    parser.add_argument("--profile", default="stack", metavar="|".join(PROFILES),
                        help="what the lab connects to (default stack: the local stack, started unless it is up)")
    parser.add_argument("--tsdb", choices=TSDBS, default="prometheus",
                        help="the back-end of a local stack started for the lab (default prometheus)")
    parser.add_argument("--port", type=int, default=None, help="JupyterLab's port (default: JupyterLab's, 8888)")
    parser.add_argument("--dry-run", action="store_true",
                        help="start or reuse the stack, then print the environment and the JupyterLab command "
                             "instead of running it")
    parser.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="after --: arguments for JupyterLab")
    parser.set_defaults(func=lab)
