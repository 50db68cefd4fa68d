"""robots.txt signal against a real local HTTP server (RFC 9309 plus ClearFrame's stricter choices).

Every robots.txt line of /work/shared/consent-cases.md has a test here, plus the RFC 9309 details
(longest match, ``$``, merged groups, the ``*`` fallback, the 500 KiB parsing limit) and the places where
protego 0.7.0 deviates from RFC 9309 and clearframe.gate.robots corrects it (``test_protego_deviation_*``:
each shows protego's own answer next to ours, so an upgrade that changes protego shows up here).
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from protego import Protego

from clearframe.gate.robots import (
    AI_TRAINING_TOKENS,
    RFC9309_MIN_PARSE_BYTES,
    RobotsChecker,
    RobotsVerdict,
)
from clearframe.records import Verdict

TOKEN = "ClearFrame"
UA = "ClearFrame/0.1 (+https://clearframe.example/bot)"
DAY = 86400.0


# --- a real local server -----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class RobotsServer:
    """ThreadingHTTPServer on 127.0.0.1:0 serving configured replies per path and counting requests."""

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.hits: Counter[str] = Counter()
        self.user_agents: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with server._lock:
                    server.hits[path] += 1
                    server.user_agents.append(self.headers.get("User-Agent", ""))
                    reply = server.replies.get(path, Reply(404, b"not found"))
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(reply.body)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

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

    def robots(self, body: str | bytes = b"", status: int = 200, **kw: object) -> None:
        self.serve("/robots.txt", body, status, **kw)

    def serve(
        self,
        path: str,
        body: str | bytes = b"",
        status: int = 200,
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.replies[path] = Reply(status, data, headers or {}, delay)

    def redirect_chain(self, n: int, final_body: str, *, first: str = "/robots.txt") -> None:
        """``first`` -> /r1 -> ... -> /rn (200): n redirects, relative and absolute Locations mixed."""
        paths = [first] + [f"/r{i}" for i in range(1, n + 1)]
        for i, (src, dst) in enumerate(zip(paths, paths[1:], strict=False)):
            location = dst if i % 2 else self.url(dst)
            self.serve(src, b"", 301 if i % 2 else 302, headers={"Location": location})
        self.serve(paths[-1], final_body)


@pytest.fixture
def server() -> Iterator[RobotsServer]:
    s = RobotsServer()
    yield s
    s.close()


@pytest.fixture
def other_server() -> Iterator[RobotsServer]:
    s = RobotsServer()
    yield s
    s.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Evidence:
    """A store_evidence stand-in: content-addressed, records what it was given."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[bytes, str]] = {}

    def __call__(self, data: bytes, media_type: str) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.docs[digest] = (data, media_type)
        return digest


def session() -> requests.Session:
    s = requests.Session()
    s.headers["User-Agent"] = UA
    s.trust_env = False  # loopback only; no proxy from the environment
    return s


def checker(**kw: object) -> RobotsChecker:
    kw.setdefault("store_evidence", Evidence())
    return RobotsChecker(session(), TOKEN, **kw)  # type: ignore[arg-type]


def check(server: RobotsServer, robots: str | bytes, path: str, **kw: object) -> RobotsVerdict:
    server.robots(robots)
    return checker(**kw).check(server.url(path))


def allowed(v: RobotsVerdict) -> bool:
    assert v.finding.verdict in (Verdict.NONE, Verdict.DENY), v.finding
    return v.finding.verdict is Verdict.NONE


# --- consent-cases.md, robots.txt section ------------------------------------------------------------


def test_star_disallow_all_is_deny(server: RobotsServer) -> None:
    ev = Evidence()
    body = "User-agent: *\nDisallow: /\n"
    v = check(server, body, "/videos/1", store_evidence=ev)
    f = v.finding
    assert f.signal == "robots" and f.verdict is Verdict.DENY
    assert f.locator == server.url("/robots.txt") and f.status == 200
    assert f.rule == "User-agent: * / Disallow: / (line 2)"
    assert f.evidence == hashlib.sha256(body.encode()).hexdigest()
    assert ev.docs[f.evidence] == (body.encode(), "text/plain")
    assert TOKEN in f.detail
    assert server.user_agents == [UA]  # the session's fixed User-Agent, untouched


