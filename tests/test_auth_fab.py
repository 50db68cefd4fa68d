"""The production auth manager (FAB): users live in the metadata database, so every API server behind the
load balancer accepts the same users and each other's tokens. The simple auth manager, which `scripts/start`
uses on one machine, keeps generated passwords per process and cannot do that.

Needs Postgres on 127.0.0.1:5432 (a fresh database is created and dropped); skipped outside CI when it is
missing, with how to start it; under CI=true it must run.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import requests

from support.fleet import Fleet, free_port
from support.services import metadata_db  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[1]
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def test_two_api_servers_share_fab_users_and_tokens(tmp_path: Path, metadata_db: str) -> None:  # noqa: F811
    password = secrets.token_urlsafe(16)
    env = {**os.environ, "AIRFLOW__CORE__AUTH_MANAGER": FAB, "CLEARFRAME_ADMIN_USERNAME": "ops",
           "CLEARFRAME_ADMIN_PASSWORD": password, "CLEARFRAME_ADMIN_EMAIL": "ops@example.org",
           "CLEARFRAME_HOME": str(tmp_path / "cf"), "CLEARFRAME_SOURCES": str(ROOT / "include" / "sources")}
    with Fleet(tmp_path / "fleet", metadata_db, None, env) as fleet:
        out = fleet.run("init", timeout=600)
        assert 'User "ops" created with role "Admin"' in out, out[-1000:]
        again = fleet.run("init", timeout=600)  # a re-run (every deploy) changes nothing
        assert "already exist" in again.lower(), again[-1000:]

        a = fleet.start("api-server", name="api-a")
        port_b = free_port()
        fleet.start("api-server", name="api-b", env={"AIRFLOW__API__PORT": str(port_b)})
        fleet.wait_healthy(["api-a", "api-b"])
        base_a, base_b = fleet.api.base, f"http://127.0.0.1:{port_b}"
        assert a.env["AIRFLOW__API__PORT"] != str(port_b)

        r = requests.post(f"{base_a}/auth/token", json={"username": "ops", "password": password}, timeout=30)
        assert r.status_code in (200, 201), r.text[:500]
        token = r.json()["access_token"]
        # a token from one API server is honoured by the other (shared JWT secret, users in the database)
        r = requests.get(f"{base_b}/api/v2/pools", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200, r.text[:500]
        assert {"source__demo_delivery", "source__demo_http"} <= {p["name"] for p in r.json()["pools"]}
        # and the same user logs in on either
        r = requests.post(f"{base_b}/auth/token", json={"username": "ops", "password": password}, timeout=30)
        assert r.status_code in (200, 201), r.text[:500]

        wrong = requests.post(f"{base_b}/auth/token", json={"username": "ops", "password": password + "x"},
                              timeout=30)
        assert wrong.status_code in (400, 401), wrong.text[:300]
        anonymous = requests.get(f"{base_b}/api/v2/pools", timeout=30)
        assert anonymous.status_code in (401, 403)
        forged = requests.get(f"{base_b}/api/v2/pools", headers={"Authorization": f"Bearer {token[:-4]}AAAA"},
                              timeout=30)
        assert forged.status_code in (401, 403)
    assert fleet.survivors() == {}
