"""One storage root for every artefact: a local folder or ``s3://bucket/prefix``.

``open_storage(uri)`` returns a :class:`Storage`; keys are ``/``-separated paths relative to its root.

Writes are atomic: an object is either absent or complete, never half-written.

* Local: data goes to a temp file named ``.tmp-*`` in the destination folder (which ``list()`` ignores and
  keys may not use), is fsynced, then ``os.replace``\\ d over the key.
* S3: boto3's transfer manager uploads (multipart above ``CLEARFRAME_S3_MULTIPART_THRESHOLD``, default
  8 MiB). A multipart object only becomes visible on CompleteMultipartUpload; on failure the transfer
  manager aborts the upload, so no object appears. ``put_if_absent`` is a conditional PUT
  (``If-None-Match: *``), so two writers of the same content-addressed key never both "win".

Environment (S3 only):

* ``CLEARFRAME_S3_ENDPOINT`` - endpoint URL (moto, MinIO, ...). boto3's own ``AWS_ENDPOINT_URL_S3`` /
  ``AWS_ENDPOINT_URL`` also work; ``CLEARFRAME_S3_ENDPOINT`` wins if both are set.
* ``CLEARFRAME_S3_ADDRESSING_STYLE`` - ``path`` | ``virtual`` | ``auto``; default ``path`` when a custom
  endpoint is configured, else ``auto``.
* ``CLEARFRAME_S3_MULTIPART_THRESHOLD`` / ``CLEARFRAME_S3_MULTIPART_CHUNKSIZE`` - bytes, or with a
  ``K``/``M``/``G`` (binary) suffix, e.g. ``16M``. The chunk size defaults to max(threshold, 5 MiB).
* ``CLEARFRAME_S3_MAX_CONCURRENCY`` - threads per transfer (default 8).
* ``CLEARFRAME_S3_MAX_POOL_CONNECTIONS`` - HTTP pool of the shared client (default 64); size it for
  (threads using one Storage) x (transfer concurrency).

Storage objects are safe to share between threads (one boto3 client per S3Storage, created lazily).
"""

from __future__ import annotations

import abc
import errno
import io
import os
import re
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from clearframe.errors import ClearFrameError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "TMP_PREFIX",
    "InvalidKeyError",
    "LocalStorage",
    "NotFoundError",
    "S3Storage",
    "Storage",
    "StorageError",
    "new_s3_client",
    "open_storage",
]

TMP_PREFIX = ".tmp-"
"""Name prefix of in-flight temp files; ``list()`` ignores them and keys may not use it."""

MiB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 8 * MiB
S3_MIN_PART_SIZE = 5 * MiB
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_MAX_POOL_CONNECTIONS = 64
S3_MAX_KEY_BYTES = 1024
_COPY_BUFSIZE = 1 * MiB

Source = str | os.PathLike[str] | IO[bytes]


class StorageError(ClearFrameError):
    """A storage operation failed; the message names the URI and what to do."""


class NotFoundError(StorageError, FileNotFoundError):
    """The key does not exist (also a ``FileNotFoundError``)."""


class InvalidKeyError(StorageError, ValueError):
    """The key is not a clean relative '/'-separated path (also a ``ValueError``)."""


# --------------------------------------------------------------------------------------------- keys


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidKeyError(f"storage key must be a non-empty string, got {key!r}")
    _check_chars(key)
    if key.startswith("/"):
        raise InvalidKeyError(f"storage key {key!r} is absolute: keys are relative to the storage root")
    for part in key.split("/"):
        _check_component(key, part)
    return key


def _check_prefix(prefix: str) -> str:
    """A list() prefix: '' or a key-like string, which may end in '/' or in a partial name."""
    if not isinstance(prefix, str):
        raise InvalidKeyError(f"storage prefix must be a string, got {prefix!r}")
    if not prefix:
        return prefix
    _check_chars(prefix)
    if prefix.startswith("/"):
        raise InvalidKeyError(f"storage prefix {prefix!r} is absolute: prefixes are relative to the root")
    *dirs, last = prefix.split("/")
    for part in dirs:
        _check_component(prefix, part)
    if last == "..":
        raise InvalidKeyError(f"storage prefix {prefix!r} contains '..'")
    return prefix


