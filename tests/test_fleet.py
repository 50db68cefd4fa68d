"""The fleet, for real: CeleryExecutor on Redis and Postgres, every component a process started by the image's
entrypoint, work landing on the workers of its queue, and a worker lost in the middle of a batch.

Services on loopback: Postgres on 127.0.0.1:5432 (trust auth; the test creates and drops its own metadata
database) and Redis on 127.0.0.1:6379 (the test takes an empty logical database and empties it again).
Outside CI a missing service skips the test with how to start it:

    pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no

Under CI=true the test must run; a missing service fails it. Storage is moto's S3 server on loopback, so
workers share nothing but the broker, the databases and the bucket, as on AWS; the sources are the demo's
(their http pages served by a local site) plus a slow source for the worker-loss part.

One test, in phases, because starting the fleet is the expensive part (about a minute on two cores):
  1. the demo ingest DAGs and the curate DAG they trigger run on one `ingest` and one `media` worker; every
     task instance records the worker of its queue, and the dataset holds exactly the admitted clips;
  2. a second `ingest` worker joins; a worker is SIGKILLed (its whole session, as a reclaimed Spot
     instance) while one of its batches is half fetched: the scheduler notices the missing heartbeat, the
     batch's next try runs on the other worker, the runs succeed, no item or shard is duplicated and no
     admitted item is lost; the source's pool (2 slots) held its requests to 2 in flight across both
     workers' 4 task slots;
  3. every process the test started is stopped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clearframe.demo_site import DEMO_PAGES, Site, build_demo_site, video_page
from clearframe.mediagen import make_clip
from support.fleet import Fleet, FleetError
from support.s3 import moto_s3
from support.services import metadata_db, require_service  # noqa: F401  (metadata_db: a fixture)

ROOT = Path(__file__).resolve().parents[1]
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_START_HINT = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
BUCKET = "clearframe-fleet"
SLOW_PAGES = 12          # the worker-loss source: 12 CC-BY clips in batches of 4 ...
SLOW_BATCH = 4
SLOW_DELAY_S = 1.5       # ... each clip answered after 1.5 s, so a batch is in flight for about 6 s
DEMO_DELIVERY_ALLOWED = 9  # 12 delivered clips: one non-commercial, one opted out (deny), one share-alike
QUEUE_WORKERS = {"ingest": {"ingest-a", "ingest-b"}, "media": {"media-a"}}

pytestmark = pytest.mark.timeout(900)


# -- services ------------------------------------------------------------------------------------------


@pytest.fixture
def broker_url() -> Iterator[str]:
    """An empty Redis logical database as the Celery broker; emptied again afterwards."""
    require_service("Redis", REDIS_HOST, REDIS_PORT, REDIS_START_HINT)
    import redis

    for db in [*range(9, 16), *range(1, 9)]:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
        if client.dbsize() == 0:
            break
        client.close()
    else:
        pytest.fail("no empty Redis logical database (1-15) for the broker; empty one with FLUSHDB")
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"
    finally:
        client.flushdb()
        client.close()


# -- sources -------------------------------------------------------------------------------------------


def _write_sources(folder: Path, site: Site, demo_urls: list[str], slow_urls: list[str]) -> None:
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "include" / "sources" / "demo_delivery.yaml", folder)
    shutil.copy(ROOT / "include" / "sources" / "demo_http.yaml", folder)
    (folder / "demo_http_urls.txt").write_text("\n".join(demo_urls) + "\n")  # the demo's pages, on our site
    (folder / "fleet_slow_urls.txt").write_text("\n".join(slow_urls) + "\n")
    (folder / "fleet_slow.yaml").write_text(
        "name: fleet_slow\nkind: http\ndescription: CC-BY clips from a slow origin (the worker-loss test).\n"
        f"dataset: fleet\nbatch_size: {SLOW_BATCH}\nacquisition:\n  basis: open-license\n"
        "http:\n  urls: fleet_slow_urls.txt\nfetch:\n  workers: 2\n  per_host: 2\n  timeout_s: 20\n"
        "  max_retries: 0\nshard:\n  target_bytes: 1MiB\n")


def _slow_site(site: Site, media_dir: Path) -> tuple[list[str], dict[str, str]]:
    """SLOW_PAGES licensed pages whose clips arrive slowly; their URLs and each clip's sha256 by media path."""
    urls, shas = [], {}
    for i in range(SLOW_PAGES):
        clip = media_dir / f"slow-{i:02d}.mp4"
        make_clip(str(clip), seconds=1.0, width=160, height=96, fps=12, audio=False, seed=900 + i)
        media = f"/slow-media/{clip.name}"
        site.add_media(media, clip, delay_s=SLOW_DELAY_S)
        shas[media] = hashlib.sha256(clip.read_bytes()).hexdigest()
        urls.append(site.add(f"/slow/{i:02d}", video_page(f"Slow clip {i}", media, creator="Fleet Test",
                                                             license_url="https://creativecommons.org/licenses/by/4.0/")))
    return urls, shas


