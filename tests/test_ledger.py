"""The ledger: one Parquet row per candidate, with reasons and evidence, readable as one table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clearframe.ledger import SCHEMA, LedgerRow, ledger_key, read_ledger, write_ledger
from clearframe.records import Finding, Verdict
from clearframe.storage import Storage, open_storage


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return open_storage(str(tmp_path / "storage"))


def row(key: str, decision: str = "allow", status: str = "admitted", **kw: object) -> LedgerRow:
    base: dict = dict(
        run_id="run-1", batch_id="00000", source="partner", key=key, canonical_id=f"delivery:C:{key}",
        locator=f"manifest.csv:{len(key)}", url=f"file:///d/{key}.mp4", media_url=None, decision=decision,
        status=status, reasons=[], license_raw="CC-BY-4.0", license_spdx="CC-BY-4.0",
        license_found_in="manifest", creator="Ines Duarte", title=f"Title {key}", contract_id="C",
        policy_version="test-1", decided_at="2026-01-01T00:00:00+00:00",
        recorded_at="2026-01-01T00:00:01+00:00",
    )
    base.update(kw)
    return LedgerRow(**base)  # type: ignore[arg-type]


def test_write_then_read_round_trips_every_field(storage: Storage) -> None:
    denied = Finding("registry", Verdict.DENY, "creator 'mara lind' is in the opt-out registry",
                     rule="optout:creator", evidence="ab" * 32)
    rows = [
        row("k1", evidence=["cd" * 32], sha256="ef" * 32, bytes=1234),
        row("k2", decision="deny", status="denied", reasons=[denied.to_dict()], license_raw=None,
            license_spdx=None, license_found_in=None, creator=None, url=None),
        row("k3", decision="allow", status="quarantined", quarantine_reason="truncated moov atom"),
    ]
    key = ledger_key("partner", "run-1", "00000")
    uri = write_ledger(storage, key, rows)

    assert key == "ledger/partner/run=run-1/batch=00000.parquet"
    assert uri == storage.uri(key) and storage.exists(key)
    back = read_ledger(storage, "partner").to_pylist()
    assert [r["key"] for r in back] == ["k1", "k2", "k3"]
    k1, k2, k3 = back
    assert (k1["evidence"], k1["sha256"], k1["bytes"]) == (["cd" * 32], "ef" * 32, 1234)
    assert (k2["decision"], k2["status"], k2["license_spdx"], k2["creator"], k2["url"]) == (
        "deny", "denied", None, None, None)
    assert k2["evidence"] == [] and k2["bytes"] is None
    assert k3["quarantine_reason"] == "truncated moov atom"
    for name in SCHEMA.names:
        if name != "reasons":
            assert k1[name] == getattr(rows[0], name), name


def test_reasons_are_json_that_parses_back_to_findings(storage: Storage) -> None:
    findings = [
        Finding("robots", Verdict.DENY, "Disallow: /private/ for ClearFrameBot",
                locator="http://h/robots.txt", status=200, rule="Disallow: /private/", evidence="12" * 32),
        Finding("license", Verdict.NONE, "no licence found"),
    ]
    write_ledger(storage, ledger_key("s", "r", "b"), [row("k", reasons=[f.to_dict() for f in findings])])
    [back] = read_ledger(storage).to_pylist()
    parsed = json.loads(back["reasons"])
    assert parsed == [f.to_dict() for f in findings]
    assert parsed[0]["verdict"] == "deny" and parsed[0]["status"] == 200
    assert Finding(**{**parsed[0], "verdict": Verdict(parsed[0]["verdict"])}) == findings[0]


def test_part_has_the_ledger_schema(storage: Storage) -> None:
    key = ledger_key("s", "r", "b")
    write_ledger(storage, key, [row("k")])
    table = pq.read_table(io.BytesIO(storage.get_bytes(key)))
    assert table.schema.equals(SCHEMA)
    needed = {"run_id", "key", "decision", "status", "reasons", "evidence", "policy_version"}
    assert needed <= set(SCHEMA.names)


def test_read_ledger_joins_parts_and_filters_by_source(storage: Storage) -> None:
    write_ledger(storage, ledger_key("a", "r1", "00000"), [row("a1"), row("a2")])
    write_ledger(storage, ledger_key("a", "r2", "00000"), [row("a3")])
    write_ledger(storage, ledger_key("b", "r1", "00000"), [row("b1", source="b")])
    assert sorted(read_ledger(storage, "a").column("key").to_pylist()) == ["a1", "a2", "a3"]
    assert read_ledger(storage, "b").column("key").to_pylist() == ["b1"]
    assert read_ledger(storage).num_rows == 4
    assert read_ledger(storage, "c").num_rows == 0


def test_read_ledger_on_empty_storage_is_an_empty_table_with_the_schema(storage: Storage) -> None:
    table = read_ledger(storage)
    assert table.num_rows == 0
    assert table.schema.equals(SCHEMA)
    assert read_ledger(storage, "nothing").schema.equals(SCHEMA)


def test_empty_batch_writes_an_empty_part(storage: Storage) -> None:
    key = ledger_key("s", "r", "b")
    write_ledger(storage, key, [])
    assert storage.exists(key)
    assert read_ledger(storage, "s").num_rows == 0
