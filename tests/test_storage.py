"""clearframe.storage against a real local folder and moto's real S3 server (no internet)."""

from __future__ import annotations

import io
import os
import pickle
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from clearframe.storage import (
    TMP_PREFIX,
    InvalidKeyError,
    LocalStorage,
    NotFoundError,
    S3Storage,
    Storage,
    StorageError,
    open_storage,
)
from support.s3 import moto_s3, s3_client

BUCKET = "clearframe-test"
MiB = 1024 * 1024


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    with moto_s3(buckets=[BUCKET]) as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path) -> Storage:
    if request.param == "local":
        return open_storage(str(tmp_path / "root"))
    request.getfixturevalue("s3_endpoint")
    return open_storage(f"s3://{BUCKET}/runs/r1")


class FailingReader(io.RawIOBase):
    """A source that hands out ``fail_after`` bytes and then fails, like a dying disk or socket."""

    def __init__(self, fail_after: int, chunk: bytes = b"x"):
        self.fail_after = fail_after
        self.pos = 0
        self.chunk = chunk

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.pos >= self.fail_after:
            raise OSError("source went away mid-read")
        n = self.fail_after - self.pos if size is None or size < 0 else min(size, self.fail_after - self.pos)
        self.pos += n
        return (self.chunk * (n // len(self.chunk) + 1))[:n]


def visible_files(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
        for d, _, files in os.walk(root)
        for f in files
    )


# ----------------------------------------------------------------------------------- open_storage


def test_open_local_path_and_file_uri(tmp_path):
    folder = tmp_path / "with space"
    st = open_storage(str(folder))
    assert isinstance(st, LocalStorage)
    assert st.root == folder.as_uri()
    assert st.root.startswith("file:///") and "%20" in st.root
    st.put_bytes("a/b.bin", b"abc")
    assert st.local_path("a/b.bin") == str(folder / "a" / "b.bin")
    assert (folder / "a" / "b.bin").read_bytes() == b"abc"

    again = open_storage(st.root)  # file:// URI, percent-decoded
    assert isinstance(again, LocalStorage)
    assert again.get_bytes("a/b.bin") == b"abc"
    assert again.uri("a/b.bin") == (folder / "a" / "b.bin").as_uri()
    assert open_storage(folder).get_bytes("a/b.bin") == b"abc"  # PathLike


def test_open_s3_uri_is_lazy_and_canonical():
    st = open_storage("s3://some-bucket/deep/prefix/")
    assert isinstance(st, S3Storage)
    assert (st.bucket, st.prefix, st.root) == ("some-bucket", "deep/prefix", "s3://some-bucket/deep/prefix")
    assert st.uri("shards/0001.tar") == "s3://some-bucket/deep/prefix/shards/0001.tar"
    assert st.local_path("shards/0001.tar") is None
    assert open_storage("s3://some-bucket").root == "s3://some-bucket"


@pytest.mark.parametrize(
    "uri",
    [
        "gs://bucket/data",
        "http://example.com/data",
        "s3://",
        "s3:///prefix",
        "s3://Bad_Bucket/x",
        "s3://ab/x",
        "s3://bucket/../escape",
        "s3://bucket/a/./b",
        "s3a://bucket/x",
        "s3:/bucket/x",
        "file://otherhost/data",
        "",
    ],
)
def test_bad_uri_names_the_uri(uri):
    with pytest.raises(StorageError) as info:
        open_storage(uri)
    message = str(info.value)
    assert repr(uri) in message
    assert "s3://bucket" in message or "file:///" in message or "folder" in message


def test_local_root_that_is_a_file_is_rejected(tmp_path):
    f = tmp_path / "plain.txt"
    f.write_text("x")
    with pytest.raises(StorageError, match="not a folder"):
        open_storage(str(f))


# ------------------------------------------------------------------------------------ round trips


def test_round_trip(storage: Storage, tmp_path):
    assert storage.list() == []
    assert not storage.exists("shards/000.tar")

    storage.put_bytes("shards/000.tar", b"zero")
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3000))
    assert storage.put_file(str(src), "shards/001.tar") == 3000
    assert storage.put_file(src, "index/shards.json") == 3000  # PathLike too
    storage.put_bytes("a.txt", b"")

    assert storage.exists("shards/000.tar")
    assert storage.get_bytes("shards/000.tar") == b"zero"
    assert storage.get_bytes("shards/001.tar") == src.read_bytes()
    assert storage.get_bytes("a.txt") == b""
    assert storage.size("shards/001.tar") == 3000
    assert storage.size("a.txt") == 0

    assert storage.list() == ["a.txt", "index/shards.json", "shards/000.tar", "shards/001.tar"]
    assert storage.list("shards/") == ["shards/000.tar", "shards/001.tar"]
    assert storage.list("shards/001") == ["shards/001.tar"]
    assert storage.list("sh") == ["shards/000.tar", "shards/001.tar"]
    assert storage.list("nothing/") == []

    out = tmp_path / "fresh" / "dir" / "copy.bin"
    storage.download("shards/001.tar", out)
    assert out.read_bytes() == src.read_bytes()
    assert visible_files(tmp_path / "fresh") == ["dir/copy.bin"]

    storage.put_bytes("shards/000.tar", b"replaced")  # overwrite
    assert storage.get_bytes("shards/000.tar") == b"replaced"

    storage.delete("shards/000.tar")
    storage.delete("shards/000.tar")  # idempotent
    assert not storage.exists("shards/000.tar")
    assert storage.list("shards/") == ["shards/001.tar"]


