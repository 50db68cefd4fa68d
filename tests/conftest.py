"""Shared fixtures: an isolated ClearFrame home, real clips, a real local site, moto's S3 server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clearframe.config import Settings
from support.site import Site


@pytest.fixture
def cf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh ClearFrame home (storage folder and SQLite registry) for one test."""
    home = tmp_path / "cf-home"
    monkeypatch.setenv("CLEARFRAME_HOME", str(home))
    monkeypatch.delenv("CLEARFRAME_STORAGE", raising=False)
    monkeypatch.delenv("CLEARFRAME_REGISTRY_URL", raising=False)
    return Settings.from_env()


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real H.264 clips, different bytes each, plus a truncated one."""
    from clearframe.mediagen import corrupt_copy, make_clip

    d = tmp_path_factory.mktemp("clips")
    out: dict[str, Path] = {}
    for i in range(6):
        p = d / f"clip{i}.mp4"
        make_clip(str(p), seconds=1.0, width=160, height=96, fps=12, audio=i % 2 == 0, seed=100 + i)
        out[f"clip{i}"] = p
    corrupt_copy(str(out["clip0"]), str(d / "truncated.mp4"), "truncated")
    out["truncated"] = d / "truncated.mp4"
    return out


@pytest.fixture
def site() -> Site:
    with Site() as s:
        yield s


@pytest.fixture
def s3_endpoint():
    from support.s3 import moto_s3

    with moto_s3(buckets=["cf-test"]) as endpoint:
        yield endpoint


def sha256_file(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()
