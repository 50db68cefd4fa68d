"""ClearFrame against plain yt-dlp on the same list of pages, side by side, on loopback.

    .venv/bin/python bench/run_bench.py [--items 300] [--rounds 3]

1. Build or reuse the corpus (bench/corpus.py): N real 640x360 4 s H.264+AAC mp4 clips.
2. Serve them on 127.0.0.1 (bench/bench_site.py): page /v/<i> (JSON-LD VideoObject, CC-BY licence,
   <video>) pointing at /media/<i>.mp4, and a permissive robots.txt.
3. Write urls.txt and a ClearFrame http source (bench_http.yaml) into a temporary folder.
4. Each round runs both tools as subprocesses, one after the other, alternating (A B A B ...):
     A  clearframe run bench_http.yaml --storage <fresh> --json      (fresh CLEARFRAME_HOME)
        robots.txt, page GET + licence parse, media HEAD, gate, GET + sha256, PyAV inspect, stage,
        ledger, WebDataset shard + Parquet index
     B  yt-dlp -a urls.txt -o '<fresh>/%(id)s.%(ext)s' --no-progress -q   (plain, default settings)
   Each run's wall time is measured around the whole process (start-up included, for both).
5. Check that both really got every item: ClearFrame's JSON (candidates, allow, fetched, sharded,
   bytes) and the sha256 of every shard member from the Parquet index; yt-dlp's files on disk and their
   sha256; and the server's counters (exactly N media GETs per run, for both). A run that did not
   deliver the whole corpus stops the benchmark: its throughput would not be comparable.
6. Report items/s and MB/s (10^6 bytes of media per second) per tool, and the ratio
   ClearFrame / yt-dlp per round and its median. The machine is noisy, so only the ratio of runs made
   side by side means anything; the absolute numbers are context.

Results: a Markdown table on stdout and bench/out/results.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = ROOT / ".venv" / "bin"
TARGET = 0.8

sys.path.insert(0, str(Path(__file__).resolve().parent))
import in_venv  # noqa: E402, F401  (re-runs this script inside the project's venv when needed)

sys.path.insert(0, str(BENCH))
from bench_site import BenchSite, populate  # noqa: E402
from corpus import Corpus, ensure_corpus  # noqa: E402

SOURCE_NAME = "bench_http"


class BenchError(Exception):
    pass


def write_inputs(work: Path, urls: list[str], name: str, workers: int, per_host: int,
                 batch_size: int | None) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    (work / "urls.txt").write_text("\n".join(urls) + "\n")
    lines = [
        f"# Written by bench/run_bench.py: {len(urls)} pages on a loopback site.",
        f"name: {name}",
        "kind: http",
        "description: ClearFrame benchmark corpus served on 127.0.0.1",
        *([f"batch_size: {batch_size}"] if batch_size else []),
        "http:",
        "  urls: urls.txt",
        "fetch:",
        f"  workers: {workers}",
        f"  per_host: {per_host}",
    ]
    src = work / f"{name}.yaml"
    src.write_text("\n".join(lines) + "\n")
    return src


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARFRAME_")}
    # Loopback only: no proxy from the environment may sit between either tool and the site.
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(k, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def timed(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run cmd; (wall seconds, child CPU seconds user+sys, completed process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def expected(corpus: Corpus, n: int) -> tuple[Counter[str], int]:
    clips = corpus.clips[:n]
    return Counter(c.sha256 for c in clips), sum(c.bytes for c in clips)


def published_hashes(storage: Path) -> Counter[str]:
    """sha256 of every member of the latest published version of each dataset in this storage."""
    import pyarrow.parquet as pq

    got: Counter[str] = Counter()
    for latest in sorted((storage / "datasets").glob("*/latest.json")):
        v = json.loads(latest.read_text())["version"]
        idx = latest.parent / f"v{v}" / "index.parquet"
        got.update(pq.read_table(idx, columns=["sha256"]).column("sha256").to_pylist())
    return got


def run_clearframe(src: Path, run_dir: Path, site: BenchSite, corpus: Corpus, n: int,
                   timeout: float, prefix: list[str] | None = None) -> dict[str, Any]:

    home, storage = run_dir / "home", run_dir / "storage"
    cmd = [*(prefix or [str(VENV_BIN / "clearframe")]), "run", str(src), "--storage", str(storage), "--json"]
    before = site.snapshot()
    wall, cpu, proc = timed(cmd, child_env(CLEARFRAME_HOME=str(home)), timeout)
    reqs = BenchSite.classify(site.snapshot() - before)
    if proc.returncode != 0:
        raise BenchError(f"clearframe exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise BenchError(f"clearframe printed no JSON summary ({exc}):\n{proc.stdout[-2000:]}") from None
    want_hashes, want_bytes = expected(corpus, n)
    # Every item went through the whole flow and sits in a shard, byte for byte.
    got_hashes = published_hashes(storage)
    problems = [f"{k}={out.get(k)} (want {v})" for k, v in (
        ("candidates", n), ("allow", n), ("fetched", n), ("sharded", n), ("quarantined", 0),
        ("bytes", want_bytes)) if out.get(k) != v]
    if got_hashes != want_hashes:
        problems.append(f"shard index sha256s differ from the corpus ({sum(got_hashes.values())} rows)")
    if reqs.get("media_get") != n:
        problems.append(f"server saw {reqs.get('media_get')} media GETs (want {n})")
    if problems:
        raise BenchError("clearframe did not deliver the whole corpus: " + "; ".join(problems))
    return {"tool": "clearframe", "cmd": cmd, "wall_s": wall, "cpu_s": cpu, "items": out["sharded"],
            "bytes": out["bytes"], "requests": reqs, "summary": out}


def run_ytdlp(urls_file: Path, run_dir: Path, site: BenchSite, corpus: Corpus, n: int,
              timeout: float) -> dict[str, Any]:
    out_dir = run_dir / "downloads"
    cmd = [str(VENV_BIN / "yt-dlp"), "-a", str(urls_file), "-o", str(out_dir / "%(id)s.%(ext)s"),
           "--no-progress", "-q"]
    before = site.snapshot()
    wall, cpu, proc = timed(cmd, child_env(), timeout)
    reqs = BenchSite.classify(site.snapshot() - before)
    if proc.returncode != 0:
        raise BenchError(f"yt-dlp exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    files = [p for p in out_dir.iterdir() if p.is_file() and not p.name.startswith(".")
             and not p.name.endswith((".part", ".ytdl"))] if out_dir.exists() else []
    want_hashes, want_bytes = expected(corpus, n)
    got_hashes = Counter(sha256_file(p) for p in files)
    nbytes = sum(p.stat().st_size for p in files)
    problems = []
    if len(files) != n:
        problems.append(f"{len(files)} files on disk (want {n})")
    if nbytes != want_bytes:
        problems.append(f"{nbytes} bytes on disk (want {want_bytes})")
    if got_hashes != want_hashes:
        problems.append("file sha256s differ from the corpus")
    if reqs.get("media_get") != n:
        problems.append(f"server saw {reqs.get('media_get')} media GETs (want {n})")
    if problems:
        raise BenchError("yt-dlp did not deliver the whole corpus: " + "; ".join(problems))
    warnings = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return {"tool": "yt-dlp", "cmd": cmd, "wall_s": wall, "cpu_s": cpu, "items": len(files), "bytes": nbytes,
            "requests": reqs, "stderr_lines": len(warnings),
            "stderr_kinds": dict(Counter(ln.split(":")[0] + ": " + ln.split(":", 2)[-1].strip()[:60]
                                         for ln in warnings).most_common(3))}


def rates(r: dict[str, Any]) -> dict[str, Any]:
    r["items_per_s"] = r["items"] / r["wall_s"]
    r["mb_per_s"] = r["bytes"] / 1e6 / r["wall_s"]
    return r


def git_state() -> dict[str, Any]:
    def git(*a: str) -> str:
        p = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return p.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty_files": git("status", "--porcelain").splitlines()}


def tool_versions() -> dict[str, str]:
    import av
    import yt_dlp.version

    import clearframe

    return {"clearframe": clearframe.__version__, "yt_dlp": yt_dlp.version.__version__, "pyav": av.__version__,
            "python": platform.python_version()}


def markdown(rounds: list[dict[str, Any]], summary: dict[str, Any], n: int) -> str:
    head = ("| round | order | ClearFrame s | CF items/s | CF MB/s | CF CPU s | yt-dlp s | yt-dlp items/s "
            "| yt-dlp MB/s | yt-dlp CPU s | ratio CF/yt-dlp |\n"
            "|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for r in rounds:
        a, b = r["clearframe"], r["yt-dlp"]
        rows.append(f"| {r['round']} | {r['order']} | {a['wall_s']:.2f} | {a['items_per_s']:.1f} | "
                    f"{a['mb_per_s']:.2f} | {a['cpu_s']:.1f} | {b['wall_s']:.2f} | {b['items_per_s']:.1f} | "
                    f"{b['mb_per_s']:.2f} | {b['cpu_s']:.1f} | {r['ratio']:.2f}x |")
    m = summary
    rows.append(f"| **median** | | {m['clearframe']['wall_s']:.2f} | {m['clearframe']['items_per_s']:.1f} | "
                f"{m['clearframe']['mb_per_s']:.2f} | {m['clearframe']['cpu_s']:.1f} | "
                f"{m['yt-dlp']['wall_s']:.2f} | {m['yt-dlp']['items_per_s']:.1f} | {m['yt-dlp']['mb_per_s']:.2f} | "
                f"{m['yt-dlp']['cpu_s']:.1f} | **{m['ratio']:.2f}x** |")
    verdict = "meets" if m["ratio"] >= TARGET else "is below"
    return (f"{n} items per run; ratio = ClearFrame items/s / yt-dlp items/s in the same round "
            f"(= yt-dlp time / ClearFrame time).\n\n" + head + "\n" + "\n".join(rows) +
            f"\n\nMedian ratio {m['ratio']:.2f}x {verdict} the {TARGET}x target. CPU seconds per run "
            f"(user+sys of the tool's process): yt-dlp / ClearFrame = {m['cpu_ratio']:.2f}, the ratio to "
            "expect when the CPUs, not latency, are the limit.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=300, help="corpus size, one page + one clip each (300)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; each runs both tools once (3)")
    ap.add_argument("--workers", type=int, default=8, help="ClearFrame fetch.workers (8)")
    ap.add_argument("--per-host", type=int, default=8, help="ClearFrame fetch.per_host (8)")
    ap.add_argument("--batch-size", type=int, help="ClearFrame batch_size (default: the source default)")
    ap.add_argument("--order", choices=("abab", "abba"), default="abab",
                    help="abab: ClearFrame first every round; abba: who goes first alternates")
    ap.add_argument("--warmup", type=int, default=10,
                    help="items in one untimed run of each tool first (warms caches); 0 to skip (10)")
    ap.add_argument("--corpus-workers", type=int, default=2, help="processes generating the corpus (2)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run (1800)")
    ap.add_argument("--out", type=Path, default=BENCH / "out" / "results.json")
    ap.add_argument("--keep", action="store_true", help="keep the temporary run folders")
    ap.add_argument("--clearframe-cmd", help="command to use instead of .venv/bin/clearframe, split on "
                    "spaces (e.g. '.venv/bin/python /tmp/patched_cli.py' to try a change side by side)")
    ap.add_argument("--serve", action="store_true",
                    help="only build the inputs, serve them and wait (for profiling by hand)")
    args = ap.parse_args(argv)
    n = args.items
    load_at_start = os.getloadavg()
    cf_prefix = args.clearframe_cmd.split() if args.clearframe_cmd else None

    corpus = ensure_corpus(n, workers=args.corpus_workers)
    print(f"corpus: {n} clips, {corpus.total_bytes / 1e6:.1f} MB ({corpus.generated} generated, "
          f"{n - corpus.generated} reused) in {corpus.root}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="cf-bench-"))
    results: dict[str, Any] = {}
    try:
        with BenchSite() as site:
            urls = populate(site, [c.path(corpus.root) for c in corpus.clips])
            src = write_inputs(tmp / "inputs", urls, SOURCE_NAME, args.workers, args.per_host, args.batch_size)
            print(f"site: {site.base} ({n} pages); inputs in {src.parent}", flush=True)
            if args.serve:
                # Stop cleanly (and remove the temporary folder) on Ctrl-C or TERM, even when started in
                # the background, where a shell makes the process ignore SIGINT.
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.default_int_handler)
                print("serving; Ctrl-C or TERM to stop", flush=True)
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    return 0
            if args.warmup:
                w = min(args.warmup, n)
                wsrc = write_inputs(tmp / "warmup", urls[:w], SOURCE_NAME, args.workers, args.per_host,
                                    args.batch_size)
                run_clearframe(wsrc, tmp / "warmup-cf", site, corpus, w, args.timeout, cf_prefix)
                run_ytdlp(wsrc.parent / "urls.txt", tmp / "warmup-yt", site, corpus, w, args.timeout)
                print(f"warm-up: both tools on {w} items (not recorded)", flush=True)

            rounds = []
            for r in range(1, args.rounds + 1):
                order = ["clearframe", "yt-dlp"]
                if args.order == "abba" and r % 2 == 0:
                    order.reverse()
                res: dict[str, Any] = {"round": r, "order": " then ".join(order)}
                for tool in order:
                    run_dir = tmp / f"round{r}-{tool}"
                    if tool == "clearframe":
                        res[tool] = rates(run_clearframe(src, run_dir, site, corpus, n, args.timeout,
                                                         cf_prefix))
                    else:
                        res[tool] = rates(run_ytdlp(src.parent / "urls.txt", run_dir, site, corpus, n,
                                                    args.timeout))
                    print(f"round {r}: {tool:10s} {res[tool]['wall_s']:7.2f} s  "
                          f"{res[tool]['items_per_s']:6.1f} items/s  {res[tool]['mb_per_s']:6.2f} MB/s  "
                          f"cpu {res[tool]['cpu_s']:.1f} s  requests {res[tool]['requests']}", flush=True)
                    if not args.keep:
                        shutil.rmtree(run_dir, ignore_errors=True)
                res["ratio"] = res["clearframe"]["items_per_s"] / res["yt-dlp"]["items_per_s"]
                # Work per item: what the ratio would tend to if the CPUs were the only limit.
                res["cpu_ratio"] = res["yt-dlp"]["cpu_s"] / res["clearframe"]["cpu_s"]
                print(f"round {r}: ratio clearframe/yt-dlp = {res['ratio']:.2f}x", flush=True)
                rounds.append(res)

        med = statistics.median
        summary = {tool: {k: med(r[tool][k] for r in rounds) for k in ("wall_s", "items_per_s", "mb_per_s",
                                                                          "cpu_s")}
                   for tool in ("clearframe", "yt-dlp")}
        summary["ratio"] = med(r["ratio"] for r in rounds)
        summary["ratios"] = [r["ratio"] for r in rounds]
        summary["cpu_ratio"] = med(r["cpu_ratio"] for r in rounds)
        summary["target"] = TARGET
        summary["meets_target"] = summary["ratio"] >= TARGET
        table = markdown(rounds, summary, n)
        results = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "loadavg_at_start": load_at_start, "loadavg_at_end": os.getloadavg()},
            "versions": tool_versions(),
            "git": git_state(),
            "params": {"clearframe_cmd": cf_prefix, "items": n, "rounds": args.rounds, "order": args.order,
                       "warmup_items": args.warmup,
                       "clearframe_fetch": {"workers": args.workers, "per_host": args.per_host},
                       "batch_size": args.batch_size, "clip": corpus.params.__dict__},
            "corpus": {"dir": str(corpus.root), "items": n, "bytes": sum(c.bytes for c in corpus.clips)},
            "rounds": rounds,
            "summary": summary,
            "table_markdown": table,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
        print()
        print(table)
        print(f"\nwrote {args.out}")
        return 0
    except BenchError as exc:
        print(f"run_bench: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")


if __name__ == "__main__":
    sys.exit(main())