def test_only_gptbot_disallowed_is_deny_as_proxy(server: RobotsServer) -> None:
    v = check(server, "User-agent: GPTBot\nDisallow: /\n", "/videos/1")
    f = v.finding
    assert f.verdict is Verdict.DENY
    assert "GPTBot" in f.detail and "proxy" in f.detail and "AI-training" in f.detail
    assert f.rule == "User-agent: GPTBot / Disallow: / (line 2)"


def test_ai_refusal_wins_even_when_our_group_allows(server: RobotsServer) -> None:
    body = "User-agent: ClearFrame\nAllow: /\n\nUser-agent: CCBot\nUser-agent: Google-Extended\nDisallow: /videos/\n"
    v = check(server, body, "/videos/1")
    assert v.finding.verdict is Verdict.DENY
    assert "CCBot, Google-Extended" in v.finding.detail
    assert v.finding.rule == "User-agent: CCBot / Disallow: /videos/ (line 6)"
    server.robots(body)
    assert allowed(checker().check(server.url("/about")))  # the refusal is path-scoped


def test_star_disallow_is_not_an_ai_refusal(server: RobotsServer) -> None:
    # The site lets ClearFrame in explicitly; `*` does not apply to us and is no AI-training refusal.
    v = check(server, "User-agent: *\nDisallow: /\n\nUser-agent: clearframe\nAllow: /videos/\n", "/videos/1")
    assert allowed(v)
    assert v.finding.rule == "User-agent: ClearFrame / Allow: /videos/ (line 5)"


def test_allow_longer_than_disallow_is_allowed(server: RobotsServer) -> None:
    v = check(server, "User-agent: *\nAllow: /videos/\nDisallow: /\n", "/videos/1")
    f = v.finding
    assert f.verdict is Verdict.NONE  # robots never grants
    assert f.rule == "User-agent: * / Allow: /videos/ (line 2)"
    assert f.status == 200 and f.evidence
    server.robots("User-agent: *\nAllow: /videos/\nDisallow: /\n")
    assert not allowed(checker().check(server.url("/other/1")))


@pytest.mark.parametrize(
    "body",
    [
        "User-agent: *\nAllow: /a\nDisallow: /a\n",
        "User-agent: *\nDisallow: /a\nAllow: /a\n",
    ],
)
def test_allow_wins_a_tie(server: RobotsServer, body: str) -> None:
    v = check(server, body, "/a")
    assert allowed(v)
    assert v.finding.rule is not None and "Allow: /a" in v.finding.rule


def test_503_is_defer(server: RobotsServer) -> None:
    server.robots("busy", status=503)
    f = checker().check(server.url("/videos/1")).finding
    assert f.verdict is Verdict.DEFER and f.status == 503
    assert "complete disallow" in f.detail and f.evidence is None


def test_connection_refused_is_defer() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    v = checker(timeout=2).check(f"http://127.0.0.1:{port}/videos/1")
    assert v.finding.verdict is Verdict.DEFER and v.finding.status is None
    assert "ConnectionError" in v.finding.detail and v.crawl_delay is None


def test_timeout_is_defer(server: RobotsServer) -> None:
    server.robots("User-agent: *\nDisallow:\n", delay=1.5)
    t0 = time.monotonic()
    f = checker(timeout=0.3).check(server.url("/videos/1")).finding
    assert f.verdict is Verdict.DEFER and "Timeout" in f.detail
    assert time.monotonic() - t0 < 1.4


@pytest.mark.parametrize("status", [404, 410, 400])
def test_4xx_is_unavailable_no_restriction(server: RobotsServer, status: int) -> None:
    server.robots("nope", status=status)
    v = checker().check(server.url("/videos/1"))
    f = v.finding
    assert f.verdict is Verdict.NONE and f.status == status
    assert "unavailable" in f.detail and f.rule == TOKEN
    assert v.crawl_delay is None


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_is_deny_stricter_than_rfc(server: RobotsServer, status: int) -> None:
    server.robots("go away", status=status)
    f = checker().check(server.url("/videos/1")).finding
    assert f.verdict is Verdict.DENY and f.status == status
    assert "stricter than RFC 9309" in f.detail