# -- waiting on Airflow ----------------------------------------------------------------------------------


def _wait(what: str, fleet: Fleet, check: Any, timeout: float, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise FleetError(f"{what}: not within {timeout:.0f} s\n{fleet.tails()}")
        time.sleep(every)


def _finished(fleet: Fleet, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = fleet.api.run(dag_id, run_id)
        if run["state"] == "failed":
            tis = fleet.api.task_instances(dag_id, run_id)
            raise FleetError(f"{dag_id} {run_id} failed: "
                             f"{[(t['task_id'], t['map_index'], t['state'], t['hostname']) for t in tis]}\n"
                             f"{fleet.tails()}")
        return run if run["state"] == "success" else None

    return dict(_wait(f"{dag_id} run {run_id} to succeed", fleet, done, timeout))


def _curated(fleet: Fleet, dag_id: str, after: int, timeout: float) -> list[dict[str, Any]]:
    """Wait until `dag_id` has more than `after` runs and none is queued or running; all must succeed."""
    def settled() -> list[dict[str, Any]] | None:
        runs = fleet.api.runs(dag_id)
        if len(runs) <= after or any(r["state"] in ("queued", "running") for r in runs):
            return None
        return runs

    runs = _wait(f"asset-triggered {dag_id} runs to settle", fleet, settled, timeout, every=2)
    bad = [(r["dag_run_id"], r["state"]) for r in runs if r["state"] != "success"]
    assert not bad, f"{dag_id} runs did not succeed: {bad}\n{fleet.tails()}"
    assert all(r["run_type"] == "asset_triggered" for r in runs[after:]), runs
    return list(runs)


def _worker_of_queue(tis: list[dict[str, Any]], allowed: dict[str, set[str]]) -> list[str]:
    """Task instances that did not run on a worker of their own queue (or did not succeed)."""
    return [f"{t['dag_id']}.{t['task_id']}[{t['map_index']}] queue={t['queue']} host={t['hostname']} "
            f"state={t['state']}" for t in tis
            if t["state"] != "success" or t["hostname"] not in allowed.get(t["queue"], set())]


# -- the test ------------------------------------------------------------------------------------------


def test_fleet_routes_work_by_queue_and_survives_losing_a_worker(tmp_path: Path, metadata_db: str,  # noqa: F811
                                                                 broker_url: str) -> None:
    from clearframe.dataset import read_version_manifest, verify_version, version_index
    from clearframe.ledger import read_ledger
    from clearframe.storage import open_storage

    with moto_s3(buckets=[BUCKET]), Site() as site:
        import os

        demo_urls = build_demo_site(site, str(tmp_path / "media"))
        slow_urls, slow_shas = _slow_site(site, tmp_path / "media")
        sources = tmp_path / "sources"
        _write_sources(sources, site, demo_urls, slow_urls)
        env = {**os.environ,
               "CLEARFRAME_HOME": str(tmp_path / "clearframe"),
               "CLEARFRAME_SOURCES": str(sources),
               "CLEARFRAME_STORAGE": f"s3://{BUCKET}/fleet",
               "CLEARFRAME_REGISTRY_URL": metadata_db,
               # A lost worker is noticed after 20 s without a heartbeat (default 300) and retried 2 s
               # later (the image's default is 120); a message a dead worker had reserved is re-queued.
               "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
               "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
               "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
               "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
               "CLEARFRAME_INGEST_CONCURRENCY": "2",
               "CLEARFRAME_MEDIA_CONCURRENCY": "1"}
        storage = open_storage(env["CLEARFRAME_STORAGE"])

        with Fleet(tmp_path / "fleet", metadata_db, broker_url, env) as fleet:
            fleet.run("init", timeout=600)
            fleet.run("clearframe", "demo")
            for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
                fleet.start(component)
            fleet.start("worker-ingest", name="ingest-a")
            fleet.start("worker-media", name="media-a")
            fleet.wait_healthy()
            dags = {"ingest__demo_delivery", "ingest__demo_http", "ingest__fleet_slow", "curate__demo",
                    "curate__fleet"}
            _wait("the DAG processor to load the DAGs", fleet,
                  lambda: dags <= {d["dag_id"] for d in fleet.api.get("/dags", params={"limit": 100})["dags"]},
                  180, every=2)

            # -- 1. the demo, on one worker per queue ------------------------------------------------------
            runs = [("ingest__demo_delivery", fleet.api.trigger("ingest__demo_delivery")),
                    ("ingest__demo_http", fleet.api.trigger("ingest__demo_http"))]
            tis: list[dict[str, Any]] = []
            for dag_id, run in runs:
                _finished(fleet, dag_id, run["dag_run_id"], 300)
                tis += fleet.api.task_instances(dag_id, run["dag_run_id"])
            for run in _curated(fleet, "curate__demo", 0, 300):
                tis += fleet.api.task_instances("curate__demo", run["dag_run_id"])
            one_each = {"ingest": {"ingest-a"}, "media": {"media-a"}}
            assert not _worker_of_queue(tis, one_each), _worker_of_queue(tis, one_each)
            assert {t["queue"] for t in tis} == {"ingest", "media"}
            assert {t["task_id"] for t in tis if t["queue"] == "media"} == {"collect", "validate", "publish"}
            assert len([t for t in tis if t["task_id"] == "gate_fetch_inspect"]) >= 4  # 12 clips in 5s + pages

            demo = version_index(storage, "demo", None, ["key", "source", "sha256"]).to_pylist()
            http_allowed = sum(1 for *_, want in DEMO_PAGES if want == "allow")
            assert len(demo) == DEMO_DELIVERY_ALLOWED + http_allowed
            assert len({r["key"] for r in demo}) == len(demo)
            assert sorted(r["source"] for r in demo).count("demo_http") == http_allowed
            assert verify_version(storage, "demo") == []
            assert site.media_requests("/media/concert.mp4") == 0  # denied on metadata: never fetched

            # -- 2. a second ingest worker; lose one in the middle of a batch --------------------------------
            fleet.start("worker-ingest", name="ingest-b")
            fleet.wait_healthy(["ingest-b"])
            curate_before = len(fleet.api.runs("curate__fleet"))
            run = fleet.api.trigger("ingest__fleet_slow")
            run_id = run["dag_run_id"]
            media = sorted(slow_shas)
            batch_media = [media[i:i + SLOW_BATCH] for i in range(0, SLOW_PAGES, SLOW_BATCH)]

            def half_fetched() -> dict[str, Any] | None:
                for t in fleet.api.task_instances("ingest__fleet_slow", run_id):
                    if t["task_id"] != "gate_fetch_inspect" or t["state"] != "running":
                        continue
                    got = sum(site.media_requests(p) for p in batch_media[t["map_index"]])
                    if 1 <= got < SLOW_BATCH:
                        return t
                return None

            victim_ti = _wait("a batch half fetched", fleet, half_fetched, 240, every=0.2)
            victim = victim_ti["hostname"]
            assert victim in QUEUE_WORKERS["ingest"], victim_ti
            got_before_kill = sum(site.media_requests(p) for p in batch_media[victim_ti["map_index"]])
            killed = fleet.kill(victim)
            assert killed and not fleet.survivors().get(fleet.components[victim].proc.pid)
            survivor = (QUEUE_WORKERS["ingest"] - {victim}).pop()

            _finished(fleet, "ingest__fleet_slow", run_id, 300)
            tries = fleet.api.tries("ingest__fleet_slow", run_id, "gate_fetch_inspect", victim_ti["map_index"])
            first, last = tries[0], tries[-1]
            assert (first["try_number"], first["hostname"]) == (victim_ti["try_number"], victim), tries
            assert first["state"] in ("failed", "up_for_retry"), tries
            assert (last["state"], last["hostname"]) == ("success", survivor), tries
            assert last["try_number"] > first["try_number"]
            # the batch was fetched again from the start on the survivor
            assert sum(site.media_requests(p) for p in batch_media[victim_ti["map_index"]]) >= \
                got_before_kill + SLOW_BATCH

            # the source's pool (2 slots) capped its requests across both workers' 4 task slots
            assert site.slow_in_flight_max == 2, site.slow_in_flight_max

            fleet_runs = _curated(fleet, "curate__fleet", curate_before, 300)
            tis = fleet.api.task_instances("ingest__fleet_slow", run_id)
            for r in fleet_runs[curate_before:]:
                tis += fleet.api.task_instances("curate__fleet", r["dag_run_id"])
            assert not _worker_of_queue(tis, QUEUE_WORKERS), _worker_of_queue(tis, QUEUE_WORKERS)

            # nothing admitted lost, nothing duplicated: every clip once, byte for byte, in exactly one shard
            rows = version_index(storage, "fleet", None, ["key", "shard", "sha256", "media_url"]).to_pylist()
            assert sorted(r["sha256"] for r in rows) == sorted(slow_shas.values())
            assert len({r["key"] for r in rows}) == SLOW_PAGES
            assert {r["media_url"] for r in rows} == {site.url(p) for p in media}
            manifest = read_version_manifest(storage, "fleet")
            listed = sorted(k for k in storage.list("datasets/fleet/shards/") if k.endswith(".tar"))
            assert sorted(s["tar"] for s in manifest["shards"]) == listed  # no stray or duplicate shard
            assert verify_version(storage, "fleet") == []
            ledger = read_ledger(storage, "fleet_slow").to_pylist()  # the source's only run
            assert len(ledger) == SLOW_PAGES and len({r["key"] for r in ledger}) == SLOW_PAGES
            assert {r["status"] for r in ledger} == {"admitted"}

            sessions = list(fleet.sessions)
        # -- 3. leaving the fleet stopped every process it started ------------------------------------------
        assert fleet.survivors() == {}, json.dumps(fleet.survivors())
        assert len(sessions) == 7
