"""Coverage: what is known of each customer, domain and subscription, and why not.

Every (customer, domain, subscription) scope is in one of four states:

- ``fresh``: read within its TTL;
- ``stale``: read, but longer ago than its TTL (shown with its age);
- ``failed``: the last refresh failed (a reason class and one human line); it may
  still hold older data, which is then shown with its age;
- ``never``: never read.

The levels above a scope count too. The subscription listing (scope ``*`` of the
domain ``subscriptions``) says which scopes a customer has; when it fails (no secret,
tenant not found, token refused, endpoint unreachable, certificate not trusted) before
any listing was ever read and the profile names no subscriptions, no scope can even be
named: every domain of the customer is *blocked* by that failure. A listing that reads
no subscription at all blocks them too: the identity sees nothing, which is not "all
clear".

A domain is **unknown** when none of its scopes holds data: the overview shows ``?``
in the error colour and the attention list carries an outage-class finding for it,
never zeros. It is **partial** when some scopes hold data and others none.

Pure functions over cache metadata (:class:`btconsole.digest.Sources`): no record is
decoded, no Textual, no Azure SDK.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from btconsole.cache import Entry
from btconsole.health import Finding

if TYPE_CHECKING:
    from btconsole.digest import Sources

FRESH = "fresh"
STALE = "stale"
FAILED = "failed"
NEVER = "never"
STATES = (FRESH, STALE, FAILED, NEVER)

COVERAGE_RULE = "coverage"  # the rule name of coverage findings (health.Finding.rule)
ALL_DOMAINS = "all"  # the domain of a finding about every domain of a customer
LISTING_LABEL = "subscription listing"
NO_SUBSCRIPTIONS = (
    "the sign-in sees no subscription of this customer: give it the Reader role on "
    "them, or list them under subscriptions in the profile"
)

# short words for a reason class, for one-line summaries ("cannot sign in: ...")
REASON_WORDS: Mapping[str, str] = {
    "credential": "no credential",
    "sign-in": "cannot sign in",
    "unreachable": "cannot reach Azure",
    "tls": "certificate not trusted",
    "access": "access denied",
    "not-found": "not found",
    "throttled": "throttled",
    "service": "Azure failed",
    "bad-response": "bad answer",
    "request": "request refused",
    "timeout": "timed out",
    "config": "configuration",
    "internal": "internal error",
    "never": "not read yet",
}


def one_line(text: str | None, limit: int = 240) -> str:
    """``text`` on one line (runs of whitespace become one space), at most ``limit``."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class ScopeState:
    """One scope's coverage. ``scope`` is a subscription id, or ``*`` for the listing
    (or for "every subscription", where the listing could not name them)."""

    profile: str
    domain: str
    scope: str
    state: str  # one of STATES
    fetched_at: float | None = None
    age: float | None = None  # seconds since fetched_at
    reason: str | None = None  # the failure's reason class (btconsole.errors.REASONS)
    message: str | None = None  # the failure, one line
    expired: bool = False  # holds data older than its TTL

    @property
    def has_data(self) -> bool:
        return self.fetched_at is not None

    @property
    def ok(self) -> bool:
        """Fresh or stale: read, and its last refresh did not fail."""
        return self.state in (FRESH, STALE)

    @property
    def why(self) -> str:
        """``cannot sign in: <message>``, or ``not read yet``."""
        if self.state == NEVER and not self.message:
            return REASON_WORDS["never"]
        word = REASON_WORDS.get(self.reason or "", "refresh failed")
        message = one_line(self.message)
        # the message says what happened and the fix (btconsole.errors); the reason's
        # word only stands in for a missing one
        return message or word


def scope_state(
    profile: str, domain: str, scope: str, entry: Entry | None, wall: float
) -> ScopeState:
    """The state of one cache entry (``None``: never stored) at ``wall``."""
    if entry is None:
        return ScopeState(profile, domain, scope, NEVER)
    age = entry.age(wall)
    if entry.error:
        state = FAILED
    elif entry.fetched_at is None:
        state = NEVER
    else:
        state = STALE if entry.is_stale(wall) else FRESH
    return ScopeState(
        profile,
        domain,
        scope,
        state,
        fetched_at=entry.fetched_at,
        age=age,
        reason=(entry.error_kind or "service") if entry.error else None,
        message=one_line(entry.error) if entry.error else None,
        expired=entry.fetched_at is not None and entry.is_stale(wall),
    )


@dataclass(frozen=True)
class DomainCoverage:
    """One domain of one customer: its scopes, and the failure above them, if any."""

    profile: str
    domain: str
    scopes: tuple[ScopeState, ...]
    blocked: ScopeState | None = None  # the listing's failure that left no scope to read

    @property
    def unknown(self) -> bool:
        """No scope holds data: nothing may be shown as a figure."""
        return not any(s.has_data for s in self.scopes)

    @property
    def missing(self) -> tuple[ScopeState, ...]:
        """Scopes without data (failed before any success, or never read)."""
        return tuple(s for s in self.scopes if not s.has_data)

    @property
    def partial(self) -> bool:
        return not self.unknown and bool(self.missing)

    @property
    def failed(self) -> tuple[ScopeState, ...]:
        return tuple(s for s in self.scopes if s.state == FAILED)

    @property
    def cause(self) -> ScopeState | None:
        """The failure to name first: above the scopes, else a failed scope without
        data, else any failed scope, else a never-read one."""
        if self.blocked is not None:
            return self.blocked
        for group in (
            [s for s in self.missing if s.state == FAILED],
            list(self.failed),
            list(self.missing),
        ):
            if group:
                return group[0]
        return None

    def count(self, state: str) -> int:
        return sum(1 for s in self.scopes if s.state == state)


