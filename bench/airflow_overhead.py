"""Airflow's overhead: the bench corpus through the ingest + curate DAGs on `airflow standalone`, against
`clearframe run` on the same corpus, side by side, on loopback.

    .venv/bin/python bench/airflow_overhead.py [--items 1000] [--rounds 3]

1. Build or reuse the corpus (bench/corpus.py) and serve it on 127.0.0.1 (bench/bench_site.py), exactly
   as bench/run_bench.py does; one `kind: http` source `bench_http` over the N page URLs.
2. Start the platform the way a user does, `scripts/start`, pointed at a source registry that holds only
   that source (CLEARFRAME_SOURCES), a fresh CLEARFRAME_HOME and storage folder, parallelism 4 (its
   default) and a free API port. Wait until `ingest__bench_http` is loaded and unpaused.
3. Each round, one after the other:
     A  `clearframe run bench_http.yaml --storage <fresh> --json` (fresh CLEARFRAME_HOME): gate, fetch,
        inspect, stage, ledger, shard, in one process.
     B  trigger `ingest__bench_http` through the REST API; its publish task updates the dataset's asset,
        which schedules `curate__bench`; the round ends when that curate run has succeeded. Timed from
        the trigger request to the moment the curate run is seen in state success (polled every 0.25 s).
   The platform's storage folder is emptied between rounds (Airflow is idle then), so every round does
   the whole work; Airflow itself stays up, as it does in use: start-up is not part of a round.
4. Check that both delivered the whole corpus: shard index sha256s = the corpus's (as a multiset),
   exactly N media GETs at the server per run, every task instance succeeded.
5. Report both wall times and the ratio Airflow / clearframe run per round, and the median
   (target: 1.5x or less), with where Airflow's time went (queueing before the first task, the mapped
   batches, the hand-off to curation).

Results: a Markdown table on stdout and bench/out/airflow_overhead.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TARGET = 1.5

sys.path.insert(0, str(Path(__file__).resolve().parent))
import in_venv  # noqa: E402, F401  (re-runs this script inside the project's venv when needed)
import requests  # noqa: E402

sys.path.insert(0, str(BENCH))
from bench_site import BenchSite, populate  # noqa: E402
from corpus import Corpus, ensure_corpus  # noqa: E402
from run_bench import (  # noqa: E402
    SOURCE_NAME,
    BenchError,
    child_env,
    expected,
    git_state,
    published_hashes,
    run_clearframe,
    tool_versions,
    write_inputs,
)

from clearframe.config import load_source  # noqa: E402
from clearframe.naming import curate_dag_id, ingest_dag_id  # noqa: E402

POLL_S = 0.25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ts(value: str | None) -> float | None:
    return dt.datetime.fromisoformat(value).timestamp() if value else None


class Platform:
    """`scripts/start` as a subprocess in its own session, with a REST client for its API."""

    def __init__(self, work: Path, sources: Path, storage: Path, parallelism: int):
        self.home = work / "home"
        self.storage = storage
        self.port = free_port()
        self.base = f"http://localhost:{self.port}"
        self.log = work / "start.log"
        env = {k: v for k, v in child_env().items() if not k.startswith("AIRFLOW")}
        env.update({
            "CLEARFRAME_HOME": str(self.home),
            "CLEARFRAME_SOURCES": str(sources),
            "CLEARFRAME_STORAGE": str(storage),
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        })
        self._out = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([str(ROOT / "scripts" / "start")], cwd=ROOT, env=env, stdout=self._out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._token = ""
        self.password = ""

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def wait_ready(self, dag_id: str, timeout: float = 300) -> float:
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout
        pwfile = self.home / "airflow" / "simple_auth_manager_passwords.json.generated"
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"scripts/start exited with {self.proc.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"{dag_id} not loaded and unpaused within {timeout:.0f} s:\n{self.tail()}")
            try:
                if not self.password and pwfile.exists():
                    self.password = json.loads(pwfile.read_text()).get("admin", "")
                if self.password:
                    r = self.api("GET", f"/dags/{dag_id}")
                    if r.status_code == 200 and not r.json()["is_paused"]:
                        return time.perf_counter() - t0
            except (requests.RequestException, ValueError):
                pass
            time.sleep(1)

    def token(self) -> str:
        if not self._token:
            r = requests.post(f"{self.base}/auth/token", json={"username": "admin", "password": self.password},
                              timeout=30)
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, f"{self.base}/api/v2{path}", timeout=30,
                                headers={"Authorization": f"Bearer {self.token()}"}, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        r = self.api("GET", path, **kw)
        if r.status_code != 200:
            raise BenchError(f"GET {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            # scripts/start traps TERM and stops the process groups it started.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._out.close()


def wait_run(plat: Platform, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = plat.get(f"/dags/{dag_id}/dagRuns/{run_id}")
        if run["state"] == "success":
            return run
        if run["state"] == "failed":
            raise BenchError(f"{dag_id} run {run_id} failed; see {plat.log} and the task logs")
        if time.monotonic() > deadline:
            raise BenchError(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f} s")
        time.sleep(POLL_S)


def wait_curate(plat: Platform, dag_id: str, after: str, timeout: float) -> dict[str, Any]:
    """The curate run that the ingest run's asset event scheduled (the first one queued after `after`)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = plat.get(f"/dags/{dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 5})["dag_runs"]
        mine = [r for r in runs if r["run_type"] == "asset_triggered" and (r.get("queued_at") or "") > after]
        if mine:
            run = min(mine, key=lambda r: r["queued_at"])
            if run["state"] == "success":
                return run
            if run["state"] == "failed":
                raise BenchError(f"{dag_id} run {run['dag_run_id']} failed; see the task logs")
        if time.monotonic() > deadline:
            raise BenchError(f"no successful asset-triggered {dag_id} run within {timeout:.0f} s")
        time.sleep(POLL_S)


