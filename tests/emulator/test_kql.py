"""Unit tests for the emulator's Resource Graph KQL subset (btconsole/emulator/kql.py)."""

from __future__ import annotations

from typing import Any

import pytest

from btconsole.azure.graph import ARC_QUERY, CIRCUITS_QUERY, POLICY_QUERY
from btconsole.emulator.kql import KqlError, Query, error_body, parse, run_query

S1 = "11111111-1111-1111-1111-111111111111"
S2 = "22222222-2222-2222-2222-222222222222"
S3 = "33333333-3333-3333-3333-333333333333"
TENANT = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"


def _machine(
    sub: str, rg: str, name: str, status: str | None, *, location: str = "uksouth", **extra: Any
) -> dict[str, Any]:
    props: dict[str, Any] = {"osProfile": {"computerName": name.upper()}, "agentVersion": "1.40"}
    if status is not None:
        props["status"] = status
    props.update(extra.pop("props", {}))
    row = {
        "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
        f"Microsoft.HybridCompute/machines/{name}",
        "name": name,
        "type": "microsoft.hybridcompute/machines",
        "tenantId": TENANT,
        "kind": "",
        "location": location,
        "resourceGroup": rg,
        "subscriptionId": sub,
        "properties": props,
        "tags": extra.pop("tags", {}),
    }
    row.update(extra)
    return row


MACHINES = [
    _machine(S1, "rg-a", "web01", "Connected", tags={"env": "prod", "Owner": "ops"}),
    _machine(S1, "rg-a", "web02", "Disconnected", tags={"env": "dev"}),
    _machine(S2, "rg-b", "db01", "Connected", location="westeurope", tags={"env": "prod"}),
    _machine(S2, "rg-b", "db02", "Expired", props={"osType": "linux"}),
    _machine(S3, "rg-c", "app01", None, location="eastus"),
]
CLUSTER = {
    "id": f"/subscriptions/{S1}/resourceGroups/rg-k/providers/"
    "Microsoft.Kubernetes/connectedClusters/k1",
    "name": "k1",
    "type": "microsoft.kubernetes/connectedclusters",
    "tenantId": TENANT,
    "kind": "ProvisionedCluster",
    "location": "uksouth",
    "resourceGroup": "rg-k",
    "subscriptionId": S1,
    "properties": {
        "connectivityStatus": "Connected",
        "kubernetesVersion": "1.29.4",
        "totalNodeCount": 3,
        "agentVersion": "1.18.0",
        "nodes": [{"name": "n1"}, {"name": "n2"}],
    },
    "tags": {"env": "prod"},
}
CIRCUIT = {
    "id": f"/subscriptions/{S2}/resourceGroups/rg-net/providers/"
    "Microsoft.Network/expressRouteCircuits/er1",
    "name": "er1",
    "type": "microsoft.network/expressroutecircuits",
    "tenantId": TENANT,
    "kind": "",
    "location": "westeurope",
    "resourceGroup": "rg-net",
    "subscriptionId": S2,
    "properties": {
        "circuitProvisioningState": "Enabled",
        "serviceProviderProvisioningState": "Provisioned",
        "bandwidthInMbps": 1000,
        "peerings": [{"name": "AzurePrivatePeering"}, {"name": "MicrosoftPeering"}],
    },
    "tags": {},
    "sku": {"tier": "Premium", "family": "MeteredData"},
}
RESOURCES = [*MACHINES, CLUSTER, CIRCUIT]


def _state(sub: str, assignment: str, state: str, resource: str) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub}/providers/Microsoft.PolicyInsights/policyStates/{resource}",
        "name": resource,
        "type": "microsoft.policyinsights/policystates",
        "tenantId": TENANT,
        "subscriptionId": sub,
        "resourceGroup": "",
        "location": "",
        "properties": {
            "complianceState": state,
            "policyAssignmentId": f"/subscriptions/{sub}/providers/"
            f"Microsoft.Authorization/policyAssignments/{assignment}",
            "resourceId": resource,
        },
        "tags": {},
    }


POLICY_STATES = [
    _state(S1, "pa-tags", "NonCompliant", "r1"),
    _state(S1, "pa-tags", "NonCompliant", "r2"),
    _state(S1, "pa-tags", "Compliant", "r3"),
    _state(S1, "pa-loc", "NonCompliant", "r4"),
    _state(S2, "pa-tags", "noncompliant", "r5"),
    _state(S2, "pa-loc", "Compliant", "r6"),
]

TABLES = {"resources": RESOURCES, "policyresources": POLICY_STATES}


def q(query: str, tables: Any = None) -> list[dict[str, Any]]:
    return run_query(query, TABLES if tables is None else tables)


def names(query: str) -> list[str]:
    return [row["name"] for row in q(query)]


def kql_error(query: str, tables: Any = None) -> KqlError:
    with pytest.raises(KqlError) as info:
        q(query, tables)
    return info.value


