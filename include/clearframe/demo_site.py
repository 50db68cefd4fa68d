"""A real local website on 127.0.0.1: the platform's demo http source, and the site tests and
benchmarks run against. Pages, media, robots.txt, and a counter of every request.

Routes map a path to a status, headers and a body (bytes or a file). Every request is counted per
(method, path), so a test can prove that a denied item got no media request.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Route:
    status: int = 200
    body: bytes | Path = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/html; charset=utf-8"
    delay_s: float = 0.0  # wait this long before sending a GET's body (a slow origin)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # parallel clients must never meet a dropped SYN (a 1 s retransmit)
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that went away (a killed worker, a closed pool): nothing to report
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class Site:
    def __init__(self, port: int = 0) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: Counter[tuple[str, str]] = Counter()
        self.user_agents: set[str] = set()
        self.cookies_seen = 0
        self.slow_in_flight = 0  # GETs of delayed routes being answered now, and the most at once
        self.slow_in_flight_max = 0
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, each small response on a kept-alive
            # connection stalls ~40 ms waiting for the client's delayed ACK (measured 44 ms vs 0.7 ms).
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, send_body: bool) -> None:
                path = self.path.split("?")[0]
                with site._lock:
                    site.requests[(self.command, path)] += 1
                    site.user_agents.add(self.headers.get("User-Agent", ""))
                    if self.headers.get("Cookie"):
                        site.cookies_seen += 1
                route = site.routes.get(path)
                if route is None:
                    route = Route(404, b"not found")
                body = route.body.read_bytes() if isinstance(route.body, Path) else route.body
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in route.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if send_body:
                    if route.delay_s:
                        with site._lock:
                            site.slow_in_flight += 1
                            site.slow_in_flight_max = max(site.slow_in_flight_max, site.slow_in_flight)
                        try:
                            time.sleep(route.delay_s)
                        finally:
                            with site._lock:
                                site.slow_in_flight -= 1
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass

            def do_GET(self) -> None:
                self._serve(True)

            def do_HEAD(self) -> None:
                self._serve(False)

        self.server = _Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Site:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, body: bytes | str | Path = b"", status: int = 200, *,
            content_type: str = "text/html; charset=utf-8", headers: dict[str, str] | None = None,
            delay_s: float = 0.0) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(status, data, headers or {}, content_type, delay_s)
        return self.url(path)

    def add_media(self, path: str, file: Path, **kw: object) -> str:
        return self.add(path, file, content_type="video/mp4", **kw)  # type: ignore[arg-type]

    def media_requests(self, path: str | None = None) -> int:
        """GETs of media paths (HEAD is metadata and does not count)."""
        with self._lock:
            return sum(n for (m, p), n in self.requests.items()
                       if m == "GET" and (p == path if path else p.startswith("/media/")))

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return self.requests[(method, path)]


def video_page(title: str, media_path: str, *, license_url: str | None = None, creator: str | None = None,
               link_license: str | None = None, extra_head: str = "", jsonld: bool = True) -> str:
    """An HTML page with a schema.org VideoObject and an HTML5 <video>, as many real sites have."""
    import json

    obj: dict[str, object] = {"@context": "https://schema.org", "@type": "VideoObject", "name": title,
                              "contentUrl": media_path}
    if license_url:
        obj["license"] = license_url
    if creator:
        obj["author"] = {"@type": "Person", "name": creator}
    ld = f'<script type="application/ld+json">{json.dumps(obj)}</script>' if jsonld else ""
    link = f'<link rel="license" href="{link_license}">' if link_license else ""
    return (f"<!doctype html><html><head><title>{title}</title>{ld}{link}{extra_head}</head>"
            f'<body><h1>{title}</h1><video controls><source src="{media_path}" type="video/mp4"></video>'
            "</body></html>")


DEMO_PORT = 8765
CC = "https://creativecommons.org/licenses/"
# path, title, creator, licence URL (None: no licence), and what the gate should decide
DEMO_PAGES = [
    ("/v/lighthouse", "Lighthouse", "Noor Haddad", CC + "by/4.0/", "allow"),
    ("/v/tram", "Tram at night", "Emil Sand", "https://creativecommons.org/publicdomain/zero/1.0/", "allow"),
    ("/v/waves", "Waves", "Noor Haddad", CC + "by/4.0/", "allow"),
    ("/v/concert", "Concert", "Jo Park", CC + "by-nc/4.0/", "deny"),
    ("/v/garden", "Garden", "Emil Sand", CC + "by-sa/4.0/", "review"),
    ("/v/untitled", "Untitled", "Jo Park", None, "deny"),
    ("/members/interview", "Interview", "Noor Haddad", CC + "by/4.0/", "deny"),  # robots.txt disallows
]


def build_demo_site(site: Site, media_dir: str) -> list[str]:
    """Populate `site` with the demo pages (clips generated into media_dir once); return the page URLs."""
    from pathlib import Path

    from clearframe.mediagen import make_clip

    site.add("/robots.txt", "User-agent: *\nDisallow: /members/\n", content_type="text/plain")
    urls = []
    for seed, (path, title, creator, lic, _expected) in enumerate(DEMO_PAGES, start=50):
        clip = Path(media_dir) / f"{path.rsplit('/', 1)[1]}.mp4"
        if not clip.exists():
            clip.parent.mkdir(parents=True, exist_ok=True)
            make_clip(str(clip), seconds=2.0, width=320, height=180, fps=25, audio=True, seed=seed)
        media = f"/media/{clip.name}"
        site.add_media(media, clip)
        urls.append(site.add(path, video_page(title, media, license_url=lic, creator=creator)))
    return urls


def main(argv: list[str] | None = None) -> int:
    """`python -m clearframe.demo_site [--port N] [--media DIR]`: serve the demo site until interrupted."""
    import argparse
    import os
    import signal
    import threading

    p = argparse.ArgumentParser(description="Serve ClearFrame's demo video site on 127.0.0.1.")
    p.add_argument("--port", type=int, default=DEMO_PORT)
    p.add_argument("--media", default=os.path.join(os.environ.get("CLEARFRAME_HOME", "."), "demo", "site"))
    args = p.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Site(args.port) as site:
        build_demo_site(site, args.media)
        print(f"demo site on {site.base}", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
