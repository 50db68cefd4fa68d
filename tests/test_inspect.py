"""inspect_media on real files made with PyAV: good clips are described exactly, broken ones refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clearframe.inspect import MediaError, inspect_media
from clearframe.mediagen import corrupt_copy, make_audio_only, make_clip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mp4s(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One plain (moov at the end) and one faststart (moov first) clip, 3 s, with audio."""
    d = tmp_path_factory.mktemp("mp4s")
    out = {"plain": d / "plain.mp4", "faststart": d / "faststart.mp4"}
    make_clip(out["plain"], seconds=3.0, seed=11)
    make_clip(out["faststart"], seconds=3.0, seed=11, faststart=True)
    return out


def moov_first(path: Path) -> bool:
    data = path.read_bytes()
    return data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize(
    ("width", "height", "fps", "seconds", "audio", "faststart"),
    [
        (320, 180, 25, 2.0, True, False),
        (320, 180, 25, 2.0, False, True),
        (640, 360, 30, 1.5, True, True),
        (256, 144, 24, 3.0, False, False),
    ],
)
def test_valid_clip_is_described_as_generated(tmp_path, width, height, fps, seconds, audio, faststart):
    path = tmp_path / "clip.mp4"
    written = make_clip(
        path, seconds=seconds, width=width, height=height, fps=fps, audio=audio, seed=3, faststart=faststart
    )
    assert written == path.stat().st_size > 1000
    assert moov_first(path) is faststart

    info = inspect_media(path)

    assert info.container == "mp4"
    assert info.codec == "h264"
    assert (info.width, info.height) == (width, height)
    assert info.fps == pytest.approx(fps, abs=0.01)
    assert info.duration == pytest.approx(seconds, abs=0.1)
    assert info.has_audio is audio
    assert info.audio_codec == ("aac" if audio else None)
    assert 0 < info.frames_decoded <= round(seconds * fps)


def test_only_a_bounded_number_of_frames_is_decoded(tmp_path):
    path = tmp_path / "long.mp4"
    make_clip(path, seconds=12.0, fps=25, audio=False, seed=4)  # 300 frames, a keyframe every 2 s
    info = inspect_media(path)
    assert info.duration == pytest.approx(12.0, abs=0.1)
    # the first packets and the first packets of the last GOP, not all 300 frames
    from clearframe.inspect import HEAD_PACKETS, TAIL_PACKETS

    assert 2 <= info.frames_decoded <= HEAD_PACKETS + TAIL_PACKETS


def test_seeds_change_the_bytes_and_a_seed_reproduces_them(tmp_path):
    a, b, a2 = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "a2.mp4"
    make_clip(a, seconds=1.0, seed=1)
    make_clip(b, seconds=1.0, seed=2)
    make_clip(a2, seconds=1.0, seed=1)
    assert sha256(a) != sha256(b)
    assert sha256(a) == sha256(a2)


def test_make_clip_leaves_no_temporary_files(tmp_path):
    make_clip(tmp_path / "x.mp4", seconds=0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.mp4"]


@pytest.mark.parametrize("layout", ["plain", "faststart"])
def test_file_cut_at_40_percent_is_truncated(mp4s, tmp_path, layout):
    bad = tmp_path / f"cut-{layout}.mp4"
    corrupt_copy(mp4s[layout], bad, "truncated")
    assert bad.stat().st_size == int(mp4s[layout].stat().st_size * 0.4)

    with pytest.raises(MediaError) as err:
        inspect_media(bad)

    assert err.value.code == "truncated"
    assert str(bad) in str(err.value)
    assert "truncated" in err.value.reason


@pytest.mark.parametrize("layout", ["plain", "faststart"])
@pytest.mark.parametrize("keep", [0.05, 0.25, 0.5, 0.75, 0.9, 0.97, 0.995])
def test_any_cut_fails(mp4s, tmp_path, layout, keep):
    """Cuts inside mdat, inside a trailing moov, or in its last metadata bytes all fail."""
    bad = tmp_path / "cut.mp4"
    corrupt_copy(mp4s[layout], bad, "truncated", keep=keep)
    with pytest.raises(MediaError) as err:
        inspect_media(bad)
    assert err.value.code == "truncated"


def test_a_few_missing_bytes_at_the_end_fail(mp4s, tmp_path):
    bad = tmp_path / "short.mp4"
    bad.write_bytes(mp4s["plain"].read_bytes()[:-3])
    with pytest.raises(MediaError, match="truncated"):
        inspect_media(bad)


def test_zero_byte_file(mp4s, tmp_path):
    bad = tmp_path / "empty.mp4"
    corrupt_copy(mp4s["plain"], bad, "zero")
    with pytest.raises(MediaError) as err:
        inspect_media(bad)
    assert err.value.code == "empty"
    assert str(err.value) == f"{bad}: empty file (0 bytes)"


def test_garbage_with_an_mp4_name(mp4s, tmp_path):
    bad = tmp_path / "garbage.mp4"
    corrupt_copy(mp4s["plain"], bad, "garbage")
    assert bad.stat().st_size == mp4s["plain"].stat().st_size
    with pytest.raises(MediaError) as err:
        inspect_media(bad)
    assert err.value.code == "not_media"
    assert str(bad) in str(err.value) and "not a media container" in str(err.value)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "audio.mp4"
    make_audio_only(path, seconds=1.0)
    with pytest.raises(MediaError) as err:
        inspect_media(path)
    assert err.value.code == "no_video"
    assert "no video stream (streams: audio)" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(MediaError) as err:
        inspect_media(tmp_path / "nope.mp4")
    assert err.value.code == "missing"


def test_playlist_disguised_as_mp4_is_not_followed(tmp_path):
    bad = tmp_path / "playlist.mp4"
    bad.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")
    with pytest.raises(MediaError) as err:
        inspect_media(bad)
    assert err.value.code == "not_media"


def test_caps_refuse_oversized_input(mp4s):
    with pytest.raises(MediaError) as err:
        inspect_media(mp4s["plain"], max_duration=1.0)
    assert err.value.code == "too_large"
    with pytest.raises(MediaError) as err:
        inspect_media(mp4s["plain"], max_pixels=100 * 100)
    assert err.value.code == "too_large"
    with pytest.raises(MediaError, match="packets"):
        inspect_media(mp4s["plain"], max_packets=10)


def test_unknown_corrupt_mode(mp4s, tmp_path):
    with pytest.raises(ValueError, match="unknown corrupt mode"):
        corrupt_copy(mp4s["plain"], tmp_path / "x.mp4", "shuffled")
