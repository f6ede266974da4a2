"""Azure Arc: ``Microsoft.HybridCompute/machines`` (+ extensions) and
``Microsoft.Kubernetes/connectedClusters``."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from aiohttp import web

from btconsole.emulator.estate import Cluster, Estate, Extension, Machine, format_time, parse_time
from btconsole.emulator.http import ArmError, Ctx, Router, json_response, page
from btconsole.emulator.routes.common import (
    estate,
    resource_group,
    resource_not_found,
    stable_guid,
    subscription_or_error,
)

MACHINE_TYPE = "Microsoft.HybridCompute/machines"
CLUSTER_TYPE = "Microsoft.Kubernetes/connectedClusters"


def _extension_view(m: Machine, ext: Extension) -> dict[str, Any]:
    ok = ext.status == "Succeeded"
    return {
        "name": ext.name,
        "type": ext.type,
        "typeHandlerVersion": ext.version,
        "status": {
            "code": "success" if ok else "failed",
            "level": "Info" if ok else "Error",  # StatusLevelTypes: Info, Warning, Error
            "displayStatus": "Provisioning succeeded" if ok else "Provisioning failed",
            "message": ext.message or ("Extension Message: Enable succeeded" if ok else ""),
            "time": m.last_status_change,
        },
    }


def machine_body(est: Estate, m: Machine) -> dict[str, Any]:
    """A machine as the HybridCompute RP returns it."""
    windows = m.os_type == "windows"
    sub = est.subscription(m.subscription_id)
    tenant_id = sub.tenant_id if sub else ""
    os_config = (
        {
            "windowsConfiguration": {
                "patchSettings": {
                    "assessmentMode": "AutomaticByPlatform",
                    "patchMode": "AutomaticByPlatform",
                }
            }
        }
        if windows
        else {
            "linuxConfiguration": {
                "patchSettings": {
                    "assessmentMode": "AutomaticByPlatform",
                    "patchMode": "AutomaticByPlatform",
                }
            }
        }
    )
    running = m.status == "Connected"
    service = {"status": "Running" if running else "Stopped", "startupType": "Automatic"}
    return {
        "id": m.id,
        "name": m.name,
        "type": MACHINE_TYPE,
        "location": m.location,
        "tags": dict(m.tags),
        "kind": None,
        "identity": {
            "type": "SystemAssigned",
            "principalId": stable_guid("principal", m.id.lower()),
            "tenantId": tenant_id,
        },
        "properties": {
            "provisioningState": "Succeeded",
            "status": m.status,
            "lastStatusChange": m.last_status_change,
            "errorDetails": [{"code": e.code, "message": e.message} for e in m.error_details],
            "agentVersion": m.agent_version,
            "vmId": m.vm_id,
            "vmUuid": stable_guid("vmuuid", m.vm_id).upper(),
            "displayName": m.name,
            "machineFqdn": m.fqdn,
            "dnsFqdn": m.fqdn,
            "adFqdn": m.fqdn if windows else "",
            "domainName": m.domain,
            "osName": m.os_type,
            "osType": m.os_type,
            "osSku": m.os_sku,
            "osVersion": m.os_version,
            "osEdition": ("datacenter" if "Datacenter" in m.os_sku else "standard")
            if windows
            else "",
            "osProfile": {"computerName": m.name, **os_config},
            "cloudMetadata": {"provider": "N/A"},
            "agentConfiguration": {
                "proxyUrl": "",
                "incomingConnectionsPorts": [],
                "extensionsEnabled": "true",
                "guestConfigurationEnabled": "true",
                "configMode": "full",
            },
            "serviceStatuses": {
                "extensionService": dict(service),
                "guestConfigurationService": dict(service),
            },
            "detectedProperties": {
                "manufacturer": m.manufacturer,
                "model": m.model,
                "coreCount": str(m.cores),
                "logicalCoreCount": str(m.cores * 2),
                "totalPhysicalMemoryInGigabytes": str(m.cores * 4),
                "mssqlinstalled": "false",
                "cloudprovider": "N/A",
            },
            "mssqlDiscovered": "false",
            "extensions": [_extension_view(m, e) for e in m.extensions],
        },
    }


def extension_body(m: Machine, ext: Extension) -> dict[str, Any]:
    return {
        "id": f"{m.id}/extensions/{ext.name}",
        "name": ext.name,
        "type": f"{MACHINE_TYPE}/extensions",
        "location": m.location,
        "properties": {
            "publisher": ext.publisher,
            "type": ext.type,
            "typeHandlerVersion": ext.version,
            "autoUpgradeMinorVersion": False,
            "enableAutomaticUpgrade": True,
            "provisioningState": ext.status,
            "instanceView": _extension_view(m, ext),
        },
    }


def cluster_body(est: Estate, c: Cluster) -> dict[str, Any]:
    """A connected cluster as the Kubernetes RP returns it."""
    sub = est.subscription(c.subscription_id)
    cert = base64.b64encode(f"btconsole-emulator:{c.id.lower()}".encode()).decode()
    expiry = parse_time(c.last_connectivity_time) + dt.timedelta(days=90)
    return {
        "id": c.id,
        "name": c.name,
        "type": CLUSTER_TYPE,
        "location": c.location,
        "tags": dict(c.tags),
        "identity": {
            "type": "SystemAssigned",
            "principalId": c.identity_principal_id,
            "tenantId": sub.tenant_id if sub else "",
        },
        "properties": {
            "agentPublicKeyCertificate": cert,
            "kubernetesVersion": c.kubernetes_version,
            "totalNodeCount": c.total_node_count,
            "totalCoreCount": c.total_core_count,
            "agentVersion": c.agent_version,
            "provisioningState": "Succeeded",
            "distribution": c.distribution,
            "infrastructure": c.infrastructure,
            "offering": "",
            "managedIdentityCertificateExpirationTime": format_time(expiry),
            "lastConnectivityTime": c.last_connectivity_time,
            "connectivityStatus": c.connectivity_status,
            "privateLinkState": "Disabled",
            "azureHybridBenefit": "NotApplicable",
        },
    }


# --------------------------------------------------------------------------- machines


async def list_machines(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    est = estate(ctx)
    rg_name = ctx.params.get("resourceGroupName")
    if rg_name is not None:
        resource_group(ctx, sid, rg_name)
    items = [
        machine_body(est, m)
        for m in est.machines_in(sid)
        if rg_name is None or m.resource_group.lower() == rg_name.lower()
    ]
    return page(ctx, items)


def _machine(ctx: Ctx) -> Machine:
    sid, rg = ctx.params["subscriptionId"], ctx.params["resourceGroupName"]
    resource_group(ctx, sid, rg)
    m = estate(ctx).find("machines", sid, rg, ctx.params["machineName"])
    if m is None:
        raise resource_not_found(MACHINE_TYPE, ctx.params["machineName"], rg)
    assert isinstance(m, Machine)
    return m


async def get_machine(ctx: Ctx) -> web.StreamResponse:
    refused = subscription_or_error(ctx, ctx.params["subscriptionId"])
    if refused is not None:
        return refused
    return json_response(machine_body(estate(ctx), _machine(ctx)))


async def list_extensions(ctx: Ctx) -> web.StreamResponse:
    refused = subscription_or_error(ctx, ctx.params["subscriptionId"])
    if refused is not None:
        return refused
    m = _machine(ctx)
    return page(ctx, [extension_body(m, e) for e in m.extensions])


async def get_extension(ctx: Ctx) -> web.StreamResponse:
    refused = subscription_or_error(ctx, ctx.params["subscriptionId"])
    if refused is not None:
        return refused
    m = _machine(ctx)
    name = ctx.params["extensionName"]
    for e in m.extensions:
        if e.name.lower() == name.lower():
            return json_response(extension_body(m, e))
    raise ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{MACHINE_TYPE}/{m.name}/extensions/{name}' under resource group "
        f"'{m.resource_group}' was not found.",
    )


# --------------------------------------------------------------------------- clusters


async def list_clusters(ctx: Ctx) -> web.StreamResponse:
    sid = ctx.params["subscriptionId"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    est = estate(ctx)
    rg_name = ctx.params.get("resourceGroupName")
    if rg_name is not None:
        resource_group(ctx, sid, rg_name)
    items = [
        cluster_body(est, c)
        for c in est.clusters_in(sid)
        if rg_name is None or c.resource_group.lower() == rg_name.lower()
    ]
    return page(ctx, items)


async def get_cluster(ctx: Ctx) -> web.StreamResponse:
    sid, rg = ctx.params["subscriptionId"], ctx.params["resourceGroupName"]
    refused = subscription_or_error(ctx, sid)
    if refused is not None:
        return refused
    resource_group(ctx, sid, rg)
    c = estate(ctx).find("clusters", sid, rg, ctx.params["clusterName"])
    if c is None:
        raise resource_not_found(CLUSTER_TYPE, ctx.params["clusterName"], rg)
    assert isinstance(c, Cluster)
    return json_response(cluster_body(estate(ctx), c))


def register(router: Router) -> None:
    sub = "/subscriptions/{subscriptionId}"
    rg = sub + "/resourceGroups/{resourceGroupName}"
    hc = "/providers/Microsoft.HybridCompute/machines"
    k8s = "/providers/Microsoft.Kubernetes/connectedClusters"
    router.add("GET", sub + hc, list_machines, name="arc.machines.list_by_subscription")
    router.add("GET", rg + hc, list_machines, name="arc.machines.list_by_resource_group")
    router.add("GET", rg + hc + "/{machineName}", get_machine, name="arc.machines.get")
    router.add(
        "GET", rg + hc + "/{machineName}/extensions", list_extensions, name="arc.extensions.list"
    )
    router.add(
        "GET",
        rg + hc + "/{machineName}/extensions/{extensionName}",
        get_extension,
        name="arc.extensions.get",
    )
    router.add("GET", sub + k8s, list_clusters, name="arc.clusters.list_by_subscription")
    router.add("GET", rg + k8s, list_clusters, name="arc.clusters.list_by_resource_group")
    router.add("GET", rg + k8s + "/{clusterName}", get_cluster, name="arc.clusters.get")
