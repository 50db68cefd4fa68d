"""Redirects are followed by hand, within the origin only: another origin's robots.txt was never checked."""

from __future__ import annotations

from clearframe.net import HostPoliteness, SessionPool, polite_request
from clearframe.records import Verdict
from support.site import Site


def _get(url: str):
    return polite_request(SessionPool("ClearFrameBot/test"), HostPoliteness(2), "GET", url, signal="probe",
                          timeout=5, max_retries=0)


def test_same_origin_redirect_is_followed(site: Site) -> None:
    site.add("/old", "", status=301, headers={"Location": "/new"})
    site.add("/new", "<html>here</html>")
    resp, finding = _get(site.url("/old"))
    assert finding is None and resp is not None and resp.status_code == 200
    assert site.count("GET", "/new") == 1


def test_redirect_to_another_origin_defers_without_touching_it(site: Site) -> None:
    with Site() as other:
        other.add("/clip", "<html>elsewhere</html>")
        site.add("/away", "", status=302, headers={"Location": other.url("/clip")})
        resp, finding = _get(site.url("/away"))
    assert resp is None and finding is not None and finding.verdict is Verdict.DEFER
    assert "another origin" in finding.detail
    assert sum(other.requests.values()) == 0


def test_redirect_loop_defers_after_five_hops(site: Site) -> None:
    site.add("/a", "", status=302, headers={"Location": "/b"})
    site.add("/b", "", status=302, headers={"Location": "/a"})
    resp, finding = _get(site.url("/a"))
    assert resp is None and finding is not None and finding.verdict is Verdict.DEFER
    assert "more than 5 redirects" in finding.detail
    assert site.count("GET", "/a") + site.count("GET", "/b") == 6
