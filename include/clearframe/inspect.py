"""Decode-level media check (PyAV): is this file a complete, decodable video, and what is in it?

`inspect_media(path)` returns a `MediaInfo` or raises `MediaError`, whose message names the file and
says what is wrong. It runs on every admitted file on small (2-core) workers, so it is built to be cheap
and to prove integrity without decoding everything:

1. Open with an allowlist of container formats and the `file` protocol only, so a hostile file cannot
   turn the demuxer into a playlist/concat reader that follows references to other files or URLs.
2. Structure: for mp4/mov every top-level box, for Matroska/WebM the Segment, must end within the
   file. (FFmpeg tolerates a cut-off trailing index by dropping tracks, so this is checked directly.)
3. Demux every packet (no decoding: reading a packet costs microseconds). This sees the whole file:
   a truncated file yields fewer packets than its index declares, packets flagged corrupt or reaching
   past the end of the file, or a timeline shorter than the declared duration; any of these fails it.
4. Decode a bounded number of frames: the first packets (the decoder accepts the stream's parameters
   and its start) and the last GOP, i.e. the packets from the last keyframe to the end (the end of the
   file can be reconstructed). Decoding every frame costs 10-100x more (60 s of 720p: ~0.7 s against
   ~0.06 s here) and adds little, since what a cut or a broken index destroys, step 3 already sees.
   Only the first TAIL_PACKETS of the last GOP are decoded: a whole GOP cost ~20 ms per 4 s clip, about
   70% of a run's CPU in the benchmark, and proved little more than its keyframe and first frames do. Bit-level damage inside a packet is
   not what this check is for: FFmpeg conceals it silently; the fetch stage's sha256 covers transport.

Guards against huge or hostile input: caps on declared duration, picture size, packets read, tail
bytes held in memory and wall time; bounded probing at open.
"""

from __future__ import annotations

import errno
import os
import time
from fractions import Fraction
from pathlib import Path

import av

from clearframe.records import MediaInfo

# Demuxer names as FFmpeg spells them; a format matches if any of its comma-separated names is listed.
# Formats that declare their length (index or header) can be checked for truncation; MPEG-TS cannot,
# so for it completeness rests on the fetch stage's byte count and sha256.
ALLOWED_FORMATS = ("mov", "mp4", "matroska", "webm", "avi", "ogg", "mpegts")

HEAD_PACKETS = 4  # decoded from the start of the video stream
TAIL_PACKETS = 4  # decoded from the last keyframe: it proves the tail decodes (70% of run CPU at 300)
TAIL_BYTES = 64 << 20  # at most this much tail packet data is held in memory
AUDIO_PACKETS = 4  # audio packets decoded to prove the audio codec works


class MediaError(Exception):
    """A file failed the media check.

    `reason` (and `str(err)`) is the sentence for the ledger, naming the file: "<path>: <what is wrong>".
    `code` is a short stable class for counting and policy: missing, empty, not_media, no_video,
    truncated, undecodable, zero_duration, too_large.
    """

    def __init__(self, reason: str, *, path: str | os.PathLike[str] | None = None, code: str = "invalid"):
        self.path = str(path) if path is not None else None
        self.code = code
        self.reason = f"{self.path}: {reason}" if self.path else reason
        super().__init__(self.reason)


def _container_name(container: av.container.InputContainer, doctype: str | None) -> str:
    """One short name: FFmpeg's demuxer names are families ("mov,mp4,m4a,3gp,3g2,mj2")."""
    names = container.format.name.split(",")
    if doctype in ("webm", "matroska"):
        return doctype
    if "mov" in names:
        brand = (container.metadata.get("major_brand") or "").strip().lower()
        if brand == "qt":
            return "mov"
        if brand.startswith("3g"):
            return "3gp"
        return "m4a" if brand == "m4a" else "mp4"
    return names[0]


