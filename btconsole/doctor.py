"""``btconsole doctor``: is this installation able to work? One line per check.

Checks, in order: the config file (found and valid); the keyring backend (or the
environment variables that make it unnecessary); per profile, its secret, the ``az``
command where ``auth = "cli"``, and a token for the profile's scope; every endpoint
(Resource Manager and authority host) reachable over HTTPS with the profile's CA
bundle; the private directories (cache, previous checks, logs) being 0700 with 0600
files; the terminal (TERM, colours, NO_COLOR, size).

Each check is ``OK``, ``WARN`` or ``FAIL``; WARN and FAIL carry a fix hint. Exit codes:
0 nothing failed, 1 something failed, 64 the configuration is missing or invalid.

This module imports neither Textual nor (until a token is requested) an Azure SDK.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import ssl
import stat
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from btconsole.checks import clean, quiet_logging, use_color
from btconsole.config import Config, Profile, load_config, resolve_config_path
from btconsole.errors import EXIT_USAGE, BtConsoleError, ConfigError
from btconsole.logs import redact

OK = "OK"
WARN = "WARN"
FAIL = "FAIL"
EXIT_OK = 0
EXIT_FAILED = 1

TOKEN_TIMEOUT = 10.0
HTTP_TIMEOUT = 5.0
MIN_COLUMNS, MIN_LINES = 80, 24
SECRET_AUTH = ("client-secret", "certificate")

T = TypeVar("T")


@dataclass(frozen=True)
class Result:
    """One check's outcome: status, what was checked, what was found, how to fix it."""

    status: str
    check: str
    message: str
    hint: str | None = None


# --------------------------------------------------------------------------- helpers


class _Timeout:
    pass


TIMED_OUT = _Timeout()


