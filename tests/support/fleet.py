"""A real Airflow fleet on this machine, started the way the image starts it (docker/entrypoint.sh).

    with Fleet(tmp, pg_url, redis_url) as fleet:
        fleet.init()                                   # db migrate + pools, as the `init` component
        fleet.start("scheduler"); fleet.start("worker-ingest", name="ingest-a"); ...
        fleet.wait_healthy()                           # each component's own image healthcheck
        run = fleet.api.trigger("ingest__demo_http")

Every component runs as a real process, in its own session, with the environment a container would get:
CeleryExecutor on a Redis broker, Postgres as metadata database and result backend, shared Fernet key and
JWT secret. Workers are named by CLEARFRAME_WORKER_NAME, so each task instance records which worker ran it.

`kill(name)` SIGKILLs every process of a component's session, as a lost machine (a reclaimed Spot
instance) loses all of them at once. Leaving the context stops every session it started, and `survivors()`
lists any process that outlived that.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


class FleetError(AssertionError):
    """The fleet did not do what the test needed; the message carries the relevant log tails."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session_members(sid: int) -> list[int]:
    """Every live process of session `sid` (a process that calls setpgid stays in its session)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getsid(pid) == sid and not _is_zombie(pid):
                pids.append(pid)
        except OSError:
            continue
    return pids


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@dataclass
class Component:
    name: str
    component: str
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def tail(self, chars: int = 2500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


class Api:
    """The Airflow REST API (v2) of the fleet's API server, as the admin user of the simple auth manager."""

    def __init__(self, base: str, password_file: Path) -> None:
        self.base = base
        self.password_file = password_file
        self._token = ""

    def _auth(self) -> dict[str, str]:
        if not self._token:
            users = json.loads(self.password_file.read_text())
            r = requests.post(f"{self.base}/auth/token", json={"username": "admin", "password": users["admin"]},
                              timeout=30)
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, f"{self.base}/api/v2{path}", headers=self._auth(), timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        r = self.call("GET", path, **kw)
        if r.status_code != 200:
            raise FleetError(f"GET {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        if r.status_code not in (200, 201):
            raise FleetError(f"trigger {dag_id}: {r.status_code} {r.text[:500]}")
        return dict(r.json())

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns", params={"limit": 100, "order_by": "run_after"})["dag_runs"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances",
                             params={"limit": 1000})["task_instances"])

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/{map_index}/tries"
        return sorted(self.get(path)["task_instances"], key=lambda t: t["try_number"])


class Fleet:
    """Airflow's control plane and Celery workers as real processes on loopback services."""

    def __init__(self, home: Path, metadata_url: str, broker_url: str | None, env: dict[str, str]) -> None:
        """`broker_url` None: no Celery broker (a fleet of API servers only; nothing is executed)."""
        self.home = home
        self.logs = home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.components: dict[str, Component] = {}
        self.sessions: list[int] = []
        airflow_home = home / "airflow"
        airflow_home.mkdir(parents=True, exist_ok=True)
        from cryptography.fernet import Fernet

        self.env = {
            **env,
            "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW_CONFIG": str(airflow_home / "airflow.cfg"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__CELERY__BROKER_URL": broker_url or "redis://127.0.0.1:1/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "clearframe.fleet.worker_hostname",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "CLEARFRAME_API_HOST": "127.0.0.1",
            "CLEARFRAME_API_WORKERS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("CLEARFRAME_WORKER_NAME", None)
        self.api = Api(f"http://127.0.0.1:{self.port}", airflow_home / "passwords.json")

    # -- processes ---------------------------------------------------------------------------------------

    def _env(self, name: str, extra: dict[str, str] | None) -> dict[str, str]:
        env = {**self.env, "CLEARFRAME_COMPONENT_FILE": str(self.home / f"{name}.component"), **(extra or {})}
        return env

    def run(self, *args: str, timeout: float = 300) -> str:
        """A one-shot command through the entrypoint (e.g. `init`, `clearframe demo`); its output."""
        name = args[0]
        done = subprocess.run([str(ENTRYPOINT), *args], env=self._env(name, None), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise FleetError(f"entrypoint {' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n"
                             f"{done.stderr[-3000:]}")
        return done.stdout

    def start(self, component: str, name: str | None = None, env: dict[str, str] | None = None) -> Component:
        name = name or component
        extra = dict(env or {})
        if component.startswith("worker-"):
            extra.setdefault("CLEARFRAME_WORKER_NAME", name)
            extra.setdefault("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(free_port()))
        full = self._env(name, extra)
        log = self.logs / f"{name}.log"
        out = open(log, "wb")  # noqa: SIM115 - the child owns it; closed below once the child has it
        try:
            proc = subprocess.Popen([str(ENTRYPOINT), component], env=full, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.home)
        finally:
            out.close()
        self.sessions.append(proc.pid)
        comp = Component(name, component, proc, log, full)
        self.components[name] = comp
        return comp

    def healthy(self, name: str) -> tuple[bool, str]:
        """The image's own healthcheck for the component, run as Docker would (same environment)."""
        comp = self.components[name]
        if comp.proc.poll() is not None:
            raise FleetError(f"{name} exited with {comp.proc.returncode}:\n{comp.tail()}")
        done = subprocess.run([str(ENTRYPOINT), "healthcheck", comp.component], env=comp.env, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
        return done.returncode == 0, (done.stdout + done.stderr)[-500:]

    def wait_healthy(self, names: list[str] | None = None, timeout: float = 240) -> None:
        pending = list(names or self.components)
        deadline = time.monotonic() + timeout
        last: dict[str, str] = {}
        while pending:
            for name in list(pending):
                ok, out = self.healthy(name)
                if ok:
                    pending.remove(name)
                else:
                    last[name] = out
            if pending and time.monotonic() > deadline:
                raise FleetError(f"not healthy after {timeout:.0f} s: " + "; ".join(
                    f"{n}: {last.get(n, '')}\n{self.components[n].tail()}" for n in pending))
            if pending:
                time.sleep(2)

    def kill(self, name: str, timeout: float = 15) -> list[int]:
        """SIGKILL every process of the component's session at once (a lost machine); the pids killed.
        Returns once none is left (a child forked meanwhile is killed too)."""
        comp = self.components[name]
        killed: list[int] = []
        deadline = time.monotonic() + timeout
        while pids := session_members(comp.proc.pid):
            if time.monotonic() > deadline:
                raise FleetError(f"{name}: processes {pids} survived SIGKILL for {timeout:.0f} s")
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        comp.proc.wait(30)
        return sorted(set(killed))

    def survivors(self) -> dict[int, list[int]]:
        return {sid: members for sid in self.sessions if (members := session_members(sid))}

    def stop(self, grace: float = 20) -> None:
        """TERM every session, wait up to `grace` seconds, then KILL what is left."""
        for sid in self.sessions:
            for pid in session_members(sid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        while self.survivors() and time.monotonic() < deadline:
            time.sleep(0.5)
        for members in self.survivors().values():
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for comp in self.components.values():
            try:
                comp.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def tails(self, chars: int = 2000) -> str:
        return "\n".join(f"--- {c.name} ---\n{c.tail(chars)}" for c in self.components.values())

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
