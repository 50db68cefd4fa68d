"""Fetch: only what the gate allowed. Streamed to a temporary file with the sha256 computed while
writing, capped in size, renamed into place only when complete."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import requests

from clearframe.config import FetchOptions
from clearframe.net import HostPoliteness, SessionPool, polite_request
from clearframe.records import Candidate, Fetched, Finding, Probe, Verdict
from clearframe.storage import StorageError

CHUNK = 1024 * 1024


class TooLarge(Exception):
    pass


def _suffix(url: str) -> str:
    ext = os.path.splitext(urlsplit(url).path)[1].lower()
    return ext if ext in (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".ogv", ".avi") else ".mp4"


def stream_to_file(chunks, dest: Path, max_bytes: int) -> tuple[str, int]:
    """Write chunks to `dest` atomically; returns (sha256, bytes). Nothing appears at dest on failure."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=dest.parent)
    h = hashlib.sha256()
    n = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                if not chunk:
                    continue
                n += len(chunk)
                if n > max_bytes:
                    raise TooLarge(f"larger than the source's fetch.max_bytes ({max_bytes} bytes)")
                h.update(chunk)
                out.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return h.hexdigest(), n


def _file_chunks(path: str):
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


class Fetcher:
    def __init__(self, sessions: SessionPool | None, hosts: HostPoliteness | None, work_dir: Path,
                 opts: FetchOptions):
        self.sessions = sessions
        self.hosts = hosts
        self.work_dir = work_dir
        self.opts = opts

    def fetch(self, cand: Candidate, probe: Probe) -> Fetched | Finding:
        try:
            got = self._fetch_delivery(cand) if cand.kind == "delivery" else self._fetch_http(cand, probe)
        except TooLarge as exc:
            return Finding("fetch", Verdict.DENY, f"{probe.media_url or cand.url}: {exc}", locator=cand.url)
        except OSError as exc:
            return Finding("fetch", Verdict.DEFER, f"{cand.url}: could not be read ({exc}); deferred",
                           locator=cand.url)
        except StorageError as exc:  # e.g. no credentials for the partner's bucket: a check that cannot run
            return Finding("fetch", Verdict.DEFER, f"{cand.url}: {exc}; deferred until it can be read",
                           locator=cand.url)
        if isinstance(got, Fetched) and cand.sha256 and got.sha256 != cand.sha256:
            Path(got.path).unlink(missing_ok=True)
            return Finding("fetch", Verdict.DENY, f"{cand.url}: sha256 {got.sha256} differs from the manifest's "
                           f"{cand.sha256}; the delivery is damaged, ask the partner to resend", locator=cand.url)
        return got

    def _fetch_http(self, cand: Candidate, probe: Probe) -> Fetched | Finding:
        assert self.sessions is not None and self.hosts is not None and probe.media_url
        # Where the HEAD ended up: any other origin on the way was admitted by the gate (robots.txt and
        # registry) before it was asked; a new redirect at GET time to an unchecked origin defers.
        url = probe.final_media_url or probe.media_url
        if probe.content_length and probe.content_length > self.opts.max_bytes:
            raise TooLarge(f"Content-Length {probe.content_length} is larger than fetch.max_bytes "
                           f"({int(self.opts.max_bytes)} bytes)")
        dest = self.work_dir / f"{cand.key}{_suffix(url)}"
        got: list[tuple[str, int, str | None] | Finding] = []

        def download(resp: requests.Response) -> None:
            """The body, read while this host's slot is held (fetch.per_host covers transfers too)."""
            try:
                digest, n = stream_to_file(resp.iter_content(CHUNK), dest, int(self.opts.max_bytes))
                got.append((digest, n, resp.headers.get("Content-Type")))
            except TooLarge:  # a size cap is a DENY, decided in fetch(), not a failed transfer
                raise
            except requests.RequestException as exc:  # an OSError subclass, but the network's fault, not ours
                got.append(Finding("fetch", Verdict.DEFER, f"{url}: transfer failed ({exc.__class__.__name__}); "
                                   "deferred", locator=url))
            except OSError:
                raise
            except Exception as exc:  # a connection that breaks mid-body
                got.append(Finding("fetch", Verdict.DEFER, f"{url}: transfer failed ({exc.__class__.__name__}); "
                                   "deferred", locator=url))
            finally:
                resp.close()

        resp, finding = polite_request(self.sessions, self.hosts, "GET", url, signal="fetch",
                                       timeout=self.opts.timeout_s, max_retries=self.opts.max_retries,
                                       max_retry_after=self.opts.max_retry_after_s, stream=True, consume=download)
        if finding:
            return finding
        assert got, f"{url}: a 2xx answer that was never read"
        if isinstance(got[0], Finding):
            return got[0]
        digest, n, content_type = got[0]
        return Fetched(str(dest), digest, n, url, content_type)

    def _fetch_delivery(self, cand: Candidate) -> Fetched:
        assert cand.url
        dest = self.work_dir / f"{cand.key}{_suffix(cand.url)}"
        if cand.url.startswith("s3://"):
            from clearframe.storage import open_storage

            bucket, _, key = cand.url[5:].partition("/")
            store = open_storage(f"s3://{bucket}")
            tmp = dest.with_name(f".dl-{dest.name}")
            store.download(key, str(tmp))
            try:
                digest, n = stream_to_file(_file_chunks(str(tmp)), dest, int(self.opts.max_bytes))
            finally:
                tmp.unlink(missing_ok=True)
        else:
            path = cand.url[7:] if cand.url.startswith("file://") else cand.url
            digest, n = stream_to_file(_file_chunks(path), dest, int(self.opts.max_bytes))
        return Fetched(str(dest), digest, n, cand.url)
