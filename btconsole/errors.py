"""One error hierarchy for the whole project.

Every error a user can meet is a :class:`BtConsoleError`: it carries a short title,
a message that says what to do, and the process exit code the CLI uses for it.
Azure SDK exceptions are mapped to these once, in the wrappers; nothing above them
sees an SDK exception.
"""

from __future__ import annotations

# Exit codes (BSD sysexits where one fits). ``check`` adds 1-3 of its own.
EXIT_OK = 0
EXIT_USAGE = 64  # EX_USAGE: bad command line or configuration
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: a service we need is not there (keyring, port)
EXIT_SOFTWARE = 70  # EX_SOFTWARE: an internal error (a bug)
EXIT_INTERRUPTED = 130


# Reason classes: what kind of failure left a scope without fresh data. The cache keeps
# one per failed scope; coverage (the overview, the status bar, ``check``) groups by it.
REASONS = (
    "credential",  # no secret, unusable keyring, a credential that cannot be built
    "sign-in",  # the token endpoint refused us: tenant not found, bad secret, expired login
    "unreachable",  # DNS, connection refused or reset, no route: the endpoint is not there
    "tls",  # the server's certificate is not trusted (CA bundle)
    "access",  # 403: the identity lacks a role
    "not-found",  # 404: the subscription or resource is gone or not visible
    "throttled",  # 429 and the retries ran out
    "service",  # 5xx, time-outs, broken answers from a reachable service
    "bad-response",  # an answer that is not what the API promises
    "request",  # 400: the service refused what we sent (a bug or an unsupported query)
    "timeout",  # the run's own deadline passed first
    "config",  # the configuration does not allow it
    "internal",  # a bug in btconsole: an unexpected exception
)


class BtConsoleError(Exception):
    """Base class: a user-facing error with a title and an exit code.

    ``reason`` is its reason class (one of :data:`REASONS`).
    """

    title = "Error"
    exit_code = EXIT_SOFTWARE
    reason = "internal"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class UsageError(BtConsoleError):
    """The command line asks for something that cannot be done."""

    title = "Usage error"
    exit_code = EXIT_USAGE
    reason = "config"


class ConfigError(BtConsoleError):
    """The configuration is missing, unreadable or invalid.

    ``problems`` holds every problem found (one line each) when validation collected
    more than one.
    """

    title = "Configuration error"
    exit_code = EXIT_USAGE
    reason = "config"

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


class SecretError(BtConsoleError):
    """A secret cannot be found or stored."""

    title = "Secret not available"
    exit_code = EXIT_USAGE
    reason = "credential"


class KeyringUnavailableError(SecretError):
    """No usable keyring backend on this host (or only a refused plaintext one)."""

    title = "No usable keyring"
    exit_code = EXIT_UNAVAILABLE


class CredentialError(BtConsoleError):
    """A credential cannot be built from a profile."""

    title = "Credential error"
    exit_code = EXIT_USAGE
    reason = "credential"


class NotAvailableYetError(BtConsoleError):
    """A subcommand that exists in the CLI but whose feature has not landed yet."""

    title = "Not available yet"
    exit_code = EXIT_UNAVAILABLE
