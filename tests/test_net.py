"""clearframe.net: one honest identity, per-host politeness, and what each HTTP outcome becomes.

Every test talks to a real server on 127.0.0.1. Waits that would take minutes (Retry-After: 120) run on
an injected clock whose `sleep` only records and advances time; short spacings (0.3 s) run for real.
"""

from __future__ import annotations

import calendar
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clearframe.net import HostPoliteness, SessionPool, host_of, parse_retry_after, polite_request
from clearframe.records import Verdict
from support.site import Site

UA = "ClearFrameBot/0.1 (+https://clearframe.dev/bot)"


# --- a scripted local server ---------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds the handler holds the request before answering


@dataclass
class Hit:
    path: str
    at: float  # time.monotonic() on arrival
    user_agent: str
    cookie: str | None


class ScriptedServer:
    """Answers each path from a script (one reply per request, the last one repeats); records every hit
    and the largest number of requests it was holding at the same time."""

    def __init__(self) -> None:
        self.script: dict[str, list[Reply]] = {}
        self.hits: list[Hit] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, send_body: bool) -> None:
                path = self.path.split("?")[0]
                with srv._lock:
                    srv.hits.append(Hit(path, time.monotonic(), self.headers.get("User-Agent", ""),
                                        self.headers.get("Cookie")))
                    replies = srv.script.get(path) or [Reply(404, b"not found")]
                    reply = replies.pop(0) if len(replies) > 1 else replies[0]
                    srv.in_flight += 1
                    srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
                if reply.delay:
                    time.sleep(reply.delay)
                with srv._lock:
                    srv.in_flight -= 1  # before answering, so the client's next request is never overcounted
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(reply.body)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    if send_body:
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._serve(True)

            def do_HEAD(self) -> None:
                self._serve(False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, *replies: Reply) -> str:
        self.script[path] = list(replies)
        return self.url(path)

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for h in self.hits if path is None or h.path == path)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def other_server() -> Iterator[ScriptedServer]:
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def sessions() -> Iterator[SessionPool]:
    pool = SessionPool(UA)
    yield pool
    pool.close()