def test_429_is_defer_and_waits_for_retry_after(server: RobotsServer) -> None:
    clock = FakeClock()
    server.robots("slow down", status=429, headers={"Retry-After": "3600"})
    c = checker(clock=clock)
    f = c.check(server.url("/videos/1")).finding
    assert f.verdict is Verdict.DEFER and f.status == 429 and "Retry-After 3600" in f.detail
    server.robots("User-agent: *\nDisallow:\n")
    clock.now += 3000  # past the default defer_max_age, but before Retry-After
    assert c.check(server.url("/videos/1")).finding.verdict is Verdict.DEFER
    assert server.hits["/robots.txt"] == 1
    clock.now += 601
    assert c.check(server.url("/videos/1")).finding.verdict is Verdict.NONE
    assert server.hits["/robots.txt"] == 2


def test_five_redirects_are_followed(server: RobotsServer) -> None:
    server.redirect_chain(5, "User-agent: *\nDisallow: /videos/\n")
    f = checker().check(server.url("/videos/1")).finding
    assert f.verdict is Verdict.DENY and f.status == 200
    assert f.locator == server.url("/robots.txt")  # rules apply to the original origin
    assert "via 5 redirect(s)" in f.detail and server.url("/r5") in f.detail
    assert [server.hits[p] for p in ("/robots.txt", "/r1", "/r2", "/r3", "/r4", "/r5")] == [1] * 6


def test_six_redirects_is_defer(server: RobotsServer) -> None:
    server.redirect_chain(6, "User-agent: *\nDisallow:\n")
    f = checker().check(server.url("/videos/1")).finding
    assert f.verdict is Verdict.DEFER and "more than 5 redirects" in f.detail
    assert server.hits["/r5"] == 1 and server.hits["/r6"] == 0


def test_redirect_loop_is_defer(server: RobotsServer) -> None:
    server.serve("/robots.txt", status=301, headers={"Location": "/robots.txt"})
    f = checker().check(server.url("/videos/1")).finding
    assert f.verdict is Verdict.DEFER and server.hits["/robots.txt"] == 6


def test_redirect_across_hosts_applies_to_original_origin(
    server: RobotsServer, other_server: RobotsServer
) -> None:
    server.serve("/robots.txt", status=301, headers={"Location": other_server.url("/robots.txt")})
    other_server.robots("User-agent: *\nDisallow: /\n")
    f = checker().check(server.url("/videos/1")).finding
    assert f.verdict is Verdict.DENY and f.locator == server.url("/robots.txt")
    assert other_server.url("/robots.txt") in f.detail


def test_redirect_without_location_is_defer(server: RobotsServer) -> None:
    server.robots(status=302)
    assert checker().check(server.url("/x")).finding.verdict is Verdict.DEFER


def test_cache_refetched_after_24h_not_before(server: RobotsServer) -> None:
    clock = FakeClock()
    server.robots("User-agent: *\nDisallow: /private/\n")
    c = checker(clock=clock)
    assert allowed(c.check(server.url("/videos/1")))
    assert server.hits["/robots.txt"] == 1
    server.robots("User-agent: *\nDisallow: /\n")  # the site changes its mind
    clock.now += DAY - 1
    assert allowed(c.check(server.url("/videos/2")))  # younger than 24 h: the cached copy
    assert server.hits["/robots.txt"] == 1
    clock.now += 2  # now older than 24 h: fetched again before use
    assert not allowed(c.check(server.url("/videos/3")))
    assert server.hits["/robots.txt"] == 2


def test_defer_is_cached_briefly_then_retried(server: RobotsServer) -> None:
    clock = FakeClock()
    server.robots("down", status=500)
    c = checker(clock=clock)
    assert c.check(server.url("/a")).finding.verdict is Verdict.DEFER
    server.robots("User-agent: *\nDisallow:\n")
    clock.now += 60
    assert c.check(server.url("/b")).finding.verdict is Verdict.DEFER  # no hammering a failing host
    assert server.hits["/robots.txt"] == 1
    clock.now += 300
    assert c.check(server.url("/c")).finding.verdict is Verdict.NONE
    assert server.hits["/robots.txt"] == 2


