"""`clearframe optout ...` and `clearframe blocked ...`: operating the registry, every change audited.

Real registries: a SQLite file under an isolated CLEARFRAME_HOME, and Postgres (the `postgres_url` fixture)
for the import path. The CLI runs through `clearframe.cli.main([...])`, and once as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from clearframe import ops
from clearframe.cli import main
from clearframe.config import Settings
from clearframe.gate import registry_findings
from clearframe.gate.registry import BLOCKED_KIND, KINDS, Registry, normalize
from clearframe.records import Candidate, Probe, Verdict
from support.services import postgres_url  # noqa: F401  (fixture)

SHA = "9c9503d32f8f6115e4180bec0b783da77fa0fbc62a8491bc09dee31bb27bd61c"


def cf(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def reg(cf_home: Settings) -> Iterator[Registry]:
    """The registry the CLI writes to (same URL), for asserting what is really stored."""
    r = Registry(cf_home.registry_url)
    try:
        yield r
    finally:
        r.close()


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def cand(url: str = "https://videos.example.org/v/1", channel: str | None = None) -> Candidate:
    return Candidate(source="s", kind="http", canonical_id=f"url:{url}", url=url, locator="urls.txt:1",
                     channel=channel)


# ------------------------------------------------------------------------------------- add / remove

def test_optout_add_stores_who_when_why_and_lists_it(capsys: pytest.CaptureFixture[str],
                                                     reg: Registry) -> None:
    rc, out, _ = cf(capsys, "optout", "add", "creator", "  Mara   LIND ", "--by", "mara@example.org",
                    "--reason", "asked by email, ticket 42")
    assert rc == 0
    assert "added: creator 'mara lind'" in out and "mara@example.org" in out
    [e] = reg.entries("creator")
    assert (e.value, e.requested_by, e.reason) == ("mara lind", "mara@example.org",
                                                   "asked by email, ticket 42")

    rc, out, _ = cf(capsys, "optout", "list")
    assert rc == 0
    assert "creator 'mara lind': requested by mara@example.org on " in out and "ticket 42" in out
    rc, out, _ = cf(capsys, "optout", "list", "--json")
    [row] = json.loads(out)
    assert row["requested_by"] == "mara@example.org" and row["created_at"].endswith("+00:00")


def test_optout_add_twice_changes_nothing_and_keeps_the_first_request(capsys: pytest.CaptureFixture[str],
                                                                      reg: Registry) -> None:
    assert cf(capsys, "optout", "add", "video", "dQw4w9WgXcQ", "--by", "first", "--reason", "one")[0] == 0
    rc, out, _ = cf(capsys, "optout", "add", "video", " dQw4w9WgXcQ ", "--by", "second", "--reason", "two")
    assert rc == 0
    assert "already in the registry, nothing changed" in out and "first" in out
    assert [(e.requested_by, e.reason) for e in reg.entries("video")] == [("first", "one")]
    assert [ev.action for ev in reg.events()] == ["add"]  # a no-op is not a change


def test_optout_remove_is_audited_with_the_entry_it_removed(capsys: pytest.CaptureFixture[str],
                                                           reg: Registry) -> None:
    cf(capsys, "optout", "add", "domain", "www.opted-out.example", "--by", "site owner", "--reason", "ai.txt")
    rc, out, _ = cf(capsys, "optout", "remove", "domain", "OPTED-OUT.example", "--by", "legal",
                    "--reason", "owner withdrew the request, ticket 7")
    assert rc == 0 and "removed: domain 'opted-out.example'" in out
    assert reg.entries("domain") == []

    add, remove = reg.events(["domain"])
    assert (add.action, add.requested_by, add.reason, add.origin) == ("add", "site owner", "ai.txt",
                                                                      "command line")
    assert (remove.action, remove.value, remove.requested_by) == ("remove", "opted-out.example", "legal")
    assert remove.reason == "owner withdrew the request, ticket 7"
    assert remove.previous is not None and remove.previous["requested_by"] == "site owner"
    assert remove.previous["reason"] == "ai.txt"

    rc, out, _ = cf(capsys, "optout", "list", "--history")
    assert rc == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert " add " in lines[0] and "by site owner: ai.txt" in lines[0]
    assert " remove " in lines[1] and "by legal: owner withdrew" in lines[1]
    assert "entry was requested by site owner" in lines[1]


def test_optout_remove_of_an_absent_entry_exits_1_and_records_nothing(capsys: pytest.CaptureFixture[str],
                                                                      reg: Registry) -> None:
    rc, out, err = cf(capsys, "optout", "remove", "creator", "Nobody", "--by", "x", "--reason", "y")
    assert rc == 1 and out == ""
    assert "not in the registry: creator 'Nobody'" in err
    assert reg.events() == []


@pytest.mark.parametrize(("kind", "value", "says"), [
    ("person", "Mara", "unknown kind 'person'"),
    ("domain", "https://www.example.com/videos",
     "is a URL, not a domain: give the host name only (www.example.com)"),
    ("domain", "*.example.com", "drop the '*.'"),
    ("domain", "192.168.1.10", "IP address"),
    ("domain", "example.com:8080", "port"),
    ("domain", "exa_mple.com", "not a host name label"),
    ("domain", "bad-.example", "not a host name label"),
    ("domain", "localhost", "single label"),
    ("domain", "www.com", "top-level domain alone"),
    ("domain", "a" * 64 + ".example", "not a host name label"),
    ("hash", "abc123", "not a SHA-256 digest"),
    ("url", "ftp://example.com/v", "scheme 'ftp' is not http or https"),
    ("url", "example.com/v", "scheme"),
    ("creator", "   ", "is empty"),
])
def test_optout_add_refuses_malformed_values_naming_the_field(capsys: pytest.CaptureFixture[str],
                                                             reg: Registry,
                                                             kind: str, value: str, says: str) -> None:
    rc, out, err = cf(capsys, "optout", "add", kind, value, "--by", "ops", "--reason", "test")
    assert rc == 2 and out == ""
    assert "command line: field '" in err and says in err
    assert reg.entries() == [] and reg.events() == []


def test_optout_add_needs_who_and_why(capsys: pytest.CaptureFixture[str], reg: Registry) -> None:
    with pytest.raises(SystemExit) as info:
        main(["optout", "add", "creator", "Mara Lind", "--by", "x"])  # argparse: --reason is required
    assert info.value.code == 2
    rc, _, err = cf(capsys, "optout", "add", "creator", "Mara Lind", "--by", "  ", "--reason", "why")
    assert rc == 2 and "field '--by'" in err
    rc, _, err = cf(capsys, "optout", "add", "creator", "Mara Lind", "--by", "x", "--reason", " ")
    assert rc == 2 and "field '--reason'" in err
    assert reg.entries() == []


def test_hash_entries_accept_the_sha256_prefix_and_any_case(capsys: pytest.CaptureFixture[str],
                                                            reg: Registry) -> None:
    assert cf(capsys, "optout", "add", "hash", "sha256:" + SHA.upper(), "--by", "x", "--reason", "y")[0] == 0
    assert [e.value for e in reg.entries("hash")] == [SHA]
    assert reg.lookup({"hash": [SHA]})


def test_a_complaint_against_a_channel_denies_its_future_candidates(capsys: pytest.CaptureFixture[str],
                                                                    reg: Registry) -> None:
    rc, _, _ = cf(capsys, "optout", "add", "channel", "Some Channel", "--by", "legal@example.org",
                  "--reason", "complaint #123")
    assert rc == 0
    [found, other] = registry_findings(reg, [(cand(channel="SOME  channel"), Probe()),
                                             (cand(url="https://videos.example.org/v/2", channel="Another"),
                                              Probe())])
    [f] = found
    assert (f.signal, f.verdict, f.rule) == ("registry", Verdict.DENY, "optout:channel")
    assert "complaint #123" in f.detail and "legal@example.org" in f.detail
    assert other == []


def test_optout_help_says_how_to_register_a_complaint(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["optout", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "complaint" in out and 'optout add channel "Some Channel"' in out
    for kind in KINDS:
        assert f"  {kind}" in out


# ------------------------------------------------------------------------------------------- import

GOOD = f"""kind,value,requested_by,reason
creator,Mara Lind,mara@example.org,asked by email
channel,"Chan, Inc.",legal@example.org,complaint #123
domain,www.Opted-Out.example,site owner,ai.txt disallows
url,https://videos.example.org/v/7#t=3,takedown desk,takedown 99
hash,sha256:{SHA},partner,duplicate of a withdrawn clip
video,dQw4w9WgXcQ,takedown desk,
"""


def test_import_adds_every_row_then_is_idempotent(capsys: pytest.CaptureFixture[str], reg: Registry,
                                                  tmp_path: Path) -> None:
    f = write(tmp_path / "optouts.csv", GOOD)
    rc, out, err = cf(capsys, "optout", "import", str(f), "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert (report["added"], report["already_present"]) == (6, 0)
    stored = {(e.kind, e.value): e for e in reg.entries()}
    assert sorted(stored) == sorted([("creator", "mara lind"), ("channel", "chan, inc."),
                                     ("domain", "opted-out.example"),
                                     ("url", "https://videos.example.org/v/7"),
                                     ("hash", SHA), ("video", "dQw4w9WgXcQ")])
    assert stored[("channel", "chan, inc.")].reason == "complaint #123"
    assert stored[("video", "dQw4w9WgXcQ")].reason == "bulk import from optouts.csv (no reason given)"
    events = reg.events()
    assert [e.action for e in events] == ["import"] * 6
    assert events[1].origin == f"{f}:3" and events[1].requested_by == "legal@example.org"

    rc, out, _ = cf(capsys, "optout", "import", str(f))
    assert rc == 0
    assert out.strip() == f"{f}: 0 added, 6 already present"
    assert len(reg.events()) == 6  # nothing changed, nothing recorded


def test_import_reports_added_versus_already_present(capsys: pytest.CaptureFixture[str], reg: Registry,
                                                     tmp_path: Path) -> None:
    reg.add("creator", "Mara Lind", requested_by="earlier", reason="first request")
    f = write(tmp_path / "more.csv",
              "kind,value\ncreator,MARA LIND\ncreator,Ada Example\ncreator,ada  example\n")
    rc, out, _ = cf(capsys, "optout", "import", str(f), "--by", "privacy desk",
                    "--reason", "batch of 2026-11")
    assert rc == 0
    assert out.strip() == f"{f}: 1 added, 1 already present, 1 repeated within the file ({f}:4)"
    entries = {e.value: e for e in reg.entries("creator")}
    assert (entries["mara lind"].requested_by, entries["mara lind"].reason) == ("earlier", "first request")
    assert (entries["ada example"].requested_by, entries["ada example"].reason) == ("privacy desk",
                                                                                    "batch of 2026-11")


def test_import_refuses_the_whole_file_naming_file_line_and_field(capsys: pytest.CaptureFixture[str],
                                                                  reg: Registry, tmp_path: Path) -> None:
    f = write(tmp_path / "bad.csv", "kind,value,requested_by,reason\n"
              "creator,Fine Person,x@example.org,ok\n"
              "person,Bob,x,y\n"
              "domain,https://piracy.example/x,x,y\n"
              "hash,not-a-digest,x,y\n"
              "video,,x,y\n"
              "creator,Someone,,no requester\n"
              "url,https://videos.example.org/v/1,x,y,extra\n")
    rc, out, err = cf(capsys, "optout", "import", str(f))
    assert rc == 2 and out == ""
    assert f"nothing was imported from {f}" in err
    assert f"{f}:3: field 'kind': unknown kind 'person'" in err
    assert f"{f}:4: field 'value': 'https://piracy.example/x' is a URL, not a domain" in err
    assert f"{f}:5: field 'value': 'not-a-digest' is not a SHA-256 digest" in err
    assert f"{f}:6: field 'value': is empty" in err
    assert f"{f}:7: field 'requested_by': is empty" in err and "--by" in err
    assert f"{f}:8: has 5 fields but the header has 4" in err
    assert f"{f}:2" not in err  # the good row is not blamed
    assert reg.entries() == [] and reg.events() == []  # nothing half-imported


@pytest.mark.parametrize(("content", "says"), [
    (b"", "bad.csv:1: the file is empty"),
    (b"kind,value,requested_by,reasn\ncreator,A,b,c\n",
     "bad.csv:1: field 'reasn': unknown column: did you mean 'reason'?"),
    (b"kind;value;requested_by;reason\ncreator;A;b;c\n", "separate columns with commas"),
    (b"kind,value,kind\ncreator,A,creator\n", "field 'kind': column appears twice"),
    (b"value,requested_by\nA,b\n", "bad.csv:1: field 'kind': required column is missing"),
    (b"kind,value\ncreator,A\n", "bad.csv:1: field 'requested_by': column is missing and --by was not given"),
    (b"kind,value,requested_by\ncreator,\"Mara,x\n", "is not valid CSV"),
    (b"kind,value,requested_by\ncreator,Mara,x\ncreator,J\xe9r\xf4me,x\n", "bad.csv:3: is not UTF-8 text"),
])
def test_import_refuses_malformed_files_saying_what_to_do(capsys: pytest.CaptureFixture[str], reg: Registry,
                                                          tmp_path: Path, content: bytes, says: str) -> None:
    f = write(tmp_path / "bad.csv", content)
    rc, _, err = cf(capsys, "optout", "import", str(f))
    assert rc == 2
    assert says in err
    assert reg.entries() == []


def test_import_of_a_missing_file_exits_2_naming_it(capsys: pytest.CaptureFixture[str], cf_home: Settings,
                                                    tmp_path: Path) -> None:
    rc, _, err = cf(capsys, "optout", "import", str(tmp_path / "nope.csv"), "--by", "x")
    assert rc == 2 and f"{tmp_path / 'nope.csv'}: cannot read the file" in err


def test_import_accepts_bom_crlf_quotes_and_blank_lines(capsys: pytest.CaptureFixture[str], reg: Registry,
                                                        tmp_path: Path) -> None:
    text = ('\ufeffKind,Value,Requested_By,Reason\r\n\r\n'
            'creator,"Jérôme ""JJ"" Dupont",jj@example.org,"asked, politely"\r\n'
            'domain,bücher.example,legal,IDN\r\n')
    f = write(tmp_path / "excel.csv", text.encode("utf-8"))
    rc, out, err = cf(capsys, "optout", "import", str(f))
    assert rc == 0, err
    entries = {e.kind: e for e in reg.entries()}
    assert entries["creator"].value == 'jérôme "jj" dupont' and entries["creator"].reason == "asked, politely"
    assert entries["domain"].value == "xn--bcher-kva.example"  # one spelling: what URLs carry
    assert [ev.origin for ev in reg.events()] == [f"{f}:3", f"{f}:4"]  # the blank line counts
    # Both spellings of the internationalised host are covered.
    found = registry_findings(reg, [(cand(url="https://bücher.example/v/1"), Probe()),
                                    (cand(url="https://www.xn--bcher-kva.example/v/2"), Probe())])
    assert [[f.rule for f in fs] for fs in found] == [["optout:domain"], ["optout:domain"]]


def test_import_is_all_or_nothing_when_the_database_fails_midway(reg: Registry, tmp_path: Path) -> None:
    f = write(tmp_path / "optouts.csv", GOOD)

    def fail_on_events(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "cf_registry_events" in statement and statement.lstrip().upper().startswith("INSERT"):
            raise RuntimeError("disk full")

    event.listen(reg.engine, "before_cursor_execute", fail_on_events)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            ops.import_optouts(reg, f)
    finally:
        event.remove(reg.engine, "before_cursor_execute", fail_on_events)
    assert reg.entries() == [] and reg.events() == []  # the entries went back with the failed audit rows
    assert len(ops.import_optouts(reg, f).result.added) == 6


@pytest.mark.services
def test_import_into_postgres_is_atomic_idempotent_and_audited(capsys: pytest.CaptureFixture[str],
                                                              postgres_url: str,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.setenv("CLEARFRAME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLEARFRAME_REGISTRY_URL", postgres_url)
    bad = write(tmp_path / "bad.csv", GOOD + "domain,not a domain,x,y\n")
    rc, _, err = cf(capsys, "optout", "import", str(bad))
    assert rc == 2 and f"{bad}:8: field 'value'" in err

    reg = Registry(postgres_url)
    try:
        assert reg.entries() == [] and reg.events() == []
        good = write(tmp_path / "good.csv", GOOD)
        rc, out, _ = cf(capsys, "optout", "import", str(good), "--json")
        assert rc == 0 and json.loads(out)["added"] == 6
        rc, out, _ = cf(capsys, "optout", "import", str(good), "--json")
        assert rc == 0 and (json.loads(out)["added"], json.loads(out)["already_present"]) == (0, 6)
        assert len(reg.entries()) == 6
        assert [e.action for e in reg.events()] == ["import"] * 6
        assert all(e.at.tzinfo is not None for e in reg.events())
        rc, _, _ = cf(capsys, "optout", "remove", "channel", "chan, inc.", "--by", "legal", "--reason",
                      "complaint #123 withdrawn")
        assert rc == 0
        last = reg.events()[-1]
        assert (last.action, last.kind, last.previous and last.previous["reason"]) == (
            "remove", "channel", "complaint #123")
    finally:
        reg.close()


# ------------------------------------------------------------------------------------------ blocked

def test_blocked_add_list_remove_and_history(capsys: pytest.CaptureFixture[str], reg: Registry) -> None:
    rc, out, _ = cf(capsys, "blocked", "add", "WWW.Piracy.example", "--by", "trust & safety",
                    "--reason", "pirated uploads")
    assert rc == 0 and "blocked: domain piracy.example" in out
    assert list(reg.blocked(["cdn.piracy.example"])) == ["piracy.example"]
    rc, out, _ = cf(capsys, "blocked", "list")
    assert "domain piracy.example: requested by trust & safety" in out and "pirated uploads" in out

    rc, out, _ = cf(capsys, "blocked", "remove", "piracy.example", "--by", "legal",
                    "--reason", "court order lifted")
    assert rc == 0 and reg.blocked(["piracy.example"]) == {}
    rc, out, _ = cf(capsys, "blocked", "remove", "piracy.example", "--by", "legal", "--reason", "again")
    assert rc == 1

    rc, out, _ = cf(capsys, "blocked", "list", "--history", "--json")
    events = json.loads(out)
    assert [(e["action"], e["kind"], e["value"]) for e in events] == [
        ("block", BLOCKED_KIND, "piracy.example"), ("unblock", BLOCKED_KIND, "piracy.example")]
    assert events[1]["previous"]["requested_by"] == "trust & safety"
    assert events[1]["reason"] == "court order lifted"
    # Opt-out history and blocked-domain history are kept apart.
    assert cf(capsys, "optout", "list", "--history")[1].strip() == "(no changes recorded)"


def test_blocked_import_checks_every_domain_then_blocks_them(capsys: pytest.CaptureFixture[str],
                                                             reg: Registry,
                                                             tmp_path: Path) -> None:
    bad = write(tmp_path / "blocked.csv", "domain,requested_by,reason\npiracy.example,t&s,known\n"
                "http://warez.example/,t&s,known\n")
    rc, _, err = cf(capsys, "blocked", "import", str(bad))
    assert rc == 2 and f"{bad}:3: field 'domain': 'http://warez.example/' is a URL" in err
    assert reg.blocked_entries() == []

    good = write(tmp_path / "blocked.csv", "domain\npiracy.example\nwarez.example\n")
    rc, out, _ = cf(capsys, "blocked", "import", str(good), "--by", "trust & safety",
                    "--reason", "piracy list v3")
    assert rc == 0 and out.strip() == f"{good}: 2 added, 0 already present"
    assert sorted(reg.blocked(["a.piracy.example", "warez.example", "fine.example"])) == [
        "piracy.example", "warez.example"]
    [f] = registry_findings(reg, [(cand(url="https://cdn.warez.example/v/1"), Probe())])[0]
    assert (f.verdict, f.rule) == (Verdict.DENY, "blocked-domain") and "piracy list v3" in f.detail


# --------------------------------------------------------------------------------------- subprocess

def test_optout_commands_work_as_a_program(cf_home: Settings, tmp_path: Path) -> None:
    f = write(tmp_path / "optouts.csv", GOOD)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "clearframe.cli", *args], capture_output=True, text=True,
                              env=os.environ.copy(), timeout=120)

    proc = run("optout", "import", str(f), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["added"] == 6
    proc = run("optout", "list", "--kind", "channel", "--json")
    assert [e["value"] for e in json.loads(proc.stdout)] == ["chan, inc."]
    proc = run("optout", "add", "domain", "https://x.example/", "--by", "a", "--reason", "b")
    assert proc.returncode == 2 and "field 'VALUE'" in proc.stderr and proc.stdout == ""
    reg = Registry(cf_home.registry_url)
    try:
        assert len(reg.entries()) == 6
    finally:
        reg.close()


# ----------------------------------------------------------------------------------------- property

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=400))
def test_import_reader_never_crashes_and_only_returns_valid_rows(tmp_path: Path, text: str) -> None:
    f = tmp_path / "fuzz.csv"
    f.write_text("kind,value,requested_by,reason\n" + text, encoding="utf-8", newline="")
    try:
        rows = ops.read_optout_csv(f)
    except ops.InputProblems as exc:
        assert exc.problems and all(str(p).startswith(str(f)) for p in exc.problems)
        return
    for r in rows:
        assert r.kind in KINDS
        assert ops.value_problem(r.kind, r.value) is None and normalize(r.kind, r.value)
        assert r.requested_by.strip()


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=80), st.from_regex(r"[a-zA-Z0-9.*:/_-]{1,40}", fullmatch=True)))
def test_domain_check_never_crashes_and_accepted_domains_match_their_subdomains(value: str) -> None:
    problem = ops.domain_problem(value)
    assert problem is None or isinstance(problem, str)
    if problem is None:
        norm = normalize("domain", value)
        assert norm and " " not in norm and "/" not in norm
        from clearframe.gate.registry import domain_suffixes

        assert norm in domain_suffixes(f"cdn.{norm}")


def test_a_failing_registry_database_exits_3_and_says_nothing_changed(
        capsys: pytest.CaptureFixture[str], reg: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    def broken(self: Registry, *args: object, **kw: object) -> bool:
        raise OperationalError("INSERT INTO cf_optouts ...", {}, Exception("database is locked"))

    monkeypatch.setattr(Registry, "add", broken)
    rc, out, err = cf(capsys, "optout", "add", "creator", "Mara Lind", "--by", "x", "--reason", "y")
    assert rc == 3 and out == ""
    assert "database is locked" in err and "nothing was changed" in err and "registry.sqlite" in err