def task_instances(plat: Platform, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    return plat.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})["task_instances"]


def empty(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def run_airflow(plat: Platform, site: BenchSite, corpus: Corpus, n: int, ingest: str, curate: str,
                timeout: float, conf: dict[str, Any]) -> dict[str, Any]:
    empty(plat.storage)
    before = site.snapshot()
    t0 = time.perf_counter()
    r = plat.api("POST", f"/dags/{ingest}/dagRuns",
                 json={"logical_date": None, "conf": conf})
    if r.status_code not in (200, 201):
        raise BenchError(f"trigger {ingest}: {r.status_code} {r.text[:500]}")
    run = r.json()
    ingest_run = wait_run(plat, ingest, run["dag_run_id"], timeout)
    t_ingest = time.perf_counter() - t0
    curate_run = wait_curate(plat, curate, run["queued_at"], timeout)
    wall = time.perf_counter() - t0
    reqs = BenchSite.classify(site.snapshot() - before)

    tis = task_instances(plat, ingest, run["dag_run_id"]) + task_instances(plat, curate, curate_run["dag_run_id"])
    bad = [f"{t['task_id']}[{t['map_index']}]={t['state']}" for t in tis if t["state"] != "success"]
    want_hashes, want_bytes = expected(corpus, n)
    got = published_hashes(plat.storage)
    problems = []
    if bad:
        problems.append(f"task instances not successful: {bad}")
    if got != want_hashes:
        problems.append(f"shard index sha256s differ from the corpus ({sum(got.values())} rows)")
    if reqs.get("media_get") != n:
        problems.append(f"server saw {reqs.get('media_get')} media GETs (want {n})")
    if problems:
        raise BenchError("the Airflow run did not deliver the whole corpus: " + "; ".join(problems))

    # Where the time went, from Airflow's own timestamps (seconds after the ingest run was queued).
    q0 = ts(ingest_run["queued_at"]) or 0.0
    by_task: dict[str, list[dict[str, Any]]] = {}
    for t in tis:  # "ingest.publish" and "curate.publish" are different tasks with the same id
        stage = "ingest" if t["dag_id"] == ingest else "curate"
        by_task.setdefault(f"{stage}.{t['task_id']}", []).append(t)

    def span(task_id: str) -> dict[str, float]:
        group = by_task.get(task_id, [])
        starts = [ts(t["start_date"]) for t in group if t["start_date"]]
        ends = [ts(t["end_date"]) for t in group if t["end_date"]]
        return {"tasks": len(group), "first_start": min(starts) - q0, "last_end": max(ends) - q0,  # type: ignore[type-var,operator]
                "busy_s": sum(t["duration"] or 0.0 for t in group)}

    phases = {k: span(k) for k in by_task}
    phases["curate_queued_at"] = {"at": (ts(curate_run["queued_at"]) or 0.0) - q0}
    return {"tool": "airflow", "wall_s": wall, "ingest_s": t_ingest, "items": sum(got.values()),
            "bytes": want_bytes, "requests": reqs, "ingest_run": run["dag_run_id"],
            "curate_run": curate_run["dag_run_id"], "phases": phases}


def markdown(rounds: list[dict[str, Any]], summary: dict[str, Any], n: int, batches: int) -> str:
    head = ("| round | `clearframe run` s | Airflow s (trigger → curate success) | of which ingest DAG s | "
            "mapped batches busy s | ratio Airflow / run |\n|---:|---:|---:|---:|---:|---:|")
    rows = [f"| {r['round']} | {r['run']['wall_s']:.1f} | {r['airflow']['wall_s']:.1f} | "
            f"{r['airflow']['ingest_s']:.1f} | {r['airflow']['phases']['ingest.gate_fetch_inspect']['busy_s']:.1f} | "
            f"{r['ratio']:.2f}x |" for r in rounds]
    rows.append(f"| **median** | {summary['run_s']:.1f} | {summary['airflow_s']:.1f} | | | "
                f"**{summary['ratio']:.2f}x** |")
    verdict = "meets" if summary["ratio"] <= TARGET else "misses"
    return (f"{n} candidates, {batches} mapped batches, parallelism {summary['parallelism']}; ratio = Airflow "
            "wall time / `clearframe run` wall time in the same round.\n\n" + head + "\n" + "\n".join(rows) +
            f"\n\nMedian ratio {summary['ratio']:.2f}x {verdict} the {TARGET}x target.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1000, help="candidates (1000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; each runs both once (3)")
    ap.add_argument("--batch-size", type=int, default=250,
                    help="the source's batch_size, i.e. candidates per mapped task (250: 4 batches for 1000)")
    ap.add_argument("--parallelism", type=int, default=4, help="AIRFLOW__CORE__PARALLELISM (4)")
    ap.add_argument("--workers", type=int, default=8, help="the source's fetch.workers (8)")
    ap.add_argument("--per-host", type=int, default=8, help="the source's fetch.per_host = its pool's slots (8)")
    ap.add_argument("--warmup", type=int, default=20, help="items in one untimed run of each first (20)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run (1800)")
    ap.add_argument("--out", type=Path, default=BENCH / "out" / "airflow_overhead.json")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = ap.parse_args(argv)
    n = args.items
    load_at_start = os.getloadavg()

    corpus = ensure_corpus(n)
    print(f"corpus: {n} clips, {corpus.total_bytes / 1e6:.1f} MB in {corpus.root}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="cf-af-bench-"))
    plat: Platform | None = None
    try:
        with BenchSite() as site:
            urls = populate(site, [c.path(corpus.root) for c in corpus.clips])
            src = write_inputs(tmp / "sources", urls, SOURCE_NAME, args.workers, args.per_host, args.batch_size)
            source = load_source(src)
            ingest, curate = ingest_dag_id(source.name), curate_dag_id(source.dataset_name)
            batches = -(-n // args.batch_size)
            plat = Platform(tmp, src.parent, tmp / "af-storage", args.parallelism)
            ready = plat.wait_ready(ingest)
            print(f"platform: {plat.base} ready in {ready:.0f} s; {ingest} -> {curate}; site {site.base}",
                  flush=True)
            if args.warmup:
                w = min(args.warmup, n)
                wsrc = write_inputs(tmp / "warmup", urls[:w], SOURCE_NAME, args.workers, args.per_host,
                                    args.batch_size)
                run_clearframe(wsrc, tmp / "warmup-run", site, corpus, w, args.timeout)
                run_airflow(plat, site, corpus, w, ingest, curate, args.timeout, {"limit": w})
                print(f"warm-up: both on {w} items (not recorded)", flush=True)

            rounds = []
            for r in range(1, args.rounds + 1):
                res: dict[str, Any] = {"round": r}
                res["run"] = run_clearframe(src, tmp / f"round{r}-run", site, corpus, n, args.timeout)
                shutil.rmtree(tmp / f"round{r}-run", ignore_errors=True)
                res["airflow"] = run_airflow(plat, site, corpus, n, ingest, curate, args.timeout, {})
                res["ratio"] = res["airflow"]["wall_s"] / res["run"]["wall_s"]
                print(f"round {r}: clearframe run {res['run']['wall_s']:6.1f} s   airflow "
                      f"{res['airflow']['wall_s']:6.1f} s (ingest {res['airflow']['ingest_s']:.1f} s)   "
                      f"ratio {res['ratio']:.2f}x", flush=True)
                rounds.append(res)

        med = statistics.median
        summary = {"run_s": med(r["run"]["wall_s"] for r in rounds),
                   "airflow_s": med(r["airflow"]["wall_s"] for r in rounds),
                   "ratio": med(r["ratio"] for r in rounds), "ratios": [r["ratio"] for r in rounds],
                   "target": TARGET, "parallelism": args.parallelism}
        summary["meets_target"] = summary["ratio"] <= TARGET
        table = markdown(rounds, summary, n, batches)
        results = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "loadavg_at_start": load_at_start, "loadavg_at_end": os.getloadavg()},
            "versions": tool_versions(), "git": git_state(),
            "params": {"items": n, "rounds": args.rounds, "batch_size": args.batch_size, "batches": batches,
                       "parallelism": args.parallelism, "fetch": {"workers": args.workers,
                                                                  "per_host": args.per_host},
                       "warmup_items": args.warmup, "clip": corpus.params.__dict__},
            "rounds": rounds, "summary": summary, "table_markdown": table,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
        print()
        print(table)
        print(f"\nwrote {args.out}")
        return 0
    except BenchError as exc:
        print(f"airflow_overhead: {exc}", file=sys.stderr)
        return 1
    finally:
        if plat is not None:
            plat.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
