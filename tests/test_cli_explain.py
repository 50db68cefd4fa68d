"""`clearframe explain CANDIDATE`: a recorded decision, finding by finding, with its evidence resolved.

The ledger comes from real `clearframe run`s: the bundled demo delivery (run twice, so every candidate
has an earlier row) and an http source served by a real local site. A few hand-written ledger parts
(through ledger.write_ledger, the pipeline's own writer) cover ambiguity and damaged rows.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearframe import POLICY_VERSION, ops
from clearframe.cli import main
from clearframe.config import Settings
from clearframe.evidence import evidence_key
from clearframe.gate.registry import Registry
from clearframe.ledger import LedgerRow, ledger_key, write_ledger
from clearframe.records import candidate_key
from clearframe.sources.demo import DEMO_CONTRACT, OPTED_OUT_CREATOR
from clearframe.storage import open_storage
from support.site import Site, video_page

ROOT = Path(__file__).resolve().parent.parent
DEMO_SOURCE = ROOT / "include" / "sources" / "demo_delivery.yaml"
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
NC_ITEM = f"delivery:{DEMO_CONTRACT}:street-band"
OPTED_ITEM = f"delivery:{DEMO_CONTRACT}:studio-session"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CLEARFRAME_STORAGE", "CLEARFRAME_REGISTRY_URL", "CLEARFRAME_PRODUCT_TOKEN")}
    env["CLEARFRAME_HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home where `clearframe run` of the demo delivery ran twice (as a program, as users run it)."""
    base = tmp_path_factory.mktemp("explain-demo")
    home = base / "home"
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "clearframe.cli", "run", str(DEMO_SOURCE), "--json"],
                              capture_output=True, text=True, env=_env(home), cwd=base, timeout=300)
        assert proc.returncode == 0, proc.stderr
    return home


