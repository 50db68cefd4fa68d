"""Synthetic media for the demo source, tests and benchmarks.

`make_clip` writes a real, small H.264 (+ optional AAC) mp4 with PyAV: a moving diagonal gradient with
seed-coloured vertical bars and a bouncing box, and a seed-pitched tone. Pictures are built directly as
yuv420p planes with numpy (no colour conversion) and pan by whole pixels, and libx264 runs with the
superfast preset (CABAC and B-frames kept, so streams reorder like real ones), so one 640x360 4 s clip
with audio takes ~0.2 s on a 2-core machine and is 100-300 kB (`preset="ultrafast"`: ~0.15 s, larger).
The same seed and parameters give the same bytes (x264 is deterministic across thread counts and the
mp4 muxer writes no timestamps unless asked to).

`corrupt_copy` derives broken files from a good one for tests: truncated, empty, garbage.
`make_audio_only` writes an mp4 with an AAC track and no video.
"""

from __future__ import annotations

import os
import random
import uuid
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 44100
AAC_FRAME = 1024  # samples per AAC frame

CORRUPT_MODES = ("truncated", "zero", "garbage")


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _finish(tmp: Path, path: Path) -> int:
    size = tmp.stat().st_size
    os.replace(tmp, path)
    return size


def _tone_samples(n_frames: int, seed: int) -> np.ndarray:
    """A seed-pitched tone with tremolo, as (n_frames, AAC_FRAME) float32 samples."""
    rng = random.Random(f"clearframe-audio-{seed}")
    freq, trem = 220.0 + rng.random() * 660.0, 0.5 + rng.random() * 3.0
    t = np.arange(n_frames * AAC_FRAME, dtype=np.float64) / AUDIO_RATE
    wave = (0.25 + 0.15 * np.sin(2 * np.pi * trem * t)) * np.sin(2 * np.pi * freq * t)
    return wave.astype(np.float32).reshape(n_frames, AAC_FRAME)


def _audio_frame(samples: np.ndarray, index: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples[index : index + 1], format="fltp", layout="mono")
    frame.sample_rate = AUDIO_RATE
    frame.pts = index * AAC_FRAME
    frame.time_base = Fraction(1, AUDIO_RATE)
    return frame


def _add_audio_stream(container: av.container.OutputContainer) -> av.AudioStream:
    stream = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
    stream.bit_rate = 48_000
    stream.codec_context.options = {"aac_coder": "fast"}  # the default two-loop search costs ~2x
    return stream


