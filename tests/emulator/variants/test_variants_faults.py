"""The variant fault kinds (``arm_error``, ``edit``, ``long_running``, ``page``): their
file format, their checks, and the raw HTTP answers they shape."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from btconsole.emulator.estate import Customer
from btconsole.emulator.faults import FaultError, parse_faults_toml
from btconsole.emulator.server import RunningEmulator

DOC_EXAMPLE = """
[[faults]]
kind = "arm_error"
route = "arc.*"
status = 409
code = "MissingSubscriptionRegistration"
message = "The subscription is not registered to use namespace 'Microsoft.HybridCompute'."
details = [{ code = "MissingSubscriptionRegistration", target = "Microsoft.HybridCompute" }]

[[faults]]
kind = "edit"
route = "arc.machines.*"
remove = ["properties.lastStatusChange", "properties.errorDetails"]
set = { "properties.status" = "Hibernating" }

[[faults]]
kind = "long_running"
route = "circuits.arp_table"
style = "azure-async-operation"
polls = 3
outcome = "failed"
error_code = "RouterUnreachable"

[[faults]]
kind = "page"
route = "subscriptions.list"
size = 1
"""


def test_the_documented_example_parses() -> None:
    faults = parse_faults_toml(DOC_EXAMPLE, "faults.toml").faults
    assert [f.kind for f in faults] == ["arm_error", "edit", "long_running", "page"]
    assert faults[1].params["set"] == {"properties.status": "Hibernating"}
    assert faults[2].params["style"] == "azure-async-operation"


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ({"kind": "arm_error", "status": 302}, "'status' must be an integer >= 400"),
        ({"kind": "arm_error", "code": ""}, "'code' must be a non-empty string"),
        ({"kind": "arm_error", "details": [{"message": "x"}]}, "'details' must be a list"),
        ({"kind": "edit"}, "needs 'remove' or 'set'"),
        ({"kind": "edit", "set": ["a"]}, "'set' must be a table"),
        ({"kind": "edit", "remove": "properties.status"}, "'remove' must be a list"),
        ({"kind": "long_running", "style": "polling"}, "'style' must be one of"),
        ({"kind": "long_running", "outcome": "done"}, "'outcome' must be one of"),
        ({"kind": "long_running", "polls": 0}, "'polls' must be an integer >= 1"),
        ({"kind": "long_running", "retry_after": 0}, "'retry_after' must be an integer >= 1"),
        ({"kind": "long_running", "error_status": 200}, "'error_status' must be an integer"),
        ({"kind": "page", "size": 0}, "'size' must be an integer >= 1"),
        ({"kind": "page", "colour": 1}, "unknown key 'colour'"),
    ],
)
def test_bad_variant_faults_are_refused(fault: dict[str, Any], problem: str) -> None:
    from btconsole.emulator.faults import parse_fault

    with pytest.raises(FaultError) as caught:
        parse_fault(fault, "faults[0]")
    assert problem in str(caught.value) and "faults[0]" in str(caught.value)


def _request(
    emulator: RunningEmulator, token: str, method: str, path: str
) -> tuple[int, dict[str, str], Any]:
    context = ssl.create_default_context(cafile=str(emulator.ca_path))
    sep = "&" if "?" in path else "?"
    request = urllib.request.Request(  # noqa: S310 - https to the loopback emulator
        f"{emulator.base_url}{path}{sep}api-version=2099-01-01",
        method=method,
        data=b"" if method == "POST" else None,
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as resp:  # noqa: S310
            raw = resp.read()
            return resp.status, dict(resp.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, dict(exc.headers), json.loads(raw) if raw else None


def _arp_path(emulator: RunningEmulator, customer: Customer) -> str:
    estate = emulator.estate
    for sub in customer.subscription_ids:
        for circuit in estate.circuits_in(sub):
            if circuit.peerings:
                return f"{circuit.id}/peerings/{circuit.peerings[0].name}/arpTables/primary"
    pytest.skip("the customer has no circuit with a peering")


def _circuit_customer(emulator: RunningEmulator) -> Customer:
    return next(
        c
        for c in emulator.estate.customers
        if any(emulator.estate.circuits_in(s) for s in c.subscription_ids)
    )


def _token(emulator: RunningEmulator, customer: Customer) -> str:
    from azure.identity import ClientSecretCredential

    tenant = emulator.estate.tenant(customer.tenant_id)
    assert tenant is not None
    credential = ClientSecretCredential(
        tenant.tenant_id,
        tenant.client_id,
        tenant.client_secret,
        authority=emulator.authority,
        disable_instance_discovery=True,
        connection_verify=str(emulator.ca_path),
    )
    return credential.get_token("https://management.azure.com/.default").token


def test_arm_error_body_has_arm_error_shape(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(
        kind="arm_error",
        route="arc.machines.list_by_subscription",
        status=409,
        code="MissingSubscriptionRegistration",
        message="Not registered.",
        target="Microsoft.HybridCompute",
        details=[{"code": "MissingSubscriptionRegistration", "message": "Register it."}],
    )
    sub = customer.subscription_ids[0]
    status, headers, body = _request(
        emulator,
        arm_token,
        "GET",
        f"/subscriptions/{sub}/providers/Microsoft.HybridCompute/machines",
    )
    assert status == 409 and "x-ms-request-id" in {k.lower() for k in headers}
    assert body == {
        "error": {
            "code": "MissingSubscriptionRegistration",
            "message": "Not registered.",
            "target": "Microsoft.HybridCompute",
            "details": [{"code": "MissingSubscriptionRegistration", "message": "Register it."}],
            "additionalInfo": [],
        }
    }


def test_long_running_styles_on_the_wire(emulator: RunningEmulator) -> None:
    customer = _circuit_customer(emulator)
    token = _token(emulator, customer)
    path = _arp_path(emulator, customer)
    emulator.add_fault(
        kind="long_running",
        route="circuits.arp_table",
        style="azure-async-operation",
        polls=2,
        retry_after_ms=5,
        count=1,
    )
    status, headers, body = _request(emulator, token, "POST", path)
    assert status == 202 and body is None
    assert headers["Retry-After-Ms"] == "5" and "Retry-After" not in headers
    monitor = headers["Azure-AsyncOperation"].removeprefix(emulator.base_url).split("?")[0]
    assert _request(emulator, token, "GET", monitor)[2] == {"status": "InProgress"}
    assert _request(emulator, token, "GET", monitor)[2] == {"status": "Succeeded"}
    location = headers["Location"].removeprefix(emulator.base_url).split("?")[0]
    final = _request(emulator, token, "GET", location)
    assert final[0] == 200 and final[2]["value"]

    emulator.add_fault(kind="long_running", route="circuits.arp_table", style="sync", count=1)
    status, headers, body = _request(emulator, token, "POST", path)
    assert status == 200 and body == final[2] and "Location" not in headers


def test_failed_operation_on_the_wire(emulator: RunningEmulator) -> None:
    customer = _circuit_customer(emulator)
    token = _token(emulator, customer)
    emulator.add_fault(
        kind="long_running",
        route="circuits.arp_table",
        style="azure-async-operation",
        outcome="canceled",
        error_code="OperationCanceled",
        error_message="Canceled by the platform.",
    )
    _, headers, _ = _request(emulator, token, "POST", _arp_path(emulator, customer))
    monitor = headers["Azure-AsyncOperation"].removeprefix(emulator.base_url).split("?")[0]
    assert _request(emulator, token, "GET", monitor)[2] == {
        "status": "Canceled",
        "error": {"code": "OperationCanceled", "message": "Canceled by the platform."},
    }
    location = headers["Location"].removeprefix(emulator.base_url).split("?")[0]
    status, _, body = _request(emulator, token, "GET", location)
    assert status == 500 and body["error"]["code"] == "OperationCanceled"


def test_edit_removes_and_sets_in_every_item(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(
        kind="edit",
        route="arc.machines.list_by_subscription",
        remove=["properties.lastStatusChange", "tags"],
        set={"properties.status": "Hibernating", "properties.new.deep": 1},
    )
    sub = customer.subscription_ids[0]
    _, _, body = _request(
        emulator,
        arm_token,
        "GET",
        f"/subscriptions/{sub}/providers/Microsoft.HybridCompute/machines",
    )
    assert body["value"]
    for item in body["value"]:
        assert "tags" not in item and "lastStatusChange" not in item["properties"]
        assert item["properties"]["status"] == "Hibernating"
        assert item["properties"]["new"] == {"deep": 1}


def test_page_fault_cuts_pages(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(kind="page", route="arc.machines.*", size=2)
    sub = customer.subscription_ids[0]
    _, _, body = _request(
        emulator,
        arm_token,
        "GET",
        f"/subscriptions/{sub}/providers/Microsoft.HybridCompute/machines",
    )
    assert len(body["value"]) == 2 and "$skiptoken=" in body["nextLink"]


def test_resource_graph_and_policy_error_shapes(
    emulator: RunningEmulator, customer: Customer, arm_token: str
) -> None:
    emulator.add_fault(
        kind="arm_error",
        route="graph.resources",
        code="BadRequest",
        message="Please provide below info when asking for support.",
        target="ignored",
        details=[{"code": "InvalidQuery"}],
    )
    status, _, body = _request(
        emulator, arm_token, "POST", "/providers/Microsoft.ResourceGraph/resources"
    )
    assert status == 400
    assert body == {
        "error": {
            "code": "BadRequest",
            "message": "Please provide below info when asking for support.",
            "details": [{"code": "InvalidQuery", "message": "InvalidQuery"}],
        }
    }
    emulator.add_fault(
        kind="arm_error", route="policy.*", code="InvalidFilterInQueryString", details=[]
    )
    sub = customer.subscription_ids[0]
    path = f"/subscriptions/{sub}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize"
    status, _, body = _request(emulator, arm_token, "POST", path)
    assert status == 400 and set(body["error"]) == {"code", "message"}