# ------------------------------------------------------------------------------------------
# The console's real queries
# ------------------------------------------------------------------------------------------


def test_console_arc_machines_query() -> None:
    rows = q(
        f"""resources
| where type =~ 'Microsoft.HybridCompute/machines'
| where subscriptionId in ('{S1}','{S2}')
| project id, name, type, tenantId, subscriptionId, resourceGroup, location, tags, properties
| order by id asc"""
    )
    assert [r["name"] for r in rows] == ["web01", "web02", "db01", "db02"]
    assert list(rows[0]) == [
        "id",
        "name",
        "type",
        "tenantId",
        "subscriptionId",
        "resourceGroup",
        "location",
        "tags",
        "properties",
    ]
    assert rows[0]["properties"]["status"] == "Connected"
    assert rows[0]["tags"] == {"env": "prod", "Owner": "ops"}
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_console_policy_summary_query() -> None:
    rows = q(
        """policyresources
| where type =~ 'microsoft.policyinsights/policystates'
| where properties.complianceState =~ 'NonCompliant'
| summarize nonCompliant = count() by subscriptionId, policyAssignmentId = tostring(properties.policyAssignmentId)
| order by nonCompliant desc"""  # noqa: E501 (the console's query, verbatim)
    )
    pa = "/providers/Microsoft.Authorization/policyAssignments/"
    assert rows == [
        {
            "subscriptionId": S1,
            "policyAssignmentId": f"/subscriptions/{S1}{pa}pa-tags",
            "nonCompliant": 2,
        },
        {
            "subscriptionId": S1,
            "policyAssignmentId": f"/subscriptions/{S1}{pa}pa-loc",
            "nonCompliant": 1,
        },
        {
            "subscriptionId": S2,
            "policyAssignmentId": f"/subscriptions/{S2}{pa}pa-tags",
            "nonCompliant": 1,
        },
    ]


def test_console_clusters_and_circuits_queries() -> None:
    rows = q(
        """resources
| where type =~ 'microsoft.kubernetes/connectedclusters'
| extend status = tostring(properties.connectivityStatus), nodes = toint(properties.totalNodeCount)
| project name, status, nodes, version = properties.kubernetesVersion"""
    )
    assert rows == [{"name": "k1", "status": "Connected", "nodes": 3, "version": "1.29.4"}]
    rows = q(
        """resources
| where type == 'microsoft.network/expressroutecircuits'
| project name, provider = properties.serviceProviderProvisioningState,
          bandwidth = properties.bandwidthInMbps, sku = sku.tier,
          peerings = array_length(properties.peerings)"""
    )
    assert rows == [
        {
            "name": "er1",
            "provider": "Provisioned",
            "bandwidth": 1000,
            "sku": "Premium",
            "peerings": 2,
        }
    ]


# The queries the console really sends (imported, so this test cannot drift from them).
CONSOLE_ARC_QUERY = ARC_QUERY
CONSOLE_CIRCUITS_QUERY = CIRCUITS_QUERY
CONSOLE_POLICY_QUERY = POLICY_QUERY


def test_console_graph_module_queries() -> None:
    arc = q(CONSOLE_ARC_QUERY)
    assert [r["name"] for r in arc] == sorted(
        ["web01", "web02", "db01", "db02", "app01", "k1"],
        key=lambda n: next(r["id"] for r in RESOURCES if r["name"] == n),
    )
    assert list(arc[0]) == [
        "id",
        "name",
        "type",
        "location",
        "tags",
        "properties",
        "subscriptionId",
        "resourceGroup",
    ]
    circuits = q(CONSOLE_CIRCUITS_QUERY)
    assert [(r["name"], r["sku"]) for r in circuits] == [("er1", CIRCUIT["sku"])]

    states = [dict(row) for row in POLICY_STATES]
    for row, definition in zip(states, ["d1", "d2", "d1", "d3", "d1", "d3"], strict=True):
        row["properties"] = {**row["properties"], "policyDefinitionId": f"/X/{definition.upper()}"}
    policy = run_query(CONSOLE_POLICY_QUERY, {"policyresources": states})
    assert len(policy) == 6  # one row per (subscription, resource, assignment)
    first = policy[0]
    assert list(first) == [
        "subscriptionId",
        "resourceId",
        "assignmentId",
        "states",
        "definitions",
        "nonCompliantDefinitions",
    ]
    assert first["subscriptionId"] == S1
    assert first["assignmentId"].endswith("/policyassignments/pa-loc")  # lower-cased, sorted
    assert first["resourceId"] == "r4"
    assert first["states"] == ["NonCompliant"]
    assert first["definitions"] == ["/x/d3"]
    assert first["nonCompliantDefinitions"] == ["/x/d3"]
    compliant = next(r for r in policy if r["resourceId"] == "r3")
    assert compliant["nonCompliantDefinitions"] == [""]
    s2 = next(r for r in policy if r["resourceId"] == "r5")
    assert s2["nonCompliantDefinitions"] == ["/x/d1"]  # =~ matched 'noncompliant'


