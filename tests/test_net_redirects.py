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


def _admit_log(verdict: Verdict | None):
    seen: list[str] = []

    def admit(url: str):
        seen.append(url)
        if verdict is None:
            return None
        from clearframe.records import Finding

        return Finding("robots", verdict, "robots.txt disallows this URL", locator=url)

    return admit, seen


def test_cross_origin_redirect_is_followed_once_admit_lets_it_through(site: Site) -> None:
    admit, seen = _admit_log(None)
    with Site() as other:
        other.add("/clip", "<html>elsewhere</html>")
        site.add("/away", "", status=302, headers={"Location": other.url("/clip")})
        resp, finding = polite_request(SessionPool("ClearFrameBot/test"), HostPoliteness(2), "GET",
                                       site.url("/away"), signal="probe", timeout=5, max_retries=0, admit=admit)
        assert finding is None and resp is not None and resp.status_code == 200
        assert resp.url == other.url("/clip")
        assert other.count("GET", "/clip") == 1
    assert seen == [other.url("/clip")]  # asked once, before the first request to that origin


def test_cross_origin_redirect_refused_by_admit_never_reaches_the_target(site: Site) -> None:
    admit, seen = _admit_log(Verdict.DENY)
    with Site() as other:
        other.add("/clip", "<html>elsewhere</html>")
        site.add("/away", "", status=302, headers={"Location": other.url("/clip")})
        resp, finding = polite_request(SessionPool("ClearFrameBot/test"), HostPoliteness(2), "GET",
                                       site.url("/away"), signal="probe", timeout=5, max_retries=0, admit=admit)
        assert sum(other.requests.values()) == 0
    assert resp is None and finding is not None and finding.verdict is Verdict.DENY
    assert f"redirects to {other.url('/clip')}" in finding.detail and "robots.txt disallows" in finding.detail


def test_cross_origin_hops_count_towards_the_five_redirect_limit(site: Site) -> None:
    admit, _ = _admit_log(None)
    with Site() as other:
        for i in range(3):
            site.add(f"/s{i}", "", status=302, headers={"Location": other.url(f"/o{i}")})
            other.add(f"/o{i}", "", status=302, headers={"Location": site.url(f"/s{i + 1}")})
        site.add("/s3", "done")
        resp, finding = polite_request(SessionPool("ClearFrameBot/test"), HostPoliteness(2), "GET",
                                       site.url("/s0"), signal="probe", timeout=5, max_retries=0, admit=admit)
    assert resp is None and finding is not None and finding.verdict is Verdict.DEFER
    assert "more than 5 redirects" in finding.detail
