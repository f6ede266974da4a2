"""Arc-enabled servers (HybridCompute machines) and Kubernetes clusters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from btconsole.azure.common import (
    call,
    collect,
    get,
    iso,
    resource_parts,
    rest_dict,
    rest_items,
    text,
)
from btconsole.azure.session import AzureSession
from btconsole.records import ArcRecord, ExtensionRecord, tags_of


def machine_record(profile: str, data: Mapping[str, Any]) -> ArcRecord:
    """An Arc machine from its ARM JSON (SDK model or Resource Graph row)."""
    resource_id = str(get(data, "id") or "")
    subscription, group = resource_parts(resource_id)
    props = get(data, "properties") or {}
    errors = get(props, "errorDetails") or []
    return ArcRecord(
        profile=profile,
        id=resource_id,
        name=str(get(data, "name") or resource_id.rsplit("/", 1)[-1]),
        kind="machine",
        subscription_id=subscription,
        resource_group=group,
        location=str(get(data, "location") or ""),
        status=text(get(props, "status")) or "Unknown",
        last_status_change=iso(get(props, "lastStatusChange")),
        agent_version=text(get(props, "agentVersion")),
        os_name=text(get(props, "osName")),
        os_type=text(get(props, "osType")),
        os_version=text(get(props, "osVersion")),
        fqdn=text(get(props, "machineFqdn")) or text(get(props, "dnsFqdn")),
        error_codes=tuple(str(get(e, "code") or "") for e in errors if isinstance(e, Mapping)),
        error_messages=tuple(
            str(get(e, "message") or "") for e in errors if isinstance(e, Mapping)
        ),
        tags=tags_of(get(data, "tags")),
        failed_extensions=failed_extensions(get(props, "extensions")),
    )


def failed_extensions(views: Any) -> tuple[tuple[str, str], ...]:
    """(name, message) of each extension instance view (``MachineProperties.extensions``,
    HybridCompute spec) whose status level is ``Error`` or whose code says it failed;
    the message falls back to the display status. Anything not a list yields ()."""
    if not isinstance(views, list):
        return ()
    failed = []
    for view in views:
        if not isinstance(view, Mapping):
            continue
        status = get(view, "status") or {}
        level = str(get(status, "level") or "").lower()
        code = str(get(status, "code") or "").lower()
        if level == "error" or "failed" in code:
            message = text(get(status, "message")) or text(get(status, "displayStatus"))
            failed.append((str(get(view, "name") or "?"), message or "failed"))
    return tuple(failed)


def cluster_record(profile: str, data: Mapping[str, Any]) -> ArcRecord:
    """An Arc-enabled Kubernetes cluster from its ARM JSON."""
    resource_id = str(get(data, "id") or "")
    subscription, group = resource_parts(resource_id)
    props = get(data, "properties") or {}
    return ArcRecord(
        profile=profile,
        id=resource_id,
        name=str(get(data, "name") or resource_id.rsplit("/", 1)[-1]),
        kind="cluster",
        subscription_id=subscription,
        resource_group=group,
        location=str(get(data, "location") or ""),
        status=text(get(props, "connectivityStatus")) or "Unknown",
        last_status_change=iso(get(props, "lastConnectivityTime")),
        agent_version=text(get(props, "agentVersion")),
        os_name=text(get(props, "infrastructure")),
        kubernetes_version=text(get(props, "kubernetesVersion")),
        distribution=text(get(props, "distribution")),
        tags=tags_of(get(data, "tags")),
    )


def sort_key(record: ArcRecord) -> tuple[str, str]:
    return (record.kind, record.id.lower())


async def list_arc(session: AzureSession, subscription_id: str) -> list[ArcRecord]:
    """Arc machines and clusters of one subscription.

    Raises:
        AzureError: either listing failed.
    """
    # REST JSON through the SDK clients' pipelines, not their pagers: the Machine models
    # cost ~2 ms of CPU a machine to build (and rest_dict as much to undo), which made a
    # 20,000-machine cold refresh CPU-bound (docs/performance.md). The URL names the
    # subscription, so one client of each kind serves every subscription.
    profile = session.profile.name
    machines_client = session.client("hybridcompute")
    clusters_client = session.client("kubernetes")
    scope = f"/subscriptions/{subscription_id}/providers"

    async def machines() -> list[Any]:
        return await rest_items(
            machines_client,
            f"{scope}/Microsoft.HybridCompute/machines",
            machines_client._config.api_version,
        )

    async def clusters() -> list[Any]:
        return await rest_items(
            clusters_client,
            f"{scope}/Microsoft.Kubernetes/connectedClusters",
            clusters_client._config.api_version,
        )

    found = [
        machine_record(profile, m)
        for m in await call(f"listing Arc machines in {subscription_id}", machines)
        if isinstance(m, Mapping)
    ]
    found += [
        cluster_record(profile, c)
        for c in await call(f"listing Arc clusters in {subscription_id}", clusters)
        if isinstance(c, Mapping)
    ]
    return sorted(found, key=sort_key)


async def machine_extensions(session: AzureSession, machine_id: str) -> list[ExtensionRecord]:
    """Extensions of one Arc machine (details view).

    Raises:
        AzureError: the listing failed.
    """
    subscription, group = resource_parts(machine_id)
    name = machine_id.rstrip("/").rsplit("/", 1)[-1]
    client = session.client("hybridcompute", subscription)

    async def run() -> list[Any]:
        return await collect(client.machine_extensions.list(group, name))

    records = []
    for extension in await call(f"listing extensions of {name}", run):
        data = rest_dict(extension)
        props = get(data, "properties") or {}
        records.append(
            ExtensionRecord(
                machine_id=machine_id,
                name=str(get(data, "name") or ""),
                publisher=text(get(props, "publisher")),
                extension_type=text(get(props, "type")),
                version=text(get(props, "typeHandlerVersion")),
                provisioning_state=text(get(props, "provisioningState")),
                status=text(get(props, "instanceView", "status", "displayStatus"))
                or text(get(props, "instanceView", "status", "code")),
            )
        )
    return sorted(records, key=lambda r: r.name.lower())
