"""``btconsole emulator serve``: run the emulator in the foreground until interrupted.

The lead's CLI calls :func:`add_arguments` / :func:`run`; ``python -m
btconsole.emulator.serve`` does the same on its own. Exit codes: 0 after Ctrl-C or
SIGTERM, 64 for a bad estate/faults file or an unusable ``--write-config`` path, 69 when
the port cannot be bound. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from btconsole.configtools import toml_string
from btconsole.emulator.faults import FaultError, FaultSet, load_faults_file
from btconsole.emulator.server import EmulatorServer, EmulatorStartError
from btconsole.fsutil import write_private_file

if TYPE_CHECKING:
    from btconsole.emulator.estate import Estate

EX_OK = 0
EX_USAGE = 64
EX_UNAVAILABLE = 69

CONFIG_HEADER = "# written by btconsole emulator serve; points the console at the local emulator"
ARM_SCOPE = "https://management.azure.com/.default"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
SIZES = ("small", "medium", "large", "huge")


class ServeError(Exception):
    """A problem to report in one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EX_USAGE) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- config writing


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def _toml_float(value: float) -> str:
    if not math.isfinite(value):
        raise ServeError(f"cannot write a non-finite budget ({value}) to a config")
    return repr(float(value))


def secret_env_name(slug: str) -> str:
    """``BTCONSOLE_SECRET_<SLUG>`` with the slug upper-cased, non-alphanumerics as ``_``."""
    return "BTCONSOLE_SECRET_" + re.sub(r"[^A-Z0-9]", "_", slug.upper())


def render_config(estate: Estate, base_url: str, ca_path: Path) -> str:
    """A btconsole config with one client-secret profile per emulated customer."""
    endpoint = base_url.rstrip("/") + "/"
    lines = [CONFIG_HEADER, 'theme = "bt"', "refresh_concurrency = 16"]
    for customer in estate.customers:
        tenant = estate.tenant(customer.tenant_id)
        if tenant is None:
            raise ServeError(f"customer {customer.slug!r} names an unknown tenant")
        key = _toml_key(customer.slug)
        lines += [
            "",
            f"[profiles.{key}]",
            f"display_name = {toml_string(customer.display_name)}",
            f"tenant_id = {toml_string(customer.tenant_id)}",
            'auth = "client-secret"',
            f"client_id = {toml_string(tenant.client_id)}",
            f"client_secret_env = {toml_string(secret_env_name(customer.slug))}",
            f"monthly_budget = {_toml_float(customer.monthly_budget)}",
            f"currency = {toml_string(customer.currency)}",
            "",
            f"[profiles.{key}.cloud]",
            f"resource_manager = {toml_string(endpoint)}",
            f"authority_host = {toml_string(endpoint)}",
            f"token_scope = {toml_string(ARM_SCOPE)}",
            f"ca_bundle = {toml_string(str(ca_path.resolve()))}",
        ]
    return "\n".join(lines) + "\n"


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def secret_environment(estate: Estate) -> dict[str, str]:
    """``{BTCONSOLE_SECRET_<SLUG>: client secret}`` for every customer (for ``os.environ``)."""
    env: dict[str, str] = {}
    for customer in estate.customers:
        tenant = estate.tenant(customer.tenant_id)
        if tenant is None:
            raise ServeError(f"customer {customer.slug!r} names an unknown tenant")
        env[secret_env_name(customer.slug)] = tenant.client_secret
    return env


def render_env(estate: Estate) -> str:
    """``export BTCONSOLE_SECRET_<SLUG>='<secret>'`` for every customer."""
    lines = ["# written by btconsole emulator serve: source this file for the profiles' secrets"]
    lines += [
        f"export {name}={_shell_quote(secret)}"
        for name, secret in secret_environment(estate).items()
    ]
    return "\n".join(lines) + "\n"


def env_path_for(config_path: Path) -> Path:
    return config_path.with_name(config_path.name + ".env")


def tls_dir_for(config_path: Path) -> Path:
    return config_path.with_name(config_path.name + ".d")


def write_config(path: Path, estate: Estate, base_url: str, ca_path: Path) -> Path:
    """Write the config at ``path`` and the secrets at ``PATH.env`` (both 0600).

    Returns the env file's path.

    Raises:
        ServeError: ``path`` exists and was not written by this command, or a file
            cannot be written.
    """
    for target in (path, env_path_for(path)):
        if target.exists():
            try:
                with target.open(encoding="utf-8") as handle:
                    first = handle.readline()
            except (OSError, UnicodeDecodeError) as exc:
                raise ServeError(f"{target}: cannot read the existing file ({exc})") from exc
            if not first.startswith("# written by btconsole emulator serve"):
                raise ServeError(
                    f"{target}: exists and was not written by 'btconsole emulator serve'; "
                    "refusing to overwrite it"
                )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private_file(path, render_config(estate, base_url, ca_path), private_parent=False)
        env = env_path_for(path)
        write_private_file(env, render_env(estate), private_parent=False)
    except OSError as exc:
        raise ServeError(f"{path}: cannot write the config ({exc.strerror or exc})") from exc
    return env


