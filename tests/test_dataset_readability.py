"""A published version reads with the tools video-model teams use: webdataset, pyarrow datasets, ranged GETs."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.dataset as ds
import pytest

from clearframe.config import parse_source
from clearframe.dataset import doc_key, publish_version, read_version_manifest, shard_uris, version_index
from clearframe.records import candidate_key
from clearframe.shard import INDEX_SCHEMA
from clearframe.storage import Storage, open_storage
from support.s3 import REGION, s3_client

DATASET = "demo"
WEB = parse_source({"name": "web", "kind": "http", "dataset": DATASET, "http": {"urls": "urls.txt"}},
                   "/registry/web.yaml")
CLIPS = [f"clip{i}" for i in range(6)]

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning",
                                        "ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return open_storage(str(tmp_path / "storage"))


def items_for(storage: Storage, clips: dict[str, Path], names: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, name in enumerate(names):
        data = clips[name].read_bytes()
        key = candidate_key(f"web:{name}")
        staged = f"staging/{DATASET}/{key}.mp4"
        storage.put_bytes(staged, data)
        out.append({
            "key": key, "staged": staged, "source": "web", "canonical_id": f"web:{name}",
            "url": f"https://videos.example/{name}", "media_url": f"https://cdn.videos.example/{name}.mp4",
            "title": f"Clip {name}", "creator": "Lea Novak", "license_spdx": "CC0-1.0" if i % 2 else "CC-BY-4.0",
            "license_raw": "CC-BY-4.0", "license_found_in": "json-ld", "attribution": f'"Clip {name}" by Lea Novak',
            "contract_id": None, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "media": {"container": "mp4", "codec": "h264", "duration": 1.0, "width": 160, "height": 96,
                      "fps": 12.0, "has_audio": i % 2 == 0, "audio_codec": None, "frames_decoded": 12},
            "decision": "allow", "policy_version": "2026.11.1", "decided_at": "2026-02-01T10:00:00+00:00",
            "run_id": "run-1",
        })
    return out


def two_versions(storage: Storage, clips: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """v1 with three clips, v2 adding three more, in shards of about two clips each."""
    first, later = items_for(storage, clips, CLIPS[:3]), items_for(storage, clips, CLIPS[3:])
    target = 2 * max(clips[n].stat().st_size for n in CLIPS)
    for batch, day in ((first, 1), (later, 2)):
        publish_version(storage, DATASET, batch, target_bytes=target, sources=[WEB], policy_version="2026.11.1",
                        now=dt.datetime(2026, 3, day, tzinfo=dt.UTC))
    return {it["key"]: it for it in first + later}


def first_frame_size(mp4: bytes) -> tuple[int, int]:
    import av

    with av.open(io.BytesIO(mp4)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def test_version_shards_load_with_webdataset_as_a_training_loader_would(storage: Storage,
                                                                         clips: dict[str, Path]) -> None:
    import webdataset as wds

    by_key = two_versions(storage, clips)
    root = f"{storage.local_path(f'datasets/{DATASET}/v2/shards.txt').rsplit('/', 2)[0]}/"  # the dataset folder
    urls = [root + line for line in storage.get_bytes(doc_key(DATASET, 2, "shards")).decode().split()]
    assert [f"file://{u}" for u in urls] == shard_uris(storage, DATASET, 2) and len(urls) >= 3

    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))

    assert sorted(s["__key__"] for s in samples) == sorted(by_key)  # v1's and v2's clips, each once
    for s in samples:
        it = by_key[s["__key__"]]
        assert hashlib.sha256(s["mp4"]).hexdigest() == it["sha256"]
        meta = json.loads(s["json"])
        assert (meta["key"], meta["license"]["spdx"], meta["attribution"]) == (
            it["key"], it["license_spdx"], it["attribution"])
    assert first_frame_size(samples[0]["mp4"]) == (160, 96)  # real, decodable video
    v1 = list(wds.WebDataset(shard_uris(storage, DATASET, 1), shardshuffle=False, empty_check=False))
    assert len(v1) == 3  # an older version still reads as it was published


def test_indexes_load_with_pyarrow_datasets(storage: Storage, clips: dict[str, Path]) -> None:
    by_key = two_versions(storage, clips)
    manifest = read_version_manifest(storage, DATASET, 2)
    shard_indexes = [storage.local_path(s["index"]) for s in manifest["shards"]]

    per_shard = ds.dataset(shard_indexes, format="parquet")
    whole = ds.dataset(storage.local_path(doc_key(DATASET, 2, "index")), format="parquet")

    assert per_shard.schema.names == whole.schema.names == INDEX_SCHEMA.names
    a = per_shard.to_table().sort_by("key").to_pylist()
    b = whole.to_table().sort_by("key").to_pylist()
    assert a == b and [r["key"] for r in a] == sorted(by_key)
    cc_by = whole.to_table(filter=ds.field("license_spdx") == "CC-BY-4.0", columns=["key"]).column("key")
    assert sorted(cc_by.to_pylist()) == sorted(k for k, it in by_key.items() if it["license_spdx"] == "CC-BY-4.0")


def test_index_byte_ranges_fetch_single_samples_from_s3_with_ranged_gets(s3_endpoint: str,
                                                                        clips: dict[str, Path]) -> None:
    storage = open_storage("s3://cf-test/cf")
    by_key = two_versions(storage, clips)
    client = s3_client(s3_endpoint)
    tars = {s["name"]: s["tar"] for s in read_version_manifest(storage, DATASET)["shards"]}
    rows = version_index(storage, DATASET).to_pylist()
    assert len(rows) == 6

    for r in rows:
        key = f"cf/{tars[r['shard']]}"
        media = client.get_object(Bucket="cf-test", Key=key, Range=f"bytes={r['offset']}-{r['offset'] + r['size'] - 1}")
        body = media["Body"].read()
        assert media["ContentRange"].startswith(f"bytes {r['offset']}-") and len(body) == r["size"]
        assert hashlib.sha256(body).hexdigest() == r["sha256"] == by_key[r["key"]]["sha256"]
        meta = client.get_object(Bucket="cf-test", Key=key,
                                 Range=f"bytes={r['json_offset']}-{r['json_offset'] + r['json_size'] - 1}")
        assert json.loads(meta["Body"].read())["key"] == r["key"]
    assert first_frame_size(body) == (160, 96)


def test_pyarrow_datasets_read_the_indexes_straight_from_s3(s3_endpoint: str, clips: dict[str, Path]) -> None:
    from pyarrow import fs

    storage = open_storage("s3://cf-test/cf")
    by_key = two_versions(storage, clips)
    s3 = fs.S3FileSystem(access_key="testing", secret_key="testing", region=REGION, scheme="http",
                         endpoint_override=urlsplit(s3_endpoint).netloc)
    manifest = read_version_manifest(storage, DATASET)

    whole = ds.dataset(f"cf-test/cf/{doc_key(DATASET, 2, 'index')}", format="parquet", filesystem=s3)
    shards = ds.dataset([f"cf-test/cf/{s['index']}" for s in manifest["shards"]], format="parquet", filesystem=s3)

    assert sorted(whole.to_table(columns=["key"]).column("key").to_pylist()) == sorted(by_key)
    assert shards.count_rows() == 6 and shards.schema.names == INDEX_SCHEMA.names


def test_webdataset_streams_a_version_from_s3_over_presigned_urls(s3_endpoint: str, clips: dict[str, Path]) -> None:
    import webdataset as wds

    storage = open_storage("s3://cf-test/cf")
    by_key = two_versions(storage, clips)
    client = s3_client(s3_endpoint)
    urls = [client.generate_presigned_url("get_object", Params={"Bucket": "cf-test", "Key": f"cf/{s['tar']}"},
                                          ExpiresIn=600)
            for s in read_version_manifest(storage, DATASET)["shards"]]

    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))  # curl, as for any https URL

    assert sorted(s["__key__"] for s in samples) == sorted(by_key)
    assert all(hashlib.sha256(s["mp4"]).hexdigest() == by_key[s["__key__"]]["sha256"] for s in samples)