def _check_chars(key: str) -> None:
    if "\\" in key:
        raise InvalidKeyError(f"storage key {key!r} contains a backslash: use '/' as the separator")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InvalidKeyError(f"storage key {key!r} contains control characters")


def _check_component(key: str, part: str) -> None:
    if part in ("", "."):
        raise InvalidKeyError(f"storage key {key!r} has an empty or '.' path segment")
    if part == "..":
        raise InvalidKeyError(f"storage key {key!r} contains '..': keys may not leave the storage root")
    if part.startswith(TMP_PREFIX):
        raise InvalidKeyError(f"storage key {key!r}: names starting with {TMP_PREFIX!r} are reserved")


# ------------------------------------------------------------------------------------------- base


class Storage(abc.ABC):
    """A root (local folder or S3 prefix) holding objects addressed by relative keys."""

    root: str
    """Canonical URI of the root: ``file:///abs/path`` or ``s3://bucket/prefix``."""

    @abc.abstractmethod
    def uri(self, key: str) -> str:
        """Full URI of ``key``."""

    @abc.abstractmethod
    def put_file(self, local_path: Source, key: str) -> int:
        """Store a local file (a path, or a readable binary file object) at ``key``; returns bytes."""

    @abc.abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` (atomically replacing any existing object)."""

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The whole object; raises NotFoundError if absent."""

    @abc.abstractmethod
    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes ``[start, start+length)``, clipped at the end of the object (``b""`` past the end)."""

    @abc.abstractmethod
    def download(self, key: str, local_path: str | os.PathLike[str]) -> None:
        """Copy the object to a local file; the file appears complete or not at all."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """All keys starting with ``prefix`` (plain string prefix), recursive, sorted."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; deleting an absent key is not an error."""

    @abc.abstractmethod
    def size(self, key: str) -> int: ...

    @abc.abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Write ``data`` only if ``key`` does not exist; True if this call wrote it."""

    @abc.abstractmethod
    def local_path(self, key: str) -> str | None:
        """Filesystem path of ``key`` for local storage; None for S3."""

    @abc.abstractmethod
    def check(self) -> None:
        """Fail early with a StorageError if the root is unusable (missing bucket, no credentials...)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"


def _check_range(start: int, length: int) -> None:
    if start < 0 or length < 0:
        raise ValueError(f"get_range needs start >= 0 and length >= 0, got start={start}, length={length}")


def _is_fileobj(src: Any) -> bool:
    return hasattr(src, "read") and not isinstance(src, (str, bytes, os.PathLike))


# ------------------------------------------------------------------------------------------ local


def _read_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


_FILE_MODE = 0o666 & ~_read_umask()


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(final: str, write: Callable[[BinaryIO], int], *, no_clobber: bool = False) -> int | None:
    """Write through ``write(fh)`` into a temp file next to ``final``, fsync, then publish it.

    Returns the byte count, or None when ``no_clobber`` and ``final`` already existed.
    """
    directory = os.path.dirname(final)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            n = write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        if no_clobber:
            try:
                os.link(tmp, final)  # atomic create-if-absent
            except FileExistsError:
                return None
            except OSError as exc:  # filesystem without hard links: best effort
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                if os.path.lexists(final):
                    return None
                os.replace(tmp, final)
        else:
            os.replace(tmp, final)
        _fsync_dir(directory)
        return n
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _copy_stream(src: IO[bytes], dst: BinaryIO) -> int:
    n = 0
    while True:
        chunk = src.read(_COPY_BUFSIZE)
        if not chunk:
            return n
        dst.write(chunk)
        n += len(chunk)


class LocalStorage(Storage):
    """Storage in a local folder (created on first write)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.base = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if os.path.exists(self.base) and not os.path.isdir(self.base):
            raise StorageError(
                f"storage root {self.base} exists but is not a folder: point the storage URI at a folder"
            )
        self.root = Path(self.base).as_uri()

    def _path(self, key: str) -> str:
        return os.path.join(self.base, *_check_key(key).split("/"))

    def uri(self, key: str) -> str:
        return Path(self._path(key)).as_uri()

    def local_path(self, key: str) -> str | None:
        return self._path(key)

    def check(self) -> None:
        try:
            os.makedirs(self.base, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create storage root {self.base}: {exc}") from exc
        if not os.access(self.base, os.W_OK | os.X_OK):
            raise StorageError(f"storage root {self.base} is not writable: fix its permissions or owner")

    def _not_found(self, key: str, exc: OSError) -> NotFoundError:
        return NotFoundError(f"{self.uri(key)} does not exist")

    def put_file(self, local_path: Source, key: str) -> int:
        dest = self._path(key)
        if _is_fileobj(local_path):
            src = local_path
            n = _atomic_write(dest, lambda fh: _copy_stream(src, fh))  # type: ignore[arg-type]
        else:
            with open(os.fspath(local_path), "rb") as src_fh:  # type: ignore[arg-type]
                n = _atomic_write(dest, lambda fh: _copy_stream(src_fh, fh))
        assert n is not None
        return n

    def put_bytes(self, key: str, data: bytes) -> None:
        _atomic_write(self._path(key), lambda fh: fh.write(data))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        dest = self._path(key)
        if os.path.lexists(dest):
            return False
        return _atomic_write(dest, lambda fh: fh.write(data), no_clobber=True) is not None

    def get_bytes(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as fh:
                return fh.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise self._not_found(key, exc) from exc

    def get_range(self, key: str, start: int, length: int) -> bytes:
        _check_range(start, length)
        try:
            with open(self._path(key), "rb") as fh:
                fh.seek(start)
                return fh.read(length)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise self._not_found(key, exc) from exc

    def download(self, key: str, local_path: str | os.PathLike[str]) -> None:
        target = os.path.abspath(os.fspath(local_path))
        try:
            with open(self._path(key), "rb") as src:
                _atomic_write(target, lambda fh: _copy_stream(src, fh))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            if not os.path.isfile(self._path(key)):
                raise self._not_found(key, exc) from exc
            raise

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._path(key))

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise self._not_found(key, exc) from exc
        if not os.path.isfile(path):
            raise NotFoundError(f"{self.uri(key)} is a folder, not an object")
        return st.st_size

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def list(self, prefix: str = "") -> list[str]:
        _check_prefix(prefix)
        start_rel = prefix.rpartition("/")[0]
        start = os.path.join(self.base, *start_rel.split("/")) if start_rel else self.base
        if not os.path.isdir(start):
            return []
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel = os.path.relpath(dirpath, self.base)
            rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            dirnames[:] = [
                d
                for d in dirnames
                if not d.startswith(TMP_PREFIX)
                and ((rel + d + "/").startswith(prefix) or prefix.startswith(rel + d + "/"))
            ]
            for name in filenames:
                if name.startswith(TMP_PREFIX):
                    continue
                key = rel + name
                if key.startswith(prefix):
                    keys.append(key)
        keys.sort()
        return keys


# --------------------------------------------------------------------------------------------- S3


def _env_bytes(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    m = re.fullmatch(r"(\d+)\s*([kmg]?)(?:i?b)?", raw, flags=re.IGNORECASE)
    if not m:
        raise StorageError(f"{name}={raw!r} is not a size: use bytes or a K/M/G suffix, e.g. 8M")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": MiB, "g": 1024 * MiB}[m.group(2).lower()]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise StorageError(f"{name}={raw!r} must be a positive integer")
    return value


def _content_type(key: str) -> dict[str, str]:
    """A Content-Type from the key's extension, so that HTML reports (Data Docs) open in a browser."""
    import mimetypes

    ctype, _ = mimetypes.guess_type(key)
    return {"ContentType": ctype} if ctype else {}


def _configured_endpoint() -> str | None:
    return (
        os.environ.get("CLEARFRAME_S3_ENDPOINT")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )


def new_s3_client(max_pool_connections: int | None = None) -> Any:
    """A thread-safe boto3 S3 client configured from the environment (see module docstring)."""
    import boto3
    from botocore.config import Config

    style = os.environ.get("CLEARFRAME_S3_ADDRESSING_STYLE", "").strip().lower()
    if not style:
        style = "path" if _configured_endpoint() else "auto"
    if style not in ("path", "virtual", "auto"):
        raise StorageError(
            f"CLEARFRAME_S3_ADDRESSING_STYLE={style!r} is not valid: use 'path', 'virtual' or 'auto'"
        )
    pool = max_pool_connections or _env_int(
        "CLEARFRAME_S3_MAX_POOL_CONNECTIONS", DEFAULT_MAX_POOL_CONNECTIONS
    )
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=pool,
        connect_timeout=10,
        read_timeout=120,
        s3={"addressing_style": style},
    )
    # endpoint_url=None lets boto3 apply AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL itself.
    return boto3.session.Session().client(
        "s3", endpoint_url=os.environ.get("CLEARFRAME_S3_ENDPOINT") or None, config=config
    )


class _CountingReader(io.RawIOBase):
    """Non-seekable read-only view of a file object that counts the bytes handed out."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}
_ACCESS_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "AccountProblem"}
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "RequestExpired",
}


def _client_error(exc: BaseException) -> Any:
    """The botocore ClientError (or other botocore error) behind ``exc``, following the chain."""
    from botocore.exceptions import BotoCoreError, ClientError

    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 10:
        if isinstance(cur, (ClientError, BotoCoreError)):
            return cur
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return None


class S3Storage(Storage):
    """Storage under ``s3://bucket/prefix``."""

    list_page_size = 1000
    """Keys per ListObjectsV2 page (1000 is the S3 maximum)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        multipart_threshold: int | None = None,
        multipart_chunksize: int | None = None,
        max_concurrency: int | None = None,
    ):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            _check_key(self.prefix)
        self.root = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.multipart_threshold = multipart_threshold or _env_bytes(
            "CLEARFRAME_S3_MULTIPART_THRESHOLD", DEFAULT_MULTIPART_THRESHOLD
        )
        self.multipart_chunksize = multipart_chunksize or _env_bytes(
            "CLEARFRAME_S3_MULTIPART_CHUNKSIZE", max(self.multipart_threshold, S3_MIN_PART_SIZE)
        )
        self.max_concurrency = max_concurrency or _env_int(
            "CLEARFRAME_S3_MAX_CONCURRENCY", DEFAULT_MAX_CONCURRENCY
        )
        self.endpoint = _configured_endpoint()
        self._client = client
        self._lock = threading.Lock()
        self._bucket_ok = False
        self._conditional_put = True

    # -- plumbing

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = new_s3_client()
        return self._client

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
            use_threads=True,
            preferred_transfer_client="classic",
        )

    def _full(self, key: str) -> str:
        _check_key(key)
        full = f"{self.prefix}/{key}" if self.prefix else key
        if len(full.encode("utf-8")) > S3_MAX_KEY_BYTES:
            raise InvalidKeyError(f"S3 key for {self.uri(key)} exceeds {S3_MAX_KEY_BYTES} bytes")
        return full

    def uri(self, key: str) -> str:
        _check_key(key)
        return f"{self.root}/{key}"

    def local_path(self, key: str) -> str | None:
        _check_key(key)
        return None

    def _where(self) -> str:
        return f" (endpoint {self.endpoint})" if self.endpoint else ""

    def _bucket_missing(self) -> StorageError:
        return StorageError(
            f"S3 bucket {self.bucket!r} does not exist{self._where()} (storage root {self.root}): "
            f"create it (e.g. `aws s3 mb s3://{self.bucket}`) or fix the storage URI"
        )

    def _translate(self, exc: BaseException, op: str, key: str | None) -> StorageError:
        """Turn a boto3/botocore failure into a StorageError that says what to do."""
        from botocore.exceptions import (
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )
        from botocore.exceptions import (
            ConnectionError as BotoConnectionError,
        )

        target = self.uri(key) if key is not None else self.root
        err = _client_error(exc) or exc
        if isinstance(err, (NoCredentialsError, PartialCredentialsError)):
            return StorageError(
                f"no usable AWS credentials for {target}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                f"or AWS_PROFILE, or run with an instance/task role ({err})"
            )
        if isinstance(err, BotoConnectionError):
            return StorageError(
                f"cannot reach S3{self._where()} for {target}: check CLEARFRAME_S3_ENDPOINT / "
                f"AWS_ENDPOINT_URL and the network ({err})"
            )
        if isinstance(err, ClientError):
            code = str(err.response.get("Error", {}).get("Code", ""))
            message = err.response.get("Error", {}).get("Message", "") or str(err)
            if code == "NoSuchBucket":
                return self._bucket_missing()
            if code in _NOT_FOUND_CODES and key is not None:
                return NotFoundError(f"{target} does not exist")
            if code in _CREDENTIAL_CODES:
                return StorageError(
                    f"AWS rejected the credentials for {target} ({code}): check AWS_ACCESS_KEY_ID / "
                    f"AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or AWS_PROFILE"
                )
            if code in _ACCESS_CODES:
                return StorageError(
                    f"access denied to {target} during {op} ({code}): grant the credentials in use "
                    f"s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on bucket {self.bucket!r}"
                )
            return StorageError(f"S3 {op} of {target} failed: {code}: {message}")
        return StorageError(f"S3 {op} of {target} failed: {err}")

    def _missing_key(self, op: str, key: str, exc: BaseException) -> StorageError:
        """A bare 404 on HEAD cannot tell a missing key from a missing bucket: check the bucket once."""
        if not self._bucket_ok:
            self.check()
        return self._translate(exc, op, key)

    def _is_404(self, exc: BaseException) -> bool:
        from botocore.exceptions import ClientError

        err = _client_error(exc)
        return (
            isinstance(err, ClientError)
            and (
                str(err.response.get("Error", {}).get("Code", "")) in _NOT_FOUND_CODES
                or err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
            )
            and str(err.response.get("Error", {}).get("Code", "")) != "NoSuchBucket"
        )

    def _code(self, exc: BaseException) -> str:
        from botocore.exceptions import ClientError

        err = _client_error(exc)
        if isinstance(err, ClientError):
            return str(err.response.get("Error", {}).get("Code", ""))
        return ""

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if self._is_404(exc) or self._code(exc) == "NoSuchBucket":
                raise self._bucket_missing() from exc
            raise self._translate(exc, "head_bucket", None) from exc
        self._bucket_ok = True

    def _head(self, key: str) -> dict[str, Any] | None:
        full = self._full(key)
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=full)
        except Exception as exc:
            if self._is_404(exc):
                if not self._bucket_ok:
                    self.check()
                return None
            raise self._translate(exc, "head_object", key) from exc
        self._bucket_ok = True
        return head

    # -- operations

    def put_file(self, local_path: Source, key: str) -> int:
        full = self._full(key)
        try:
            if _is_fileobj(local_path):
                reader = _CountingReader(local_path)  # type: ignore[arg-type]
                self.client.upload_fileobj(reader, self.bucket, full, Config=self._transfer_config(),
                                           ExtraArgs=_content_type(key))
                return reader.count
            path = os.fspath(local_path)  # type: ignore[arg-type]
            size = os.path.getsize(path)
            self.client.upload_file(path, self.bucket, full, Config=self._transfer_config(),
                                    ExtraArgs=_content_type(key))
            return size
        except Exception as exc:
            if _client_error(exc) is None:
                raise
            raise self._translate(exc, "upload", key) from exc

    def put_bytes(self, key: str, data: bytes) -> None:
        full = self._full(key)
        try:
            self.client.upload_fileobj(io.BytesIO(data), self.bucket, full, Config=self._transfer_config(),
                                       ExtraArgs=_content_type(key))
        except Exception as exc:
            if _client_error(exc) is None:
                raise
            raise self._translate(exc, "upload", key) from exc

    def put_if_absent(self, key: str, data: bytes) -> bool:
        full = self._full(key)
        for attempt in range(6):
            if not self._conditional_put:
                if self._head(key) is not None:
                    return False
                self.put_bytes(key, data)
                return True
            try:
                self.client.put_object(Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*")
                return True
            except Exception as exc:
                code = self._code(exc)
                if code in ("PreconditionFailed", "412"):
                    return False
                if code in ("ConditionalRequestConflict", "409") and attempt < 5:
                    time.sleep(0.05 * 2**attempt)  # a concurrent writer of the same key is finishing
                    continue
                if code in ("NotImplemented", "501"):
                    self._conditional_put = False  # store without conditional writes: HEAD, then PUT
                    continue
                raise self._translate(exc, "conditional put", key) from exc
        raise StorageError(f"conditional put of {self.uri(key)} kept conflicting with another writer")

    def _read(self, key: str, op: str, **extra: Any) -> bytes:
        from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError

        full = self._full(key)
        for attempt in range(3):
            try:
                resp = self.client.get_object(Bucket=self.bucket, Key=full, **extra)
                data: bytes = resp["Body"].read()
                return data
            except (IncompleteReadError, ResponseStreamingError, ReadTimeoutError) as exc:
                if attempt == 2:
                    raise self._translate(exc, op, key) from exc
            except Exception as exc:
                if extra.get("Range") and self._code(exc) == "InvalidRange":
                    return b""
                raise self._translate(exc, op, key) from exc
        raise AssertionError("unreachable")

    def get_bytes(self, key: str) -> bytes:
        return self._read(key, "get_object")

    def get_range(self, key: str, start: int, length: int) -> bytes:
        _check_range(start, length)
        if length == 0:
            self.size(key)  # absent keys still raise NotFoundError
            return b""
        return self._read(key, "ranged get_object", Range=f"bytes={start}-{start + length - 1}")

    def download(self, key: str, local_path: str | os.PathLike[str]) -> None:
        full = self._full(key)
        target = os.path.abspath(os.fspath(local_path))
        config = self._transfer_config()

        def fetch(fh: BinaryIO) -> int:
            self.client.download_fileobj(self.bucket, full, fh, Config=config)
            return fh.tell()

        try:
            _atomic_write(target, fetch)
        except Exception as exc:
            if _client_error(exc) is None:
                raise
            if self._is_404(exc):
                raise self._missing_key("download", key, exc) from exc
            raise self._translate(exc, "download", key) from exc

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise NotFoundError(f"{self.uri(key)} does not exist")
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        full = self._full(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=full)
        except Exception as exc:
            if self._is_404(exc):
                return
            raise self._translate(exc, "delete_object", key) from exc

    def _iter_keys(self, prefix: str) -> Iterator[str]:
        root = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=self.bucket, Prefix=root + prefix, PaginationConfig={"PageSize": self.list_page_size}
        ):
            for obj in page.get("Contents", ()):
                name = obj["Key"][len(root) :]
                if name and not name.endswith("/"):  # skip "folder" marker objects
                    yield name

    def list(self, prefix: str = "") -> list[str]:
        _check_prefix(prefix)
        try:
            keys = sorted(self._iter_keys(prefix))
        except Exception as exc:
            raise self._translate(exc, "list_objects_v2", None) from exc
        self._bucket_ok = True
        return keys


