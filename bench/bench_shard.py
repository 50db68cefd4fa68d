"""The shard writer against a plain copy of the same bytes to the same storage, side by side.

    .venv/bin/python bench/bench_shard.py                       # 300 clips, 5 rounds, local folder and S3
    .venv/bin/python bench/bench_shard.py --items 100 --rounds 3 --backends local

Corpus: bench/corpus.py (clip i = clearframe.mediagen.make_clip(seed=i), 640x360, 4 s, H.264+AAC), staged
into the storage under test as the ingest stage leaves them (`staging/bench/<key>.mp4`). The S3 storage
is moto's server, started as its own process on 127.0.0.1 so it does not share this process's GIL.

Per round, on the same storage, reading the same staged objects:

  A  shard writer   clearframe.shard.write_shards: WebDataset tars (streamed, every clip's sha256 checked,
                    the tar's sha256 computed), stats and Parquet index per shard, index last
  B  copy objects   each staged object copied to a new key (local: put_file of its path; S3: GET, then PUT)
  C  concatenate    the same bytes, grouped as the writer groups them, written as one object per group
                    with no tar framing, no hashing, no index (local: the files read one after another
                    into one put_file; S3: each object fetched whole, the group uploaded as one object)

The order alternates by round (A B C, then C B A); an untimed warm-up of each precedes the rounds, and
`sync` runs before every timed run (on ext4 an fsync commits the journal, so it would otherwise also pay
for whatever the previous run left dirty). ratio = A's MB/s / baseline's MB/s in the same round;
the headline is the median over rounds against each baseline. Target: 0.8 or better. Only ratios of runs
made side by side mean anything on a shared machine; absolute MB/s are context.

Checks, or the run stops: A's indexes list every clip once with the corpus's sha256; B and C wrote the
corpus's byte count. Results: a Markdown table on stdout and bench/out/bench_shard.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"
TARGET = 0.8

try:
    import clearframe  # noqa: F401
except ImportError:  # run with another interpreter: start again inside the project's venv
    if VENV_PY.exists() and Path(sys.executable).resolve() != VENV_PY.resolve():
        os.execv(str(VENV_PY), [str(VENV_PY), *sys.argv])
    raise

sys.path.insert(0, str(BENCH))
from corpus import Corpus, ensure_corpus  # noqa: E402

from clearframe.records import candidate_key  # noqa: E402
from clearframe.shard import plan, read_index, write_shards  # noqa: E402
from clearframe.storage import Storage, open_storage  # noqa: E402

DATASET = "bench"


class BenchError(Exception):
    pass


# -- storages ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """moto's S3 server as a child process on loopback, with the environment pointing boto3 at it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> MotoServer:
        exe = VENV_PY.with_name("moto_server")
        self.proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_EC2_METADATA_DISABLED": "true", "CLEARFRAME_S3_ENDPOINT": self.endpoint,
               "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        for k, v in env.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 30
        while True:
            try:
                opener.open(f"{self.endpoint}/moto-api/", timeout=1).read()
                return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise BenchError(f"moto_server did not start on {self.endpoint}") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- the three ways to store the same bytes ----------------------------------------------------------------


def run_writer(storage: Storage, items: list[dict[str, Any]], target: int, tag: str) -> int:
    infos = write_shards(storage, f"{DATASET}-{tag}", items, target)
    return sum(i.media_bytes for i in infos)


def run_copy(storage: Storage, items: list[dict[str, Any]], target: int, tag: str) -> int:
    n = 0
    for it in items:
        dest = f"copy-{tag}/{it['key']}.mp4"
        local = storage.local_path(it["staged"])
        if local is not None:
            n += storage.put_file(local, dest)
        else:
            data = storage.get_bytes(it["staged"])
            storage.put_bytes(dest, data)
            n += len(data)
    return n