def run_with_deadline(jobs: Sequence[Callable[[], T]], timeout: float) -> list[T | _Timeout]:
    """Run ``jobs`` in parallel daemon threads; a job not done by ``timeout`` gives
    :data:`TIMED_OUT` (its thread is abandoned, never waited for at exit)."""
    results: list[T | _Timeout] = [TIMED_OUT] * len(jobs)

    def runner(index: int, job: Callable[[], T]) -> None:
        results[index] = job()

    threads = [
        threading.Thread(target=runner, args=(i, job), daemon=True, name=f"doctor-{i}")
        for i, job in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return results


def _first_line(exc: BaseException, limit: int = 240) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # azure-identity puts the useful part (AADSTS code and description) after a preamble
    useful = next((line for line in lines if "AADSTS" in line), lines[0] if lines else text)
    line = redact(useful)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --------------------------------------------------------------------------- checks


def check_config(explicit: str | None) -> tuple[Config | None, Result, list[str]]:
    """Load the config: the config (None if unusable), its result line, and the
    problems to print on stderr (a missing, invalid or empty config exits 64)."""
    path, _ = resolve_config_path(explicit)
    if not path.exists():
        message = f"no config file at {path}"
        return (
            None,
            Result(
                FAIL,
                "config",
                message,
                "create one with: btconsole config init (or point --config or "
                "$BTCONSOLE_CONFIG at yours)",
            ),
            [message],
        )
    try:
        config = load_config(explicit)
    except ConfigError as exc:
        count = len(exc.problems)
        where = exc.problems[0] if count == 1 else exc.message
        return (
            None,
            Result(
                FAIL,
                "config",
                f"invalid: {where}" + (" (each problem on stderr)" if count > 1 else ""),
                "fix the file, then run: btconsole config validate",
            ),
            list(exc.problems),
        )
    if not config.profiles and not config.lighthouse:
        message = f"{config.path}: no profiles configured"
        return (
            None,
            Result(
                FAIL,
                "config",
                message,
                "add a [profiles.NAME] table per customer (docs/configuration.md)",
            ),
            [message],
        )
    parts = []
    if config.profiles:
        parts.append(f"{len(config.profiles)} profile(s): {', '.join(config.profiles)}")
    if config.lighthouse:
        parts.append(f"Lighthouse: {', '.join(config.lighthouse)}")
    message = f"{config.path}: valid, {'; '.join(parts)}"
    return (config, Result(OK, "config", message), [])


def _secret_env(profile: Profile) -> str | None:
    return (
        profile.certificate_password_env
        if profile.auth == "certificate"
        else profile.client_secret_env
    )


def check_keyring(
    config: Config, profiles: Sequence[Profile], environ: Mapping[str, str]
) -> Result:
    """Whether the keyring is usable, and whether any profile needs it."""
    from btconsole.secretstore import describe_keyring, no_keyring_message

    needing = [
        p.name
        for p in profiles
        if p.auth == "client-secret" and not environ.get(_secret_env(p) or "")
    ]
    from_env = [
        p.name for p in profiles if p.auth in SECRET_AUTH and environ.get(_secret_env(p) or "")
    ]
    broken = ""
    try:
        info = describe_keyring()
    except Exception as exc:  # a broken keyring backend raises its own types
        info = None
        broken = _first_line(exc)
    if info is not None and info.usable and not info.plaintext:
        return Result(OK, "keyring", f"backend {info.backend}")
    # Only a profile that needs the keyring makes its state worth a warning.
    why = f"; needed by: {', '.join(needing)}" if needing else "; not needed by these profiles"
    if info is not None and info.usable and info.plaintext:
        if not needing:
            return Result(OK, "keyring", f"backend {info.backend} stores secrets in plaintext{why}")
        if config.allow_plaintext_keyring:
            return Result(
                WARN,
                "keyring",
                f"backend {info.backend} stores secrets in plaintext (allowed by the config){why}",
                "prefer an encrypted backend (Secret Service) or environment variables",
            )
        return Result(
            FAIL,
            "keyring",
            f"backend {info.backend} stores secrets in plaintext; refused{why}",
            "set allow_plaintext_keyring = true to accept it, or name an environment "
            "variable in client_secret_env",
        )
    what = f"keyring unusable ({broken})" if info is None else "no usable keyring backend"
    if needing:
        return Result(
            FAIL,
            "keyring",
            f"{what}; needed by: {', '.join(needing)}",
            no_keyring_message(needing[0], None),
        )
    if from_env:
        return Result(
            OK, "keyring", f"{what}; not needed: secrets come from the environment variables"
        )
    return Result(OK, "keyring", f"{what}; not needed by these profiles")


def check_secret(profile: Profile, config: Config, environ: Mapping[str, str]) -> Result | None:
    """The profile's secret (client-secret) or certificate password (optional)."""
    from btconsole.secretstore import secret_status

    if profile.auth not in SECRET_AUTH:
        return None
    ok, message = secret_status(profile, config, environ=environ)
    if ok:
        return Result(OK, "secret", message)
    if profile.auth == "certificate":
        return Result(
            WARN,
            "secret",
            f"{profile.name}: no certificate password found (fine if the key is not encrypted)",
            f"if it is: btconsole secrets set {profile.name}",
        )
    env = profile.client_secret_env
    hint = (
        f"export {env}=... or run: " if env else "run: "
    ) + f"btconsole secrets set {profile.name}"
    return Result(FAIL, "secret", message, hint)


def check_az(profile: Profile) -> Result | None:
    """The ``az`` command, for ``auth = "cli"``."""
    if profile.auth != "cli":
        return None
    found = shutil.which("az")
    if found:
        return Result(OK, "az", f"{profile.name}: az at {found}")
    return Result(
        FAIL,
        "az",
        f"{profile.name}: auth = 'cli' but the az command is not on PATH",
        "install the Azure CLI (https://aka.ms/installazurecli), then run: "
        f"az login --tenant {profile.tenant_id}",
    )


def _token_hint(profile: Profile) -> str:
    return {
        "client-secret": "check tenant_id, client_id and the secret (btconsole secrets set "
        f"{profile.name}), and that the app has access",
        "certificate": "check tenant_id, client_id, the certificate and its password",
        "cli": f"run: az login --tenant {profile.tenant_id}",
        "managed-identity": "managed identity works only on an Azure host with an identity "
        "assigned (check client_id for a user-assigned one)",
        "workload-identity": "check AZURE_FEDERATED_TOKEN_FILE / token_file_path and client_id",
        "default": "DefaultAzureCredential found nothing; run az login or set the AZURE_* "
        "environment variables",
    }.get(profile.auth, "check the profile's auth settings")


def check_delegations(provider: Any, config: Config, environ: Mapping[str, str]) -> list[Result]:
    """A Lighthouse profile's customers: the delegations seen per customer, and a
    warning for each role a domain needs that a delegation lacks."""
    import asyncio

    from btconsole.lighthouse import doctor_delegations

    last = check_discovery(provider.name, config)
    try:
        customers, problems = asyncio.run(doctor_delegations(provider, config, environ=environ))
    except BtConsoleError as exc:
        return [
            *last,
            Result(
                FAIL,
                "delegate",
                f"{provider.name}: cannot list the delegated customers: {_first_line(exc)}",
                "check the provider's sign-in and that it has delegations",
            ),
        ]
    results: list[Result] = [*last]
    if not customers:
        results.append(
            Result(
                WARN,
                "delegate",
                f"{provider.name}: no subscription is delegated to tenant {provider.tenant_id}",
                "onboard customers with an Azure Lighthouse template (docs/configuration.md)",
            )
        )
    for c in customers:
        who = f"{provider.name}: {c.name or c.tenant_id} ({c.tenant_id})"
        roles = sorted({role for d in c.delegations for role in d.roles})
        seen = (
            f"{len(c.delegations)} delegation(s) on {len(c.subscriptions)} subscription(s)"
            + (f": {', '.join(roles)}" if roles else "")
            + ("; spend from the billing account" if c.billed else "")
        )
        if c.excluded:
            results.append(Result(OK, "delegate", f"{who}: excluded by the config; {seen}"))
        elif c.shadowed_by is not None:
            results.append(
                Result(
                    OK,
                    "delegate",
                    f"{who}: {seen}; read through its own profile {c.shadowed_by!r} "
                    "(a configured profile wins over its delegation)",
                )
            )
        elif c.missing:
            shown = "; ".join(c.missing[:3]) + (
                f"; {len(c.missing) - 3} more" if len(c.missing) > 3 else ""
            )
            results.append(
                Result(
                    WARN,
                    "delegate",
                    f"{who}: {seen}; lacking: {shown}",
                    "add the missing role to the customer's Lighthouse registration "
                    "definition (docs/configuration.md, Lighthouse)",
                )
            )
        else:
            results.append(Result(OK, "delegate", f"{who}: {seen}"))
    for problem in problems:
        results.append(Result(WARN, "delegate", f"{provider.name}: {problem}"))
    return results


def check_discovery(provider: str, config: Config) -> list[Result]:
    """What the last discovery of ``provider`` left in the cache (no request): a
    warning when it failed (the console and check show its last customers meanwhile)."""
    from btconsole.cache import Cache, CacheError, default_cache_path
    from btconsole.lighthouse import recorded_problem

    if not default_cache_path().exists():
        return []
    try:
        with Cache.open(None, readonly=True) as cache:
            problem = recorded_problem(provider, cache)
    except CacheError:
        return []  # check_cache says what is wrong with it
    if problem is None:
        return []
    _name, _, what = problem.partition(": ")
    return [
        Result(
            WARN,
            "delegate",
            f"{provider}: last {what}",
            "the customers shown are the last discovery's; btconsole check discovers again "
            "(see the log for each attempt)",
        )
    ]


def _get_token(profile: Profile, config: Config, environ: Mapping[str, str]) -> Result:
    from btconsole.credentials import build_credential, sign_in_error

    try:
        credential = build_credential(profile, config, environ=environ)
    except BtConsoleError as exc:
        return Result(
            FAIL, "token", f"{profile.name}: no credential: {exc.message}", _token_hint(profile)
        )
    try:
        token = credential.get_token(profile.cloud.token_scope)
    except Exception as exc:  # azure-identity raises ClientAuthenticationError and others
        # the same line the console and check show (what happened and the fix)
        error = sign_in_error(exc, profile)
        return Result(FAIL, "token", f"{profile.name}: {error.message}", _token_hint(profile))
    finally:
        close = getattr(credential, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # closing must not hide the result
                close()
    left = max(0, int(token.expires_on - time.time()))
    return Result(
        OK, "token", f"{profile.name}: token for {profile.cloud.token_scope} ({left // 60}m left)"
    )


def check_tokens(
    config: Config,
    profiles: Sequence[Profile],
    environ: Mapping[str, str],
    unreachable: set[str],
    timeout: float,
    no_secret: frozenset[str] = frozenset(),
) -> list[Result]:
    """A token per profile (in parallel, each within ``timeout``); device code is not
    tried (it would prompt) and an unreachable authority is not tried again."""
    from btconsole.credentials import auth_record_path

    results: dict[str, Result] = {}
    jobs: list[tuple[str, Callable[[], Result]]] = []
    for p in profiles:
        if p.auth == "device-code":
            record = auth_record_path(p)
            if record.is_file():
                results[p.name] = Result(
                    OK, "token", f"{p.name}: signed in (device code; {record}); not re-tested"
                )
            else:
                results[p.name] = Result(
                    WARN,
                    "token",
                    f"{p.name}: device code: nobody has signed in yet",
                    f"run: btconsole --profile {p.name} (it shows a code to enter)",
                )
        elif p.name in no_secret:
            results[p.name] = Result(FAIL, "token", f"{p.name}: not tried: no secret (see above)")
        elif p.auth == "cli" and not shutil.which("az"):
            results[p.name] = Result(FAIL, "token", f"{p.name}: not tried: no az command")
        elif p.auth not in ("cli", "managed-identity", "default") and (
            p.cloud.authority_host in unreachable
        ):
            results[p.name] = Result(
                FAIL,
                "token",
                f"{p.name}: not tried: authority {p.cloud.authority_host} unreachable",
                "see the endpoint check",
            )
        else:
            jobs.append((p.name, functools.partial(_get_token, p, config, environ)))
    outcomes = run_with_deadline([job for _, job in jobs], timeout)
    for (name, _), outcome in zip(jobs, outcomes, strict=True):
        if isinstance(outcome, Result):
            results[name] = outcome
        else:
            profile = config.profiles[name]
            results[name] = Result(
                FAIL, "token", f"{name}: no token within {timeout:g}s", _token_hint(profile)
            )
    return [results[p.name] for p in profiles if p.name in results]


def _probe(url: str, ca_bundle: str | None, timeout: float) -> Result:
    started = time.monotonic()
    try:
        context = ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        return Result(
            FAIL,
            "endpoint",
            f"{url}: CA bundle {ca_bundle} unusable ({_first_line(exc)})",
            "point cloud.ca_bundle at a PEM file of CA certificates",
        )
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - https only (config)
    try:
        with opener.open(request, timeout=timeout) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        code = exc.code  # any HTTP answer means the endpoint is there
    except (urllib.error.URLError, OSError) as exc:
        reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, ssl.SSLCertVerificationError):
            hint = (
                "set cloud.ca_bundle to the PEM of the CA that signed it"
                if ca_bundle is None
                else f"is {ca_bundle} the CA that signed this endpoint's certificate?"
            )
            return Result(
                FAIL, "endpoint", f"{url}: TLS verification failed: {reason.verify_message}", hint
            )
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        return Result(
            FAIL,
            "endpoint",
            f"{url}: unreachable ({clean(text)})",
            "check the URL in the profile's cloud table, the network path and any firewall",
        )
    elapsed = (time.monotonic() - started) * 1000
    via = f" with CA bundle {ca_bundle}" if ca_bundle else ""
    return Result(OK, "endpoint", f"{url}: reachable (HTTP {code}, {elapsed:.0f} ms){via}")


def check_endpoints(profiles: Sequence[Profile], timeout: float) -> tuple[list[Result], set[str]]:
    """Each distinct endpoint (Resource Manager, authority) with its CA bundle, once;
    returns the results and the URLs found unreachable."""
    targets: list[tuple[str, str | None]] = []
    for p in profiles:
        for url in (p.cloud.resource_manager, p.cloud.authority_host):
            if (url, p.cloud.ca_bundle) not in targets:
                targets.append((url, p.cloud.ca_bundle))
    outcomes = run_with_deadline(
        [functools.partial(_probe, url, ca_bundle, timeout) for url, ca_bundle in targets],
        timeout + 2.0,
    )
    results: list[Result] = []
    unreachable: set[str] = set()
    for (url, _), outcome in zip(targets, outcomes, strict=True):
        if not isinstance(outcome, Result):
            outcome = Result(FAIL, "endpoint", f"{url}: no answer within {timeout:g}s")
        if outcome.status == FAIL:
            unreachable.add(url)
        results.append(outcome)
    return results, unreachable


def check_private_dir(label: str, directory: Path) -> Result:
    """``directory`` is 0700 and ours, every file in it (one level down too) 0600."""
    if not directory.exists():
        return Result(OK, label, f"{directory}: not created yet (made 0700 on first use)")
    try:
        problems: list[str] = []
        info = directory.stat()
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            problems.append(f"{directory} is owned by uid {info.st_uid}, not you")
        if _mode(directory) != 0o700:
            problems.append(f"{directory} is {_mode(directory):o}, not 700")
        for path in sorted(directory.rglob("*")):
            if path.is_symlink():
                continue
            mode = _mode(path)
            if path.is_dir() and mode != 0o700:
                problems.append(f"{path} is {mode:o}, not 700")
            elif path.is_file() and mode & 0o077:
                problems.append(f"{path} is {mode:o}, not 600")
    except OSError as exc:
        return Result(FAIL, label, f"{directory}: cannot inspect ({exc.strerror or exc})")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Result(
            FAIL,
            label,
            problems[0] + more,
            f"chmod -R go= {directory}  (directories 700, files 600)",
        )
    return Result(OK, label, f"{directory}: private (700, files 600)")


def check_cache() -> list[Result]:
    """The cache, previous-check and log directories, and whether the cache opens."""
    from platformdirs import user_log_path

    from btconsole.cache import Cache, CacheError, default_cache_path

    path = default_cache_path()
    results = [
        check_private_dir("cache", path.parent),
        check_private_dir("logs", user_log_path("btconsole")),
    ]
    if path.exists():
        try:
            with Cache.open(path, readonly=True) as cache:
                summary = cache.summary()
                warnings = list(cache.warnings)
        except CacheError as exc:
            results.append(Result(FAIL, "cache", exc.message, "move the file aside; it is rebuilt"))
            return results
        if warnings:
            results.append(
                Result(WARN, "cache", clean(warnings[0]), "run btconsole check to rebuild it")
            )
        else:
            errors = sum(s.errors for s in summary)
            scopes = sum(s.scopes for s in summary)
            message = f"{path}: {scopes} scope(s) cached, {errors} with a refresh error"
            status = WARN if errors else OK
            hint = "btconsole check lists them; see the log for details" if errors else None
            results.append(Result(status, "cache", message, hint))
    return results


def _colours(environ: Mapping[str, str]) -> str:
    term = environ.get("TERM", "")
    colorterm = environ.get("COLORTERM", "").lower()
    if colorterm in ("truecolor", "24bit"):
        return "truecolor"
    if "256color" in term:
        return "256 colours"
    if term in ("", "dumb"):
        return "no colours"
    return "8/16 colours"


def check_terminal(stream: TextIO, environ: Mapping[str, str]) -> list[Result]:
    """TERM and colours, NO_COLOR, and the size (the console needs 80x24)."""
    term = environ.get("TERM")
    colours = _colours(environ)
    no_color = (
        " ; NO_COLOR set: the console and check use no colour" if environ.get("NO_COLOR") else ""
    )
    results: list[Result] = []
    if not term or term == "dumb":
        results.append(
            Result(
                WARN,
                "terminal",
                f"TERM={term or '(unset)'}: the console needs a real terminal{no_color}",
                "run it in a terminal with TERM set (xterm-256color, tmux-256color, ...); "
                "check and export do not need one",
            )
        )
    else:
        results.append(Result(OK, "terminal", f"TERM={term}, {colours}{no_color}"))
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not tty:
        results.append(
            Result(OK, "size", "output is not a terminal (fine for check, export and doctor)")
        )
        return results
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        size = shutil.get_terminal_size()
    if size.columns < MIN_COLUMNS or size.lines < MIN_LINES:
        results.append(
            Result(
                WARN,
                "size",
                f"{size.columns}x{size.lines}, smaller than {MIN_COLUMNS}x{MIN_LINES}",
                "enlarge the window (or the tmux pane) to at least 80x24",
            )
        )
    else:
        results.append(Result(OK, "size", f"{size.columns}x{size.lines}"))
    return results


# --------------------------------------------------------------------------- run


@dataclass(frozen=True)
class Diagnosis:
    results: list[Result]
    config_problems: list[str]  # non-empty: the configuration is unusable (exit 64)


def diagnose(
    explicit_config: str | None,
    profile_names: Sequence[str] | None,
    *,
    stream: TextIO,
    environ: Mapping[str, str] | None = None,
    token_timeout: float = TOKEN_TIMEOUT,
    http_timeout: float = HTTP_TIMEOUT,
) -> Diagnosis:
    """Every check's result, and the configuration's problems if it is unusable.

    Raises:
        ConfigError: a ``--profile`` that the (valid) config does not have.
    """
    env = os.environ if environ is None else environ
    config, first, problems = check_config(explicit_config)
    results = [first]
    if config is not None:
        # a Lighthouse profile is checked as its provider's own sign-in
        providers = {n: lh.credential_profile() for n, lh in config.lighthouse.items()}
        profiles = (
            [
                providers[name] if name in providers else config.profile(name)
                for name in dict.fromkeys(profile_names)
            ]
            if profile_names
            else [*config.profiles.values(), *providers.values()]
        )
        results.append(check_keyring(config, profiles, env))
        no_secret: set[str] = set()
        for profile in profiles:
            secret = check_secret(profile, config, env)
            if secret is not None and secret.status == FAIL:
                no_secret.add(profile.name)
            for result in (secret, check_az(profile)):
                if result is not None:
                    results.append(result)
        endpoints, unreachable = check_endpoints(profiles, http_timeout)
        results.extend(
            check_tokens(config, profiles, env, unreachable, token_timeout, frozenset(no_secret))
        )
        results.extend(endpoints)
        tokens = {
            r.message.split(":", 1)[0] for r in results if r.check == "token" and r.status == OK
        }
        for profile in profiles:
            if profile.name in providers and profile.name in tokens:
                results.extend(check_delegations(config.lighthouse[profile.name], config, env))
    results.extend(check_cache())
    results.extend(check_terminal(stream, env))
    return Diagnosis(results, problems)


_COLOURS = {OK: "32", WARN: "33", FAIL: "1;31"}


def render(results: Sequence[Result], *, color: bool = False) -> str:
    """One line per check (``STATUS check message``), a ``fix:`` line under WARN and
    FAIL, and a count at the end."""
    lines: list[str] = []
    for r in results:
        label = r.status.ljust(4)
        if color:
            label = f"\x1b[{_COLOURS[r.status]}m{label}\x1b[0m"
        lines.append(f"{label}  {r.check.ljust(8)} {clean(r.message)}")
        if r.hint and r.status != OK:
            lines.append(f"{'':14}fix: {clean(r.hint)}")
    failed = sum(r.status == FAIL for r in results)
    warned = sum(r.status == WARN for r in results)
    passed = sum(r.status == OK for r in results)
    lines.append(f"doctor: {failed} failed, {warned} warning(s), {passed} ok")
    return "\n".join(lines) + "\n"


def run_doctor(
    explicit_config: str | None,
    profile_names: Sequence[str] | None,
    *,
    stdout: TextIO,
    stderr: TextIO,
    environ: Mapping[str, str] | None = None,
    token_timeout: float = TOKEN_TIMEOUT,
    http_timeout: float = HTTP_TIMEOUT,
) -> int:
    """Run ``btconsole doctor``; 0 nothing failed, 1 something failed, 64 bad config.

    Raises:
        ConfigError: an unknown ``--profile`` (exit 64).
    """
    quiet_logging()
    diagnosis = diagnose(
        explicit_config,
        profile_names,
        stream=stdout,
        environ=environ,
        token_timeout=token_timeout,
        http_timeout=http_timeout,
    )
    results = diagnosis.results
    stdout.write(render(results, color=use_color(stdout, environ)))
    stdout.flush()
    if diagnosis.config_problems:
        for problem in diagnosis.config_problems:
            print(f"btconsole: {problem}", file=stderr)
        return EXIT_USAGE
    return EXIT_FAILED if any(r.status == FAIL for r in results) else EXIT_OK
