"""End to end: `clearframe run` on an http source served from a real local site, writing to moto's S3."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clearframe.config import Settings
from clearframe.gate.licenses import LicensePolicy, evaluate
from clearframe.gate.registry import Registry
from clearframe.ledger import read_ledger
from clearframe.records import LicenseInfo, Verdict
from clearframe.storage import open_storage
from support.site import Site, video_page

CC_BY = "https://creativecommons.org/licenses/by/4.0/"
CC_BY_NC = "https://creativecommons.org/licenses/by-nc/4.0/"


def build_site(site: Site, clips: dict[str, Path]) -> list[str]:
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    urls = []
    for i in range(1, 4):
        site.add_media(f"/media/ok{i}.mp4", clips[f"clip{i}"])
        urls.append(site.add(f"/v/ok{i}", video_page(f"Clip {i}", f"/media/ok{i}.mp4", license_url=CC_BY,
                                                     creator="Ada Example")))
    site.add_media("/media/nc.mp4", clips["clip4"])
    urls.append(site.add("/v/nc", video_page("Non-commercial", "/media/nc.mp4", license_url=CC_BY_NC)))
    site.add_media("/media/optout.mp4", clips["clip5"])
    urls.append(site.add("/v/optout", video_page("Opted out", "/media/optout.mp4", license_url=CC_BY,
                                                 creator="Opted Creator")))
    site.add_media("/media/corrupt.mp4", clips["truncated"])
    urls.append(site.add("/v/corrupt", video_page("Corrupt", "/media/corrupt.mp4", license_url=CC_BY)))
    site.add_media("/media/private.mp4", clips["clip1"])
    urls.append(site.add("/private/p", video_page("Private", "/media/private.mp4", license_url=CC_BY)))
    urls.append(site.add("/v/novideo", "<html><head><title>Text only</title></head><body>hi</body></html>"))
    site.add_media("/media/direct.mp4", clips["clip0"], headers={"Link": f'<{CC_BY}>; rel="license"'})
    urls.append(site.url("/media/direct.mp4"))
    urls.append(site.url("/v/missing"))  # 404
    urls.append("http://127.0.0.1:9/v/unreachable")  # nothing listens on the discard port
    return urls


@pytest.mark.slow
def test_run_http_source_to_s3(tmp_path: Path, site: Site, clips: dict[str, Path], cf_home: Settings,
                               s3_endpoint: str) -> None:
    urls = build_site(site, clips)
    (tmp_path / "urls.txt").write_text("# demo list\n" + "\n".join(urls) + "\nnot a url at all\n")
    src = tmp_path / "site_http.yaml"
    src.write_text("name: site_http\nkind: http\nhttp:\n  urls: urls.txt\nfetch:\n  timeout_s: 5\n"
                   "  max_retries: 0\nshard:\n  target_bytes: 30KiB\n")
    reg = Registry(cf_home.registry_url)
    reg.add("creator", "Opted Creator", requested_by="test", reason="asked by email")
    reg.close()
    storage_uri = "s3://cf-test/cf"

    def run() -> dict[str, int]:
        proc = subprocess.run([sys.executable, "-m", "clearframe.cli", "run", str(src), "--storage", storage_uri,
                               "--json"], capture_output=True, text=True, env=os.environ.copy(), timeout=300)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    first = run()
    assert first["candidates"] == 12
    assert first["sharded"] == 4  # ok1..ok3 and the direct media URL
    assert first["quarantined"] == 1

    store = open_storage(storage_uri)
    ledger = read_ledger(store, "site_http").to_pylist()
    by_locator = {r["locator"]: r for r in ledger}
    assert len(by_locator) == 12  # every candidate, admitted or not, has a row
    by_url = {r["url"]: r for r in ledger}
    assert by_url[site.url("/v/nc")]["decision"] == "deny"
    assert by_url[site.url("/v/optout")]["decision"] == "deny"
    assert "opt-out registry" in by_url[site.url("/v/optout")]["reasons"]
    assert by_url[site.url("/private/p")]["decision"] == "deny"
    assert by_url[site.url("/v/novideo")]["decision"] == "deny"
    assert by_url[site.url("/v/missing")]["decision"] == "deny"
    assert "404" in by_url[site.url("/v/missing")]["reasons"]
    assert by_url["http://127.0.0.1:9/v/unreachable"]["decision"] == "defer"
    assert by_url[site.url("/v/corrupt")]["status"] == "quarantined"
    bad_line = next(r for r in ledger if r["url"] == "not a url at all")
    assert bad_line["decision"] == "deny" and "urls.txt:" in bad_line["reasons"]
    # Evidence documents are stored content-addressed and referenced from the ledger.
    robots_ev = {d for r in ledger for d in r["evidence"]}
    assert robots_ev and all(store.exists(f"evidence/sha256/{d[:2]}/{d}") for d in robots_ev)

    # Denied items got no media request at all; the robots-disallowed page was never requested.
    for path in ("/media/nc.mp4", "/media/optout.mp4", "/media/private.mp4"):
        assert site.media_requests(path) == 0, path
    assert site.count("GET", "/private/p") == 0
    assert site.user_agents == {next(iter(site.user_agents))}  # one honest identity
    assert next(iter(site.user_agents)).startswith("ClearFrameBot/")

    # Every shard member was ALLOW with a positive licence, and its index offsets read back exactly.
    index_keys = [k for k in store.list("datasets/site_http/shards/") if k.endswith(".parquet")]
    ledger_by_key = {r["key"]: r for r in ledger}
    policy = LicensePolicy.default()
    members = 0
    for ik in index_keys:
        index = pq.read_table(io.BytesIO(store.get_bytes(ik))).to_pylist()
        tar_key = ik[: -len(".parquet")] + ".tar"
        for row in index:
            members += 1
            lrow = ledger_by_key[row["key"]]
            assert lrow["decision"] == "allow" and lrow["status"] == "admitted"
            verdict, _ = evaluate(LicenseInfo(lrow["license_raw"], lrow["license_spdx"]), policy)
            assert verdict is Verdict.GRANT
            data = store.get_range(tar_key, row["offset"], row["size"])
            assert hashlib.sha256(data).hexdigest() == row["sha256"] == lrow["sha256"]
            meta = json.loads(store.get_range(tar_key, row["json_offset"], row["json_size"]))
            assert meta["key"] == row["key"] and meta["license"]["spdx"] == lrow["license_spdx"]
    assert members == 4
    assert len(index_keys) >= 2  # 30 KiB target splits the members over several shards
    shards_before = sorted(store.list("datasets/site_http/shards/"))
    assert not [k for k in store.list("staging/") if k]  # staged copies are gone once sharded

    media_gets_before = site.media_requests()
    second = run()
    assert second["sharded"] == 0 and second["fetched"] == 1  # only the quarantined file, tried again
    assert sorted(store.list("datasets/site_http/shards/")) == shards_before  # a second run adds nothing
    # Already-sharded items are re-gated (consent is re-checked each run) but never fetched again.
    assert site.media_requests() - media_gets_before == 1  # only the corrupt file is tried again