class _Picture:
    """Seed-dependent moving picture, produced as one (h*3/2, w) yuv420p array per frame.

    Luma is a diagonal gradient wrapped into bands, panned by whole pixels per frame over a canvas
    rendered once, so motion compensation predicts it exactly (fast encoding, small files) while every
    frame still differs; a flat box bounces over it. Chroma is a row of seed-coloured vertical bars.
    """

    def __init__(self, width: int, height: int, seed: int) -> None:
        rng = random.Random(f"clearframe-video-{seed}")
        self.w, self.h = width, height
        self.pan = (rng.randint(1, 6), rng.randint(0, 3))  # px/frame; bounces within half a frame
        self.box_v = (rng.randint(3, 9), rng.randint(2, 7))
        self.box = (max(8, width // 6), max(8, height // 5))
        self.box_luma = rng.choice((28, 228))
        ax = rng.uniform(0.3, 1.5) * 220 / width
        ay = rng.uniform(0.3, 1.5) * 220 / height
        cw, ch = width + width // 2, height + height // 2
        gx = np.floor(np.arange(cw) * ax).astype(np.int32)
        gy = np.floor(np.arange(ch) * ay).astype(np.int32)
        self.canvas = ((gy[:, None] + gx[None, :] + rng.randint(0, 219)) % 220 + 16).astype(np.uint8)
        n = rng.randint(3, 8)
        half_w, half_h = width // 2, height // 2
        cols = np.minimum(np.arange(half_w) * n // half_w, n - 1)
        u = np.array([rng.randint(16, 240) for _ in range(n)], dtype=np.uint8)[cols]
        v = np.array([rng.randint(16, 240) for _ in range(n)], dtype=np.uint8)[cols]
        # PyAV's yuv420p ndarray layout: h rows of Y, then U and V planes (h/2 x w/2 each) flattened
        # into h/4 rows of w each.
        planes = np.concatenate([np.tile(u, half_h), np.tile(v, half_h)])
        self.chroma = planes.reshape(height // 2, width)

    def frame(self, i: int) -> np.ndarray:
        w, h = self.w, self.h
        buf = np.empty((h * 3 // 2, w), dtype=np.uint8)
        ox, oy = _bounce(i * self.pan[0], w // 2), _bounce(i * self.pan[1], h // 2)
        buf[:h] = self.canvas[oy : oy + h, ox : ox + w]
        bw, bh = self.box
        x, y = _bounce(i * self.box_v[0], w - bw), _bounce(i * self.box_v[1], h - bh)
        buf[y : y + bh, x : x + bw] = self.box_luma
        buf[h:] = self.chroma
        return buf


def _bounce(pos: int, span: int) -> int:
    if span <= 0:
        return 0
    pos %= 2 * span
    return pos if pos <= span else 2 * span - pos


def make_clip(
    path: str | os.PathLike[str],
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 180,
    fps: float | Fraction = 25,
    audio: bool = True,
    seed: int = 0,
    faststart: bool = False,
    preset: str = "superfast",
) -> int:
    """Write an H.264/yuv420p mp4 (plus AAC mono if `audio`) atomically; return its size in bytes.

    `faststart` moves the moov index to the front of the file (as web-delivered mp4 usually is);
    otherwise it sits at the end, after the media data, as a plain muxer writes it.
    """
    if width % 4 or height % 4:
        raise ValueError("width and height must be multiples of 4 (yuv420p)")
    if seconds <= 0 or fps <= 0:
        raise ValueError("seconds and fps must be positive")
    path = Path(path)
    tmp = _tmp_path(path)
    rate = Fraction(fps).limit_denominator(1001)  # pass Fraction(30000, 1001) for NTSC rates
    n_frames = max(1, round(seconds * fps))
    options = {"movflags": "faststart"} if faststart else {}
    try:
        with av.open(str(tmp), mode="w", format="mp4", options=options) as out:
            vs = out.add_stream("libx264", rate=rate)
            vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
            vs.codec_context.gop_size = max(1, round(2 * fps))  # a keyframe every 2 s: several GOPs per clip
            vs.codec_context.options = {"preset": preset, "crf": "30"}
            as_ = _add_audio_stream(out) if audio else None
            pic = _Picture(width, height, seed)
            n_audio = int(round(n_frames / fps * AUDIO_RATE / AAC_FRAME))
            samples = _tone_samples(n_audio, seed) if audio else None
            a_next = 0
            for i in range(n_frames):
                frame = av.VideoFrame.from_ndarray(pic.frame(i), format="yuv420p")
                frame.pts = i
                frame.time_base = 1 / rate
                out.mux(vs.encode(frame))
                # Interleave audio up to the current video time so the muxer never buffers much.
                while (
                    as_ is not None and a_next < n_audio and a_next * AAC_FRAME * fps <= (i + 1) * AUDIO_RATE
                ):
                    out.mux(as_.encode(_audio_frame(samples, a_next)))
                    a_next += 1
            out.mux(vs.encode(None))
            if as_ is not None:
                while a_next < n_audio:
                    out.mux(as_.encode(_audio_frame(samples, a_next)))
                    a_next += 1
                out.mux(as_.encode(None))
        return _finish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def make_audio_only(path: str | os.PathLike[str], *, seconds: float = 2.0, seed: int = 0) -> int:
    """Write an mp4 holding only an AAC track (a valid container with no video stream)."""
    path = Path(path)
    tmp = _tmp_path(path)
    n_audio = max(1, int(round(seconds * AUDIO_RATE / AAC_FRAME)))
    samples = _tone_samples(n_audio, seed)
    try:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            as_ = _add_audio_stream(out)
            for k in range(n_audio):
                out.mux(as_.encode(_audio_frame(samples, k)))
            out.mux(as_.encode(None))
        return _finish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def corrupt_copy(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], mode: str, *, keep: float = 0.4
) -> int:
    """Write a broken derivative of `src` to `dst`; return its size.

    truncated: the first `keep` fraction (default 40%) of the bytes, as an interrupted download leaves it.
    zero:      an empty file.
    garbage:   random bytes of the same length (seeded by the length, so reproducible).
    """
    data = Path(src).read_bytes()
    if mode == "truncated":
        out = data[: int(len(data) * keep)]
    elif mode == "zero":
        out = b""
    elif mode == "garbage":
        out = random.Random(len(data)).randbytes(len(data))
    else:
        raise ValueError(f"unknown corrupt mode {mode!r}; expected one of {CORRUPT_MODES}")
    dst = Path(dst)
    tmp = _tmp_path(dst)
    tmp.write_bytes(out)
    return _finish(tmp, dst)
