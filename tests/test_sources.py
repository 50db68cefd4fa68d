"""Discover: URL lists and partner deliveries become candidates with stable, content-derived keys."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clearframe.config import Settings, Source, parse_source
from clearframe.errors import ConfigError
from clearframe.evidence import EvidenceStore, evidence_key
from clearframe.records import Candidate, candidate_key
from clearframe.sources import discover
from clearframe.sources.urllist import canonical_url
from clearframe.storage import open_storage

URLS = [f"https://videos.example.org/v/{i}" for i in range(20)]


def http_source(folder: Path, urls: str, **http: Any) -> Source:
    return parse_source({"name": "list", "kind": "http", "http": {"urls": urls, **http}},
                        str(folder / "list.yaml"))


def delivery_source(folder: Path, location: str, manifest: str = "manifest.csv",
                    contract_id: str | None = "SRC-CONTRACT") -> Source:
    acq = {"basis": "contract", "contract_id": contract_id, "covers_training": True} if contract_id else {}
    return parse_source({"name": "partner", "kind": "delivery", "acquisition": acq,
                         "delivery": {"location": location, "manifest": manifest}},
                        str(folder / "partner.yaml"))


def good(cands: list[Candidate]) -> list[Candidate]:
    return [c for c in cands if c.input_error is None]


# --------------------------------------------------------------------------------------- URL lists

def test_txt_list_skips_comments_and_blank_lines_and_locates_by_line(tmp_path: Path,
                                                                     cf_home: Settings) -> None:
    (tmp_path / "urls.txt").write_text(
        "# pages we have permission to crawl\n"
        "https://a.example/v/1\n"
        "\n"
        "   # an indented comment\n"
        "  https://a.example/v/2  \n"
        "https://b.example/v/3\n"
    )
    cands = discover(http_source(tmp_path, "urls.txt"), cf_home)
    assert [(c.url, c.locator) for c in cands] == [
        ("https://a.example/v/1", "urls.txt:2"),
        ("https://a.example/v/2", "urls.txt:5"),
        ("https://b.example/v/3", "urls.txt:6"),
    ]
    assert all(c.kind == "http" and c.source == "list" and c.input_error is None for c in cands)
    assert cands[0].canonical_id == "url:https://a.example/v/1"


def test_txt_list_with_byte_order_mark_reads_its_first_url(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "urls.txt").write_bytes(b"\xef\xbb\xbfhttps://a.example/v/1\nhttps://a.example/v/2\n")
    cands = discover(http_source(tmp_path, "urls.txt"), cf_home)
    assert [c.input_error for c in cands] == [None, None]
    assert cands[0].url == "https://a.example/v/1"


def test_csv_list_reads_the_url_column(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "urls.csv").write_text(
        'title,link\nOne,https://a.example/1\n"Two, quoted",https://a.example/2\n')
    cands = discover(http_source(tmp_path, "urls.csv", url_column="link"), cf_home)
    assert [(c.url, c.locator) for c in cands] == [("https://a.example/1", "urls.csv:2"),
                                                   ("https://a.example/2", "urls.csv:3")]


def test_csv_list_without_the_url_column_names_the_setting(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "urls.csv").write_text("title,link\nOne,https://a.example/1\n")
    with pytest.raises(ConfigError) as info:
        discover(http_source(tmp_path, "urls.csv"), cf_home)
    assert info.value.field == "http.url_column"
    assert "urls.csv has no column 'url'" in str(info.value)


def test_parquet_list_reads_the_url_column(tmp_path: Path, cf_home: Settings) -> None:
    pq.write_table(pa.table({"url": ["https://a.example/1", None, "https://a.example/2"], "n": [1, 2, 3]}),
                   tmp_path / "urls.parquet")
    cands = discover(http_source(tmp_path, "urls.parquet"), cf_home)
    assert [(c.url, c.locator) for c in good(cands)] == [("https://a.example/1", "urls.parquet:row0"),
                                                         ("https://a.example/2", "urls.parquet:row2")]
    [bad] = [c for c in cands if c.input_error]
    assert bad.locator == "urls.parquet:row1"


def test_missing_list_file_names_the_field(tmp_path: Path, cf_home: Settings) -> None:
    with pytest.raises(ConfigError) as info:
        discover(http_source(tmp_path, "nope.txt"), cf_home)
    assert info.value.field == "http.urls" and "nope.txt does not exist" in str(info.value)


def test_unknown_list_format_is_a_config_error(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "urls.xlsx").write_bytes(b"PK")
    with pytest.raises(ConfigError) as info:
        discover(http_source(tmp_path, "urls.xlsx"), cf_home)
    assert info.value.field == "http.format"


def test_malformed_lines_become_candidates_with_an_input_error(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "urls.txt").write_text(
        "https://a.example/ok\n"
        "not a url at all\n"
        "ftp://a.example/file\n"
        "https://a.example:99999/bad-port\n"
        "https://\n"
        "https://a.example/also-ok\n"
    )
    cands = discover(http_source(tmp_path, "urls.txt"), cf_home)
    assert len(cands) == 6  # nothing is dropped: a bad line is still a ledger row
    errors = {c.locator: c.input_error for c in cands if c.input_error}
    assert sorted(errors) == ["urls.txt:2", "urls.txt:3", "urls.txt:4", "urls.txt:5"]
    assert errors["urls.txt:2"].startswith("urls.txt:2: ")
    assert "whitespace" in errors["urls.txt:2"] or "scheme" in errors["urls.txt:2"]
    assert "'ftp' is not http or https" in errors["urls.txt:3"]
    assert "Port out of range" in errors["urls.txt:4"]
    assert "no host" in errors["urls.txt:5"]
    assert all("fix or remove the line" in e for e in errors.values())
    assert [c.url for c in good(cands)] == ["https://a.example/ok", "https://a.example/also-ok"]


def test_two_identical_bad_lines_stay_two_rows(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "urls.txt").write_text("oops\noops\n")
    cands = discover(http_source(tmp_path, "urls.txt"), cf_home)
    assert [c.locator for c in cands] == ["urls.txt:1", "urls.txt:2"]


@pytest.mark.parametrize("variant", [
    "https://Videos.Example.ORG/v/1",
    "HTTPS://videos.example.org/v/1",
    "https://videos.example.org:443/v/1",
    "https://videos.example.org/v/1#t=30",
    "  https://videos.example.org/v/1",
])
def test_spellings_of_one_url_share_a_canonical_id(variant: str) -> None:
    assert canonical_url(variant) == canonical_url("https://videos.example.org/v/1")


@pytest.mark.parametrize(("a", "b"), [
    ("https://videos.example.org/v/1", "http://videos.example.org/v/1"),
    ("https://videos.example.org/v/1", "https://videos.example.org:8443/v/1"),
    ("https://videos.example.org/v/1", "https://videos.example.org/v/1?lang=de"),
    ("https://videos.example.org/v/1", "https://videos.example.org/V/1"),  # paths are case-sensitive
    ("http://[::1]:8080/v", "http://[::1:8080]/v"),  # an IPv6 host keeps its brackets
])
def test_different_resources_keep_different_canonical_ids(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


def test_discover_dedupes_by_canonical_id_keeping_first(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "urls.txt").write_text(
        "https://videos.example.org/v/1\n"
        "https://VIDEOS.example.org/v/1\n"
        "https://videos.example.org:443/v/1#comments\n"
        "https://videos.example.org/v/1\n"
        "http://videos.example.org:80/v/2\n"
        "http://videos.example.org/v/2\n"
    )
    cands = discover(http_source(tmp_path, "urls.txt"), cf_home)
    assert [(c.locator, c.canonical_id) for c in cands] == [
        ("urls.txt:1", "url:https://videos.example.org/v/1"),
        ("urls.txt:5", "url:http://videos.example.org/v/2"),
    ]


def test_keys_derive_from_canonical_ids_not_positions(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "a.txt").write_text("\n".join(URLS) + "\n")
    shuffled = URLS[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != URLS
    (tmp_path / "b.txt").write_text("# shuffled and spelled differently\n"
                                    + "\n".join(u.replace("videos.example.org", "Videos.Example.org:443")
                                                for u in shuffled) + "\n")
    a = discover(http_source(tmp_path, "a.txt"), cf_home)
    b = discover(http_source(tmp_path, "b.txt"), cf_home)
    assert len(a) == len(b) == len(URLS)
    assert {c.key for c in a} == {c.key for c in b}
    assert {c.canonical_id: c.key for c in a} == {c.canonical_id: c.key for c in b}
    assert all(c.key == candidate_key(c.canonical_id) for c in a)
    # Adding a line at the top moves every position but no key.
    (tmp_path / "c.txt").write_text("https://new.example/v/0\n" + "\n".join(URLS) + "\n")
    c = discover(http_source(tmp_path, "c.txt"), cf_home)
    assert {x.key for x in a} < {x.key for x in c}


def test_list_is_stored_as_evidence_and_candidates_refer_to_it(tmp_path: Path, cf_home: Settings) -> None:
    body = "https://a.example/1\nnot a url\n"
    (tmp_path / "urls.txt").write_text(body)
    store = open_storage(str(tmp_path / "storage"))
    cands = discover(http_source(tmp_path, "urls.txt"), cf_home, store_evidence=EvidenceStore(store).put)
    digest = hashlib.sha256(body.encode()).hexdigest()
    assert [c.listed_in for c in cands] == [digest, digest]
    assert store.get_bytes(evidence_key(digest)) == body.encode()


def test_without_an_evidence_store_nothing_is_referenced(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "urls.txt").write_text("https://a.example/1\n")
    assert [c.listed_in for c in discover(http_source(tmp_path, "urls.txt"), cf_home)] == [None]


# ------------------------------------------------------------------------------------- deliveries

MANIFEST_CSV = (
    "id,file,title,creator,license,contract_id,sha256\n"
    "clip-1,media/clip-1.mp4,First clip,Ines Duarte,CC-BY-4.0,,ABCDEF\n"
    "clip-2,media/clip-2.mp4,Second clip,Kofi Mensah,CC0-1.0,ROW-CONTRACT-9,\n"
    "clip-3,media/clip-3.mp4,,,https://creativecommons.org/licenses/by/4.0/,,\n"
)


def test_delivery_folder_with_csv_manifest(tmp_path: Path, cf_home: Settings) -> None:
    folder = tmp_path / "deliveries" / "acme"
    folder.mkdir(parents=True)
    (folder / "manifest.csv").write_text(MANIFEST_CSV)
    src = delivery_source(tmp_path, "deliveries/acme")
    cands = discover(src, cf_home)
    assert [c.video_id for c in cands] == ["clip-1", "clip-2", "clip-3"]
    assert [c.locator for c in cands] == ["manifest.csv:2", "manifest.csv:3", "manifest.csv:4"]
    c1, c2, c3 = cands
    assert c1.kind == "delivery" and c1.input_error is None
    assert c1.url == (folder / "media" / "clip-1.mp4").resolve().as_uri()
    assert (c1.title, c1.creator) == ("First clip", "Ines Duarte")
    assert c1.license is not None and c1.license.spdx == "CC-BY-4.0" and c1.license.found_in == "manifest"
    assert c1.sha256 == "abcdef"  # declared digests are compared lower-case after fetch
    assert c3.license is not None and c3.license.spdx == "CC-BY-4.0"  # a licence URL is normalised
    assert (c3.title, c3.creator, c3.sha256) == (None, None, None)
    # Contract: a row's own id wins over the source's default; the id is part of the canonical id.
    assert [c.contract_id for c in cands] == ["SRC-CONTRACT", "ROW-CONTRACT-9", "SRC-CONTRACT"]
    assert c1.canonical_id == "delivery:SRC-CONTRACT:clip-1"
    assert c2.canonical_id == "delivery:ROW-CONTRACT-9:clip-2"


def test_delivery_without_any_contract_id_uses_the_source_name(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "manifest.csv").write_text("id,file,license\nx,x.mp4,CC0-1.0\n")
    [c] = discover(delivery_source(tmp_path, ".", contract_id=None), cf_home)
    assert c.contract_id is None and c.canonical_id == "delivery:partner:x"


def test_delivery_keys_do_not_depend_on_manifest_order(tmp_path: Path, cf_home: Settings) -> None:
    lines = MANIFEST_CSV.splitlines()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "manifest.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "b" / "manifest.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    a = discover(delivery_source(tmp_path, "a"), cf_home)
    b = discover(delivery_source(tmp_path, "b"), cf_home)
    assert [c.video_id for c in a] != [c.video_id for c in b]
    assert {c.video_id: c.key for c in a} == {c.video_id: c.key for c in b}


def test_delivery_folder_with_jsonl_manifest_and_a_bad_line(tmp_path: Path, cf_home: Settings) -> None:
    rows = [
        json.dumps({"id": "j-1", "file": "j-1.mp4", "license": "CC-BY-4.0", "creator": "Lea Novak"}),
        "{this is not json",
        "",
        json.dumps(["a", "list"]),
        json.dumps({"id": "j-2", "file": "j-2.mp4", "license": ""}),
        json.dumps({"id": "j-3", "file": "j-3.mp4", "license": "CC0-1.0", "contract_id": "ROW-7"}),
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(rows) + "\n")
    cands = discover(delivery_source(tmp_path, ".", manifest="manifest.jsonl"), cf_home)
    by_loc = {c.locator: c for c in cands}
    assert sorted(by_loc) == ["manifest.jsonl:1", "manifest.jsonl:2", "manifest.jsonl:4",
                              "manifest.jsonl:5", "manifest.jsonl:6"]
    first, last = by_loc["manifest.jsonl:1"], by_loc["manifest.jsonl:6"]
    assert first.input_error is None and first.creator == "Lea Novak"
    assert last.input_error is None and last.contract_id == "ROW-7"
    bad = by_loc["manifest.jsonl:2"].input_error
    assert bad is not None and f"{tmp_path}/manifest.jsonl:2" in bad and "not valid JSON" in bad
    assert "not a JSON object" in (by_loc["manifest.jsonl:4"].input_error or "")
    assert "field 'license' is empty" in (by_loc["manifest.jsonl:5"].input_error or "")
    assert all(by_loc[f"manifest.jsonl:{n}"].url is None for n in (2, 4, 5))


def test_jsonl_numbers_where_text_is_expected_do_not_break_discovery(tmp_path: Path,
                                                                     cf_home: Settings) -> None:
    rows = [
        {"id": 101, "file": "a.mp4", "license": "CC-BY-4.0", "contract_id": 2026, "creator": 7},
        {"id": "b", "file": "b.mp4", "license": "CC0-1.0", "title": {"nested": True}},
        {"id": "c", "file": "c.mp4", "license": "CC0-1.0"},
    ]
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    a, b, c = discover(delivery_source(tmp_path, ".", manifest="manifest.jsonl"), cf_home)
    assert a.input_error is None
    assert (a.video_id, a.contract_id, a.creator) == ("101", "2026", "7")
    assert a.canonical_id == "delivery:2026:101"
    assert b.input_error is not None and "'title'" in b.input_error
    assert c.input_error is None


def test_csv_manifest_missing_a_required_column_names_manifest_and_column(tmp_path: Path,
                                                                          cf_home: Settings) -> None:
    (tmp_path / "manifest.csv").write_text("id,file,title\nx,x.mp4,X\n")
    with pytest.raises(ConfigError) as info:
        discover(delivery_source(tmp_path, "."), cf_home)
    err = info.value
    assert err.path == f"{tmp_path.resolve()}/manifest.csv"
    assert err.field == "license"
    assert "manifest.csv" in str(err) and "'license'" in str(err)
    assert "id, file, license" in str(err)  # says what a manifest needs


def test_csv_manifest_with_byte_order_mark_is_read(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "manifest.csv").write_bytes(b"\xef\xbb\xbf" + MANIFEST_CSV.encode())
    cands = discover(delivery_source(tmp_path, "."), cf_home)
    assert [c.video_id for c in cands] == ["clip-1", "clip-2", "clip-3"]


def test_csv_manifest_row_with_empty_required_field_is_an_input_error(tmp_path: Path,
                                                                      cf_home: Settings) -> None:
    (tmp_path / "manifest.csv").write_text("id,file,license\nx,x.mp4,CC0-1.0\ny,,CC0-1.0\nz,z.mp4\n")
    x, y, z = discover(delivery_source(tmp_path, "."), cf_home)
    assert x.input_error is None
    assert y.input_error and "manifest.csv:3" in y.input_error and "'file' is empty" in y.input_error
    assert z.input_error and "manifest.csv:4" in z.input_error and "'license' is empty" in z.input_error


def test_missing_manifest_is_a_config_error_naming_the_location(tmp_path: Path, cf_home: Settings) -> None:
    with pytest.raises(ConfigError) as info:
        discover(delivery_source(tmp_path, "empty-folder"), cf_home)
    assert info.value.field == "delivery.location"
    assert "manifest.csv" in str(info.value) and "empty-folder" in str(info.value)


def test_delivery_manifest_is_stored_as_evidence(tmp_path: Path, cf_home: Settings) -> None:
    (tmp_path / "manifest.csv").write_text(MANIFEST_CSV)
    store = open_storage(str(tmp_path / "storage"))
    cands = discover(delivery_source(tmp_path, "."), cf_home, store_evidence=EvidenceStore(store).put)
    digest = hashlib.sha256(MANIFEST_CSV.encode()).hexdigest()
    assert {c.listed_in for c in cands} == {digest}
    assert EvidenceStore(store).get(digest) == MANIFEST_CSV.encode()


def test_delivery_from_an_s3_prefix(tmp_path: Path, cf_home: Settings, s3_endpoint: str) -> None:
    delivery = open_storage("s3://cf-test/deliveries/acme/2026-01")
    delivery.put_bytes("manifest.csv", MANIFEST_CSV.encode())
    delivery.put_bytes("media/clip-1.mp4", b"not really a clip")
    evidence = open_storage("s3://cf-test/cf")
    src = delivery_source(tmp_path, "s3://cf-test/deliveries/acme/2026-01")

    cands = discover(src, cf_home, store_evidence=EvidenceStore(evidence).put)

    assert [c.video_id for c in cands] == ["clip-1", "clip-2", "clip-3"]
    assert cands[0].url == "s3://cf-test/deliveries/acme/2026-01/media/clip-1.mp4"
    digest = hashlib.sha256(MANIFEST_CSV.encode()).hexdigest()
    assert {c.listed_in for c in cands} == {digest}
    assert evidence.get_bytes(evidence_key(digest)) == MANIFEST_CSV.encode()


def test_delivery_from_an_s3_prefix_without_manifest_names_the_location(tmp_path: Path, cf_home: Settings,
                                                                        s3_endpoint: str) -> None:
    with pytest.raises(ConfigError) as info:
        discover(delivery_source(tmp_path, "s3://cf-test/deliveries/none"), cf_home)
    assert info.value.field == "delivery.location"
    assert "s3://cf-test/deliveries/none" in str(info.value)