# ---------------------------------------------------------------- running


def load_estate(estate_file: str | None, seed: int, size: str) -> Estate:
    """The estate from ``estate_file`` or generated from ``seed``/``size`` as of today.

    Raises:
        ServeError: unreadable or invalid estate file, unknown size.
    """
    from btconsole.emulator.estate import Estate, EstateError

    if estate_file is not None:
        path = Path(estate_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ServeError(f"{path}: cannot read the estate file ({reason})") from exc
        try:
            return Estate.from_json(text)
        except EstateError as exc:
            raise ServeError(f"{path}: {exc}") from exc
    if size not in SIZES:
        raise ServeError(f"unknown size {size!r} (choose from {', '.join(SIZES)})")
    import datetime as dt

    from btconsole.emulator.generate import generate

    # Dated today, so that "month to date" and the last 60 days of cost mean what a
    # user (or an unattended check) expects; the same seed on the same day gives the
    # same estate.
    return generate(seed=seed, size=size, as_of=dt.datetime.now(dt.timezone.utc).date())


async def serve(
    estate: Estate,
    *,
    port: int = 0,
    faults: FaultSet | None = None,
    write_config_path: Path | None = None,
    out: TextIO | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[EmulatorServer], None] | None = None,
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM arrives).

    Prints the base URL and the CA path (and the config paths with
    ``write_config_path``) to ``out``.

    Raises:
        ServeError: the port is taken (code 69) or the config cannot be written (64).
    """
    out = out or sys.stdout
    stop = stop or asyncio.Event()
    tls_dir = tls_dir_for(write_config_path) if write_config_path is not None else None
    server = EmulatorServer(estate, faults=faults, port=port, tls_dir=tls_dir)
    try:
        await server.start()
    except EmulatorStartError as exc:
        raise ServeError(str(exc), EX_UNAVAILABLE if exc.port_unavailable else EX_USAGE) from exc
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or no signal support: rely on `stop`
        lines = [
            f"btconsole emulator: listening on {server.base_url}",
            f"CA bundle: {server.ca_path}",
        ]
        if write_config_path is not None:
            env = write_config(write_config_path, estate, server.base_url, server.ca_path)
            lines += [
                f"config: {write_config_path}",
                f"secrets: {env} (source it before running btconsole)",
            ]
        lines.append("press Ctrl-C to stop")
        _print_banner(out, lines)
        if on_ready is not None:
            on_ready(server)
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await server.stop()


def _print_banner(out: TextIO, lines: list[str]) -> None:
    """Print the start-up lines; a reader that went away (``| head -1``) is no reason to stop."""
    try:
        for line in lines:
            print(line, file=out)
        out.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
            os.close(devnull)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``btconsole emulator serve``."""
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--seed", type=int, default=1, help="estate seed (default 1)")
    parser.add_argument("--size", choices=SIZES, default="medium", help="estate size")
    parser.add_argument(
        "--estate", metavar="FILE", help="load the estate from a JSON file (--seed/--size unused)"
    )
    parser.add_argument("--faults", metavar="FILE", help="fault injection rules (TOML)")
    parser.add_argument(
        "--write-config",
        metavar="PATH",
        help="write a btconsole config for the emulated customers (and PATH.env)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``btconsole emulator serve`` with parsed ``args``; returns the exit status."""
    try:
        port = int(args.port)
        if not 0 <= port <= 65535:
            raise ServeError(f"--port must be 0..65535, not {port}")
        estate = load_estate(args.estate, int(args.seed), str(args.size))
        faults = load_faults_file(Path(args.faults)) if args.faults else None
        config = Path(args.write_config).resolve() if args.write_config else None
        asyncio.run(serve(estate, port=port, faults=faults, write_config_path=config))
    except ServeError as exc:
        print(f"btconsole emulator: {exc}", file=sys.stderr)
        return exc.code
    except FaultError as exc:
        print(f"btconsole emulator: {exc}", file=sys.stderr)
        return EX_USAGE
    except KeyboardInterrupt:  # Ctrl-C before the signal handler was installed
        pass
    print("btconsole emulator: stopped", file=sys.stderr)
    return EX_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="btconsole emulator serve",
        description="Serve the Azure emulator on loopback over HTTPS until interrupted.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
