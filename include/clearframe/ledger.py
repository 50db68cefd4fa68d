"""The ledger: one Parquet row per candidate, admitted or not, with its reasons and evidence.

A run writes one part per batch under `ledger/<source>/run=<run_id>/`; parts are immutable and
appear whole (the storage writes atomically), so the ledger is an append-only audit log.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from clearframe.storage import Storage

SCHEMA = pa.schema([
    ("run_id", pa.string()),
    ("batch_id", pa.string()),
    ("source", pa.string()),
    ("key", pa.string()),
    ("canonical_id", pa.string()),
    ("locator", pa.string()),
    ("url", pa.string()),
    ("media_url", pa.string()),
    ("decision", pa.string()),
    ("status", pa.string()),  # admitted | quarantined | denied | deferred | review | already-sharded | dry-run
    ("reasons", pa.string()),  # JSON list of findings: signal, verdict, detail, locator, status, rule, evidence
    ("license_raw", pa.string()),
    ("license_spdx", pa.string()),
    ("license_found_in", pa.string()),
    ("creator", pa.string()),
    ("title", pa.string()),
    ("contract_id", pa.string()),
    ("evidence", pa.list_(pa.string())),
    ("sha256", pa.string()),
    ("bytes", pa.int64()),
    ("quarantine_reason", pa.string()),
    ("policy_version", pa.string()),
    ("decided_at", pa.string()),
    ("recorded_at", pa.string()),
])


@dataclass
class LedgerRow:
    run_id: str
    batch_id: str
    source: str
    key: str
    canonical_id: str
    locator: str
    url: str | None
    media_url: str | None
    decision: str
    status: str
    reasons: list[dict[str, Any]]
    license_raw: str | None
    license_spdx: str | None
    license_found_in: str | None
    creator: str | None
    title: str | None
    contract_id: str | None
    policy_version: str
    decided_at: str
    recorded_at: str
    evidence: list[str] = field(default_factory=list)
    sha256: str | None = None
    bytes: int | None = None
    quarantine_reason: str | None = None


def ledger_key(source: str, run_id: str, batch_id: str) -> str:
    return f"ledger/{source}/run={run_id}/batch={batch_id}.parquet"


def write_ledger(storage: Storage, key: str, rows: list[LedgerRow]) -> str:
    cols: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for r in rows:
        for name in SCHEMA.names:
            v = getattr(r, name)
            cols[name].append(json.dumps(v, sort_keys=True) if name == "reasons" else v)
    table = pa.Table.from_pydict(cols, schema=SCHEMA)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    storage.put_bytes(key, buf.getvalue())
    return storage.uri(key)


def read_ledger(storage: Storage, source: str | None = None) -> pa.Table:
    """Every ledger part (of one source, or all), as one table."""
    prefix = f"ledger/{source}/" if source else "ledger/"
    parts = [k for k in storage.list(prefix) if k.endswith(".parquet")]
    tables = [pq.read_table(io.BytesIO(storage.get_bytes(k))) for k in parts]
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()
