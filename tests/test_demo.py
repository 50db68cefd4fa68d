"""The bundled demo, end to end through the real CLI: `clearframe run include/sources/demo_delivery.yaml`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clearframe.config import Settings
from clearframe.ledger import read_ledger
from clearframe.shard import shards_prefix
from clearframe.sources.demo import DEMO_CONTRACT, ITEMS
from clearframe.storage import open_storage

ROOT = Path(__file__).resolve().parent.parent
DEMO_SOURCE = ROOT / "include" / "sources" / "demo_delivery.yaml"
SHARDS = shards_prefix("demo")


def cli() -> list[str]:
    script = Path(sys.executable).with_name("clearframe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "clearframe.cli"]


def run_demo(home: Path, cwd: Path) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLEARFRAME_STORAGE", "CLEARFRAME_REGISTRY_URL", "CLEARFRAME_PRODUCT_TOKEN")}
    env["CLEARFRAME_HOME"] = str(home)
    proc = subprocess.run([*cli(), "run", str(DEMO_SOURCE), "--json"], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def file_stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_ino)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def cid(item_id: str) -> str:
    return f"delivery:{DEMO_CONTRACT}:{item_id}"


@pytest.mark.slow
def test_demo_delivery_runs_end_to_end_and_twice_is_idempotent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = run_demo(home, cwd=tmp_path)

    assert first["candidates"] == 12
    assert (first["allow"], first["deny"], first["review"], first["defer"]) == (9, 2, 1, 0)
    assert (first["fetched"], first["quarantined"], first["sharded"]) == (9, 0, 9)
    assert first["storage"] == str(home.resolve() / "storage")

    store = open_storage(first["storage"])
    ledger = read_ledger(store, "demo_delivery").to_pylist()
    assert len(ledger) == 12
    by_id = {r["canonical_id"]: r for r in ledger}
    assert sorted(by_id) == sorted(cid(item_id) for item_id, *_ in ITEMS)

    nc = by_id[cid("street-band")]
    assert (nc["decision"], nc["status"], nc["license_spdx"]) == ("deny", "denied", "CC-BY-NC-4.0")
    assert any(f["signal"] == "license" and f["verdict"] == "deny" for f in json.loads(nc["reasons"]))
    opted = by_id[cid("studio-session")]
    assert (opted["decision"], opted["status"]) == ("deny", "denied")
    assert [f["rule"] for f in json.loads(opted["reasons"]) if f["verdict"] == "deny"] == ["optout:creator"]
    sa = by_id[cid("snow-field")]
    assert (sa["decision"], sa["status"], sa["license_spdx"]) == ("review", "review", "CC-BY-SA-4.0")
    admitted = {r["key"] for r in ledger if r["status"] == "admitted"}
    assert len(admitted) == 9
    assert all(r["contract_id"] == DEMO_CONTRACT for r in ledger)
    # The manifest that listed every candidate is stored as evidence.
    assert all(r["evidence"] and store.exists(f"evidence/sha256/{d[:2]}/{d}") for r in ledger
               for d in r["evidence"])

    # Exactly the admitted items are in the committed shards, each once; nothing is left staged.
    index_keys = [k for k in store.list(SHARDS) if k.endswith(".parquet")]
    sharded = [key for k in index_keys
               for key in pq.read_table(io.BytesIO(store.get_bytes(k))).column("key").to_pylist()]
    assert sorted(sharded) == sorted(admitted)
    assert store.list("staging/") == []

    delivery = home / "demo" / "delivery"
    stamps = file_stamps(delivery)
    assert "manifest.csv" in stamps and len(stamps) == 13  # the manifest and twelve clips
    shards_before = {k: store.size(k) for k in store.list(SHARDS)}

    second = run_demo(home, cwd=tmp_path)

    assert file_stamps(delivery) == stamps  # reused, not generated again
    assert not [p for p in delivery.parent.iterdir() if p.name.startswith(".tmp-demo-")]
    assert second["candidates"] == 12
    assert (second["allow"], second["deny"], second["review"]) == (9, 2, 1)
    assert (second["sharded"], second["fetched"], second["already_sharded"]) == (0, 0, 9)
    assert {k: store.size(k) for k in store.list(SHARDS)} == shards_before
    ledger2 = read_ledger(store, "demo_delivery").to_pylist()
    assert len(ledger2) == 24  # every run is recorded, whatever it decided
    assert {r["status"] for r in ledger2 if r["run_id"] != ledger[0]["run_id"]} == {
        "already-sharded", "denied", "review"}


def test_existing_demo_delivery_is_reused_and_the_registry_seeded(cf_home: Settings,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from clearframe import mediagen
    from clearframe.gate.registry import Registry
    from clearframe.sources.demo import OPTED_OUT_CREATOR, demo_dir, ensure_demo_delivery

    target = demo_dir(cf_home)
    target.mkdir(parents=True)
    (target / "manifest.csv").write_text("id,file,license\n")

    def no_generation(*args: object, **kw: object) -> None:
        raise AssertionError("the demo delivery was generated again")

    monkeypatch.setattr(mediagen, "make_clip", no_generation)
    assert ensure_demo_delivery(cf_home) == target
    assert ensure_demo_delivery(cf_home) == target  # seeding twice is harmless
    reg = Registry(cf_home.registry_url)
    try:
        assert [e.value for e in reg.entries("creator")] == [OPTED_OUT_CREATOR.casefold()]
        assert list(reg.blocked(["piracy.invalid"])) == ["piracy.invalid"]
    finally:
        reg.close()