class _Concat(io.RawIOBase):
    """The staged files of a group, one after another, as one readable stream."""

    def __init__(self, paths: list[str]):
        self._paths = iter(paths)
        self._fh: Any = None
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while True:
            if self._fh is None:
                nxt = next(self._paths, None)
                if nxt is None:
                    return 0
                self._fh = open(nxt, "rb")  # noqa: SIM115  (closed when exhausted)
            n = self._fh.readinto(b)
            if n:
                self.count += n
                return int(n)
            self._fh.close()
            self._fh = None


def run_concat(storage: Storage, items: list[dict[str, Any]], target: int, tag: str) -> int:
    n = 0
    for i, group in enumerate(plan(sorted(items, key=lambda it: it["key"]), target)):
        dest = f"concat-{tag}/{i:05d}.bin"
        paths = [storage.local_path(it["staged"]) for it in group]
        if all(p is not None for p in paths):
            n += storage.put_file(io.BufferedReader(_Concat(paths), 1 << 20), dest)  # type: ignore[arg-type]
        else:
            data = b"".join(storage.get_bytes(it["staged"]) for it in group)
            storage.put_bytes(dest, data)
            n += len(data)
    return n


WAYS: dict[str, tuple[str, Callable[[Storage, list[dict[str, Any]], int, str], int]]] = {
    "A": ("shard writer", run_writer),
    "B": ("copy objects", run_copy),
    "C": ("concatenate", run_concat),
}


# -- one backend ------------------------------------------------------------------------------------------


def stage(storage: Storage, corpus: Corpus) -> list[dict[str, Any]]:
    items = []
    for c in corpus.clips:
        key = candidate_key(f"bench:{c.name}")
        staged = f"staging/{DATASET}/{key}.mp4"
        storage.put_file(str(c.path(corpus.root)), staged)
        items.append({"key": key, "staged": staged, "source": "bench", "canonical_id": f"bench:{c.name}",
                      "url": f"https://bench.example/v/{c.index}", "media_url": None, "title": c.name,
                      "creator": "bench", "license_spdx": "CC-BY-4.0", "license_raw": "CC-BY-4.0",
                      "license_found_in": "json-ld", "attribution": None, "contract_id": None,
                      "sha256": c.sha256, "bytes": c.bytes,
                      "media": {"duration": corpus.params.seconds, "width": corpus.params.width,
                                "height": corpus.params.height, "fps": float(corpus.params.fps), "codec": "h264",
                                "has_audio": corpus.params.audio},
                      "decision": "allow", "policy_version": "bench", "decided_at": None, "run_id": "bench"})
    return items


def check(storage: Storage, way: str, tag: str, corpus: Corpus, nbytes: int) -> None:
    if nbytes != corpus.total_bytes:
        raise BenchError(f"{WAYS[way][0]} stored {nbytes} bytes of media, the corpus has {corpus.total_bytes}")
    if way == "A":
        got: Counter[str] = Counter()
        for k in storage.list(f"datasets/{DATASET}-{tag}/shards/"):
            if k.endswith(".parquet"):
                got.update(read_index(storage, k, ["sha256"]).column("sha256").to_pylist())
        if got != Counter(c.sha256 for c in corpus.clips):
            raise BenchError("the shard indexes do not list every corpus clip exactly once")


def clean(storage: Storage, prefixes: list[str]) -> None:
    for p in prefixes:
        for k in storage.list(p):
            storage.delete(k)