def test_default_table_when_query_starts_with_an_operator() -> None:
    assert names("where name startswith 'web' | order by name asc") == ["web01", "web02"]


def test_table_names_are_case_insensitive() -> None:
    assert q("Resources | count") == [{"Count": 7}]
    assert q("PolicyResources | count") == [{"Count": 6}]


# ------------------------------------------------------------------------------------------
# where: comparison operators
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ("name == 'web01'", ["web01"]),
        ("name == 'WEB01'", []),  # == is case-sensitive
        ("name =~ 'WEB01'", ["web01"]),
        ("name != 'web01'", ["web02", "db01", "db02", "app01"]),
        ("name !~ 'WEB01'", ["web02", "db01", "db02", "app01"]),
        ("name in ('db01', 'app01', 'zzz')", ["db01", "app01"]),
        ("name in ('DB01')", []),
        ("name in~ ('DB01', 'App01')", ["db01", "app01"]),
        ("name !in ('db01', 'app01')", ["web01", "web02", "db02"]),
        ("name !in~ ('DB01', 'APP01', 'WEB01')", ["web02", "db02"]),
        ("name in (dynamic(['web01', 'web02']))", ["web01", "web02"]),
        ("name contains 'EB'", ["web01", "web02"]),
        ("name !contains 'eb'", ["db01", "db02", "app01"]),
        ("name contains_cs 'EB'", []),
        ("name contains_cs 'eb'", ["web01", "web02"]),
        ("name !contains_cs 'eb'", ["db01", "db02", "app01"]),
        ("name startswith 'DB'", ["db01", "db02"]),
        ("name !startswith 'db'", ["web01", "web02", "app01"]),
        ("name endswith '01'", ["web01", "db01", "app01"]),
        ("name !endswith '01'", ["web02", "db02"]),
        ("name matches regex '^(web|app)0[1]$'", ["web01", "app01"]),
        ("location has 'south'", []),  # has matches whole terms only
        ("id has 'rg-A'", ["web01", "web02"]),  # terms split on '/' and '-'; case-insensitive
        ("id has 'machines'", ["web01", "web02", "db01", "db02", "app01"]),
        ("id !has 'rg'", []),
        ("id has_cs 'RG'", []),
        ("id has_any ('web01', 'db02')", ["web01", "db02"]),
        ("properties.agentVersion == '1.40' and location == 'uksouth'", ["web01", "web02", "db02"]),
        ("location == 'eastus' or name == 'web02'", ["web02", "app01"]),
        ("not(location == 'uksouth')", ["db01", "app01"]),
        ("(name == 'web01' or name == 'db01') and location == 'westeurope'", ["db01"]),
        ("name == 'web01' or name == 'db01' and location == 'westeurope'", ["web01", "db01"]),
    ],
)
def test_where_operators(predicate: str, expected: list[str]) -> None:
    assert (
        names(f"resources | where type =~ 'microsoft.hybridcompute/machines' | where {predicate}")
        == expected
    )


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ("properties.totalNodeCount > 2", ["k1"]),
        ("properties.totalNodeCount >= 3", ["k1"]),
        ("properties.totalNodeCount < 3", []),
        ("properties.totalNodeCount <= 3", ["k1"]),
        ("properties.bandwidthInMbps between (500 .. 1000)", ["er1"]),
        ("properties.bandwidthInMbps !between (1 .. 999)", ["er1"]),
        ("toint(properties.bandwidthInMbps) / 10 == 100", ["er1"]),
        ("properties.bandwidthInMbps * 2 + 1 == 2001", ["er1"]),
        ("properties.bandwidthInMbps % 7 == 6", ["er1"]),
        ("-properties.totalNodeCount == -3", ["k1"]),
        ("name > 'e'", ["k1", "er1"]),  # strings compare ordinally
    ],
)
def test_where_numeric_and_ordering(predicate: str, expected: list[str]) -> None:
    base = "resources | where type !~ 'microsoft.hybridcompute/machines' | where "
    assert names(base + predicate) == expected


