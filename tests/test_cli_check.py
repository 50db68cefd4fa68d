"""`clearframe check URL`: one candidate probed and gated, no media fetched, one JSON object out.

Run as users run it: `python -m clearframe.cli` in a subprocess, against a real local site, with its own
CLEARFRAME_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clearframe.config import Settings
from support.site import Site, video_page

CC_BY = "https://creativecommons.org/licenses/by/4.0/"
CC_BY_NC = "https://creativecommons.org/licenses/by-nc/4.0/"
CC_BY_SA = "https://creativecommons.org/licenses/by-sa/4.0/"


def clearframe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clearframe.cli", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=120)


def check_json(url: str, *extra: str) -> dict[str, Any]:
    proc = clearframe("check", url, "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # the whole of stdout is one JSON object


def serve(site: Site, name: str, **page: object) -> str:
    site.add(f"/media/{name}.mp4", b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4")
    return site.add(f"/v/{name}", video_page(name, f"/media/{name}.mp4", **page))  # type: ignore[arg-type]


@pytest.fixture
def robots_ok(site: Site) -> Site:
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    return site


def test_check_json_allows_a_cc_by_page(robots_ok: Site, cf_home: Settings) -> None:
    site = robots_ok
    out = check_json(serve(site, "ok", license_url=CC_BY, creator="Ada Example"))
    assert out["decision"] == "allow"
    assert out["license"]["raw"] == CC_BY and out["license"]["spdx"] == "CC-BY-4.0"
    assert isinstance(out["reasons"], list) and out["reasons"]
    assert all(isinstance(r, dict) and r["signal"] and r["detail"] for r in out["reasons"])
    assert any(r["signal"] == "license" and r["verdict"] == "grant" for r in out["reasons"])
    assert out["media_url"] == site.url("/media/ok.mp4")
    assert site.media_requests() == 0
    assert site.user_agents and all(ua.startswith("ClearFrameBot/") for ua in site.user_agents)
    # Evidence it names was stored under the isolated home.
    assert out["evidence"]
    stored = {p.name for p in (cf_home.home / "storage").rglob("*") if p.is_file()}
    assert set(out["evidence"]) <= stored


def test_check_json_denies_a_non_commercial_page(robots_ok: Site, cf_home: Settings) -> None:
    out = check_json(serve(robots_ok, "nc", license_url=CC_BY_NC))
    assert out["decision"] == "deny"
    assert out["license"]["spdx"] == "CC-BY-NC-4.0"
    lic = [r for r in out["reasons"] if r["signal"] == "license"]
    assert lic and lic[0]["verdict"] == "deny" and "non-commercial" in lic[0]["detail"]
    assert robots_ok.media_requests() == 0


def test_check_json_denies_a_page_without_licence(robots_ok: Site, cf_home: Settings) -> None:
    out = check_json(serve(robots_ok, "bare", jsonld=False))
    assert out["decision"] == "deny"
    assert out["license"] == {"raw": None, "spdx": None, "found_in": None}
    assert any("missing license" in r["detail"] or "missing licence" in r["detail"] for r in out["reasons"])


def test_check_json_denies_robots_disallowed_page_without_requesting_it(robots_ok: Site,
                                                                       cf_home: Settings) -> None:
    site = robots_ok
    site.add("/media/p.mp4", b"x", content_type="video/mp4")
    url = site.add("/private/p", video_page("p", "/media/p.mp4", license_url=CC_BY))
    out = check_json(url)
    assert out["decision"] == "deny"
    assert any(r["signal"] == "robots" for r in out["reasons"])
    assert site.count("GET", "/private/p") == 0 and site.media_requests() == 0


def test_check_human_output_names_the_decision(robots_ok: Site, cf_home: Settings) -> None:
    proc = clearframe("check", serve(robots_ok, "ok", license_url=CC_BY))
    assert proc.returncode == 0, proc.stderr
    assert "ALLOW" in proc.stdout and "CC-BY-4.0" in proc.stdout
    assert robots_ok.media_requests() == 0


def test_check_applies_the_policy_of_the_given_source(robots_ok: Site, cf_home: Settings,
                                                      tmp_path: Path) -> None:
    url = serve(robots_ok, "sa", license_url=CC_BY_SA)
    assert check_json(url)["decision"] == "review"  # share-alike: a human decides by default
    src = tmp_path / "sa_ok.yaml"
    src.write_text("name: sa_ok\nkind: http\nhttp:\n  urls: urls.txt\n"
                   "license_policy:\n  allow: [CC-BY-SA-*]\n")
    assert check_json(url, "--source", str(src))["decision"] == "allow"


def test_check_with_a_misspelt_source_field_exits_2_naming_file_and_field(site: Site, cf_home: Settings,
                                                                          tmp_path: Path) -> None:
    src = tmp_path / "broken.yaml"
    src.write_text("name: broken\nkind: http\nhttp:\n  urls: urls.txt\nfetch:\n  max_byte: 10MiB\n")
    proc = clearframe("check", site.url("/v/x"), "--json", "--source", str(src))
    assert proc.returncode == 2
    assert str(src) in proc.stderr
    assert "fetch.max_byte" in proc.stderr and "max_bytes" in proc.stderr  # and what was probably meant
    assert proc.stdout == ""
    assert dict(site.requests) == {}  # nothing is checked under a policy that did not load


def test_check_with_invalid_yaml_exits_2_naming_file_and_line(site: Site, cf_home: Settings,
                                                             tmp_path: Path) -> None:
    src = tmp_path / "syntax.yaml"
    src.write_text("name: syntax\nkind: http\nhttp:\n  urls: [unclosed\n")
    proc = clearframe("check", site.url("/v/x"), "--json", "--source", str(src))
    assert proc.returncode == 2
    assert str(src) in proc.stderr and "line" in proc.stderr
    assert dict(site.requests) == {}