def test_missing_keys(storage: Storage, tmp_path):
    for call in (
        lambda: storage.get_bytes("no/such"),
        lambda: storage.size("no/such"),
        lambda: storage.get_range("no/such", 0, 10),
        lambda: storage.get_range("no/such", 0, 0),
        lambda: storage.download("no/such", tmp_path / "dl" / "x"),
    ):
        with pytest.raises(NotFoundError) as info:
            call()
        assert isinstance(info.value, FileNotFoundError)
        assert storage.uri("no/such") in str(info.value)
    assert not (tmp_path / "dl").exists() or visible_files(tmp_path / "dl") == []


def test_get_range_returns_exact_bytes(storage: Storage):
    data = os.urandom(10_000)
    storage.put_bytes("blob.bin", data)
    for start, length in [(0, 1), (0, 10_000), (1, 1), (4095, 4097), (9_999, 1), (123, 0)]:
        assert storage.get_range("blob.bin", start, length) == data[start : start + length]
    assert storage.get_range("blob.bin", 9_990, 100) == data[9_990:]  # clipped at the end
    assert storage.get_range("blob.bin", 10_000, 5) == b""  # past the end
    assert storage.get_range("blob.bin", 50_000, 5) == b""
    with pytest.raises(ValueError):
        storage.get_range("blob.bin", -1, 5)


def test_put_if_absent(storage: Storage):
    assert storage.put_if_absent("evidence/ab/abcdef.json", b'{"v": 1}') is True
    assert storage.put_if_absent("evidence/ab/abcdef.json", b'{"v": 2}') is False
    assert storage.get_bytes("evidence/ab/abcdef.json") == b'{"v": 1}'
    assert storage.list() == ["evidence/ab/abcdef.json"]


def test_put_if_absent_race_has_one_winner(storage: Storage):
    barrier = threading.Barrier(8)

    def attempt(i: int) -> bool:
        barrier.wait()
        return storage.put_if_absent("evidence/race.json", b"writer-%d" % i)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))
    assert results.count(True) == 1
    assert storage.get_bytes("evidence/race.json") == b"writer-%d" % results.index(True)
    assert storage.list() == ["evidence/race.json"]


def test_shared_between_threads(storage: Storage):
    def work(i: int) -> bytes:
        key = f"t/{i:03d}.bin"
        storage.put_bytes(key, bytes([i]) * (1000 + i))
        return storage.get_bytes(key)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(work, range(48)))
    assert results == [bytes([i]) * (1000 + i) for i in range(48)]
    assert storage.list("t/") == [f"t/{i:03d}.bin" for i in range(48)]


@pytest.mark.parametrize(
    "key", ["..", "../x", "a/../b", "a/..", "/abs/key", "", "a//b", "a/", "./a", "a\\b", TMP_PREFIX + "x"]
)
def test_bad_keys_rejected(storage: Storage, key, tmp_path):
    for call in (
        lambda: storage.put_bytes(key, b"x"),
        lambda: storage.get_bytes(key),
        lambda: storage.exists(key),
        lambda: storage.uri(key),
        lambda: storage.put_if_absent(key, b"x"),
        lambda: storage.delete(key),
    ):
        with pytest.raises(InvalidKeyError) as info:
            call()
        assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidKeyError):
        storage.list("../")
    assert storage.list() == []
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------------- atomicity


