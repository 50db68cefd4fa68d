"""The benchmark's website on 127.0.0.1: N pages `/v/<i>`, each pointing at `/media/<i>.mp4`.

(Named bench_site, not site: a module called `site` next to a script would shadow the stdlib one.)

It reuses the test suite's real server (`tests/support/site.py`: a ThreadingHTTPServer that counts
every request per method and path) and its `video_page()` (schema.org VideoObject JSON-LD with a
CC-BY licence and an author, plus an HTML5 <video>), so the benchmark exercises the same kind of page
the integration tests do. Media bodies are held in memory (read once at start) rather than read from
disk per request. The server itself (clearframe.demo_site.Site) sets TCP_NODELAY and a listen backlog
of 128: without them every small response on a kept-alive connection stalled ~40 ms, which flattered
any parallel client against a sequential one such as yt-dlp.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from support.site import Site, video_page  # noqa: E402

CC_BY = "https://creativecommons.org/licenses/by/4.0/"
ROBOTS = "User-agent: *\nAllow: /\n"


class BenchSite(Site):
    """`Site` (which already has TCP_NODELAY and a 128 backlog) plus request snapshots by kind."""

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self.requests)

    @staticmethod
    def classify(delta: Counter[tuple[str, str]]) -> dict[str, int]:
        """Requests between two snapshots by kind: page GETs, media GETs, HEADs, robots.txt, other."""
        out = Counter[str]()
        for (method, path), n in delta.items():
            if path == "/robots.txt":
                kind = "robots"
            elif method == "HEAD":
                kind = "head"
            elif path.startswith("/media/"):
                kind = "media_get"
            elif path.startswith("/v/"):
                kind = "page_get"
            else:
                kind = "other"
            out[kind] += n
        return dict(out)


def populate(site: Site, clips: list[Path]) -> list[str]:
    """Serve clip i as /media/<i>.mp4 behind page /v/<i>; return the page URLs in order."""
    site.add("/robots.txt", ROBOTS, content_type="text/plain; charset=utf-8")
    urls = []
    for i, clip in enumerate(clips):
        media = f"/media/{i}.mp4"
        site.add(media, clip.read_bytes(), content_type="video/mp4")  # bytes: served from memory
        urls.append(site.add(f"/v/{i}", video_page(f"Bench clip {i}", media, license_url=CC_BY,
                                                   creator=f"Bench Creator {i % 17}")))
    return urls