# ------------------------------------------------------------------------------------------- open

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_SUPPORTED = "use a local folder path, file:///absolute/path, or s3://bucket/prefix"


def open_storage(uri: str | os.PathLike[str]) -> Storage:
    """A Storage for a local folder path, a ``file://`` URI or an ``s3://bucket/prefix`` URI."""
    if isinstance(uri, os.PathLike):
        return LocalStorage(uri)
    if not isinstance(uri, str) or not uri.strip():
        raise StorageError(f"storage URI {uri!r} is empty: {_SUPPORTED}")
    text = uri.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:/", text) and not os.path.exists(text):
            raise StorageError(f"storage URI {uri!r} is malformed (expected '<scheme>://'): {_SUPPORTED}")
        return LocalStorage(text)
    scheme = scheme.lower()
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise StorageError(f"storage URI {uri!r} names no bucket: write it as s3://bucket/prefix")
        if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
            raise StorageError(
                f"storage URI {uri!r}: {bucket!r} is not a valid S3 bucket name "
                "(3-63 lowercase letters, digits, '.' or '-'): write it as s3://bucket/prefix"
            )
        if "?" in prefix or "#" in prefix:
            raise StorageError(f"storage URI {uri!r} has a query or fragment: write it as s3://bucket/prefix")
        prefix = prefix.strip("/")
        if prefix:
            try:
                _check_key(prefix)
            except InvalidKeyError as exc:
                raise StorageError(f"storage URI {uri!r} has an invalid prefix: {exc}") from exc
        return S3Storage(bucket, prefix)
    if scheme == "file":
        host, slash, path = rest.partition("/")
        if host not in ("", "localhost") or not slash:
            raise StorageError(
                f"storage URI {uri!r} is not a local file URI: write it as file:///absolute/path "
                "(three slashes)"
            )
        return LocalStorage("/" + urllib.parse.unquote(path))
    if scheme in ("s3a", "s3n"):
        raise StorageError(f"storage URI {uri!r}: scheme {scheme!r} is not supported, write s3://{rest}")
    raise StorageError(f"storage URI {uri!r}: scheme {scheme!r} is not supported: {_SUPPORTED}")
