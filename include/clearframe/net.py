"""HTTP with one honest identity and per-host politeness.

Every request ClearFrame makes carries the same User-Agent, no cookies and no proxy. A host that
refuses (401/403/451) is stopped for the run; a 429 makes the whole host wait at least Retry-After.
Nothing here ever retries a refusal with another identity.
"""

from __future__ import annotations

import datetime
import email.utils
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from clearframe.records import Finding, Verdict

REFUSAL_STATUSES = frozenset({401, 403, 451})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5


def make_session(user_agent: str, pool_size: int = 16) -> requests.Session:
    s = requests.Session()
    s.headers.update({"User-Agent": user_agent, "Accept-Encoding": "identity"})
    # No cookies, ever: a cookie wall is a refusal, not something to get past.
    s.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    # Environment proxies are ignored so requests come from this machine as themselves.
    s.trust_env = False
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


class SessionPool:
    """One requests.Session per thread (Session is not documented as thread-safe), same identity."""

    def __init__(self, user_agent: str):
        self.user_agent = user_agent
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = make_session(self.user_agent)
            self._local.session = s
            with self._lock:
                self._all.append(s)
        return s

    def close(self) -> None:
        with self._lock:
            for s in self._all:
                s.close()
            self._all.clear()


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else "")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # every HTTP-date is GMT (RFC 9110 §5.6.7); the asctime form names no zone
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


class HostStopped(Exception):
    """The host refused us earlier in this run; its remaining candidates are deferred."""

    def __init__(self, host: str, reason: str):
        self.host = host
        self.reason = reason
        super().__init__(f"{host}: stopped for this run ({reason})")


class HostBusy(Exception):
    """The host asked for quiet (Retry-After) for longer than a worker may wait."""

    def __init__(self, host: str, seconds: float):
        super().__init__(f"{host} asked for {seconds:.0f}s more of quiet (Retry-After)")
        self.host = host
        self.seconds = seconds


@dataclass
class _HostState:
    slots: threading.Semaphore
    crawl_delay: float = 0.0
    next_start: float = 0.0
    retry_until: float = 0.0  # set by a 429's Retry-After
    stopped: str | None = None