def test_crawl_delay_for_our_token(server: RobotsServer) -> None:
    body = "User-agent: *\nCrawl-delay: 10\n\nUser-agent: ClearFrame\nCrawl-delay: 2\nDisallow: /private/\n"
    v = check(server, body, "/videos/1")
    assert allowed(v) and v.crawl_delay == 2.0
    # the `*` group's delay applies when no group names us; our group without one has none
    assert check(server, "User-agent: *\nCrawl-delay: 1.5\n", "/x").crawl_delay == 1.5
    assert (
        check(
            server,
            "User-agent: *\nCrawl-delay: 5\nUser-agent: other\n\nUser-agent: clearframe\nDisallow: /p\n",
            "/x",
        ).crawl_delay
        is None
    )
    assert check(server, "User-agent: *\nCrawl-delay: soon\n", "/x").crawl_delay is None
    assert check(server, "User-agent: GPTBot\nCrawl-delay: 9\n", "/x").crawl_delay is None


# --- RFC 9309 details -----------------------------------------------------------------------------------


def test_longest_match(server: RobotsServer) -> None:
    server.robots(
        "User-agent: *\nDisallow: /videos/\nAllow: /videos/public/\nDisallow: /videos/public/raw/\n"
    )
    c = checker()
    assert not allowed(c.check(server.url("/videos/private/1")))
    v = c.check(server.url("/videos/public/1"))
    assert allowed(v) and v.finding.rule == "User-agent: * / Allow: /videos/public/ (line 3)"
    v = c.check(server.url("/videos/public/raw/1.mp4"))
    assert not allowed(v) and v.finding.rule == "User-agent: * / Disallow: /videos/public/raw/ (line 4)"
    # the longer rule wins regardless of order in the file
    reordered = "User-agent: *\nAllow: /v\nDisallow: /videos\n"
    assert not allowed(check(server, reordered, "/videos/1"))


def test_wildcard_and_dollar_anchor(server: RobotsServer) -> None:
    server.robots(
        "User-agent: *\nDisallow: /*.mp4$\nDisallow: /*/raw/\nAllow: /$\nDisallow: /\n"
        "User-agent: ClearFrame\nDisallow: /*.mp4$\nDisallow: /*/raw/\n"
    )
    c = checker()
    assert not allowed(c.check(server.url("/media/clip.mp4")))
    assert allowed(c.check(server.url("/media/clip.mp4?dl=1")))  # `$` anchors at the end of path+query
    assert allowed(c.check(server.url("/media/clip.mp4x")))
    assert not allowed(c.check(server.url("/a/raw/b")))
    assert allowed(c.check(server.url("/raw/b")))  # `/*/raw/` needs a segment before raw
    server.robots("User-agent: *\nAllow: /$\nDisallow: /\n")
    c = checker()
    assert allowed(c.check(server.url("/")))
    assert not allowed(c.check(server.url("/videos/1")))


def test_percent_encoding_is_normalised(server: RobotsServer) -> None:
    server.robots("User-agent: *\nDisallow: /vidéos/\nDisallow: /media/\n")
    c = checker()
    v = c.check(server.url("/vid%C3%A9os/1"))
    assert not allowed(v) and v.finding.rule == "User-agent: * / Disallow: /vidéos/ (line 2)"
    v = c.check(server.url("/%6Dedia/1"))  # %6D is "m"
    assert not allowed(v) and v.finding.rule == "User-agent: * / Disallow: /media/ (line 3)"
    assert allowed(c.check(server.url("/videos/1")))


def test_merged_groups_for_the_same_agent(server: RobotsServer) -> None:
    body = (
        "User-agent: ClearFrame\nDisallow: /a/\n\nUser-agent: *\nDisallow: /\n\n"
        "User-agent: other\nUser-agent: CLEARFRAME\nDisallow: /b/\n"
    )
    server.robots(body)
    c = checker()
    a = c.check(server.url("/a/1"))
    assert not allowed(a) and a.finding.rule == "User-agent: ClearFrame / Disallow: /a/ (line 2)"
    b = c.check(server.url("/b/1"))
    assert not allowed(b) and b.finding.rule == "User-agent: ClearFrame / Disallow: /b/ (line 9)"
    assert allowed(c.check(server.url("/c/1")))  # a group names us, so `*` does not apply