@pytest.fixture
def demo(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLEARFRAME_HOME", str(demo_home))
    monkeypatch.delenv("CLEARFRAME_STORAGE", raising=False)
    monkeypatch.delenv("CLEARFRAME_REGISTRY_URL", raising=False)
    return demo_home


def cf(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def explain_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    rc, out, err = cf(capsys, "explain", *args, "--json")
    assert rc == 0, err
    return json.loads(out)


# -------------------------------------------------------------------------------------------- demo

def test_explain_denied_nc_item_names_the_licence_finding(capsys: pytest.CaptureFixture[str],
                                                          demo: Path) -> None:
    rc, out, err = cf(capsys, "explain", NC_ITEM)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == f"DENY (denied)  {NC_ITEM}"
    assert "  licence: CC-BY-NC-4.0 (raw 'CC-BY-NC-4.0', found in manifest)" in lines
    i = lines.index("  1. license: deny")
    assert lines[i + 1] == "     detail: CC-BY-NC-4.0 is non-commercial: deny"
    assert lines[i + 2] == "     locator: -  HTTP status: -  rule: manifest"
    assert f"under policy {POLICY_VERSION} " in out
    assert "earlier rows: 1" in out  # the first of the two runs
    assert out.count(": deny (denied) at ") == 1

    data = explain_json(capsys, NC_ITEM)
    assert (data["decision"], data["status"], data["source"]) == ("deny", "denied", "demo_delivery")
    assert data["key"] == candidate_key(NC_ITEM)
    assert data["license"] == {"raw": "CC-BY-NC-4.0", "spdx": "CC-BY-NC-4.0", "found_in": "manifest"}
    first = data["findings"][0]
    assert (first["signal"], first["verdict"], first["rule"]) == ("license", "deny", "manifest")
    assert data["policy_version"] and dt.datetime.fromisoformat(data["decided_at"])
    [earlier] = data["earlier"]
    assert (earlier["decision"], earlier["status"]) == ("deny", "denied")
    assert earlier["run_id"] < data["run_id"]


def test_explain_opted_out_creator_names_the_registry_entry_who_when_why(capsys: pytest.CaptureFixture[str],
                                                                        demo: Path) -> None:
    reg = Registry(Settings.from_env().registry_url)
    try:
        entry = reg.entry("creator", OPTED_OUT_CREATOR)
    finally:
        reg.close()
    assert entry is not None

    rc, out, _ = cf(capsys, "explain", OPTED_ITEM)
    assert rc == 0
    assert out.startswith(f"DENY (denied)  {OPTED_ITEM}")
    assert "  1. registry: deny" in out and "rule: optout:creator" in out
    assert (f"registry entry now: creator 'mara lind', requested by demo seed on "
            f"{entry.created_at.astimezone(dt.UTC).isoformat(timespec='seconds')}: "
            "creator asked not to be used for AI training (demo)") in out
    assert "history: " in out and " add " in out  # the seeding was recorded

    data = explain_json(capsys, OPTED_ITEM)
    reg_finding = data["findings"][0]
    assert (reg_finding["signal"], reg_finding["verdict"]) == ("registry", "deny")
    ref = reg_finding["registry"]
    assert (ref["kind"], ref["value"]) == ("creator", "mara lind")
    assert ref["entry"]["requested_by"] == "demo seed"
    assert ref["entry"]["reason"] == "creator asked not to be used for AI training (demo)"
    assert dt.datetime.fromisoformat(ref["entry"]["created_at"]) == entry.created_at
    assert [e["action"] for e in ref["history"]] == ["add"]


def test_explain_after_the_opt_out_was_removed_shows_the_removal(capsys: pytest.CaptureFixture[str],
                                                                 demo: Path,
                                                                 tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "registry.sqlite"
    shutil.copy(demo / "registry.sqlite", copy)
    monkeypatch.setenv("CLEARFRAME_REGISTRY_URL", f"sqlite:///{copy}")
    rc, _, _ = cf(capsys, "optout", "remove", "creator", OPTED_OUT_CREATOR, "--by", "privacy@example.org",
                  "--reason", "creator withdrew the opt-out, ticket 88")
    assert rc == 0
    rc, out, _ = cf(capsys, "explain", OPTED_ITEM)
    assert rc == 0
    assert "DENY (denied)" in out  # the recorded decision stands; the registry has moved on since
    assert "creator 'mara lind' is no longer in the registry" in out
    assert " remove " in out and "by privacy@example.org: creator withdrew the opt-out, ticket 88" in out
    assert "entry was requested by demo seed" in out


def test_explain_by_key_canonical_id_and_source_agree(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    by_id = explain_json(capsys, NC_ITEM)
    by_key = explain_json(capsys, candidate_key(NC_ITEM))
    by_key_upper = explain_json(capsys, candidate_key(NC_ITEM).upper(), "--source", "demo_delivery")
    for d in (by_id, by_key, by_key_upper):
        d.pop("query")
    assert by_id == by_key == by_key_upper


def test_explain_resolves_evidence_to_storage_keys_and_checks_presence(capsys: pytest.CaptureFixture[str],
                                                                      demo: Path, tmp_path: Path) -> None:
    data = explain_json(capsys, NC_ITEM)
    [doc] = data["evidence"]  # the delivery manifest that listed the item
    assert doc["key"] == evidence_key(doc["sha256"]) and doc["present"] is True and doc["size"] > 0
    basis = [f for f in data["findings"] if f["signal"] == "basis"][0]
    assert basis["evidence"]["sha256"] == doc["sha256"] and basis["evidence"]["present"] is True

    storage = tmp_path / "storage"
    shutil.copytree(demo / "storage", storage)
    (storage / doc["key"]).unlink()
    rc, out, _ = cf(capsys, "explain", NC_ITEM, "--storage", str(storage))
    assert rc == 0
    assert f"sha256:{doc['sha256']}  at {doc['key']} (NOT PRESENT); missing from storage" in out
    missing = explain_json(capsys, NC_ITEM, "--storage", str(storage))
    assert missing["evidence"][0]["present"] is False


def test_explain_show_evidence_prints_the_first_lines_of_text_documents(capsys: pytest.CaptureFixture[str],
                                                                        demo: Path) -> None:
    rc, out, _ = cf(capsys, "explain", OPTED_ITEM, "--show-evidence")
    assert rc == 0
    assert "    | id,file,title,creator,license,contract_id,sha256" in out
    assert "    | studio-session,media/studio-session.mp4,Studio session,Mara Lind,CC-BY-4.0," in out
    assert "(first 12 lines shown)" in out  # thirteen lines: the header and twelve items
    rc, plain, _ = cf(capsys, "explain", OPTED_ITEM)
    assert "| id,file" not in plain


def test_explain_unknown_candidate_exits_1_saying_what_was_searched(capsys: pytest.CaptureFixture[str],
                                                                   demo: Path) -> None:
    rc, out, err = cf(capsys, "explain", "delivery:NO-SUCH:item")
    assert rc == 1 and out == ""
    assert "no ledger row matches 'delivery:NO-SUCH:item'" in err
    assert candidate_key("delivery:NO-SUCH:item") in err
    assert "canonical_id in ['delivery:NO-SUCH:item']" in err
    assert "ledger part(s) under" in err and str(demo / "storage") in err
    assert "clearframe run SOURCE.yaml --json" in err

    rc, out, err = cf(capsys, "explain", candidate_key(NC_ITEM), "--source", "other_source", "--json")
    assert rc == 1
    assert json.loads(out)["error"] == "not-found" and json.loads(out)["parts"] == 0
    assert "sources with a ledger: demo_delivery" in err


def test_explain_refuses_a_malformed_source_name(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    rc, _, err = cf(capsys, "explain", NC_ITEM, "--source", "../etc")
    assert rc == 2 and "field '--source'" in err


def test_explain_runs_as_a_program(demo_home: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "clearframe.cli", "explain", candidate_key(OPTED_ITEM),
                           "--json"], capture_output=True, text=True, env=_env(demo_home), timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["canonical_id"] == OPTED_ITEM and data["decision"] == "deny"
    assert data["findings"][0]["registry"]["entry"]["requested_by"] == "demo seed"


# ----------------------------------------------------------------------------- a real http source

@pytest.fixture
def http_run(site: Site, cf_home: Settings, tmp_path: Path) -> dict[str, str]:
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    site.add("/media/a.mp4", b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4")
    ok = site.add("/v/ok", video_page("ok", "/media/a.mp4", license_url=CC_BY))
    private = site.add("/private/p", video_page("p", "/media/a.mp4", license_url=CC_BY))
    (tmp_path / "urls.txt").write_text(f"{ok}\n{private}\n")
    src = tmp_path / "site_http.yaml"
    src.write_text("name: site_http\nkind: http\nhttp:\n  urls: urls.txt\nfetch:\n  timeout_s: 5\n")
    assert main(["run", str(src), "--dry-run", "--json"]) == 0
    return {"ok": ok, "private": private, "robots": site.url("/robots.txt")}


def test_explain_url_of_robots_denied_page_names_rule_status_and_evidence(capsys: pytest.CaptureFixture[str],
                                                                          http_run: dict[str, str]) -> None:
    # Any spelling of the URL finds it: the canonical form names the candidate.
    spelled = http_run["private"].replace("http://", "HTTP://") + "#top"
    rc, out, err = cf(capsys, "explain", spelled, "--show-evidence")
    assert rc == 0, err
    assert out.startswith("DENY (denied)  url:" + http_run["private"])
    assert "  1. robots: deny" in out
    assert (f"     locator: {http_run['robots']}  HTTP status: 200  "
            "rule: User-agent: * / Disallow: /private/") in out
    assert "    | User-agent: *" in out and "    | Disallow: /private/" in out

    data = explain_json(capsys, http_run["private"])
    robots = data["findings"][0]
    assert (robots["signal"], robots["status"], robots["locator"]) == ("robots", 200, http_run["robots"])
    assert robots["evidence"]["present"]
    assert robots["evidence"]["key"] == evidence_key(robots["evidence"]["sha256"])

    allowed = explain_json(capsys, http_run["ok"])
    assert (allowed["decision"], allowed["status"]) == ("allow", "dry-run")
    assert allowed["license"]["spdx"] == "CC-BY-4.0" and allowed["license"]["found_in"] == "json-ld"


# ---------------------------------------------------------------------- hand-written ledger parts

def row(source: str, url: str, decision: str = "deny", run_id: str = "20260101T000000Z-aaaaaa",
        reasons: Any = None) -> LedgerRow:
    cid = f"url:{url}"
    return LedgerRow(run_id=run_id, batch_id="00000", source=source, key=candidate_key(cid), canonical_id=cid,
                     locator="urls.txt:1", url=url, media_url=None, decision=decision, status="denied",
                     reasons=reasons if reasons is not None else [
                         {"signal": "license", "verdict": "deny", "detail": "no license evidence",
                          "locator": None, "status": None, "rule": None, "evidence": None}],
                     license_raw=None, license_spdx=None, license_found_in=None, creator=None, title=None,
                     contract_id=None, policy_version="2026.11.1", decided_at="2026-01-01T00:00:00+00:00",
                     recorded_at="2026-01-01T00:00:00+00:00")


@pytest.fixture
def store(cf_home: Settings) -> Iterator[Any]:
    yield open_storage(cf_home.storage)


def test_a_url_listed_by_two_sources_is_ambiguous_and_lists_both(capsys: pytest.CaptureFixture[str],
                                                                 store: Any) -> None:
    url = "https://videos.example.org/v/1"
    for source in ("alpha", "beta"):
        write_ledger(store, ledger_key(source, "20260101T000000Z-aaaaaa", "00000"), [row(source, url)])
    rc, out, err = cf(capsys, "explain", url)
    assert rc == 2 and out == ""
    assert f"'{url}' matches 2 candidates" in err
    assert "source alpha" in err and "source beta" in err and "latest: deny (denied)" in err
    rc, out, _ = cf(capsys, "explain", url, "--json")
    assert sorted(m["source"] for m in json.loads(out)["matches"]) == ["alpha", "beta"]
    rc, out, _ = cf(capsys, "explain", url, "--source", "beta")
    assert rc == 0 and "source beta" in out


def test_the_latest_row_is_explained_and_earlier_ones_counted(capsys: pytest.CaptureFixture[str],
                                                             store: Any) -> None:
    url = "https://videos.example.org/v/2"
    later = row("alpha", url, decision="defer", run_id="20260301T000000Z-cccccc")
    later.recorded_at = later.decided_at = "2026-03-01T00:00:00+00:00"
    later.status = "deferred"
    # Written out of order, in separate parts: the order comes from the rows, not from listing order.
    write_ledger(store, ledger_key("alpha", "20260301T000000Z-cccccc", "00000"), [later])
    write_ledger(store, ledger_key("alpha", "20260101T000000Z-aaaaaa", "00000"), [row("alpha", url)])
    data = explain_json(capsys, url)
    assert (data["decision"], data["status"], data["run_id"]) == ("defer", "deferred",
                                                                  "20260301T000000Z-cccccc")
    assert [(e["decision"], e["run_id"]) for e in data["earlier"]] == [("deny", "20260101T000000Z-aaaaaa")]


def test_damaged_ledger_data_is_reported_never_hidden(capsys: pytest.CaptureFixture[str], store: Any) -> None:
    url = "https://videos.example.org/v/3"
    bad = row("alpha", url)
    write_ledger(store, ledger_key("alpha", "20260101T000000Z-aaaaaa", "00000"), [bad])
    store.put_bytes(ledger_key("alpha", "20260102T000000Z-bbbbbb", "00000"), b"PAR1 this is not parquet")
    rc, out, _ = cf(capsys, "explain", url)
    assert rc == 0
    part = ledger_key("alpha", "20260102T000000Z-bbbbbb", "00000")
    assert f"warning: unreadable ledger part: {part}" in out

    other = "https://videos.example.org/v/4"
    broken = row("alpha", other)
    write_ledger(store, ledger_key("alpha", "20260103T000000Z-dddddd", "00000"), [broken])
    # A reasons cell that is not JSON (written around write_ledger, which always encodes it).
    key = ledger_key("alpha", "20260103T000000Z-dddddd", "00000")
    table = pq.read_table(io.BytesIO(store.get_bytes(key)))
    table = table.set_column(table.schema.get_field_index("reasons"), "reasons",
                             pa.array(["{not json\x1b[31m"]))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    store.put_bytes(key, buf.getvalue())
    rc, out, _ = cf(capsys, "explain", other)
    assert rc == 0
    assert "warning: the row's reasons could not be read" in out
    assert "\x1b" not in out  # untrusted text cannot drive the terminal


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_candidate_parser_never_crashes(text: str) -> None:
    try:
        q = ops.parse_candidate(text)
    except ops.InputProblems as exc:
        assert not text.strip() and "CANDIDATE" in str(exc)
        return
    assert q.keys or q.urls  # something to search for, always
    assert all(len(k) == 24 for k in q.keys)