def _bmff_cut(p: Path, size: int, max_boxes: int = 100_000) -> str | None:
    """Walk the top-level boxes of an ISO-BMFF (mp4/mov) file; say what is cut off, if anything.

    The mov demuxer tolerates a partially written trailing index (it drops the tracks it cannot read,
    or ignores a cut-off metadata box), so a file cut inside its moov could otherwise pass as a
    shorter or audio-less clip. Every top-level box must end within the file.
    """
    with p.open("rb") as fh:
        offset = 0
        for _ in range(max_boxes):
            if offset == size:
                return None
            fh.seek(offset)
            header = fh.read(16)
            if len(header) < 8:
                return f"{size - offset} stray bytes after the last box"
            box_size = int.from_bytes(header[:4], "big")
            kind = header[4:8].decode("latin-1")
            if box_size == 1:  # 64-bit size follows
                if len(header) < 16:
                    return f"box '{kind}' header cut off"
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:  # extends to the end of the file
                return None
            if box_size < 8:
                return f"box '{kind}' at byte {offset} has an invalid size {box_size}"
            if offset + box_size > size:
                return f"box '{kind}' at byte {offset} declares {box_size} bytes, {offset + box_size - size} missing"
            offset += box_size
    return None


def _read_vint(fh, *, is_id: bool = False) -> tuple[int, bool] | None:
    """Read an EBML variable-length integer; return (value, all_ones) or None at end of file."""
    first = fh.read(1)
    if not first:
        return None
    b = first[0]
    length = 1
    while length <= 8 and not b & (0x80 >> (length - 1)):
        length += 1
    if length > 8:
        return None
    rest = fh.read(length - 1)
    if len(rest) < length - 1:
        return None
    value = b if is_id else b & (0xFF >> length)
    for byte in rest:
        value = (value << 8) | byte
    all_ones = not is_id and value == (1 << (7 * length)) - 1
    return value, all_ones


def _ebml_scan(p: Path, size: int) -> tuple[str | None, str | None]:
    """Matroska/WebM: an EBML header (with the DocType) then a Segment whose size is usually declared.

    Returns (doctype, what is cut off or None).
    """
    doctype = None
    with p.open("rb") as fh:
        ident, length = _read_vint(fh, is_id=True), _read_vint(fh)
        if ident is None or length is None or ident[0] != 0x1A45DFA3:
            return None, None  # not the usual layout; leave it to the demuxer
        header_end = fh.tell() + length[0]
        while fh.tell() < min(header_end, size):
            cid, clen = _read_vint(fh, is_id=True), _read_vint(fh)
            if cid is None or clen is None or clen[0] > 64:
                break
            body = fh.read(clen[0])
            if cid[0] == 0x4282:  # DocType
                doctype = body.decode("ascii", "replace").strip("\x00") or None
        fh.seek(header_end)
        ident, length = _read_vint(fh, is_id=True), _read_vint(fh)
        if ident is None or length is None:
            return doctype, "segment header cut off"
        if ident[0] != 0x18538067:
            return doctype, None
        seg_size, unknown = length
        start = fh.tell()
        if not unknown and start + seg_size > size:
            return doctype, f"segment declares {seg_size} bytes, {start + seg_size - size} missing"
    return doctype, None


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _decode(stream: av.stream.Stream, packets: list[av.Packet]) -> int:
    """Decode `packets` from a clean decoder state and drain it; return the number of frames."""
    ctx = stream.codec_context
    ctx.flush_buffers()
    frames = 0
    for packet in packets:
        frames += len(ctx.decode(packet))
    frames += len(ctx.decode(None))  # drain frames held back by reordering or frame threads
    return frames


