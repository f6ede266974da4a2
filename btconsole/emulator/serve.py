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
    from btconsole.emulator.estate import Estate, Tenant

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
    lines = [CONFIG_HEADER, 'theme = "bt"']
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


LIGHTHOUSE_PROFILE = "msp"


def render_lighthouse_config(estate: Estate, base_url: str, ca_path: Path) -> str:
    """A btconsole config with ONE ``kind = "lighthouse"`` profile: the MSP's own tenant
    and app registration, its partner billing account, and per-customer overrides
    (budget and currency, keyed by tenant id) so its totals match the per-customer
    config's. No per-customer profiles: the customers are discovered."""
    msp = _msp_tenant(estate)
    endpoint = base_url.rstrip("/") + "/"
    key = LIGHTHOUSE_PROFILE
    lines = [CONFIG_HEADER, 'theme = "bt"']
    lines += [
        "",
        f"[profiles.{key}]",
        'kind = "lighthouse"',
        f"display_name = {toml_string(msp.display_name or key)}",
        f"tenant_id = {toml_string(msp.tenant_id)}",
        'auth = "client-secret"',
        f"client_id = {toml_string(msp.client_id)}",
        f"client_secret_env = {toml_string(secret_env_name(key))}",
    ]
    accounts = [a for a in estate.billing_accounts if a.tenant_id == msp.tenant_id]
    if accounts:
        lines.append(f"billing_account = {toml_string(accounts[0].name)}")
    lines += [
        "",
        f"[profiles.{key}.cloud]",
        f"resource_manager = {toml_string(endpoint)}",
        f"authority_host = {toml_string(endpoint)}",
        f"token_scope = {toml_string(ARM_SCOPE)}",
        f"ca_bundle = {toml_string(str(ca_path.resolve()))}",
    ]
    delegated = set(msp.delegated_subscription_ids)
    for customer in estate.customers:
        if not delegated & set(customer.subscription_ids):
            continue
        lines += [
            "",
            f"[profiles.{key}.customers.{toml_string(customer.tenant_id)}]",
            f"monthly_budget = {_toml_float(customer.monthly_budget)}",
            f"currency = {toml_string(customer.currency)}",
        ]
    return "\n".join(lines) + "\n"


def _msp_tenant(estate: Estate) -> Tenant:
    """The tenant that manages others through Lighthouse (the most delegations)."""
    managers = [t for t in estate.tenants if t.delegated_subscription_ids]
    if not managers:
        raise ServeError("the estate has no tenant with Lighthouse delegations")
    return max(managers, key=lambda t: len(t.delegated_subscription_ids))


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def secret_environment(estate: Estate, *, lighthouse: bool = False) -> dict[str, str]:
    """``{BTCONSOLE_SECRET_<SLUG>: client secret}`` for every customer (for ``os.environ``),
    or with ``lighthouse`` the MSP profile's only."""
    if lighthouse:
        return {secret_env_name(LIGHTHOUSE_PROFILE): _msp_tenant(estate).client_secret}
    env: dict[str, str] = {}
    for customer in estate.customers:
        tenant = estate.tenant(customer.tenant_id)
        if tenant is None:
            raise ServeError(f"customer {customer.slug!r} names an unknown tenant")
        env[secret_env_name(customer.slug)] = tenant.client_secret
    return env


def render_env(estate: Estate, *, lighthouse: bool = False) -> str:
    """``export BTCONSOLE_SECRET_<SLUG>='<secret>'`` for every profile written."""
    lines = ["# written by btconsole emulator serve: source this file for the profiles' secrets"]
    lines += [
        f"export {name}={_shell_quote(secret)}"
        for name, secret in secret_environment(estate, lighthouse=lighthouse).items()
    ]
    return "\n".join(lines) + "\n"


def env_path_for(config_path: Path) -> Path:
    return config_path.with_name(config_path.name + ".env")


def tls_dir_for(config_path: Path) -> Path:
    return config_path.with_name(config_path.name + ".d")


def write_config(
    path: Path, estate: Estate, base_url: str, ca_path: Path, *, lighthouse: bool = False
) -> Path:
    """Write the config at ``path`` and the secrets at ``PATH.env`` (both 0600);
    ``lighthouse`` writes one Lighthouse profile instead of one profile per customer.

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
        render = render_lighthouse_config if lighthouse else render_config
        write_private_file(path, render(estate, base_url, ca_path), private_parent=False)
        env = env_path_for(path)
        write_private_file(env, render_env(estate, lighthouse=lighthouse), private_parent=False)
    except OSError as exc:
        raise ServeError(f"{path}: cannot write the config ({exc.strerror or exc})") from exc
    return env


# ---------------------------------------------------------------- running


def load_estate(
    estate_file: str | None, seed: int, size: str, *, subscriptions: int | None = None
) -> Estate:
    """The estate from ``estate_file`` or generated from ``seed``/``size`` as of today;
    ``subscriptions`` replaces the size's number of subscriptions (1,001 or more: a
    Lighthouse estate whose Resource Graph queries need batches).

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

    # Dated now, so that "month to date" and the last 60 days of cost mean what a
    # user (or an unattended check) expects, and nothing "an hour ago" lies in the
    # future; the same seed in the same hour gives the same estate.
    now = dt.datetime.now(dt.timezone.utc)
    if subscriptions is None:
        return generate(seed=seed, size=size, as_of=now.date(), hour=now.hour)
    if subscriptions < 1:
        raise ServeError(f"--subscriptions must be at least 1, not {subscriptions}")
    return generate(
        seed=seed, size=size, as_of=now.date(), hour=now.hour, subscriptions=subscriptions
    )


async def serve(
    estate: Estate,
    *,
    port: int = 0,
    faults: FaultSet | None = None,
    write_config_path: Path | None = None,
    lighthouse: bool = False,
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
            env = write_config(
                write_config_path,
                estate,
                server.base_url,
                server.ca_path,
                lighthouse=lighthouse,
            )
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
    add_lighthouse_arguments(parser)


def add_lighthouse_arguments(parser: argparse.ArgumentParser) -> None:
    """``--lighthouse`` and ``--subscriptions`` (shared with the top-level CLI)."""
    parser.add_argument(
        "--lighthouse",
        action="store_true",
        help="with --write-config: one Lighthouse profile for the MSP instead of one "
        "profile per customer",
    )
    parser.add_argument(
        "--subscriptions",
        type=int,
        metavar="N",
        help="estate subscriptions instead of the size's (over 1000: Graph batches)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``btconsole emulator serve`` with parsed ``args``; returns the exit status."""
    try:
        port = int(args.port)
        if not 0 <= port <= 65535:
            raise ServeError(f"--port must be 0..65535, not {port}")
        subscriptions = getattr(args, "subscriptions", None)
        lighthouse = bool(getattr(args, "lighthouse", False))
        if lighthouse and not args.write_config:
            raise ServeError("--lighthouse needs --write-config PATH")
        estate = load_estate(
            args.estate,
            int(args.seed),
            str(args.size),
            subscriptions=None if subscriptions is None else int(subscriptions),
        )
        faults = load_faults_file(Path(args.faults)) if args.faults else None
        config = Path(args.write_config).resolve() if args.write_config else None
        asyncio.run(
            serve(estate, port=port, faults=faults, write_config_path=config, lighthouse=lighthouse)
        )
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
