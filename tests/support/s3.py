"""A real (HTTP) S3 server for tests: moto's ThreadedMotoServer on 127.0.0.1, on a free port.

    from support.s3 import moto_s3

    @pytest.fixture
    def s3_endpoint():
        with moto_s3(buckets=["clearframe-test"]) as endpoint:
            yield endpoint

While the context is open the environment points every boto3 client in the process at the server
(``CLEARFRAME_S3_ENDPOINT`` and ``AWS_ENDPOINT_URL``) with fake credentials and region, and is hermetic
(no AWS profile or config file, no instance metadata, loopback bypasses proxies). On exit the environment
is restored exactly, moto's state is reset and the server stopped.

moto keeps its state in process-wide backends, so two servers open at once in one process share buckets.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

REGION = "us-east-1"

_ENV_SET = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_ENV_UNSET = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def s3_client(endpoint: str) -> Any:
    """A plain boto3 S3 client for ``endpoint`` (for assertions through the raw S3 API)."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client("s3", endpoint_url=endpoint)


def reset(endpoint: str) -> None:
    """Drop every bucket and object in the moto server (moto's state is process-wide)."""
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        resp.read()


@contextmanager
def _patched_env(endpoint: str) -> Iterator[None]:
    names = [*_ENV_SET, *_ENV_UNSET, "CLEARFRAME_S3_ENDPOINT", "AWS_ENDPOINT_URL", "NO_PROXY", "no_proxy"]
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in _ENV_UNSET:
            os.environ.pop(name, None)
        os.environ.update(_ENV_SET)
        os.environ["CLEARFRAME_S3_ENDPOINT"] = endpoint
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        for name in ("NO_PROXY", "no_proxy"):
            current = [p for p in (saved[name] or "").split(",") if p]
            os.environ[name] = ",".join([*current, "127.0.0.1", "localhost"])
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _stop(server: Any, host: str, port: int) -> None:
    """server.stop(), without waiting out werkzeug's 0.5 s shutdown poll: poke the socket to wake it."""
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    while stopper.is_alive():
        try:
            socket.create_connection((host, port), timeout=0.2).close()
        except OSError:
            pass
        stopper.join(0.01)


@contextmanager
def moto_s3(buckets: Iterable[str] = ()) -> Iterator[str]:
    """Run moto's S3 server on 127.0.0.1 (free port); yield its endpoint URL, e.g. http://127.0.0.1:PORT."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request at INFO; keep its warnings and errors (server tracebacks).
    wz_logger = logging.getLogger("werkzeug")
    wz_level = wz_logger.level
    wz_logger.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        endpoint = f"http://{host}:{port}"
        with _patched_env(endpoint):
            try:
                if buckets:
                    client = s3_client(endpoint)
                    for bucket in buckets:
                        client.create_bucket(Bucket=bucket)
                yield endpoint
            finally:
                reset(endpoint)
    finally:
        _stop(server, host, port)
        wz_logger.setLevel(wz_level)