def test_null_semantics() -> None:
    base = "resources | where type =~ 'microsoft.hybridcompute/machines' | where "
    # app01 has no status: comparisons with null are false, whichever way round.
    assert "app01" not in names(base + "properties.status == 'Connected'")
    assert "app01" not in names(base + "properties.status != 'Connected'")
    assert "app01" not in names(base + "properties.status < 'Z'")
    assert "app01" not in names(base + "properties.status in ('Connected', 'Expired')")
    assert "app01" not in names(base + "properties.status !in ('Connected')")
    assert names(base + "isnull(properties.status)") == ["app01"]
    assert names(base + "isempty(properties.status)") == ["app01"]
    assert "app01" not in names(base + "isnotnull(properties.status)")
    assert "app01" not in names(base + "isnotempty(properties.status)")
    assert names(base + "isempty(kind)") == ["web01", "web02", "db01", "db02", "app01"]
    assert names(base + "isnull(kind)") == []
    # String operators see null as the empty string.
    assert names(base + "tostring(properties.status) == ''") == ["app01"]
    assert "app01" in names(base + "properties.status !contains 'x'")
    # A missing member anywhere along a path is null, not an error.
    assert names(base + "isnull(properties.nope.deeper[0].x)") == [m["name"] for m in MACHINES]
    assert q("resources | where name == 'app01' | project s = properties.status") == [{"s": None}]


def test_member_access_forms() -> None:
    rows = q(
        """resources | where name == 'web01'
| project a = properties.osProfile.computerName, b = properties['osProfile']['computerName'],
          c = properties["osProfile"].computerName, d = tags['env'], e = tags.Owner,
          f = tags['owner'], g = properties.OSPROFILE.computername"""
    )
    assert rows == [
        {
            "a": "WEB01",
            "b": "WEB01",
            "c": "WEB01",
            "d": "prod",
            "e": "ops",
            "f": "ops",
            "g": "WEB01",
        }
    ]


def test_array_index() -> None:
    rows = q(
        """resources | where name == 'k1'
| project first = properties.nodes[0].name, last = properties.nodes[-1].name,
          beyond = properties.nodes[5], n = array_length(properties.nodes)"""
    )
    assert rows == [{"first": "n1", "last": "n2", "beyond": None, "n": 2}]


def test_string_literals() -> None:
    query = (
        "resources | where name == 'web01' "
        "| project a = 'it\\'s', b = \"tab\\there\", c = @'C:\\path', "
        'd = @"say ""hi""", e = \'caf\\u00e9\', f = strcat(\'a\', "b", @\'c\')'
    )
    rows = q(query)
    assert rows == [
        {"a": "it's", "b": "tab\there", "c": "C:\\path", "d": 'say "hi"', "e": "café", "f": "abc"}
    ]


def test_numeric_bool_and_dynamic_literals() -> None:
    rows = q(
        """resources | where name == 'web01'
| project i = 42, r = 2.5, e = 1e3, t = true, f = false, arr = dynamic([1, 'two', {"k": null}]),
          bag = dynamic({"a": [1, 2]}), n = dynamic(null), l = long(7), x = real(null)"""
    )
    assert rows == [
        {
            "i": 42,
            "r": 2.5,
            "e": 1000.0,
            "t": True,
            "f": False,
            "arr": [1, "two", {"k": None}],
            "bag": {"a": [1, 2]},
            "n": None,
            "l": 7,
            "x": None,
        }
    ]


def test_comments_and_whitespace() -> None:
    rows = q(
        """// machines only
resources   // the table
| where name == 'web01'  // one row
| project name"""
    )
    assert rows == [{"name": "web01"}]


# ------------------------------------------------------------------------------------------
# Scalar functions
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("tostring(properties.totalNodeCount)", "3"),
        ("tostring(properties.nodes[0])", '{"name":"n1"}'),
        ("tostring(properties.missing)", ""),
        ("tostring(true)", "true"),
        ("tostring(2.0)", "2"),
        ("toint('12')", 12),
        ("toint('x')", None),
        ("toint(3.9)", 3),
        ("tolong('-5')", -5),
        ("todouble('2.5')", 2.5),
        ("toreal(properties.totalNodeCount)", 3.0),
        ("tolower(kind)", "provisionedcluster"),
        ("toupper(name)", "K1"),
        ("strlen(properties.kubernetesVersion)", 6),
        ("strlen(properties.missing)", 0),
        ("iff(properties.totalNodeCount > 2, 'big', 'small')", "big"),
        ("iif(properties.totalNodeCount > 5, 'big', 'small')", "small"),
        ("iff(properties.missing == 1, 'y', 'n')", "n"),
        ("case(name == 'x', 1, name == 'k1', 2, 3)", 2),
        ("case(name == 'x', 1, 3)", 3),
        ("coalesce(properties.missing, '', properties.agentVersion)", "1.18.0"),
        ("coalesce(properties.missing, properties.other)", None),
        ("split(properties.kubernetesVersion, '.')", ["1", "29", "4"]),
        ("split(properties.kubernetesVersion, '.', 1)", ["29"]),
        ("split(properties.kubernetesVersion, '.')[2]", "4"),
        ("strcat(name, '/', properties.totalNodeCount, properties.missing)", "k1/3"),
        ("array_length(properties.nodes)", 2),
        ("array_length(name)", None),
        ("bag_keys(tags)", ["env"]),
        ("isnull(properties.missing)", True),
        ("isnotnull(name)", True),
        ("isempty('')", True),
        ("isnotempty(name)", True),
        ("not(true)", False),
        ("substring(name, 1)", "1"),
        ("substring('abcdef', 1, 3)", "bcd"),
        ("indexof('abcdef', 'cd')", 2),
        ("replace_string('a-b-c', '-', '+')", "a+b+c"),
        ("strcat_array(dynamic(['a', 'b']), ',')", "a,b"),
        ("set_has_element(dynamic(['a', 'b']), 'b')", True),
        ("pack_array(1, name)", [1, "k1"]),
        ("bag_pack('n', name)", {"n": "k1"}),
        ("parse_json('{\"a\": 1}').a", 1),
        ("round(2.567, 2)", 2.57),
        ("abs(-3)", 3),
        ("-7 / 2", -3),
        ("-7 % 2", -1),
        ("7.0 / 2", 3.5),
        ("1 / 0", None),
        ("name + 1", None),
        ("dynamic([1]) + dynamic([2])", None),
        ("tobool('true')", True),
        ("ago(1d) < now()", True),
        ("todatetime('2024-01-02T03:04:05Z') > datetime(2024-01-01)", True),
        ("datetime(2024-01-02) - datetime(2024-01-01) == 1d", True),
        ("datetime(2024-01-01T00:00:00Z)", "2024-01-01T00:00:00.0000000Z"),
        ("2h + 30m", "02:30:00"),
    ],
)
def test_scalar_functions(expression: str, expected: Any) -> None:
    rows = q(f"resources | where name == 'k1' | project v = {expression}")
    assert rows == [{"v": expected}]