@dataclass(frozen=True)
class CustomerCoverage:
    """Every domain of one customer, and its subscription listing."""

    profile: str
    listing: ScopeState
    domains: Mapping[str, DomainCoverage]
    # a Lighthouse customer whose delegation went: why its data is no longer refreshed
    delegation_gone: str | None = None

    @property
    def unknown_domains(self) -> list[str]:
        return [name for name, d in self.domains.items() if d.unknown]

    @property
    def unknown(self) -> bool:
        """Nothing at all is known of this customer."""
        return bool(self.domains) and all(d.unknown for d in self.domains.values())

    @property
    def complete(self) -> bool:
        """Every level read and none failing (stale data counts as read)."""
        return self.listing.ok and all(
            not d.blocked and all(s.ok for s in d.scopes) for d in self.domains.values()
        )

    @property
    def cause(self) -> ScopeState | None:
        """The one failure that best explains what is unknown."""
        if self.listing.state in (FAILED, NEVER) and any(
            d.blocked is not None for d in self.domains.values()
        ):
            return self.listing
        for d in self.domains.values():
            if d.unknown and d.cause is not None:
                return d.cause
        for d in self.domains.values():
            if d.cause is not None:
                return d.cause
        return None if self.listing.ok else self.listing


def customer_coverage(sources: Sources, wall: float) -> CustomerCoverage:
    """The coverage of one customer from its cache metadata at ``wall`` (epoch s)."""
    name = sources.profile.name
    listing = scope_state(name, "subscriptions", "*", sources.listing, wall)
    blocked: ScopeState | None = None
    if sources.expected is None:
        # the listing was never read and the profile names no subscription: nothing
        # says which scopes exist; whatever the cache still holds is shown with its age
        blocked = listing
    elif not sources.expected:
        blocked = ScopeState(
            name, "subscriptions", "*", FAILED, listing.fetched_at, listing.age, "access",
            NO_SUBSCRIPTIONS,
        )  # fmt: skip
    domains: dict[str, DomainCoverage] = {}
    for domain, pairs in sources.entries.items():
        scopes = tuple(scope_state(name, domain, scope, entry, wall) for scope, entry in pairs)
        block = blocked if blocked is not None and not any(s.has_data for s in scopes) else None
        domains[domain] = DomainCoverage(name, domain, scopes, block)
    gone: str | None = None
    if sources.profile.delegation_gone:
        from btconsole.lighthouse import gone_problem

        gone = gone_problem(sources.profile)
    return CustomerCoverage(name, listing, domains, gone)


def coverage_findings(
    coverage: CustomerCoverage, domains: Sequence[str] | None = None
) -> list[Finding]:
    """What the coverage means for a human, as findings (critical: outage class).

    - nothing known of the customer: one finding ``no data: <why>``;
    - a domain unknown: ``no <domain> data: <why>``;
    - a domain partly unknown: ``no <domain> data for N of M subscriptions: <why>``;
    - a domain whose refresh keeps failing while its data goes stale: a warning;
    - a Lighthouse customer whose delegation went (its last data is kept, no longer
      refreshed): a warning, whatever else is known of it.
    """
    names = list(domains) if domains is not None else list(coverage.domains)
    profile = coverage.profile
    gone: list[Finding] = []
    if coverage.delegation_gone:
        gone.append(
            Finding(
                "warning",
                ALL_DOMAINS,
                profile,
                f"{COVERAGE_RULE}/delegation-gone",
                "Lighthouse delegation gone: last data kept, not refreshed",
                detail=coverage.delegation_gone,
            )
        )
    if coverage.unknown:
        cause = coverage.cause
        why = cause.why if cause is not None else REASON_WORDS["never"]
        return [
            Finding(
                "critical",
                ALL_DOMAINS,
                profile,
                COVERAGE_RULE,
                f"no data: {why}",
                detail=_fix_detail(cause),
            ),
            *gone,
        ]
    out: list[Finding] = [*gone]
    for name in names:
        d = coverage.domains.get(name)
        if d is None:
            continue
        cause = d.cause
        why = cause.why if cause is not None else REASON_WORDS["never"]
        if d.unknown:
            out.append(
                Finding(
                    "critical",
                    name,
                    profile,
                    COVERAGE_RULE,
                    f"no {name} data: {why}",
                    subscription_id=_single_scope(d.missing),
                    detail=_fix_detail(cause),
                )
            )
        elif d.partial:
            missing = d.missing
            cause = next((s for s in missing if s.state == FAILED), missing[0])
            out.append(
                Finding(
                    "critical",
                    name,
                    profile,
                    COVERAGE_RULE,
                    f"no {name} data for {len(missing)} of {len(d.scopes)} subscriptions: "
                    f"{cause.why}",
                    subscription_id=_single_scope(missing),
                    detail=_fix_detail(cause),
                )
            )
        else:
            # a refresh that failed on data still within its TTL is not worth a finding
            stale_failed = [s for s in d.failed if s.expired]
            if stale_failed:
                first = stale_failed[0]
                out.append(
                    Finding(
                        "warning",
                        name,
                        profile,
                        f"{COVERAGE_RULE}/stale",
                        f"{name} refresh failing for {len(stale_failed)} of {len(d.scopes)} "
                        f"subscriptions: {first.why}",
                        subscription_id=_single_scope(stale_failed),
                        detail="the data shown is the last read, with its age",
                    )
                )
    return out


def _single_scope(states: Iterable[ScopeState]) -> str | None:
    scopes = {s.scope for s in states if s.scope != "*"}
    return next(iter(scopes)) if len(scopes) == 1 else None


def _fix_detail(cause: ScopeState | None) -> str:
    if cause is None or cause.domain != "subscriptions":
        return ""
    return f"the {LISTING_LABEL} failed: no subscription of this customer could be read"
