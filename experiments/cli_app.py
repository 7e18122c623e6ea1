"""Subcommand `app`: start the interactive explorer (`relsim.model.app`) and print its address.

The explorer is a Solara app on Mesa's SolaraViz; this command runs ``solara run
relsim.model.app`` in production mode on the address asked for, waits until it answers,
prints the address and keeps serving until Ctrl+C. Needs the ``app`` extra
(``pip install -e '.[app]'``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from relsim.experiments.errors import UserError

#: Seconds to wait for the server to answer before giving up.
START_TIMEOUT = 180.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``app`` subcommand."""
    p = sub.add_parser(
        "app", help="start the interactive explorer in the browser and print its address",
        description="Start relsim's interactive explorer (a web page on Mesa's SolaraViz: "
                    "step the model, change parameters, compare two regimes side by side) "
                    "and print its local address. Ctrl+C stops it.",
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765,
                   help="port (default 8765; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="also open it in a web browser")
    p.set_defaults(func=run_app)


def free_port(host: str) -> int:
    """A port the operating system reports free on ``host``."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (local address)
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def server_command(host: str, port: int) -> list[str]:
    """The command that serves the explorer."""
    return [sys.executable, "-m", "solara", "run", "relsim.model.app", "--host", host,
            "--port", str(port), "--production", "--no-open"]


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_app(args: argparse.Namespace) -> int:
    """Serve the explorer until interrupted; print its address once it answers."""
    # Imported here, not at the top: every other command builds this module's parser.
    import os
    import signal
    import subprocess
    import time
    import webbrowser

    if importlib.util.find_spec("solara") is None:
        raise UserError("the explorer needs the optional 'app' dependencies, which are not "
                        "installed: run `pip install -e '.[app]'` (or `make app`)")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {args.port}")
    port = args.port or free_port(args.host)
    if _port_taken(args.host, port):
        raise UserError(f"port {port} on {args.host} is in use (another explorer?): choose "
                        f"another with --port, or --port 0 for a free one")
    url = f"http://{args.host}:{port}/"
    env = dict(os.environ)
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")  # no calls home
    # Solara's notes on Mesa's hooks and on cookies over plain http are not for users.
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning:solara.validate_hooks,"
                                     "ignore::UserWarning:solara.server.starlette")
    proc = subprocess.Popen(server_command(args.host, port), env=env)
    # A SIGTERM (a job scheduler, `timeout`) stops the server too, as Ctrl+C does.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(url):
            if proc.poll() is not None:
                raise UserError(f"the explorer's server stopped with status {proc.returncode} "
                                f"before answering at {url} (its messages are above)")
            if time.monotonic() > deadline:
                raise UserError(f"the explorer did not answer at {url} within "
                                f"{START_TIMEOUT:.0f} s")
            time.sleep(0.2)
        print(f"relsim explorer running at {url}  (Ctrl+C stops it)", flush=True)
        if args.open:
            webbrowser.open(url)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