def test_where_with_functions() -> None:
    base = "resources | where type =~ 'microsoft.hybridcompute/machines' | where "
    assert names(base + "tolower(tostring(properties.status)) == 'connected'") == ["web01", "db01"]
    assert names(base + "strlen(name) == 4 and name endswith '2'") == ["db02"]
    assert names(base + "isnotempty(tags.env) and tags['env'] == 'prod'") == ["web01", "db01"]


# ------------------------------------------------------------------------------------------
# Tabular operators
# ------------------------------------------------------------------------------------------


def test_project_infers_column_names() -> None:
    rows = q(
        """resources | where name == 'web01'
| project name, properties.osProfile.computerName, tostring(properties.status),
          tags['env'], strlen(name), strcat(name, '!')"""
    )
    assert rows == [
        {
            "name": "web01",
            "properties_osProfile_computerName": "WEB01",
            "properties_status": "Connected",
            "tags_env": "prod",
            "Column1": 5,
            "Column2": "web01!",
        }
    ]


def test_project_items_can_use_earlier_items() -> None:
    rows = q(
        "resources | where name == 'k1' | project n = toint(properties.totalNodeCount), m = n * 2"
    )
    assert rows == [{"n": 3, "m": 6}]
    rows = q("resources | where name == 'k1' | project id = name, other = id")
    assert rows == [{"id": "k1", "other": "k1"}]


def test_project_away_and_rename() -> None:
    rows = q(
        "resources | where name == 'web01' | project-away properties, tags, t* "
        "| project-rename machine = name, sub = subscriptionId"
    )
    assert rows == [
        {
            "id": MACHINES[0]["id"],
            "machine": "web01",
            "kind": "",
            "location": "uksouth",
            "resourceGroup": "rg-a",
            "sub": S1,
        }
    ]


def test_extend_adds_and_replaces_columns() -> None:
    rows = q(
        "resources | where name == 'web01' | extend status = properties.status, "
        "name = toupper(name), shout = strcat(status, '!') | project name, status, shout"
    )
    assert rows == [{"name": "WEB01", "status": "Connected", "shout": "Connected!"}]
    # the input rows are never mutated
    assert MACHINES[0]["name"] == "web01"
    assert "status" not in MACHINES[0]


def test_order_by_defaults_to_descending() -> None:
    assert names(
        "resources | where type =~ 'microsoft.hybridcompute/machines' | order by name"
    ) == [
        "web02",
        "web01",
        "db02",
        "db01",
        "app01",
    ]


def test_sort_by_multiple_keys() -> None:
    rows = q(
        "resources | where type =~ 'microsoft.hybridcompute/machines' "
        "| sort by location asc, name desc | project location, name"
    )
    assert rows == [
        {"location": "eastus", "name": "app01"},
        {"location": "uksouth", "name": "web02"},
        {"location": "uksouth", "name": "web01"},
        {"location": "uksouth", "name": "db02"},
        {"location": "westeurope", "name": "db01"},
    ]


