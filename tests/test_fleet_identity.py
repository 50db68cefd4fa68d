"""How a worker names itself in task-instance records (clearframe.fleet.worker_hostname)."""

from __future__ import annotations

import socket

import pytest

from clearframe.fleet import worker_hostname


def test_the_configured_worker_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLEARFRAME_WORKER_NAME", "ingest-a")
    assert worker_hostname() == "ingest-a"


def test_without_a_name_it_is_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLEARFRAME_WORKER_NAME", raising=False)
    assert worker_hostname() == socket.getfqdn()
    monkeypatch.setenv("CLEARFRAME_WORKER_NAME", "  ")
    assert worker_hostname() == socket.getfqdn()


@pytest.mark.parametrize("bad", ["ingest a", "-ingest", "a/b", "x" * 101, "ingest@a"])
def test_an_unusable_name_is_refused_with_what_to_do(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("CLEARFRAME_WORKER_NAME", bad)
    with pytest.raises(ValueError, match=r"CLEARFRAME_WORKER_NAME=.*letters, digits"):
        worker_hostname()


def test_airflow_resolves_the_callable_by_its_configured_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.api.client import get_hostname

    monkeypatch.setenv("AIRFLOW__CORE__HOSTNAME_CALLABLE", "clearframe.fleet.worker_hostname")
    monkeypatch.setenv("CLEARFRAME_WORKER_NAME", "media-3")
    assert get_hostname() == "media-3"