def test_failed_put_leaves_nothing_visible(storage: Storage):
    with pytest.raises(OSError, match="went away"):
        storage.put_file(FailingReader(fail_after=300_000), "shards/broken.tar")
    assert not storage.exists("shards/broken.tar")
    assert storage.list() == []

    storage.put_bytes("shards/keep.tar", b"old")
    with pytest.raises(OSError, match="went away"):
        storage.put_file(FailingReader(fail_after=300_000), "shards/keep.tar")
    assert storage.get_bytes("shards/keep.tar") == b"old"  # the previous version survives intact
    assert storage.list() == ["shards/keep.tar"]


def test_put_file_from_file_object_counts_bytes(storage: Storage):
    data = os.urandom(70_000)
    assert storage.put_file(io.BytesIO(data), "obj.bin") == 70_000
    assert storage.get_bytes("obj.bin") == data


def test_local_failed_put_leaves_no_temp_on_disk(tmp_path):
    st = open_storage(str(tmp_path / "root"))
    st.put_bytes("shards/keep.tar", b"old")
    with pytest.raises(OSError):
        st.put_file(FailingReader(fail_after=5 * MiB), "shards/new.tar")
    with pytest.raises(OSError):
        st.put_file(FailingReader(fail_after=10), "shards/keep.tar")
    assert visible_files(tmp_path / "root") == ["shards/keep.tar"]


def test_local_list_ignores_in_flight_temp_files(tmp_path):
    st = open_storage(str(tmp_path / "root"))
    st.put_bytes("shards/a.tar", b"a")
    (tmp_path / "root" / "shards" / (TMP_PREFIX + "half-written")).write_bytes(b"partial")
    (tmp_path / "root" / (TMP_PREFIX + "dir")).mkdir()
    (tmp_path / "root" / (TMP_PREFIX + "dir") / "inner").write_bytes(b"partial")
    assert st.list() == ["shards/a.tar"]


def test_local_download_failure_leaves_target_untouched(tmp_path):
    st = open_storage(str(tmp_path / "root"))
    target = tmp_path / "out" / "file.bin"
    target.parent.mkdir()
    target.write_bytes(b"previous")
    with pytest.raises(NotFoundError):
        st.download("missing.bin", target)
    assert target.read_bytes() == b"previous"
    assert visible_files(tmp_path / "out") == ["file.bin"]


# ----------------------------------------------------------------------------------------- S3 only