def test_star_group_is_only_the_fallback(server: RobotsServer) -> None:
    assert allowed(
        check(
            server, "User-agent: *\nDisallow: /\n\nUser-agent: ClearFrame\nDisallow: /private\n", "/videos/1"
        )
    )
    assert allowed(check(server, "User-agent: *\nDisallow: /\n\nUser-agent: ClearFrame\nDisallow:\n", "/x"))
    v = check(server, "User-agent: somebot\nDisallow: /\n", "/x")
    assert allowed(v) and "no group" in v.finding.detail


def test_group_ends_at_next_user_agent_after_rules(server: RobotsServer) -> None:
    body = "User-agent: ClearFrame\nUser-agent: x\nDisallow: /a\nUser-agent: y\nDisallow: /b\n"
    server.robots(body)
    c = checker()
    assert not allowed(c.check(server.url("/a")))
    assert allowed(c.check(server.url("/b")))


def test_comments_case_and_robots_txt_itself(server: RobotsServer) -> None:
    server.robots("# hi\nuser-AGENT: clearFRAME # us\nDISALLOW: / # everything\n")
    c = checker()
    v = c.check(server.url("/x"))
    assert not allowed(v) and v.finding.rule == "User-agent: ClearFrame / DISALLOW: / (line 3)"
    assert allowed(c.check(server.url("/robots.txt")))  # implicitly allowed, RFC 9309 §2.2.2


def test_robots_larger_than_parse_limit(server: RobotsServer) -> None:
    """Decision: RFC 9309 §2.5 lets a crawler stop at its parsing limit (at least 500 KiB); ClearFrame
    reads max_bytes (512 KiB by default), parses whole lines only, ignores the rest and says so."""
    head = "User-agent: *\nDisallow: /early/\n"
    pad = "# " + "x" * 1000 + "\n"
    body = head + pad * 600 + "Disallow: /\n"  # ~600 KiB; the Disallow sits beyond 512 KiB
    assert len(body) > 600 * 1000
    ev = Evidence()
    server.robots(body)
    c = checker(store_evidence=ev)
    v = c.check(server.url("/videos/1"))
    assert allowed(v) and "only the first" in v.finding.detail and "RFC 9309 §2.5" in v.finding.detail
    assert not allowed(c.check(server.url("/early/1")))  # rules within the limit still apply
    stored, _ = ev.docs[v.finding.evidence or ""]
    assert len(stored) == 512 * 1024  # the evidence is exactly what was read


def test_parse_limit_drops_the_cut_last_line(server: RobotsServer) -> None:
    # "Allow: /videos/1-long-path" cut to "Allow: /v" would allow /videos/1 against Disallow: /.
    limit = 512 * 1024
    head = "User-agent: *\nDisallow: /\n"
    tail = "Allow: /videos/1-long-path\n"
    filler_len = limit - len(head) - len("Allow: /v")
    filler = ("#" * 99 + "\n") * (filler_len // 100) + "#" * (filler_len % 100 - 1) + "\n"
    body = head + filler + tail
    assert body.encode()[:limit].endswith(b"Allow: /v")
    assert not allowed(check(server, body, "/videos/1"))


def test_max_bytes_below_rfc_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="500|512000"):
        RobotsChecker(session(), TOKEN, max_bytes=RFC9309_MIN_PARSE_BYTES - 1)
    with pytest.raises(ValueError):
        RobotsChecker(session(), "ClearFrame/1.0")


def test_non_http_url_is_defer() -> None:
    f = checker().check("ftp://example.org/x").finding
    assert f.verdict is Verdict.DEFER and f.locator == "ftp://example.org/x"


