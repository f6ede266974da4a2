"""The ``btconsole`` command line.

Every subcommand has ``--help``; every usage or configuration error exits 64 with
one clear line on stderr (``check`` gives 1-3 their own meanings); nothing ends in a
traceback unless ``BTCONSOLE_DEBUG=1`` asks for one.

Heavy imports (Textual, the Azure SDK, aiohttp) happen inside the handlers, so that
``--help`` and the config commands stay instant.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import NoReturn, TextIO

from btconsole import __version__
from btconsole.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOFTWARE,
    EXIT_USAGE,
    BtConsoleError,
    ConfigError,
    NotAvailableYetError,
    UsageError,
)
from btconsole.logs import LOG_LEVEL_ENV

PROG = "btconsole"
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a killed writer
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a terminated command
SIZES = ("small", "medium", "large", "huge")
DOMAIN_CHOICES = ("arc", "circuits", "policy", "spend")

Handler = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors exit 64 (EX_USAGE), not argparse's 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _config_option(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None if top else argparse.SUPPRESS,
        help="config file (default: $BTCONSOLE_CONFIG, else the platform config dir)",
    )


def _profile_options(parser: argparse.ArgumentParser, *, all_flag: bool = True) -> None:
    parser.add_argument(
        "--profile",
        "-p",
        metavar="NAME",
        action="append",
        dest="profiles",
        help="customer profile to include (repeatable)",
    )
    if all_flag:
        parser.add_argument("--all", action="store_true", help="every configured profile")


def build_parser() -> Parser:
    """The full command-line parser."""
    parser = Parser(
        prog=PROG,
        description="Keyboard-driven operations console for managed Azure estates: Arc "
        "servers and clusters, ExpressRoute circuits, policy compliance and spend.",
        epilog="Run 'btconsole COMMAND --help' for a command's options. Exit codes: 0 ok, "
        "64 usage or configuration error, 69 a needed service is unavailable, 130 "
        "interrupted (Ctrl+C), 143 terminated (SIGTERM); both release cache leases.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _config_option(parser, top=True)
    _profile_options(parser, all_flag=False)
    parser.add_argument("--offline", action="store_true", help="serve the cache only")
    parser.add_argument("--theme", metavar="NAME", help="theme for this run")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="log at DEBUG, the Azure SDK's requests and responses included (redacted)",
    )
    parser.set_defaults(handler=run_console)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the console on the embedded demo estate (local emulator)",
        description="Start the local Azure emulator on a generated estate and open the "
        "console on it. The first start reads the estate (over HTTPS from the emulator, "
        "through the same SDK clients) before the first frame. Its config and cache are "
        "its own, in the user cache directory (btconsole/demo/SIZE-SEED), apart from "
        "your customers' cache. Nothing leaves this machine.",
    )
    _config_option(demo)
    demo.add_argument("--size", choices=SIZES, default="medium", help="estate size")
    demo.add_argument("--seed", type=int, default=1, help="estate seed (default 1)")
    demo.set_defaults(handler=run_demo)

    emulator = sub.add_parser(
        "emulator",
        help="the local Azure emulator (ARM + Entra ID over HTTPS)",
        description="The local Azure emulator used by the demo and the tests.",
    )
    emulator_sub = emulator.add_subparsers(title="commands", metavar="COMMAND", required=True)
    serve = emulator_sub.add_parser(
        "serve",
        help="serve the emulator until interrupted",
        description="Serve the Azure emulator on loopback over HTTPS. Prints its base URL "
        "and CA bundle path.",
    )
    serve.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    serve.add_argument("--seed", type=int, default=1, help="estate seed (default 1)")
    serve.add_argument("--size", choices=SIZES, default="medium", help="estate size")
    serve.add_argument("--estate", metavar="FILE", help="load the estate from a JSON file")
    serve.add_argument("--faults", metavar="FILE", help="fault injection rules (TOML)")
    serve.add_argument(
        "--write-config",
        metavar="PATH",
        help="write a btconsole config for the emulated customers (and PATH.env)",
    )
    serve.add_argument(
        "--lighthouse",
        action="store_true",
        help="with --write-config: one Lighthouse profile for the MSP instead of one "
        "profile per customer",
    )
    serve.add_argument(
        "--subscriptions",
        type=int,
        metavar="N",
        help="estate subscriptions instead of the size's (over 1000: Graph batches)",
    )
    serve.set_defaults(handler=run_emulator_serve)

    check = sub.add_parser(
        "check",
        help="report findings per customer with an exit code (for cron)",
        description="Refresh through the cache and report every finding per customer, worst "
        "first, then what changed since the previous check of the same profiles. Exit codes: "
        "0 all clear, 1 warnings, 2 critical, 3 data incomplete or older than --max-age "
        "(3 wins over 2), 64 usage or configuration error. See docs/checks.md.",
    )
    _config_option(check)
    _profile_options(check)
    check.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="report format"
    )
    check.add_argument("--offline", action="store_true", help="read the cache only (read-only)")
    check.add_argument(
        "--max-age",
        metavar="DURATION",
        help="data older than this (e.g. 30m, 6h) is refreshed, or with --offline exits 3",
    )
    check.add_argument("--output", metavar="FILE", help="write the report to FILE")
    check.add_argument(
        "--timeout", metavar="DURATION", help="give up refreshing after this long (default 5m)"
    )
    check.set_defaults(handler=run_check)

    export = sub.add_parser(
        "export",
        help="export the rows of a pane as CSV or JSON",
        description="Export what a pane shows, one row per resource; for spend, one "
        "consolidated statement per customer (a line per subscription and service, totals "
        "per currency). Exits 3 (after writing) when some data could not be had.",
    )
    _config_option(export)
    export.add_argument("domain", choices=DOMAIN_CHOICES, help="what to export")
    _profile_options(export)
    export.add_argument("--format", choices=("csv", "json"), required=True)
    export.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    export.add_argument("--offline", action="store_true", help="read the cache only (read-only)")
    export.add_argument(
        "--timeout", metavar="DURATION", help="give up refreshing after this long (default 5m)"
    )
    export.set_defaults(handler=run_export)

    doctor = sub.add_parser(
        "doctor",
        help="check config, keyring, tokens, endpoints, cache and terminal",
        description="Run every health check of this installation, each with a fix hint. "
        "Exit codes: 0 nothing failed (warnings allowed), 1 something failed, 64 the "
        "configuration is missing or invalid.",
    )
    _config_option(doctor)
    _profile_options(doctor, all_flag=False)
    doctor.set_defaults(handler=run_doctor)

    config = sub.add_parser(
        "config",
        help="show, validate or create the configuration",
        description="Work with the configuration file.",
    )
    config_sub = config.add_subparsers(title="commands", metavar="COMMAND", required=True)
    path = config_sub.add_parser("path", help="print the config file path in use")
    _config_option(path)
    path.set_defaults(handler=run_config_path)
    show = config_sub.add_parser("show", help="print the effective configuration (secrets masked)")
    _config_option(show)
    show.set_defaults(handler=run_config_show)
    validate = config_sub.add_parser("validate", help="list every problem in the config")
    _config_option(validate)
    validate.set_defaults(handler=run_config_validate)
    init = config_sub.add_parser("init", help="write a commented starter config")
    _config_option(init)
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument(
        "--lighthouse",
        action="store_true",
        help="an MSP starter: one Azure Lighthouse sign-in for every delegated customer",
    )
    init.set_defaults(handler=run_config_init)

    secrets = sub.add_parser(
        "secrets",
        help="store, delete or inspect a profile's secret in the keyring",
        description="Client secrets and certificate passwords live in the OS keyring "
        "(service 'btconsole', user = profile name) or in an environment variable the "
        "profile names; never in the config file or on the command line.",
    )
    secrets_sub = secrets.add_subparsers(title="commands", metavar="COMMAND", required=True)
    secret_set = secrets_sub.add_parser("set", help="store a secret (hidden prompt, or --stdin)")
    _config_option(secret_set)
    secret_set.add_argument("profile", metavar="PROFILE")
    secret_set.add_argument(
        "--stdin", action="store_true", help="read the secret from standard input"
    )
    secret_set.set_defaults(handler=run_secrets_set)
    secret_delete = secrets_sub.add_parser("delete", help="delete a stored secret")
    _config_option(secret_delete)
    secret_delete.add_argument("profile", metavar="PROFILE")
    secret_delete.set_defaults(handler=run_secrets_delete)
    secret_status = secrets_sub.add_parser(
        "status", help="say where a profile's secret comes from (exit 1 if none)"
    )
    _config_option(secret_status)
    secret_status.add_argument("profile", metavar="PROFILE")
    secret_status.set_defaults(handler=run_secrets_status)
    return parser


# --------------------------------------------------------------------------- handlers


def run_check(args: argparse.Namespace) -> int:
    from btconsole.checks import CheckOptions
    from btconsole.checks import run_check as check
    from btconsole.config import load_config

    config = load_config(getattr(args, "config", None))
    options = CheckOptions(
        profiles=args.profiles,
        all=args.all,
        fmt=args.format,
        offline=args.offline,
        max_age=args.max_age,
        output=args.output,
        timeout=args.timeout,
    )
    return check(config, options, stdout=sys.stdout, stderr=sys.stderr)


def run_export(args: argparse.Namespace) -> int:
    from btconsole.config import load_config
    from btconsole.export import ExportOptions
    from btconsole.export import run_export as export

    config = load_config(getattr(args, "config", None))
    options = ExportOptions(
        domain=args.domain,
        profiles=args.profiles,
        all=args.all,
        fmt=args.format,
        offline=args.offline,
        output=args.output,
        timeout=args.timeout,
    )
    return export(config, options, stdout=sys.stdout, stderr=sys.stderr)


def run_doctor(args: argparse.Namespace) -> int:
    from btconsole.doctor import run_doctor as doctor

    return doctor(
        getattr(args, "config", None), args.profiles, stdout=sys.stdout, stderr=sys.stderr
    )


def run_console(args: argparse.Namespace) -> int:
    from btconsole.config import load_config

    config = load_config(args.config)
    if not config.profiles and not config.lighthouse:  # Lighthouse: discovered at launch
        where = config.path if config.exists else f"{config.path} (not created yet)"
        print(
            f"btconsole: no profiles configured in {where}.\n"
            "  Create a starter config:   btconsole config init\n"
            "  Then add a [profiles.NAME] table per customer (docs/configuration.md),\n"
            "  or try the built-in demo:  btconsole demo",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from btconsole.ui.launch import run_console as launch_console

    return launch_console(args)


def run_demo(args: argparse.Namespace) -> int:
    from btconsole.ui.launch import run_demo as launch_demo

    return launch_demo(args)


def run_emulator_serve(args: argparse.Namespace) -> int:
    import importlib

    try:
        serve = importlib.import_module("btconsole.emulator.serve")
    except ModuleNotFoundError:
        raise NotAvailableYetError(
            "'btconsole emulator serve' is not available in this version yet"
        ) from None
    return int(serve.run(args))


def run_config_path(args: argparse.Namespace) -> int:
    from btconsole.config import resolve_config_path

    path, _ = resolve_config_path(getattr(args, "config", None))
    state = "" if path.exists() else "  (does not exist; btconsole config init creates it)"
    print(f"{path}{state}")
    return EXIT_OK


def run_config_show(args: argparse.Namespace) -> int:
    from btconsole.config import load_config
    from btconsole.configtools import render_effective

    config = load_config(getattr(args, "config", None))
    sys.stdout.write(render_effective(config))
    return EXIT_OK


def run_config_validate(args: argparse.Namespace) -> int:
    from btconsole.config import load_config

    config = load_config(getattr(args, "config", None))
    if not config.exists:
        raise ConfigError(
            f"{config.path}: config file not found; create one with: btconsole config init"
        )
    if config.keys:
        # binding ids and clashes are known to the console's bindings (Textual)
        from btconsole.ui.keys import check_keymap

        check_keymap(config)
    from btconsole.configtools import explain

    every = [*config.profiles, *config.lighthouse]
    names = ", ".join(every) or "none"
    remapped = f"; {len(config.keys)} key(s) remapped" if config.keys else ""
    print(f"{config.path}: OK ({len(every)} profile(s): {names}{remapped})")
    for line in explain(config):
        print(line)
    if config.lighthouse:
        from btconsole.lighthouse import describe_discovery

        for line in describe_discovery(config):
            print(line)
    return EXIT_OK


def run_config_init(args: argparse.Namespace) -> int:
    from btconsole.config import resolve_config_path
    from btconsole.configtools import write_starter

    path, _ = resolve_config_path(getattr(args, "config", None))
    write_starter(path, force=args.force, lighthouse=args.lighthouse)
    print(f"wrote {path}; edit it, then run: btconsole config validate")
    return EXIT_OK


def _secret_profile(args: argparse.Namespace) -> tuple[object, object]:
    from btconsole.config import load_config

    config = load_config(getattr(args, "config", None))
    provider = config.lighthouse.get(args.profile)
    if provider is not None:  # a Lighthouse profile's secret is its provider's sign-in
        return config, provider.credential_profile()
    return config, config.profile(args.profile)


def run_secrets_set(args: argparse.Namespace) -> int:
    from btconsole.config import Config, Profile
    from btconsole.secretstore import keyring_for_storing, store_secret

    config, profile = _secret_profile(args)
    assert isinstance(config, Config) and isinstance(profile, Profile)
    if profile.auth not in ("client-secret", "certificate"):
        raise UsageError(
            f"profile {profile.name!r} uses auth = {profile.auth!r}, which takes no secret"
        )
    # the keyring first: never ask for a secret there is nowhere to keep
    keyring_for_storing(profile, config)
    value = _read_secret(args.stdin, profile.name, sys.stdin)
    backend = store_secret(profile.name, value, config)
    print(f"stored the secret of profile {profile.name!r} in the keyring ({backend})")
    return EXIT_OK


def _read_secret(from_stdin: bool, profile_name: str, stdin: TextIO) -> str:
    if from_stdin:
        value = stdin.readline().rstrip("\r\n")
    else:
        if not stdin.isatty():
            raise UsageError(
                "no terminal to prompt on; pipe the secret in with --stdin "
                "(never pass it as an argument)"
            )
        import getpass

        value = getpass.getpass(f"secret for profile {profile_name!r} (input hidden): ")
    if not value:
        raise UsageError("empty secret; nothing stored")
    return value


def run_secrets_delete(args: argparse.Namespace) -> int:
    from btconsole.config import Config
    from btconsole.secretstore import delete_secret

    config, _ = _secret_profile(args)
    assert isinstance(config, Config)
    if delete_secret(args.profile, config):
        print(f"deleted the stored secret of profile {args.profile!r}")
    else:
        print(f"profile {args.profile!r} had no stored secret; nothing deleted")
    return EXIT_OK


def run_secrets_status(args: argparse.Namespace) -> int:
    from btconsole.config import Config, Profile
    from btconsole.secretstore import secret_status

    config, profile = _secret_profile(args)
    assert isinstance(config, Config) and isinstance(profile, Profile)
    ok, message = secret_status(profile, config)
    print(message)
    return EXIT_OK if ok else 1


# --------------------------------------------------------------------------- main


def _report(error: BtConsoleError) -> None:
    if isinstance(error, ConfigError) and len(error.problems) > 1:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"{PROG}: {len(error.problems)} configuration problems", file=sys.stderr)
        return
    print(f"{PROG}: {error.message}", file=sys.stderr)


class _Termination:
    """SIGTERM (what ``timeout``, ``kill`` and systemd send) taken the way of Ctrl+C.

    While a command runs, SIGTERM calls the SIGINT handler in force: inside
    ``asyncio.run`` (a ``check`` or ``export`` refresh, the console) that is asyncio's
    own, which cancels the main task, so every ``finally`` runs (the engine releases
    its cache leases, sessions close) before ``KeyboardInterrupt`` ends the command
    (the console's app instead closes and returns); elsewhere ``KeyboardInterrupt``
    is raised at once. ``main`` then exits 143.
    """

    def __init__(self) -> None:
        self.received = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler) and handler is not signal.default_int_handler:
            handler(signal.SIGINT, frame)  # asyncio's: cancel the main task
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGTERM for the block (only the main thread can take signals)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGTERM, self)
        try:
            yield
        finally:
            if previous is not None:  # None: set outside Python, nothing to put back
                signal.signal(signal.SIGTERM, previous)


def _interrupted(termination: _Termination) -> int:
    if termination.received:
        print(f"{PROG}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    print(f"{PROG}: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    termination = _Termination()
    try:
        with termination.installed():
            args = parser.parse_args(argv)
            if getattr(args, "verbose", False):
                os.environ[LOG_LEVEL_ENV] = "DEBUG"  # read by btconsole.logs.setup_logging
            handler: Handler = args.handler
            code = handler(args)
        # the console's app closes and returns on SIGTERM, but it was ended all the same
        return _interrupted(termination) if termination.received else code
    except BtConsoleError as error:
        _report(error)
        return error.exit_code
    except KeyboardInterrupt:
        return _interrupted(termination)
    except BrokenPipeError:
        # the reader went away (``btconsole check | head``): stop quietly, like SIGPIPE
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as error:
        if os.environ.get("BTCONSOLE_DEBUG"):
            raise
        print(
            f"{PROG}: internal error: {type(error).__name__}: {error} "
            "(set BTCONSOLE_DEBUG=1 for a traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_SOFTWARE
