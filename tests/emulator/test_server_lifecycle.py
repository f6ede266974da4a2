"""Starting and stopping emulators of one's own: startup faults and settings, reset,
and a clean stop while a request hangs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from btconsole.emulator.estate import Estate
from btconsole.emulator.generate import generate
from btconsole.emulator.server import running_emulator


@pytest.fixture(scope="module")
def estate() -> Estate:
    return generate(seed=1, size="small")


def _token(base_url: str, ca: str, tenant_id: str, client_id: str, secret: str) -> str:
    resp = requests.post(
        f"{base_url}/{tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "https://management.azure.com/.default",
        },
        verify=ca,
        timeout=10,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def test_startup_faults_and_settings_come_back_on_reset(estate: Estate, tmp_path: Path) -> None:
    faults = tmp_path / "faults.toml"
    faults.write_text(
        "seed = 5\n[[faults]]\nkind = 'server_error'\nroute = 'subscriptions.list'\ncount = 1\n"
    )
    with running_emulator(estate, faults=faults, settings={"page_size": 7}) as emu:
        tenant = estate.tenants[0]
        ca = str(emu.ca_path)
        token = _token(emu.base_url, ca, tenant.tenant_id, tenant.client_id, tenant.client_secret)

        def list_subs() -> int:
            return requests.get(
                f"{emu.base_url}/subscriptions?api-version=2022-12-01",
                headers={"Authorization": f"Bearer {token}"},
                verify=ca,
                timeout=10,
            ).status_code

        assert emu.control("GET", "settings")["page_size"] == 7
        assert [list_subs(), list_subs()] == [500, 200]
        emu.set_settings(page_size=50)
        emu.clear_faults()
        emu.reset()
        assert emu.control("GET", "settings")["page_size"] == 7
        state = emu.control("GET", "faults")
        assert state["seed"] == 5
        assert state["faults"][0]["fired"] == 0
        assert list_subs() == 500


def test_stopping_ends_a_hanging_request(estate: Estate) -> None:
    outcome: list[str] = []
    started = threading.Event()
    with running_emulator(estate) as emu:
        emu.add_fault(kind="hang", route="entra.token")
        tenant = estate.tenants[0]

        def call() -> None:
            started.set()
            try:
                _token(
                    emu.base_url,
                    str(emu.ca_path),
                    tenant.tenant_id,
                    tenant.client_id,
                    tenant.client_secret,
                )
                outcome.append("answered")
            except requests.exceptions.ConnectionError:
                outcome.append("dropped")

        thread = threading.Thread(target=call)
        thread.start()
        started.wait()
        deadline = time.monotonic() + 10
        while emu.stats()["faults"].get("hang") != 1:
            assert time.monotonic() < deadline, "the request never reached the fault"
            time.sleep(0.02)
        stop_began = time.monotonic()
    assert time.monotonic() - stop_began < 5
    thread.join(10)
    assert outcome == ["dropped"]


def test_busy_port_raises(estate: Estate) -> None:
    from btconsole.emulator.server import EmulatorStartError

    with running_emulator(estate) as emu:
        with pytest.raises(EmulatorStartError) as info, running_emulator(estate, port=emu.port):
            pass
        assert info.value.port_unavailable
