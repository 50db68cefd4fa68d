"""Where `clearframe run` spends its time, across all its threads (a diagnostic, not a benchmark).

`python -m cProfile` sees only the main thread, which in `clearframe run` just waits on thread pools
(cf-probe, cf-fetch). This runs `clearframe.cli.main` in-process with:

* one cProfile.Profile per thread (threading.Thread.run is wrapped), merged at the end: CPU-ish cost
  per function over every thread (tottime = in the function itself, cumtime = with its callees);
* a wall-clock sampler: every `--interval` s it records the stack of every thread, so blocking (socket
  reads, locks, waiting on a pool) shows up too. Reported per thread group and as "leaf" frames.

It serves the corpus itself (bench/bench_site.py in a child process, so the server's CPU is not in the
profile) unless `--inputs` points at a folder written by `run_bench.py --serve`.

    .venv/bin/python bench/profile_cf.py [--items 300] [--top 40]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


class ThreadProfiles:
    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._orig_run = threading.Thread.run

    def install(self) -> None:
        owner = self
        orig = self._orig_run

        def run(thread: threading.Thread) -> None:
            if thread.name.startswith("wall-sampler"):
                return orig(thread)
            prof = cProfile.Profile()
            with owner._lock:
                owner.profiles.append(prof)
            prof.enable()
            try:
                return orig(thread)
            finally:
                prof.disable()

        threading.Thread.run = run  # type: ignore[method-assign]

    def uninstall(self) -> None:
        threading.Thread.run = self._orig_run  # type: ignore[method-assign]


class WallSampler(threading.Thread):
    """Samples every thread's stack; counts (thread group, stack) pairs."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="wall-sampler", daemon=True)
        self.interval = interval
        self.samples: Counter[tuple[str, tuple[str, ...]]] = Counter()
        self.ticks = 0
        self._halt = threading.Event()

    def run(self) -> None:
        me = threading.get_ident()
        while not self._halt.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            self.ticks += 1
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = []
                f = frame
                while f is not None:
                    co = f.f_code
                    stack.append(f"{_short(co.co_filename)}:{co.co_name}")
                    f = f.f_back
                group = re.sub(r"_\d+$", "", names.get(ident, "?"))
                self.samples[(group, tuple(reversed(stack)))] += 1

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/include/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def start_site(items: int) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, str(BENCH / "run_bench.py"), "--items", str(items), "--serve"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout
    for line in proc.stdout:
        m = re.search(r"inputs in (\S+)", line)
        if m:
            return proc, Path(m.group(1))
    raise SystemExit("the benchmark site did not start")


def report_wall(sampler: WallSampler, top: int, out: io.StringIO) -> None:
    groups: Counter[str] = Counter()
    for (g, _), n in sampler.samples.items():
        groups[g] += n
    print(f"\n== wall-clock samples every {sampler.interval * 1000:.0f} ms: {sampler.ticks} ticks ==", file=out)
    for g, n in groups.most_common():
        print(f"  {g:24s} {n:6d} samples", file=out)
    for g, _ in groups.most_common(3):
        leafs: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = groups[g]
        for (gg, stack), n in sampler.samples.items():
            if gg != g:
                continue
            # the innermost frame of the project or a library, not the stdlib plumbing under it
            leafs[" <- ".join(stack[-1:-4:-1])] += n
            for fn in set(stack):
                inclusive[fn] += n
        print(f"\n-- {g}: functions on the stack (% of this group's samples) --", file=out)
        for fn, n in inclusive.most_common(top):
            print(f"  {100 * n / total:5.1f}%  {fn}", file=out)
        print(f"\n-- {g}: innermost frames (leaf <- caller <- caller) --", file=out)
        for fn, n in leafs.most_common(15):
            print(f"  {100 * n / total:5.1f}%  {fn}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--inputs", type=Path, help="a folder with bench_http.yaml (from run_bench.py --serve)")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--interval", type=float, default=0.005)
    ap.add_argument("--no-cprofile", action="store_true", help="wall sampler only (less overhead)")
    ap.add_argument("--out", type=Path, default=BENCH / "out" / "profile")
    args = ap.parse_args(argv)

    site = None
    if args.inputs is None:
        site, args.inputs = start_site(args.items)
    work = Path(tempfile.mkdtemp(prefix="cf-prof-"))
    try:
        os.environ["CLEARFRAME_HOME"] = str(work / "home")
        for k in ("CLEARFRAME_STORAGE", "CLEARFRAME_REGISTRY_URL"):
            os.environ.pop(k, None)
        tp = ThreadProfiles()
        main_prof = cProfile.Profile()
        sampler = WallSampler(args.interval)
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        if not args.no_cprofile:
            tp.install()
            main_prof.enable()
        sampler.start()
        from clearframe.cli import main as cf_main  # imports are part of what is measured

        rc = cf_main(["run", str(args.inputs / "bench_http.yaml"), "--storage", str(work / "storage"), "--json"])
        sampler.stop()
        if not args.no_cprofile:
            main_prof.disable()
            tp.uninstall()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        args.out.mkdir(parents=True, exist_ok=True)
        out = io.StringIO()
        print(f"clearframe run: rc={rc}, {wall:.2f} s wall, {cpu:.2f} s CPU (profiler overhead included)",
              file=out)
        if not args.no_cprofile:
            stats = pstats.Stats(main_prof)
            for p in tp.profiles:
                stats.add(p)
            stats.dump_stats(args.out / "clearframe.prof")
            for key in ("tottime", "cumulative"):
                buf = io.StringIO()
                pstats.Stats(str(args.out / "clearframe.prof"), stream=buf).sort_stats(key).print_stats(args.top)
                print(f"\n== cProfile, all threads merged, by {key} ==", file=out)
                print(buf.getvalue(), file=out)
        report_wall(sampler, args.top, out)
        text = out.getvalue()
        (args.out / "report.txt").write_text(text)
        print(text)
        print(f"wrote {args.out / 'report.txt'}" + ("" if args.no_cprofile else f" and {args.out / 'clearframe.prof'}"))
        return rc
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if site is not None:
            site.terminate()  # run_bench.py --serve stops on TERM and removes its temporary folder
            site.wait()


if __name__ == "__main__":
    sys.exit(main())
