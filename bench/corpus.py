"""Deterministic benchmark corpus: N real H.264+AAC mp4 clips, cached under bench/out/corpus/.

Clip i is `clearframe.mediagen.make_clip(seed=i)` with fixed parameters, so the same N and parameters
always give the same bytes. A manifest (manifest.json) records the parameters and each file's size and
sha256; a re-run reuses every clip whose file is still there with the recorded size and generates only
what is missing. Generation runs in a process pool (x264 is CPU-bound; 2 workers by default).

    python bench/corpus.py --items 300          # build or reuse, print a summary
    python bench/corpus.py --items 300 --verify # also re-hash every cached file
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_DIR = BENCH_DIR / "out" / "corpus"
MANIFEST = "manifest.json"
# Bump when the meaning of a seed changes in a way the parameters below do not capture.
CORPUS_VERSION = 1


@dataclass(frozen=True)
class ClipParams:
    seconds: float = 4.0
    width: int = 640
    height: int = 360
    fps: int = 25
    audio: bool = True


@dataclass
class Clip:
    index: int
    name: str
    bytes: int
    sha256: str

    def path(self, root: Path) -> Path:
        return root / self.name


@dataclass
class Corpus:
    root: Path
    params: ClipParams
    clips: list[Clip]
    generated: int  # clips made by this call (0 = all reused)
    seconds: float  # time spent generating

    @property
    def total_bytes(self) -> int:
        return sum(c.bytes for c in self.clips)


def clip_name(i: int) -> str:
    return f"{i:05d}.mp4"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _make(root: str, i: int, params: ClipParams) -> Clip:
    """Worker: write clip i (atomically, by make_clip) and describe it."""
    from clearframe.mediagen import make_clip

    path = Path(root) / clip_name(i)
    make_clip(path, seconds=params.seconds, width=params.width, height=params.height, fps=params.fps,
              audio=params.audio, seed=i)
    return Clip(i, path.name, path.stat().st_size, _sha256(path))


def _load_manifest(root: Path, params: ClipParams) -> dict[int, Clip]:
    try:
        data = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    if data.get("version") != CORPUS_VERSION or data.get("params") != asdict(params):
        return {}  # different clips: regenerate everything
    return {c["index"]: Clip(**c) for c in data.get("clips", [])}


def _save_manifest(root: Path, params: ClipParams, clips: dict[int, Clip]) -> None:
    data = {"version": CORPUS_VERSION, "params": asdict(params),
            "generator": "clearframe.mediagen.make_clip(seed=index)",
            "clips": [asdict(clips[i]) for i in sorted(clips)]}
    tmp = root / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, root / MANIFEST)


def ensure_corpus(n: int, root: Path = DEFAULT_DIR, params: ClipParams = ClipParams(), *, workers: int = 2,
                  verify: bool = False, log=print) -> Corpus:
    """Clips 0..n-1 under `root`, generating only those not already cached with the recorded size."""
    root.mkdir(parents=True, exist_ok=True)
    known = _load_manifest(root, params)
    have: dict[int, Clip] = {}
    for i, c in known.items():
        p = c.path(root)
        try:
            ok = p.stat().st_size == c.bytes and (not verify or _sha256(p) == c.sha256)
        except OSError:
            ok = False
        if ok:
            have[i] = c
    missing = [i for i in range(n) if i not in have]
    t0 = time.perf_counter()
    if missing:
        log(f"corpus: generating {len(missing)} of {n} clips ({params.width}x{params.height}, "
            f"{params.seconds:g} s, {params.fps} fps, audio={params.audio}) with {workers} processes ...")
        # spawn: PyAV/FFmpeg state is not fork-safe, and the pool is small, so its start-up is cheap.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_make, str(root), i, params) for i in missing]
            for done, fut in enumerate(as_completed(futures), 1):
                c = fut.result()
                have[c.index] = c
                if done % 50 == 0 or done == len(missing):
                    log(f"corpus: {done}/{len(missing)} ({time.perf_counter() - t0:.1f} s)")
                    _save_manifest(root, params, have)  # progress survives an interrupt
    _save_manifest(root, params, have)
    clips = [have[i] for i in range(n)]
    return Corpus(root, params, clips, len(missing), time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--verify", action="store_true", help="re-hash cached files against the manifest")
    args = ap.parse_args(argv)
    c = ensure_corpus(args.items, args.dir, workers=args.workers, verify=args.verify)
    print(f"corpus: {len(c.clips)} clips, {c.total_bytes / 1e6:.1f} MB in {c.root} "
          f"({c.generated} generated in {c.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