def bench_backend(name: str, storage: Storage, corpus: Corpus, rounds: int, target: int,
                  log: Callable[[str], None]) -> dict[str, Any]:
    items = stage(storage, corpus)
    for way in "ABC":  # warm-up, untimed: imports, first Parquet write, connection pools
        WAYS[way][1](storage, items[:10], target, f"warm{way}")
        clean(storage, [f"datasets/{DATASET}-warm{way}/", f"copy-warm{way}/", f"concat-warm{way}/"])
    runs: list[dict[str, Any]] = []
    for r in range(rounds):
        order = "ABC" if r % 2 == 0 else "CBA"
        row: dict[str, Any] = {"round": r + 1, "order": order}
        for way in order:
            tag = f"r{r}{way}"
            os.sync()  # each run pays for flushing its own writes only (fsync commits the whole journal)
            cpu0, t0 = time.process_time(), time.perf_counter()
            nbytes = WAYS[way][1](storage, items, target, tag)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            check(storage, way, tag, corpus, nbytes)
            row[way] = {"wall_s": round(wall, 4), "cpu_s": round(cpu, 3), "mb_per_s": round(nbytes / 1e6 / wall, 2)}
            clean(storage, [f"datasets/{DATASET}-{tag}/", f"copy-{tag}/", f"concat-{tag}/"])
        row["ratio_vs_B"] = round(row["A"]["mb_per_s"] / row["B"]["mb_per_s"], 3)
        row["ratio_vs_C"] = round(row["A"]["mb_per_s"] / row["C"]["mb_per_s"], 3)
        log(f"{name} round {r + 1} ({order}): " + "  ".join(
            f"{WAYS[w][0]} {row[w]['mb_per_s']:.1f} MB/s" for w in "ABC")
            + f"  ratio A/B {row['ratio_vs_B']:.2f}  A/C {row['ratio_vs_C']:.2f}")
        runs.append(row)
    shards = len(plan(items, target))
    return {
        "backend": name, "storage": storage.root, "shards_per_run": shards, "rounds": runs,
        "median_mb_per_s": {w: statistics.median(x[w]["mb_per_s"] for x in runs) for w in "ABC"},
        "median_ratio_vs_B": statistics.median(x["ratio_vs_B"] for x in runs),
        "median_ratio_vs_C": statistics.median(x["ratio_vs_C"] for x in runs),
    }


def report(results: list[dict[str, Any]], corpus: Corpus, target: int) -> str:
    lines = [f"Corpus: {len(corpus.clips)} clips, {corpus.total_bytes / 1e6:.1f} MB; shard target "
             f"{target / 2**20:.0f} MiB. Median of {len(results[0]['rounds'])} rounds (MB = 10^6 bytes of media).",
             "", "| storage | shards | A shard writer MB/s | B copy objects MB/s | C concatenate MB/s | "
                 "A/B | A/C | target 0.8 met |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        mb = r["median_mb_per_s"]
        worst = min(r["median_ratio_vs_B"], r["median_ratio_vs_C"])
        lines.append(f"| {r['backend']} | {r['shards_per_run']} | {mb['A']:.1f} | {mb['B']:.1f} | {mb['C']:.1f} | "
                     f"{r['median_ratio_vs_B']:.2f} | {r['median_ratio_vs_C']:.2f} | "
                     f"{'yes' if worst >= TARGET else 'no'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--target-mb", type=float, default=16, help="shard target size in MiB (default 16)")
    ap.add_argument("--backends", default="local,s3")
    ap.add_argument("--out", type=Path, default=BENCH / "out" / "bench_shard.json")
    args = ap.parse_args(argv)
    target = int(args.target_mb * 2**20)
    corpus = ensure_corpus(args.items)
    results = []
    work = Path(tempfile.mkdtemp(prefix="bench-shard-", dir=BENCH / "out"))
    try:
        for backend in args.backends.split(","):
            if backend == "local":
                results.append(bench_backend("local folder", open_storage(str(work / "storage")), corpus,
                                             args.rounds, target, print))
            elif backend == "s3":
                with MotoServer() as moto:
                    import boto3

                    boto3.client("s3", endpoint_url=moto.endpoint).create_bucket(Bucket="bench")
                    results.append(bench_backend(f"S3 (moto_server at {moto.endpoint})", open_storage("s3://bench/cf"),
                                                 corpus, args.rounds, target, print))
            else:
                raise SystemExit(f"--backends: unknown backend {backend!r}; use local and/or s3")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = report(results, corpus, target)
    print()
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "items": len(corpus.clips),
        "corpus_bytes": corpus.total_bytes, "target_bytes": target, "rounds": args.rounds,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results, "table": table}, indent=1) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