def test_sort_nulls_placement() -> None:
    base = "resources | where type =~ 'microsoft.hybridcompute/machines' | "
    asc = q(base + "order by tostring(properties.status) == '' asc, name asc | project name")
    assert asc[-1] == {"name": "app01"}
    # KQL: nulls first when ascending, last when descending, unless told otherwise.
    assert names(base + "order by properties.status asc")[0] == "app01"
    assert names(base + "order by properties.status desc")[-1] == "app01"
    assert names(base + "order by properties.status asc nulls last")[-1] == "app01"
    assert names(base + "order by properties.status desc nulls first")[0] == "app01"
    assert names(base + "order by properties.status asc, name asc") == [
        "app01",
        "db01",
        "web01",
        "web02",
        "db02",
    ]


def test_sort_mixed_types_does_not_crash() -> None:
    rows = [{"name": str(i), "v": v} for i, v in enumerate([3, "a", None, 1.5, {"x": 1}, True])]
    got = run_query("t | order by v asc | project v", {"t": rows})
    assert got[0] == {"v": None}
    assert [r["v"] for r in got[1:4]] == [True, 1.5, 3]


def test_take_limit_and_top() -> None:
    assert len(q("resources | take 3")) == 3
    assert len(q("resources | limit 2")) == 2
    assert q("resources | take 0") == []
    assert names("resources | top 2 by name asc") == ["app01", "db01"]
    assert names("resources | top 2 by name") == ["web02", "web01"]
    assert names("resources | top 1 by toint(properties.totalNodeCount) desc nulls last") == ["k1"]


def test_distinct() -> None:
    rows = q("resources | distinct location | order by location asc")
    assert rows == [{"location": "eastus"}, {"location": "uksouth"}, {"location": "westeurope"}]
    rows = q("resources | distinct subscriptionId, location | count")
    assert rows == [{"Count": 4}]
    rows = q("resources | project location | distinct * | count")
    assert rows == [{"Count": 3}]


def test_count() -> None:
    assert q("resources | count") == [{"Count": 7}]
    assert q("resources | where name == 'nope' | count") == [{"Count": 0}]


def test_summarize_aggregates() -> None:
    rows = q(
        """resources | where type =~ 'microsoft.hybridcompute/machines'
| extend n = strlen(name)
| summarize count(), total = count(), connected = countif(properties.status == 'Connected'),
            sum(n), minName = min(name), maxName = max(name), avg(n), dcount(location),
            make_set(location), make_list(resourceGroup), take_any(tenantId)"""
    )
    assert rows == [
        {
            "count_": 5,
            "total": 5,
            "connected": 2,
            "sum_n": 23,
            "minName": "app01",
            "maxName": "web02",
            "avg_n": 4.6,
            "dcount_location": 3,
            "set_location": ["uksouth", "westeurope", "eastus"],
            "list_resourceGroup": ["rg-a", "rg-a", "rg-b", "rg-b", "rg-c"],
            "any_tenantId": TENANT,
        }
    ]


def test_summarize_by_keys_and_names() -> None:
    rows = q(
        """resources | where type =~ 'microsoft.hybridcompute/machines'
| summarize count() by tostring(properties.status), location
| order by count_ desc, properties_status asc"""
    )
    assert rows == [
        {"properties_status": "", "location": "eastus", "count_": 1},
        {"properties_status": "Connected", "location": "uksouth", "count_": 1},
        {"properties_status": "Connected", "location": "westeurope", "count_": 1},
        {"properties_status": "Disconnected", "location": "uksouth", "count_": 1},
        {"properties_status": "Expired", "location": "uksouth", "count_": 1},
    ]
    assert list(rows[0]) == ["properties_status", "location", "count_"]
    rows = q(
        "resources | summarize machines = countif(type =~ 'microsoft.hybridcompute/machines') "
        "by sub = subscriptionId | order by sub asc"
    )
    assert rows == [
        {"sub": S1, "machines": 2},
        {"sub": S2, "machines": 2},
        {"sub": S3, "machines": 1},
    ]
    rows = q("resources | summarize by location | order by location asc")
    assert rows == [{"location": "eastus"}, {"location": "uksouth"}, {"location": "westeurope"}]


def test_summarize_on_empty_input() -> None:
    assert q("resources | where name == 'nope' | summarize count()") == [{"count_": 0}]
    assert q("resources | where name == 'nope' | summarize count() by location") == []


def test_summarize_groups_dynamic_values() -> None:
    rows = q("resources | summarize count() by tags | order by count_ desc | take 1")
    assert rows == [{"tags": {}, "count_": 3}]
    rows = q("resources | summarize count() by tags | where count_ == 2")
    assert rows == [{"tags": {"env": "prod"}, "count_": 2}]