def test_evidence_store_failure_is_defer(server: RobotsServer) -> None:
    def broken(data: bytes, media_type: str) -> str:
        raise OSError("disk full")

    server.robots("User-agent: *\nDisallow:\n")
    f = checker(store_evidence=broken).check(server.url("/x")).finding
    assert f.verdict is Verdict.DEFER and "disk full" in f.detail


def test_without_store_evidence_sha256_is_still_recorded(server: RobotsServer) -> None:
    server.robots("User-agent: *\nDisallow:\n")
    f = RobotsChecker(session(), TOKEN).check(server.url("/x")).finding
    assert f.evidence == hashlib.sha256(b"User-agent: *\nDisallow:\n").hexdigest()


def test_ai_tokens_list_and_img2dataset(server: RobotsServer) -> None:
    for tok in (
        "GPTBot",
        "CCBot",
        "Google-Extended",
        "ClaudeBot",
        "anthropic-ai",
        "Applebot-Extended",
        "Bytespider",
        "meta-externalagent",
        "cohere-training-data-crawler",
        "img2dataset",
        "PerplexityBot",
        "Amazonbot",
        "Diffbot",
        "omgili",
        "FacebookBot",
    ):
        assert tok in AI_TRAINING_TOKENS
    v = check(server, "User-agent: img2dataset\nDisallow: /\n", "/x")
    assert not allowed(v) and "img2dataset" in v.finding.detail
    v = check(server, "User-agent: GPTBot\nDisallow: /\n", "/x", ai_tokens=("CCBot",))
    assert allowed(v)  # the list is configurable


# --- caching, parsing once, concurrency -----------------------------------------------------------------


