"""clearframe.fetch: streamed, size-capped, atomic downloads with a sha256, from http or a delivery folder.

"Atomic" is checked the hard way: after every failure the work folder is listed, and neither the
destination nor a `.part-` temporary may be left in it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearframe.config import FetchOptions
from clearframe.fetch import Fetcher, stream_to_file
from clearframe.net import HostPoliteness, SessionPool
from clearframe.records import Candidate, Fetched, Finding, Probe, Verdict
from support.site import Site

UA = "ClearFrameBot/0.1 (+https://clearframe.dev/bot)"
PAYLOAD = os.urandom(3 * 1024 * 1024 + 12345)  # several 1 MiB chunks plus a ragged tail


@pytest.fixture
def sessions() -> Iterator[SessionPool]:
    pool = SessionPool(UA)
    yield pool
    pool.close()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


def fetcher(sessions: SessionPool | None, work: Path, **opts: object) -> Fetcher:
    options = FetchOptions(**{"timeout_s": 5, "max_retries": 0, **opts})  # type: ignore[arg-type]
    return Fetcher(sessions, HostPoliteness(4) if sessions else None, work, options)


def http_candidate(url: str, sha256: str | None = None) -> Candidate:
    return Candidate(source="t", kind="http", canonical_id=f"url:{url}", url=url, locator="test",
                     sha256=sha256)


def delivery_candidate(path: Path, sha256: str | None) -> Candidate:
    return Candidate(source="t", kind="delivery", canonical_id=f"delivery:{path.name}", url=str(path),
                     locator="manifest.csv:2", contract_id="C-1", sha256=sha256)


def leftovers(work: Path) -> list[str]:
    return sorted(p.name for p in work.rglob("*"))


# --- http -------------------------------------------------------------------------------------------------


def test_http_fetch_writes_the_exact_bytes_and_their_sha256(site: Site, sessions: SessionPool, work: Path,
                                                            tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(PAYLOAD)
    url = site.add_media("/media/a.mp4", tmp_path / "a.mp4")
    got = fetcher(sessions, work).fetch(http_candidate(url), Probe(media_url=url))
    assert isinstance(got, Fetched)
    assert Path(got.path).read_bytes() == PAYLOAD
    assert got.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert got.bytes == len(PAYLOAD)
    assert got.content_type == "video/mp4"
    assert leftovers(work) == [Path(got.path).name]  # no temporary left beside it
    assert site.media_requests("/media/a.mp4") == 1


def test_http_fetch_over_max_bytes_is_denied_and_leaves_no_file(site: Site, sessions: SessionPool, work: Path,
                                                                tmp_path: Path) -> None:
    (tmp_path / "big.mp4").write_bytes(PAYLOAD)
    url = site.add_media("/media/big.mp4", tmp_path / "big.mp4")
    # The probe learnt no size (e.g. HEAD answered 405), so the cap has to hold while streaming.
    got = fetcher(sessions, work, max_bytes=1024 * 1024).fetch(http_candidate(url), Probe(media_url=url))
    assert isinstance(got, Finding)
    assert got.verdict is Verdict.DENY
    assert "max_bytes" in got.detail
    assert leftovers(work) == []


def test_content_length_above_max_bytes_is_rejected_before_any_get(site: Site, sessions: SessionPool,
                                                                   work: Path, tmp_path: Path) -> None:
    (tmp_path / "big.mp4").write_bytes(PAYLOAD)
    url = site.add_media("/media/big.mp4", tmp_path / "big.mp4")
    probe = Probe(media_url=url, content_length=len(PAYLOAD))
    got = fetcher(sessions, work, max_bytes=1024 * 1024).fetch(http_candidate(url), probe)
    assert isinstance(got, Finding) and got.verdict is Verdict.DENY
    assert str(len(PAYLOAD)) in got.detail
    assert site.media_requests() == 0
    assert leftovers(work) == []


def test_http_fetch_refused_by_the_host_defers_and_writes_nothing(site: Site, sessions: SessionPool,
                                                                  work: Path) -> None:
    url = site.add("/media/a.mp4", b"no", status=403)
    got = fetcher(sessions, work).fetch(http_candidate(url), Probe(media_url=url))
    assert isinstance(got, Finding) and got.verdict is Verdict.DEFER and got.status == 403
    assert leftovers(work) == []


class CutOffServer:
    """Promises a large body, sends part of it and closes the connection."""

    def __init__(self, promised: int, sent: int) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/media/cut.mp4"
        self.requests = 0
        self._promised, self._sent = promised, sent
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n"
                             b"Content-Length: %d\r\n\r\n" % self._promised)
                conn.sendall(PAYLOAD[: self._sent])

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def cut_off() -> Iterator[CutOffServer]:
    s = CutOffServer(promised=len(PAYLOAD), sent=1_500_000)
    yield s
    s.close()


def test_connection_closed_mid_body_defers_and_leaves_no_partial_file(
        cut_off: CutOffServer, sessions: SessionPool, work: Path) -> None:
    page = "http://127.0.0.1:9/v/page"  # the candidate's page; the media lives elsewhere
    got = fetcher(sessions, work).fetch(http_candidate(page), Probe(media_url=cut_off.url))
    assert cut_off.requests == 1
    assert isinstance(got, Finding)
    assert got.verdict is Verdict.DEFER
    assert got.locator == cut_off.url and "transfer failed" in got.detail  # names what broke
    assert leftovers(work) == []


# --- delivery ---------------------------------------------------------------------------------------------


def test_delivery_fetch_verifies_the_manifest_sha256(tmp_path: Path, work: Path) -> None:
    src = tmp_path / "delivery" / "clip.mp4"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    got = fetcher(None, work).fetch(delivery_candidate(src, digest), Probe())
    assert isinstance(got, Fetched)
    assert got.sha256 == digest and got.bytes == len(PAYLOAD)
    assert Path(got.path).read_bytes() == PAYLOAD
    assert src.read_bytes() == PAYLOAD  # the partner's copy is read, never moved


def test_delivery_sha256_mismatch_is_denied_and_the_copy_removed(tmp_path: Path, work: Path) -> None:
    src = tmp_path / "delivery" / "clip.mp4"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    wrong = hashlib.sha256(b"what the manifest promised").hexdigest()
    got = fetcher(None, work).fetch(delivery_candidate(src, wrong), Probe())
    assert isinstance(got, Finding)
    assert got.verdict is Verdict.DENY
    assert wrong in got.detail and "manifest" in got.detail
    assert leftovers(work) == []


def test_delivery_file_url_is_read_like_a_path(tmp_path: Path, work: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"\x00\x01partner bytes")
    cand = delivery_candidate(src, hashlib.sha256(b"\x00\x01partner bytes").hexdigest())
    cand.url = f"file://{src}"
    got = fetcher(None, work).fetch(cand, Probe())
    assert isinstance(got, Fetched) and Path(got.path).read_bytes() == b"\x00\x01partner bytes"


def test_delivery_missing_file_defers(tmp_path: Path, work: Path) -> None:
    got = fetcher(None, work).fetch(delivery_candidate(tmp_path / "absent.mp4", None), Probe())
    assert isinstance(got, Finding) and got.verdict is Verdict.DEFER
    assert "absent.mp4" in got.detail
    assert leftovers(work) == []


def test_delivery_over_max_bytes_is_denied_and_leaves_no_file(tmp_path: Path, work: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_bytes(PAYLOAD)
    got = fetcher(None, work, max_bytes=1024 * 1024).fetch(delivery_candidate(src, None), Probe())
    assert isinstance(got, Finding) and got.verdict is Verdict.DENY
    assert leftovers(work) == []


# --- stream_to_file -------------------------------------------------------------------------------------


def test_stream_to_file_failure_leaves_neither_destination_nor_temporary(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "x.mp4"

    def chunks() -> Iterator[bytes]:
        yield b"a" * 100
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        stream_to_file(chunks(), dest, max_bytes=10_000)
    assert leftovers(tmp_path / "out") == []


def test_stream_to_file_replaces_destination_only_when_complete(tmp_path: Path) -> None:
    dest = tmp_path / "x.mp4"
    dest.write_bytes(b"previous complete file")
    with pytest.raises(Exception, match="max_bytes"):
        stream_to_file(iter([b"a" * 600, b"b" * 600]), dest, max_bytes=1000)
    assert dest.read_bytes() == b"previous complete file"
    digest, n = stream_to_file(iter([b"new", b"", b" file"]), dest, max_bytes=1000)
    assert dest.read_bytes() == b"new file" and n == 8
    assert digest == hashlib.sha256(b"new file").hexdigest()
    assert leftovers(tmp_path) == ["x.mp4"]


@pytest.mark.parametrize("per_host", [1, 3])
def test_the_per_host_cap_covers_the_transfer_not_only_the_request(site: Site, sessions: SessionPool, work: Path,
                                                                   tmp_path: Path, per_host: int) -> None:
    """A slow origin answers its headers at once and its bodies slowly: with three fetch threads, no more
    than `per_host` bodies may be in transfer from the host at a time (the fleet test found them at 4 for
    a cap of 2 when the slot was released before the body was read)."""
    (tmp_path / "clip.mp4").write_bytes(PAYLOAD[:50_000])
    urls = [site.add(f"/media/slow-{i}.mp4", tmp_path / "clip.mp4", content_type="video/mp4", delay_s=0.4)
            for i in range(3)]
    options = FetchOptions(timeout_s=5, max_retries=0)  # type: ignore[call-arg]
    f = Fetcher(sessions, HostPoliteness(per_host), work, options)
    results: list[Fetched | Finding] = []
    threads = [threading.Thread(target=lambda u=u: results.append(f.fetch(http_candidate(u), Probe(media_url=u))))
               for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 3 and all(isinstance(r, Fetched) and r.bytes == 50_000 for r in results), results
    assert site.slow_in_flight_max == per_host
