"""`delivery` sources: a licensed partner delivery (a folder or S3 prefix with media and a manifest).

The manifest (CSV or JSON lines) lists each item's id, file, title, creator and SPDX license, and the
delivery's contract id (per row, or once in the source file).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from clearframe.config import Settings, Source
from clearframe.errors import ConfigError
from clearframe.gate.licenses import normalize as normalize_license
from clearframe.records import Candidate

REQUIRED = ("id", "file", "license")


def delivery_root(source: Source, settings: Settings) -> str:
    assert source.delivery is not None
    loc = source.delivery.location
    if loc.startswith("demo:"):
        from clearframe.sources.demo import ensure_demo_delivery

        return str(ensure_demo_delivery(settings))
    return source.resolve(loc)


def _as_text(obj: dict[str, Any]) -> dict[str, Any]:
    """JSON numbers become text, as they would be in a CSV manifest (`"id": 101` is id "101")."""
    nested = next((k for k, v in obj.items() if isinstance(v, (dict, list))), None)
    if nested is not None:
        return {"__error__": f"field {nested!r} must be a string or a number"}
    return {k: v if v is None or isinstance(v, str) else str(v) for k, v in obj.items()}


def _rows(text: str, fmt: str) -> list[tuple[int, dict[str, Any]]]:
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        return [(n, row) for n, row in enumerate(reader, 2)]
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            obj = {"__error__": f"not valid JSON ({exc.msg})"}
        out.append((n, _as_text(obj) if isinstance(obj, dict) else {"__error__": "not a JSON object"}))
    return out


def read_delivery(source: Source, settings: Settings) -> tuple[list[Candidate], bytes]:
    from clearframe.storage import StorageError, open_storage

    assert source.delivery is not None
    root = delivery_root(source, settings)
    manifest = source.delivery.manifest
    try:
        store = open_storage(root)
        document = store.get_bytes(manifest)
    except (StorageError, OSError) as exc:
        raise ConfigError(source.path, "delivery.location",
                          f"cannot read the manifest {manifest!r} under {root}: {exc}",
                          "check the location and that the delivery is complete") from None
    text = document.decode("utf-8-sig", errors="replace")  # -sig: spreadsheet exports often add a BOM
    fmt = "csv" if manifest.lower().endswith(".csv") else "jsonl"
    rows = _rows(text, fmt)
    if fmt == "csv" and rows:
        missing = [c for c in REQUIRED if c not in rows[0][1]]
        if missing:
            raise ConfigError(f"{root}/{manifest}", missing[0], "required manifest column is missing",
                              f"the manifest needs columns {', '.join(REQUIRED)}")
    out = []
    for n, row in rows:
        locator = f"{manifest}:{n}"
        contract = (row.get("contract_id") or source.acquisition.contract_id or "").strip() or None
        item_id = str(row.get("id") or "").strip()
        problem = row.get("__error__") or next(
            (f"field {c!r} is empty" for c in REQUIRED if not str(row.get(c) or "").strip()), None)
        if problem:
            out.append(Candidate(source=source.name, kind="delivery", canonical_id=f"input:{locator}",
                                 url=None, locator=locator, contract_id=contract,
                                 input_error=f"{root}/{locator}: {problem}; fix the manifest row"))
            continue
        raw_license = str(row["license"]).strip()
        out.append(Candidate(
            source=source.name,
            kind="delivery",
            canonical_id=f"delivery:{contract or source.name}:{item_id}",
            url=store.uri(str(row["file"]).strip()),
            locator=locator,
            title=(row.get("title") or None),
            creator=(row.get("creator") or None),
            channel=(row.get("channel") or None),
            video_id=item_id,
            license=normalize_license(raw_license, found_in="manifest"),
            contract_id=contract,
            sha256=(str(row.get("sha256") or "").strip().lower() or None),
        ))
    return out, document
