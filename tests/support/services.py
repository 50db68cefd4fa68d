"""Loopback services for tests: Postgres on 127.0.0.1:5432 (trust auth, user postgres, database test).

    from support.services import postgres_url  # noqa: F401  (a pytest fixture)

    def test_something(postgres_url: str) -> None:
        Registry(postgres_url) ...

`metadata_db` yields the URL of a new database of its own, dropped afterwards (for Airflow's metadata).

`postgres_url` yields a SQLAlchemy URL whose connections use a fresh, uniquely named schema (via
`search_path`), so tables created by a test never collide with another test or run; the schema is
dropped afterwards.

The rule for a missing server: outside CI the test is SKIPPED with a hint on how to start Postgres;
with `CI` set (e.g. `CI=true`, as `.ci/run` runs) it FAILS, so a broken CI service never passes silently.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest

PG_HOST = os.environ.get("CLEARFRAME_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CLEARFRAME_TEST_PG_PORT", "5432"))
PG_BASE_URL = f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/test"
PG_START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def in_ci() -> bool:
    """True when the CI variable is set to anything but an explicit no ('', '0', 'false', 'no')."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _reachable(host: str, port: int, timeout: float = 1.0) -> str | None:
    """None if something accepts TCP connections there, else why not."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{exc.__class__.__name__}: {exc}"
    return None


def require_service(name: str, host: str, port: int, start_hint: str) -> None:
    """Skip (outside CI) or fail (under CI) when nothing listens on host:port."""
    problem = _reachable(host, port)
    if problem is None:
        return
    msg = f"{name} is not reachable on {host}:{port} ({problem})"
    if in_ci():
        pytest.fail(f"{msg}; CI is set, so service tests must run: start {name} before the tests",
                    pytrace=False)
    pytest.skip(f"{msg}; start it with: {start_hint}")


@contextmanager
def _made(admin_url: str, create: str, drop: str) -> Iterator[None]:
    """Run `create` as the admin, then `drop` afterwards, whatever happened in between. Autocommit, as
    CREATE DATABASE cannot run in a transaction."""
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        # A server that listens but refuses us is a broken setup, never a reason to skip.
        with admin.connect() as conn:
            conn.execute(text(create))
        yield
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(drop))
        finally:
            admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A Postgres SQLAlchemy URL scoped to a new schema, dropped after the test."""
    require_service("Postgres", PG_HOST, PG_PORT, PG_START_HINT)
    schema = f"cf_test_{secrets.token_hex(6)}"
    with _made(PG_BASE_URL, f'CREATE SCHEMA "{schema}"', f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'):
        yield f"{PG_BASE_URL}?options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def metadata_db() -> Iterator[str]:
    """A new, empty Postgres database (Airflow's metadata database in fleet tests); dropped afterwards,
    with any connection a killed process left open."""
    require_service("Postgres", PG_HOST, PG_PORT, PG_START_HINT)
    name = f"cf_fleet_{secrets.token_hex(4)}"
    server = f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}"
    with _made(f"{server}/postgres", f'CREATE DATABASE "{name}"', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'):
        yield f"{server}/{name}"