def inspect_media(
    path: str | os.PathLike[str],
    *,
    threads: int = 1,
    max_duration: float = 6 * 3600.0,
    max_pixels: int = 8192 * 4320,
    max_packets: int = 2_000_000,
    time_limit: float = 300.0,
) -> MediaInfo:
    """Check that `path` is a complete, decodable video and describe it.

    `threads`: decoder threads per file. One by default: only a few dozen frames are decoded per file,
    where frame threading's start-up and extra delay cost more than they save (measured on a 2-core
    worker: 56 ms with 1 thread, 64 ms with 2, for 60 s of 720p), and a worker keeps its cores busy by
    inspecting files in parallel; FFmpeg's default (one per core plus one) would oversubscribe them.
    Raise it for single very large files (4K, long GOPs).
    """
    p = Path(path)

    def fail(message: str, code: str) -> MediaError:
        return MediaError(message, path=p, code=code)

    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise fail("file not found", "missing") from None
    if not p.is_file():
        raise fail("not a regular file", "not_media")
    if size == 0:
        raise fail("empty file (0 bytes)", "empty")

    options = {
        "format_whitelist": ",".join(ALLOWED_FORMATS),
        "protocol_whitelist": "file",
        "probesize": str(5 << 20),
        "analyzeduration": str(5_000_000),
    }
    try:
        container = av.open(str(p), mode="r", container_options=options, metadata_errors="ignore")
    except av.FFmpegError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EIO):
            raise  # the machine's problem, not a verdict on the file
        with p.open("rb") as fh:
            head = fh.read(12)
        if head[4:8] == b"ftyp":
            raise fail(
                f"truncated or damaged mp4: its index (moov) cannot be read ({exc.strerror})", "truncated"
            ) from None
        raise fail(f"not a media container of an accepted format ({exc.strerror})", "not_media") from None

    with container:
        if "mov" in container.format.name.split(","):
            cut = _bmff_cut(p, size)
            if cut:
                raise fail(f"truncated mp4: {cut}", "truncated")
        doctype = None
        if "matroska" in container.format.name.split(","):
            doctype, cut = _ebml_scan(p, size)
            if cut:
                raise fail(f"truncated {doctype or 'matroska'}: {cut}", "truncated")
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise fail(f"no video stream (streams: {', '.join(kinds)})", "no_video")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        if audio is not None and audio.codec_context is None:
            audio = None  # an audio track no decoder knows is ignored, not fatal: the sample is video
        vctx = video.codec_context
        if vctx is None or not vctx.name:
            raise fail("video stream has no decoder available", "undecodable")
        width, height = vctx.width, vctx.height
        if width <= 0 or height <= 0:
            raise fail(f"video stream has no picture size ({width}x{height})", "undecodable")
        if width * height > max_pixels:
            raise fail(f"picture {width}x{height} exceeds the {max_pixels}-pixel cap", "too_large")

        v_declared = _seconds(video.duration, video.time_base)
        c_declared = container.duration / av.time_base if container.duration else None
        declared = v_declared or c_declared
        if declared is not None and declared > max_duration:
            raise fail(
                f"declared duration {declared:.0f} s exceeds the {max_duration:.0f} s cap", "too_large"
            )

        vctx.thread_type = "AUTO"
        vctx.thread_count = max(1, threads)

        # --- pass 1: demux every packet --------------------------------------------------------
        # All streams are read (subtitle or data tracks too) so the timeline check below compares the
        # container's declared duration with everything that is actually present.
        head: list[av.Packet] = []
        tail: list[av.Packet] = []
        tail_start, tail_bytes = 0, 0  # no keyframe flags at all: the tail is the start
        audio_head: list[av.Packet] = []
        n_video = n_audio = n_packets = 0
        v_start = v_end = a_start = a_end = None  # seconds
        deadline = time.monotonic() + time_limit
        try:
            for packet in container.demux():
                if packet.size == 0:  # end-of-stream marker from the demuxer
                    continue
                n_packets += 1
                if n_packets > max_packets:
                    raise fail(f"more than {max_packets} packets; refusing to read further", "too_large")
                if n_packets % 1024 == 0 and time.monotonic() > deadline:
                    raise fail(f"reading packets took longer than {time_limit:.0f} s", "too_large")
                if packet.is_corrupt:
                    raise fail(
                        f"truncated or corrupt: {packet.stream.type} packet at byte {packet.pos} is damaged",
                        "truncated",
                    )
                if packet.pos is not None and packet.pos >= 0 and packet.pos + packet.size > size:
                    raise fail(
                        f"truncated: a packet reaches past the end of the file ({size} bytes)", "truncated"
                    )
                index = packet.stream.index
                start = _seconds(packet.pts, packet.time_base)
                end = None if start is None else start + (_seconds(packet.duration, packet.time_base) or 0.0)
                if index == video.index:
                    if start is not None:
                        v_start = start if v_start is None else min(v_start, start)
                        v_end = end if v_end is None else max(v_end, end)
                    if len(head) < HEAD_PACKETS:
                        head.append(packet)
                    if packet.is_keyframe:
                        tail, tail_start, tail_bytes = [], n_video, 0
                    if len(tail) < TAIL_PACKETS and tail_bytes + packet.size <= TAIL_BYTES:
                        tail.append(packet)
                        tail_bytes += packet.size
                    n_video += 1
                elif start is not None:
                    a_start = start if a_start is None else min(a_start, start)
                    a_end = end if a_end is None else max(a_end, end)
                if audio is not None and index == audio.index:
                    if len(audio_head) < AUDIO_PACKETS:
                        audio_head.append(packet)
                    n_audio += 1
        except av.FFmpegError as exc:
            raise fail(
                f"truncated or corrupt: demuxing failed after {n_video} video packets ({exc.strerror})",
                "truncated",
            ) from None

        if n_video == 0:
            raise fail("video stream holds no packets", "truncated")
        if video.frames and n_video < video.frames:
            raise fail(f"truncated: {n_video} of {video.frames} declared video frames present", "truncated")
        if audio is not None and audio.frames and n_audio < audio.frames:
            raise fail(f"truncated: {n_audio} of {audio.frames} declared audio frames present", "truncated")
        # Timeline: what the packets cover must reach what the headers declare. The slack is a few
        # frame periods (timestamp rounding, B-frame delay), so a cut that loses even half a second of
        # a short clip is caught; formats that declare nothing (MPEG-TS) cannot be checked this way.
        rate = video.average_rate or video.guessed_rate or video.base_rate
        frame_s = 1.0 / float(rate) if rate else 0.1
        v_span = v_end - v_start if v_start is not None and v_end is not None else None
        starts = [t for t in (v_start, a_start) if t is not None]
        ends = [t for t in (v_end, a_end) if t is not None]
        all_span = max(ends) - min(starts) if starts and ends else None
        for what, have, want in (("video stream", v_span, v_declared), ("file", all_span, c_declared)):
            if have is not None and want and have < want - max(3 * frame_s, 0.01 * want):
                raise fail(
                    f"truncated: the {what}'s packets cover {have:.2f} s of a declared {want:.2f} s",
                    "truncated",
                )
        duration = v_declared or v_span or c_declared
        if not duration or duration <= 0:
            raise fail("zero duration", "zero_duration")

        # --- pass 2: decode the head and the last GOP ------------------------------------------
        try:
            if tail_start == 0:  # the last GOP starts at the first packet and covers the head
                head_frames, tail_frames = 0, _decode(video, tail)
            else:
                head_frames = _decode(video, head)
                tail_frames = _decode(video, tail) if tail else 0
            audio_frames = _decode(audio, audio_head) if audio is not None and audio_head else 0
        except av.FFmpegError as exc:
            raise fail(f"undecodable: {exc.strerror}", "undecodable") from None
        if tail_start != 0 and head_frames == 0:
            raise fail("undecodable: no frame decoded from the start of the video stream", "undecodable")
        if tail and tail_frames == 0:
            raise fail("undecodable: no frame decoded from the last keyframe onwards", "undecodable")
        if audio is not None and audio_head and audio_frames == 0:
            raise fail("undecodable: the audio stream yields no samples", "undecodable")

        fps = float(rate) if rate else n_video / duration
        return MediaInfo(
            container=_container_name(container, doctype),
            codec=vctx.name,
            duration=round(duration, 3),
            width=width,
            height=height,
            fps=round(fps, 3),
            has_audio=n_audio > 0,
            audio_codec=audio.codec_context.name if audio is not None and n_audio > 0 else None,
            frames_decoded=head_frames + tail_frames,
        )