class FakeTime:
    """An injected clock: `sleep` records the wait and moves time on instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fake_hosts(per_host: int = 4) -> tuple[HostPoliteness, FakeTime]:
    t = FakeTime()
    return HostPoliteness(per_host, clock=t.clock, sleep=t.sleep), t


def get(sessions: SessionPool, hosts: HostPoliteness, url: str, **kw: object):
    kw.setdefault("timeout", 5)
    return polite_request(sessions, hosts, "GET", url, signal="probe", **kw)  # type: ignore[arg-type]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- per-host concurrency -----------------------------------------------------------------------------


def _hammer(sessions: SessionPool, hosts: HostPoliteness, urls: list[str]) -> list[object]:
    results: list[object] = []
    lock = threading.Lock()

    def one(url: str) -> None:
        resp, finding = get(sessions, hosts, url)
        with lock:
            results.append(finding or resp.status_code)  # type: ignore[union-attr]

    threads = [threading.Thread(target=one, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.parametrize("per_host", [1, 3])
def test_host_politeness_caps_concurrent_requests_per_host(server: ScriptedServer, sessions: SessionPool,
                                                           per_host: int) -> None:
    url = server.serve("/slow", Reply(delay=0.25))
    results = _hammer(sessions, HostPoliteness(per_host), [url] * 8)
    assert results == [200] * 8
    # Exactly the cap: never more, and the cap is really used (requests are not serialised needlessly).
    assert server.max_in_flight == per_host


def test_host_politeness_cap_is_per_host_not_global(server: ScriptedServer, other_server: ScriptedServer,
                                                    sessions: SessionPool) -> None:
    a = server.serve("/slow", Reply(delay=0.3))
    b = other_server.serve("/slow", Reply(delay=0.3))
    assert host_of(a) != host_of(b)  # same address, different port: a different host
    # Both servers must be busy at the same time for this test to say anything.
    both_busy = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not both_busy.is_set():
            if server.in_flight and other_server.in_flight:
                both_busy.set()
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    assert _hammer(sessions, HostPoliteness(1), [a, b, a, b]) == [200] * 4
    watcher.join()
    assert server.max_in_flight == 1 and other_server.max_in_flight == 1
    assert both_busy.is_set()


# --- Crawl-delay ---------------------------------------------------------------------------------------


def test_crawl_delay_spaces_request_starts_on_injected_clock() -> None:
    hosts, t = fake_hosts()
    url = "http://example.test/v/1"
    hosts.set_crawl_delay(host_of(url), 2)
    starts = []
    for _ in range(3):
        with hosts.slot(url):
            starts.append(t.now)
    assert [b - a for a, b in zip(starts, starts[1:], strict=False)] == [2.0, 2.0]
    # Another host is not slowed down by this one's Crawl-delay.
    before = t.now
    with hosts.slot("http://other.test/x"):
        assert t.now == before


def test_crawl_delay_counts_from_the_end_of_a_slow_request() -> None:
    hosts, t = fake_hosts()
    url = "http://example.test/v/1"
    hosts.set_crawl_delay(host_of(url), 2)
    with hosts.slot(url):
        t.now += 1.5  # connecting and answering took 1.5 s
    ended = t.now
    with hosts.slot(url):
        assert t.now - ended >= 2.0


def test_crawl_delay_keeps_the_largest_value_seen() -> None:
    hosts, t = fake_hosts()
    hosts.set_crawl_delay("example.test", 5)
    # A later, smaller delay (e.g. from the media origin's robots.txt) must not shrink it.
    hosts.set_crawl_delay("example.test", 1)
    with hosts.slot("http://example.test/a"):
        pass
    with hosts.slot("http://example.test/b"):
        pass
    assert t.sleeps == [5.0]


def test_crawl_delay_spaces_real_requests_to_a_host(server: ScriptedServer, sessions: SessionPool) -> None:
    url = server.serve("/page", Reply())
    hosts = HostPoliteness(4)
    hosts.set_crawl_delay(host_of(url), 0.3)
    for _ in range(2):
        resp, finding = get(sessions, hosts, url)
        assert finding is None and resp is not None and resp.status_code == 200
    first, second = server.hits
    assert second.at - first.at >= 0.3


# --- 429 and Retry-After -------------------------------------------------------------------------------


def test_429_retry_after_makes_the_host_wait_then_retries_with_the_same_identity(
        server: ScriptedServer, sessions: SessionPool) -> None:
    url = server.serve("/media/a.mp4", Reply(429, headers={"Retry-After": "120"}), Reply(200, b"video"))
    hosts, t = fake_hosts()
    resp, finding = get(sessions, hosts, url, max_retries=3, max_retry_after=300)
    assert finding is None and resp is not None and resp.status_code == 200
    assert t.sleeps and t.sleeps[0] >= 120
    assert sum(t.sleeps) >= 120
    assert server.count("/media/a.mp4") == 2
    assert {h.user_agent for h in server.hits} == {UA}  # no identity change on retry


def test_429_wait_applies_to_every_later_request_to_that_host(server: ScriptedServer,
                                                              sessions: SessionPool) -> None:
    limited = server.serve("/media/a.mp4", Reply(429, headers={"Retry-After": "120"}))
    other = server.serve("/media/b.mp4", Reply(200, b"video"))
    hosts, t = fake_hosts()
    resp, finding = get(sessions, hosts, limited, max_retries=0)
    assert resp is None and finding is not None
    assert finding.verdict is Verdict.DEFER and finding.status == 429
    assert t.sleeps == []
    resp, finding = get(sessions, hosts, other, max_retries=0)
    assert finding is None and resp is not None
    assert t.sleeps and t.sleeps[0] >= 120  # the other URL on the same host waited too


def test_retry_after_beyond_the_maximum_defers_without_retrying(server: ScriptedServer,
                                                                sessions: SessionPool) -> None:
    url = server.serve("/media/a.mp4", Reply(429, headers={"Retry-After": "3600"}), Reply(200, b"video"))
    hosts, t = fake_hosts()
    resp, finding = get(sessions, hosts, url, max_retries=3, max_retry_after=300)
    assert resp is None and finding is not None
    assert finding.verdict is Verdict.DEFER and finding.status == 429
    assert "3600" in finding.detail
    assert server.count() == 1
    assert t.sleeps == []  # it gave up instead of sleeping an hour


def test_host_left_alone_after_a_too_long_retry_after_defers_later_requests_at_once(
        server: ScriptedServer, sessions: SessionPool) -> None:
    limited = server.serve("/media/a.mp4", Reply(429, headers={"Retry-After": "3600"}))
    other = server.serve("/media/b.mp4", Reply(200, b"video"))
    hosts, t = fake_hosts()
    get(sessions, hosts, limited, max_retry_after=300)
    # The next candidate on that host must not park a worker thread for an hour: it defers at once.
    resp, finding = get(sessions, hosts, other, max_retry_after=300)
    assert resp is None and finding is not None and finding.verdict is Verdict.DEFER
    assert "Retry-After" in finding.detail
    assert t.sleeps == []
    assert server.count("/media/b.mp4") == 0
    # Once the hour has passed, the host is asked again.
    t.now += 3600
    resp, finding = get(sessions, hosts, other, max_retry_after=300)
    assert finding is None and resp is not None and resp.status_code == 200


def test_429_without_retry_after_still_waits_before_retrying(server: ScriptedServer,
                                                             sessions: SessionPool) -> None:
    url = server.serve("/x", Reply(429), Reply(200))
    hosts, t = fake_hosts()
    resp, finding = get(sessions, hosts, url, max_retries=1)
    assert finding is None and resp is not None and resp.status_code == 200
    assert t.sleeps and t.sleeps[0] > 0


def test_429_gives_up_after_max_retries(server: ScriptedServer, sessions: SessionPool) -> None:
    url = server.serve("/x", Reply(429, headers={"Retry-After": "1"}))
    hosts, _ = fake_hosts()
    resp, finding = get(sessions, hosts, url, max_retries=2)
    assert resp is None and finding is not None and finding.verdict is Verdict.DEFER
    assert server.count() == 3  # the first try and two retries, no more


# --- refusals, errors, missing ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 451])
def test_refusal_stops_the_host_and_later_requests_defer_without_reaching_it(
        server: ScriptedServer, sessions: SessionPool, status: int) -> None:
    refused = server.serve("/media/a.mp4", Reply(status))
    later = server.serve("/media/b.mp4", Reply(200, b"video"))
    hosts = HostPoliteness(4)
    resp, finding = get(sessions, hosts, refused)
    assert resp is None and finding is not None
    assert finding.verdict is Verdict.DEFER and finding.status == status
    assert hosts.stopped(host_of(refused))
    resp, finding = get(sessions, hosts, later)
    assert resp is None and finding is not None and finding.verdict is Verdict.DEFER
    assert "stopped" in finding.detail
    assert server.count("/media/b.mp4") == 0
    assert server.count() == 1  # the refusal was not retried


def test_refusal_on_one_host_leaves_other_hosts_alone(server: ScriptedServer, other_server: ScriptedServer,
                                                      sessions: SessionPool) -> None:
    hosts = HostPoliteness(4)
    get(sessions, hosts, server.serve("/x", Reply(403)))
    resp, finding = get(sessions, hosts, other_server.serve("/x", Reply(200)))
    assert finding is None and resp is not None and resp.status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_defers(server: ScriptedServer, sessions: SessionPool, status: int) -> None:
    resp, finding = get(sessions, HostPoliteness(4), server.serve("/x", Reply(status)))
    assert resp is None and finding is not None
    assert finding.verdict is Verdict.DEFER and finding.status == status


def test_connection_refused_defers(sessions: SessionPool) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v/1"
    resp, finding = get(sessions, HostPoliteness(4), url, timeout=2)
    assert resp is None and finding is not None
    assert finding.verdict is Verdict.DEFER and finding.status is None and finding.locator == url


@pytest.mark.parametrize("status", [404, 410])
def test_missing_resource_denies(server: ScriptedServer, sessions: SessionPool, status: int) -> None:
    resp, finding = get(sessions, HostPoliteness(4), server.serve("/gone", Reply(status)))
    assert resp is None and finding is not None
    assert finding.verdict is Verdict.DENY and finding.status == status


# --- identity: no cookies, no proxies -----------------------------------------------------------------------


def test_cookies_set_by_the_server_are_never_sent_back(site: Site, sessions: SessionPool) -> None:
    headers = {"Set-Cookie": "session=abc123; Path=/"}
    a = site.add("/a", "one", headers=headers)
    b = site.add("/b", "two", headers=headers)
    hosts = HostPoliteness(4)
    for url in (a, b, a):
        resp, finding = get(sessions, hosts, url)
        assert finding is None and resp is not None
        assert resp.headers.get("Set-Cookie")  # the server did offer one
    assert site.count("GET", "/a") == 2 and site.count("GET", "/b") == 1
    assert site.cookies_seen == 0
    assert len(sessions.get().cookies) == 0
    assert site.user_agents == {UA}


def test_environment_proxies_are_ignored(site: Site, sessions: SessionPool,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, dead)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    resp, finding = get(sessions, HostPoliteness(4), site.add("/a", "direct"))
    assert finding is None and resp is not None and resp.text == "direct"
    assert site.count("GET", "/a") == 1


# --- parse_retry_after -----------------------------------------------------------------------------

NOW = float(calendar.timegm((2026, 3, 1, 12, 0, 0)))


def test_parse_retry_after_delta_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0


def test_parse_retry_after_http_date() -> None:
    when = datetime.fromtimestamp(NOW + 90, UTC)
    assert parse_retry_after(format_datetime(when, usegmt=True), now=NOW) == pytest.approx(90)
    assert parse_retry_after("Sunday, 01-Mar-26 12:02:00 GMT", now=NOW) == pytest.approx(120)  # RFC 850 form


def test_parse_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Sun, 99 Foo 2026"])
def test_parse_retry_after_rejects_invalid_values(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


@pytest.fixture
def berlin_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_parse_retry_after_asctime_date_is_gmt_whatever_the_local_zone(berlin_time: None) -> None:
    # RFC 9110 §5.6.7: every HTTP-date is GMT, and recipients must accept the asctime form, which carries
    # no zone. Read as local time on a UTC+1 worker it would come out an hour early: no wait at all.
    assert parse_retry_after("Sun Mar  1 12:02:00 2026", now=NOW) == pytest.approx(120)