class HostPoliteness:
    """Per-host concurrency cap, request spacing (Crawl-delay), Retry-After and stop-on-refusal."""

    def __init__(
        self,
        per_host: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.per_host = per_host
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._hosts: dict[str, _HostState] = {}

    def _state(self, host: str) -> _HostState:
        with self._lock:
            st = self._hosts.get(host)
            if st is None:
                st = self._hosts[host] = _HostState(threading.Semaphore(self.per_host))
            return st

    def set_crawl_delay(self, host: str, seconds: float | None) -> None:
        if seconds:
            st = self._state(host)
            with self._lock:
                st.crawl_delay = max(st.crawl_delay, float(seconds))

    def wait_at_least(self, host: str, seconds: float) -> None:
        """After a 429: nobody talks to this host again before `seconds` have passed."""
        st = self._state(host)
        with self._lock:
            st.next_start = max(st.next_start, self._clock() + seconds)
            st.retry_until = max(st.retry_until, self._clock() + seconds)

    def retry_wait(self, host: str) -> float:
        """Seconds this host still asked us (by Retry-After) to leave it alone."""
        st = self._state(host)
        with self._lock:
            return max(0.0, st.retry_until - self._clock())

    def stop(self, host: str, reason: str) -> None:
        st = self._state(host)
        with self._lock:
            if st.stopped is None:
                st.stopped = reason

    def stopped(self, host: str) -> str | None:
        return self._state(host).stopped

    @contextmanager
    def slot(self, url: str, max_wait: float | None = None) -> Iterator[None]:
        """One request's turn at the host: a slot, and the start time Crawl-delay and Retry-After allow.

        With `max_wait`, a turn further away than that raises HostBusy instead of parking the worker (a
        429 answered to another thread while this one queued for the slot can push the turn far out).
        """
        host = host_of(url)
        st = self._state(host)
        if st.stopped:
            raise HostStopped(host, st.stopped)
        with st.slots:
            with self._lock:
                start = max(self._clock(), st.next_start)
                if max_wait is not None and start - self._clock() > max_wait:
                    raise HostBusy(host, start - self._clock())
                st.next_start = start + st.crawl_delay
            delay = start - self._clock()
            if delay > 0:
                self._sleep(delay)
            if st.stopped:
                raise HostStopped(host, st.stopped)
            try:
                yield
            finally:
                # Crawl-delay counts from the end of a request too, so a slow connect or answer cannot
                # bring the next request closer than the delay at the host's end.
                if st.crawl_delay:
                    with self._lock:
                        st.next_start = max(st.next_start, self._clock() + st.crawl_delay)


def polite_request(
    sessions: SessionPool,
    hosts: HostPoliteness,
    method: str,
    url: str,
    *,
    signal: str,
    timeout: float,
    max_retries: int = 3,
    max_retry_after: float = 300,
    stream: bool = False,
    headers: dict[str, str] | None = None,
    admit: Callable[[str], Finding | None] | None = None,
    consume: Callable[[requests.Response], None] | None = None,
) -> tuple[requests.Response | None, Finding | None]:
    """One request under the host's politeness rules; a non-2xx outcome becomes a Finding.

    `consume`, with `stream=True`, is called with a 2xx response while the host's slot is still held, so
    the body's transfer counts against the per-host cap and Crawl-delay runs from its end. Without it a
    streamed body would be read after the slot is released, and a task's fetch threads could download
    from one host at once, beyond `fetch.per_host`.

    429 waits at least Retry-After (same identity) and tries again a bounded number of times;
    401/403/451 stop the host for the run; 5xx and network errors defer; 404/410 deny (nothing there).
    Redirects are followed by hand, at most MAX_REDIRECTS in all. Within the URL's origin they are simply
    followed. A redirect to another origin is followed only if `admit(target)` is given and lets it
    through: the gate's admit checks that origin's blocked-domain entry, platform terms and robots.txt
    *before* the first request goes there, and returns a restricting Finding (DENY, DEFER or REVIEW) that
    stops the chain. Without `admit`, another origin's robots.txt was never checked, so it defers.
    """
    host = host_of(url)
    first_url, hops, attempt = url, 0, 0
    admitted = {origin_of(url)}
    while attempt <= max_retries:
        left = hosts.retry_wait(host)
        if left > max_retry_after:  # do not park a worker for longer than we would wait on a retry
            return None, Finding(signal, Verdict.DEFER, f"{host} asked for {left:.0f}s more of quiet "
                                 "(Retry-After); deferred, the host is left alone", locator=url)
        try:
            with hosts.slot(url, max_wait=max_retry_after):
                resp = sessions.get().request(method, url, timeout=timeout, stream=stream, headers=headers,
                                              allow_redirects=False)
                if resp.status_code == 429:  # before the slot is released, so no queued request slips in
                    wait = parse_retry_after(resp.headers.get("Retry-After"))
                    hosts.wait_at_least(host, 1.0 if wait is None else wait)
                elif resp.status_code < 300 and consume is not None:
                    consume(resp)
        except HostStopped as exc:
            return None, Finding(signal, Verdict.DEFER, f"{exc}; deferred to a later run", locator=url)
        except HostBusy as exc:
            return None, Finding(signal, Verdict.DEFER, f"{exc}; deferred, the host is left alone", locator=url)
        except requests.RequestException as exc:
            return None, Finding(signal, Verdict.DEFER, f"{method} {url} failed: {exc.__class__.__name__}; "
                                 "deferred to a later run", locator=url)
        status = resp.status_code
        if status < 300:
            return resp, None
        resp.close()
        if status in REDIRECT_STATUSES and resp.headers.get("Location"):
            target = urljoin(url, resp.headers["Location"])
            hops += 1
            if hops > MAX_REDIRECTS:
                return None, Finding(signal, Verdict.DEFER, f"{first_url}: more than {MAX_REDIRECTS} redirects; "
                                     "deferred", locator=first_url, status=status)
            if not target.lower().startswith(("http://", "https://")):
                return None, Finding(signal, Verdict.DEFER, f"{url} redirects to a non-http(s) URL {target!r}; "
                                     "deferred", locator=url, status=status)
            if origin_of(target) not in admitted:
                if admit is None:
                    return None, Finding(signal, Verdict.DEFER, f"{url} redirects to another origin ({target}); "
                                         "not followed, since that origin's robots.txt was not checked; deferred",
                                         locator=url, status=status)
                try:
                    stop = admit(target)
                except Exception as exc:  # fail closed: an admit that breaks never lets the request through
                    stop = Finding(signal, Verdict.DEFER, f"checking {target} failed ({exc.__class__.__name__}: "
                                   f"{exc}); deferred", locator=target)
                if stop is not None and stop.verdict in (Verdict.DENY, Verdict.DEFER, Verdict.REVIEW):
                    return None, replace(stop, detail=f"{url} redirects to {target}, which was not "
                                         f"requested: {stop.detail}")
                admitted.add(origin_of(target))
            url = target
            host = host_of(url)
            continue
        attempt += 1
        if status == 429:
            wait = parse_retry_after(resp.headers.get("Retry-After"))
            wait = 1.0 if wait is None else wait
            if wait > max_retry_after or attempt > max_retries:
                return None, Finding(signal, Verdict.DEFER, f"{url} answered 429 (Retry-After {wait:.0f}s); "
                                     "deferred, the host is left alone", locator=url, status=status)
            continue
        if status in REFUSAL_STATUSES:
            hosts.stop(host, f"{url} answered {status}")
            return None, Finding(signal, Verdict.DEFER, f"{url} answered {status}: {host} is stopped for this "
                                 "run and its candidates deferred; no retry with another identity",
                                 locator=url, status=status)
        if status in (404, 410):
            return None, Finding(signal, Verdict.DENY, f"{url} answered {status}: nothing there; fix or remove "
                                 "the input", locator=url, status=status)
        return None, Finding(signal, Verdict.DEFER, f"{url} answered {status}; deferred to a later run",
                             locator=url, status=status)
    raise AssertionError("unreachable")