def test_mv_expand() -> None:
    rows = q(
        "resources | where name == 'er1' | mv-expand peering = properties.peerings "
        "| project name, peering = tostring(peering.name)"
    )
    assert rows == [
        {"name": "er1", "peering": "AzurePrivatePeering"},
        {"name": "er1", "peering": "MicrosoftPeering"},
    ]
    rows = q("resources | where name == 'web01' | mv-expand tags | project tags")
    assert rows == [{"tags": {"env": "prod"}}, {"tags": {"Owner": "ops"}}]
    rows = q(
        "resources | where name == 'web01' | mv-expand kind=array with_itemindex=i tags "
        "| project i, tags"
    )
    assert rows == [{"i": 0, "tags": ["env", "prod"]}, {"i": 1, "tags": ["Owner", "ops"]}]
    # null expands to one row with null; an empty array to no rows
    assert len(q("resources | where name == 'web01' | mv-expand x = properties.missing")) == 1
    assert q("resources | where name == 'er1' | mv-expand x = dynamic([])") == []
    assert len(q("resources | where name == 'er1' | mv-expand properties.peerings limit 1")) == 1


def test_join() -> None:
    subs = [
        {"subscriptionId": S1, "name": "Contoso Prod"},
        {"subscriptionId": S2, "name": "Contoso Dev"},
    ]
    tables = {**TABLES, "resourcecontainers": subs}
    rows = run_query(
        """resources | where type =~ 'microsoft.hybridcompute/machines'
| join kind=leftouter (resourcecontainers | project subscriptionId, subName = name)
    on subscriptionId
| project name, subName, subscriptionId1
| order by name asc""",
        tables,
    )
    assert rows == [
        {"name": "app01", "subName": None, "subscriptionId1": None},
        {"name": "db01", "subName": "Contoso Dev", "subscriptionId1": S2},
        {"name": "db02", "subName": "Contoso Dev", "subscriptionId1": S2},
        {"name": "web01", "subName": "Contoso Prod", "subscriptionId1": S1},
        {"name": "web02", "subName": "Contoso Prod", "subscriptionId1": S1},
    ]
    inner = run_query(
        "resources | join kind=inner (resourcecontainers) on $left.subscriptionId == "
        "$right.subscriptionId | project name, name1",
        tables,
    )
    assert len(inner) == 6  # app01 (S3) has no match
    assert {"name": "k1", "name1": "Contoso Prod"} in inner
    anti = run_query(
        "resources | join kind=leftanti (resourcecontainers) on subscriptionId", tables
    )
    assert [r["name"] for r in anti] == ["app01"]
    # default kind is innerunique: one row per distinct left key
    unique = run_query("resources | join (resourcecontainers) on subscriptionId", tables)
    assert len(unique) == 2


def test_output_rows_are_new_dicts() -> None:
    rows = q("resources | where name == 'web01'")
    assert rows == [MACHINES[0]]
    rows[0]["name"] = "changed"
    assert MACHINES[0]["name"] == "web01"


def test_parse_returns_query_and_run_accepts_it() -> None:
    parsed = parse("resources | where name == 'web01' | project name")
    assert isinstance(parsed, Query)
    assert parsed.table == "resources"
    assert len(parsed.operators) == 2
    assert run_query(parsed, TABLES) == [{"name": "web01"}]


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "line", "column", "token"),
    [
        ("resources | where name == ", 1, 26, "<EOF>"),
        ("resources\n| where name === 'x'", 2, 15, "="),
        ("resources | wher name == 'x'", 1, 12, "wher"),
        ("resources\n| where name == 'x'\n| project name,, id", 3, 15, ","),
        ("resources | where name == 'unterminated", 1, 26, "'unterminated"),
        ("resources | where (name == 'x'", 1, 30, "<EOF>"),
        ("resources | take ten", 1, 17, "ten"),
        ("resources | where name # 'x'", 1, 23, "#"),
        ("resources | order name", 1, 18, "name"),
        ("resources |", 1, 11, "<EOF>"),
        ("", 1, 0, "<EOF>"),
    ],
)
def test_parser_errors_report_position_and_token(
    query: str, line: int, column: int, token: str
) -> None:
    err = kql_error(query)
    assert (err.code, err.line, err.column, err.token) == ("ParserFailure", line, column, token)


def test_parser_failure_body_matches_resource_graph() -> None:
    err = kql_error("resources\n| where name === 'x'")
    body = error_body(err, "corr-123")
    assert body["error"]["code"] == "BadRequest"
    assert body["error"]["message"].startswith(
        "Please provide below info when asking for support: timestamp = "
    )
    assert body["error"]["message"].endswith(", correlationId = corr-123.")
    assert body["error"]["details"] == [
        {
            "code": "InvalidQuery",
            "message": "Query is invalid. Please refer to the documentation for the Azure "
            "Resource Graph service and fix the error before retrying.",
        },
        {
            "code": "ParserFailure",
            "message": "ParserFailure",
            "line": 2,
            "characterPositionInLine": 15,
            "token": "=",
        },
    ]