def test_one_fetch_and_one_parse_per_origin(
    server: RobotsServer, other_server: RobotsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import clearframe.gate.robots as robots

    splits = []
    real = robots._split_groups
    monkeypatch.setattr(robots, "_split_groups", lambda text: splits.append(1) or real(text))
    server.robots("User-agent: *\nDisallow: /private/\n")
    other_server.robots("User-agent: *\nDisallow: /\n")
    c = checker()
    for i in range(200):
        assert allowed(c.check(server.url(f"/videos/{i}")))
    assert not allowed(c.check(other_server.url("/videos/1")))  # another port is another origin
    assert server.hits["/robots.txt"] == 1 and other_server.hits["/robots.txt"] == 1
    assert len(splits) == 2


def test_ten_threads_one_origin_one_request(server: RobotsServer) -> None:
    server.robots("User-agent: *\nDisallow: /private/\nCrawl-delay: 2\n", delay=0.3)
    c = checker()
    barrier = threading.Barrier(10)
    results: list[RobotsVerdict] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        barrier.wait()
        v = c.check(server.url(f"/videos/{i}"))
        with lock:
            results.append(v)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 10
    assert all(v.finding.verdict is Verdict.NONE and v.crawl_delay == 2.0 for v in results)
    assert server.hits["/robots.txt"] == 1


# --- where protego 0.7.0 deviates from RFC 9309, and what we do instead --------------------------------


def test_protego_deviation_user_agent_prefix_match(server: RobotsServer) -> None:
    # protego applies a group named "Clear" to "ClearFrame" (prefix at a token boundary); RFC 9309 §2.2.1
    # wants the product token itself, and otherwise `*`.
    permissive = "User-agent: *\nDisallow: /\n\nUser-agent: Clear\nAllow: /\n"
    assert Protego.parse(permissive).can_fetch("http://h/videos/1", TOKEN)
    assert not allowed(check(server, permissive, "/videos/1"))
    restrictive = "User-agent: *\nDisallow: /private\n\nUser-agent: Clear\nDisallow: /\n"
    assert not Protego.parse(restrictive).can_fetch("http://h/videos/1", TOKEN)
    assert allowed(check(server, restrictive, "/videos/1"))
    # same for AI tokens: a "GPT" group is not a GPTBot refusal
    assert allowed(check(server, "User-agent: GPT\nDisallow: /\n", "/videos/1"))


def test_protego_deviation_user_agent_with_version(server: RobotsServer) -> None:
    # protego keeps "GPTBot/1.0" as the group name, so it never matches GPTBot; we read the product token.
    body = "User-agent: GPTBot/1.0\nDisallow: /\n"
    assert Protego.parse(body).can_fetch("http://h/x", "GPTBot")
    assert not allowed(check(server, body, "/x"))


def test_protego_deviation_byte_order_mark(server: RobotsServer) -> None:
    body = "\ufeffUser-agent: *\nDisallow: /\n"
    assert Protego.parse(body).can_fetch("http://h/x", TOKEN)  # the BOM hides the first user-agent line
    assert not allowed(check(server, body.encode("utf-8"), "/x"))


def test_protego_deviation_index_html_allows_directory(server: RobotsServer) -> None:
    # protego turns "Allow: /videos/index.html" into an extra "Allow: /videos/$" (not in RFC 9309).
    body = "User-agent: *\nDisallow: /videos/\nAllow: /videos/index.html\n"
    assert Protego.parse(body).can_fetch("http://h/videos/", TOKEN)
    server.robots(body)
    c = checker()
    assert not allowed(c.check(server.url("/videos/")))
    assert allowed(c.check(server.url("/videos/index.html")))
    assert not allowed(c.check(server.url("/videos/1")))


def test_protego_deviation_dollar_also_read_literally(server: RobotsServer) -> None:
    # protego adds "Allow: /a$" both anchored and as a literal "/a$" prefix; RFC 9309 reserves `$`.
    body = "User-agent: *\nDisallow: /\nAllow: /a$\n"
    assert Protego.parse(body).can_fetch("http://h/a$b", TOKEN)
    server.robots(body)
    c = checker()
    assert not allowed(c.check(server.url("/a$b")))
    assert not allowed(c.check(server.url("/a%24b")))
    assert allowed(c.check(server.url("/a")))  # the anchored reading still applies
    assert not allowed(c.check(server.url("/ab")))


# --- properties (hypothesis): the parser never crashes and an error never yields a pass ---------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


class _Body:
    """A robots.txt response served from memory (properties run thousands of examples; no socket each)."""

    def __init__(self, body: bytes, status: int = 200):
        self.status_code = status
        self.headers: dict[str, str] = {}
        self._body = body

    def iter_content(self, size: int):
        for i in range(0, len(self._body), size):
            yield self._body[i: i + size]

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _MemorySession:
    def __init__(self, body: bytes):
        self.body = body

    def get(self, url: str, **kw: object) -> _Body:
        return _Body(self.body)


_ROBOTS_LINES = st.lists(st.one_of(
    st.text(max_size=40),
    st.sampled_from(["User-agent: *", "User-agent: ClearFrameBot", "User-agent: GPTBot", "Disallow: /",
                     "Allow: /", "Disallow: /v/*$", "Allow: /v/$", "Crawl-delay: 5", "Crawl-delay: -1",
                     "Sitemap: /s.xml", "\ufeffUser-agent: *", "Disallow: /%7E", "# comment", ""]),
), max_size=30)
_PATHS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_ROBOTS_LINES, path=_PATHS, raw=st.binary(max_size=200))
def test_robots_never_crashes_and_never_grants(lines: list[str], path: str, raw: bytes) -> None:
    for body in ("\n".join(lines).encode("utf-8", "surrogatepass"), raw):
        checker = RobotsChecker(_MemorySession(body), "ClearFrameBot")
        v = checker.check("http://site.test/" + path)
        assert v.finding.verdict in (Verdict.NONE, Verdict.DENY, Verdict.DEFER)


@settings(max_examples=300, deadline=None)
@given(lines=_ROBOTS_LINES, path=_PATHS)
def test_robots_disallow_all_for_us_denies_whatever_else_the_file_says(lines: list[str], path: str) -> None:
    # Without any Allow line anywhere, a group for us that disallows "/" must deny every URL.
    prefix = [ln for ln in lines if "allow" not in ln.lower() or "disallow" in ln.lower()]
    body = "\n".join([*prefix, "", "User-agent: ClearFrameBot", "Disallow: /", ""]).encode("utf-8", "replace")
    checker = RobotsChecker(_MemorySession(body), "ClearFrameBot")
    assert checker.check("http://site.test/" + path).finding.verdict is Verdict.DENY