def test_s3_multipart_upload(s3_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("CLEARFRAME_S3_MULTIPART_THRESHOLD", "5M")
    st = open_storage(f"s3://{BUCKET}/mp")
    assert st.multipart_threshold == 5 * MiB

    src = tmp_path / "big.bin"
    data = os.urandom(20 * MiB)
    src.write_bytes(data)
    assert st.put_file(src, "shards/big.tar") == 20 * MiB

    head = s3_client(s3_endpoint).head_object(Bucket=BUCKET, Key="mp/shards/big.tar")
    assert head["ContentLength"] == 20 * MiB
    assert head["ETag"].strip('"').endswith("-4")  # 4 parts of 5 MiB: a multipart object

    assert st.size("shards/big.tar") == 20 * MiB
    assert st.get_bytes("shards/big.tar") == data
    assert st.get_range("shards/big.tar", 5 * MiB - 3, 6) == data[5 * MiB - 3 : 5 * MiB + 3]
    out = tmp_path / "back.bin"
    st.download("shards/big.tar", out)
    assert out.read_bytes() == data

    st.put_bytes("small.bin", b"tiny")
    small = s3_client(s3_endpoint).head_object(Bucket=BUCKET, Key="mp/small.bin")
    assert "-" not in small["ETag"]


def test_s3_failed_multipart_is_aborted(s3_endpoint, monkeypatch):
    monkeypatch.setenv("CLEARFRAME_S3_MULTIPART_THRESHOLD", "5M")
    st = open_storage(f"s3://{BUCKET}/mp")
    with pytest.raises(OSError, match="went away"):
        st.put_file(FailingReader(fail_after=12 * MiB), "shards/broken.tar")  # after 2 parts uploaded
    client = s3_client(s3_endpoint)
    assert client.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert not st.exists("shards/broken.tar")
    assert st.list() == []


def test_s3_list_paginates_and_respects_root_prefix(s3_endpoint):
    client = s3_client(s3_endpoint)
    client.put_object(Bucket=BUCKET, Key="runs/r10/outside.txt", Body=b"x")  # shares a string prefix
    client.put_object(Bucket=BUCKET, Key="runs/r1/folder/", Body=b"")  # console-style folder marker
    st = open_storage(f"s3://{BUCKET}/runs/r1")
    keys = [f"k/{i:03d}" for i in range(25)]
    for k in reversed(keys):
        st.put_bytes(k, b".")

    pages = []
    st.list_page_size = 4
    st.client.meta.events.register("after-call.s3.ListObjectsV2", lambda **kw: pages.append(kw))
    assert st.list() == keys
    assert len(pages) == 7  # 26 objects under the root prefix (incl. the marker), 4 per page
    assert st.list("k/02") == ["k/020", "k/021", "k/022", "k/023", "k/024"]


def test_s3_endpoint_from_aws_endpoint_url(s3_endpoint, monkeypatch):
    monkeypatch.delenv("CLEARFRAME_S3_ENDPOINT")
    assert os.environ["AWS_ENDPOINT_URL"] == s3_endpoint
    st = open_storage(f"s3://{BUCKET}")
    st.put_bytes("via-aws-endpoint-url", b"ok")
    assert (
        s3_client(s3_endpoint).get_object(Bucket=BUCKET, Key="via-aws-endpoint-url")["Body"].read() == b"ok"
    )


def test_s3_clearframe_endpoint_wins(s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    st = open_storage(f"s3://{BUCKET}")
    st.put_bytes("via-clearframe-endpoint", b"ok")
    assert st.list() == ["via-clearframe-endpoint"]


def test_s3_missing_bucket_says_what_to_do(s3_endpoint):
    st = open_storage("s3://no-such-bucket/data")
    for call in (
        st.check,
        lambda: st.put_bytes("x", b"1"),
        lambda: st.exists("x"),
        lambda: st.get_bytes("x"),
        st.list,
        lambda: st.put_if_absent("x", b"1"),
    ):
        with pytest.raises(StorageError) as info:
            call()
        assert not isinstance(info.value, NotFoundError)
        assert "'no-such-bucket' does not exist" in str(info.value)
        assert "create it" in str(info.value)


def test_s3_missing_credentials_says_what_to_do(s3_endpoint, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    st = open_storage(f"s3://{BUCKET}/data")
    with pytest.raises(StorageError) as info:
        st.put_bytes("x", b"1")
    assert "credentials" in str(info.value)
    assert "s3://clearframe-test/data/x" in str(info.value)
    assert "AWS_ACCESS_KEY_ID" in str(info.value)


def test_s3_unreachable_endpoint_says_what_to_do(s3_endpoint, monkeypatch):
    monkeypatch.setenv("CLEARFRAME_S3_ENDPOINT", "http://127.0.0.1:9")
    st = S3Storage(BUCKET, "data")
    st_client_config = st.client.meta.config
    assert st_client_config.retries["mode"] == "standard"
    with pytest.raises(StorageError, match="cannot reach S3") as info:
        st.list()
    assert "s3://clearframe-test/data" in str(info.value)


def test_s3_bad_multipart_threshold_env(monkeypatch):
    monkeypatch.setenv("CLEARFRAME_S3_MULTIPART_THRESHOLD", "lots")
    with pytest.raises(StorageError, match="CLEARFRAME_S3_MULTIPART_THRESHOLD"):
        open_storage(f"s3://{BUCKET}")


def test_s3_storage_pickles_without_its_client(s3_endpoint):
    st = open_storage(f"s3://{BUCKET}/p")
    st.put_bytes("k", b"v")
    clone = pickle.loads(pickle.dumps(st))
    assert clone.root == st.root
    assert clone.get_bytes("k") == b"v"


def test_s3_objects_get_a_content_type_from_their_extension(s3_endpoint) -> None:
    import boto3

    from clearframe.storage import open_storage

    store = open_storage(f"s3://{BUCKET}/ct")
    store.put_bytes("docs/index.html", b"<html></html>")
    store.put_bytes("data/blob.bin-unknown-ext", b"x")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    assert s3.head_object(Bucket=BUCKET, Key="ct/docs/index.html")["ContentType"] == "text/html"
    assert s3.head_object(Bucket=BUCKET, Key="ct/data/blob.bin-unknown-ext")["ContentType"] != "text/html"