def test_unknown_table() -> None:
    err = kql_error("resourcez | take 1")
    assert (err.code, err.line, err.column, err.token) == (
        "DisallowedLogicalTableName",
        1,
        0,
        "resourcez",
    )
    details = error_body(err, "c")["error"]["details"]
    assert details[1] == {
        "code": "DisallowedLogicalTableName",
        "message": "Table resourcez is invalid, unsupported or disallowed.",
    }
    # also inside a join
    err = kql_error("resources | join (nosuchtable) on id")
    assert (err.code, err.token) == ("DisallowedLogicalTableName", "nosuchtable")


def test_unknown_function() -> None:
    err = kql_error("resources\n| where cout(name) > 1")
    assert (err.code, err.line, err.column, err.token) == ("UnknownFunction", 2, 8, "cout")
    details = error_body(err, "c")["error"]["details"]
    assert details[1] == {"code": "UnknownFunction", "message": "Unknown function: 'cout'."}
    # parse() alone detects it; no tables needed
    with pytest.raises(KqlError):
        parse("resources | summarize nope() by name")


def test_unsupported_operator() -> None:
    err = kql_error("resources | parse id with * '/providers/' rest")
    assert (err.code, err.token) == ("InvalidQueryLanguage", "parse")
    assert error_body(err, "c")["error"]["details"][1] == {
        "code": "InvalidQueryLanguage",
        "message": "InvalidQueryLanguage",
        "line": -1,
        "characterPositionInLine": -1,
        "token": "parse",
    }


@pytest.mark.parametrize(
    "query",
    [
        "resources | where strlen(name, 2) > 1",  # wrong arity
        "resources | where count() > 1",  # aggregate outside summarize
        "resources | summarize strlen(name)",  # not an aggregate
        "resources | where name matches regex '('",  # bad regex
    ],
)
def test_semantic_errors(query: str) -> None:
    err = kql_error(query)
    assert err.code == "SemanticError"
    assert error_body(err, "c")["error"]["details"][1]["code"] == "SemanticError"


@pytest.mark.parametrize(
    ("query", "operator", "name", "column"),
    [
        ("resources | where subscriptionid == 'x'", "where", "subscriptionid", 18),
        ("resources | project name | where type == 'x'", "where", "type", 33),
        ("resources | summarize count() by type | order by name", "sort", "name", 49),
        ("resources | project-away tags | project tags", "project", "tags", 40),
        ("resources | project-rename machine = nmae", "project-rename", "nmae", 37),
        ("resources | distinct location | project name", "project", "name", 40),
        ("resources | summarize sum(nodes) by location", "summarize", "nodes", 26),
        ("resources | join (resources) on $left.id == $right.ID", "join", "ID", 51),
    ],
)
def test_unknown_columns_are_rejected(query: str, operator: str, name: str, column: int) -> None:
    err = kql_error(query)
    assert (err.code, err.line, err.column, err.token) == ("SemanticError", 1, column, name)
    assert (
        err.message == f"'{operator}' operator: Failed to resolve scalar expression named '{name}'"
    )


def test_column_resolution_follows_the_pipeline() -> None:
    # Names defined by extend/summarize/mv-expand/join are visible downstream; members are not
    # columns; a column any row has is known even if the first rows lack it.
    rows = [{"name": "a"}, {"name": "b", "extra": 1}]
    tables = {"t": rows, "u": [{"name": "a", "v": 2}]}
    assert run_query("t | extend x = 1, y = x + 1 | where y == 2 | count", tables) == [{"Count": 2}]
    assert run_query("t | where extra == 1 | project name", tables) == [{"name": "b"}]
    assert run_query("t | summarize n = count() by name | where n == 1 | count", tables) == [
        {"Count": 2}
    ]
    assert run_query("t | join kind=inner (u) on name | project name, name1, v", tables) == [
        {"name": "a", "name1": "a", "v": 2}
    ]
    assert run_query("t | where properties.anything == 1", tables) == []
    # Resource Graph's standard columns exist even in an empty table.
    assert run_query("t | where name == 'zzz' | project id, tags, properties", tables) == []
    assert run_query("empty | where type =~ 'x' | project id, name", {"empty": []}) == []


def test_kql_error_str_names_position() -> None:
    err = kql_error("resources | wher x")
    assert "line 1" in str(err) and "position 12" in str(err) and "wher" in str(err)


# ------------------------------------------------------------------------------------------
# Performance
# ------------------------------------------------------------------------------------------


def test_100k_rows_where_gives_the_right_rows() -> None:
    rows = [
        _machine(S1 if i % 3 else S2, f"rg-{i % 10}", f"m{i}", "Connected" if i % 2 else "Expired")
        for i in range(100_000)
    ]
    tables = {"resources": rows}
    query = (
        f"resources | where type =~ 'microsoft.hybridcompute/machines' "
        f"| where subscriptionId in ('{S2}') and properties.status == 'Connected' "
        "| project id, name, properties"
    )
    run_query(query, {"resources": rows[:10]})  # warm the compile cache
    result = run_query(query, tables)
    assert len(result) == sum(1 for i in range(100_000) if i % 3 == 0 and i % 2)
