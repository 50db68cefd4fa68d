"""Curate DAGs: one `curate__<dataset>` per dataset named in the source registry.

Scheduled on the `clearframe_admitted__<dataset>` asset that ingest DAGs update:

collect -> validate -> publish

- collect: the batch manifests named by the triggering asset events, plus any that no curation has settled
  yet (published, or quarantined by validation);
- validate: Great Expectations on each batch manifest, as a blocking gate: a failing batch is not
  curated and its items go to quarantine with the failed expectations as the reason;
- publish: shard what passed, validate each new shard's index and the whole version, then publish
  `datasets/<dataset>/v<N>/` (manifest, index, card, attribution, public summary) and move `latest.json`.
  Nothing new, no new version. The logic lives in `clearframe.pipeline`; XCom carries keys and counts.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, Asset, task

from clearframe.config import Source, load_registry
from clearframe.naming import admitted_asset, curate_dag_id, sources_dir, storage_run_id

log = logging.getLogger(__name__)


def build_curate_dag(dataset: str, sources: list[Source]) -> DAG:
    names = ", ".join(f"`{s.name}`" for s in sources)
    with DAG(
        dag_id=curate_dag_id(dataset),
        doc_md=(f"## Curate dataset `{dataset}`\n\nRuns when an ingest DAG of {names} publishes admitted "
                "items. It "
                f"validates each batch with Great Expectations (a failing batch goes to quarantine), then "
                f"publishes the next immutable version `datasets/{dataset}/v<N>/` with its card, attribution "
                "and public summary, and moves `latest.json`. Items already published are skipped, so a "
                "re-run adds nothing."),
        schedule=[Asset(*admitted_asset(dataset))],
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["clearframe", "stage:curate", f"dataset:{dataset}"],
        default_args={"owner": "clearframe", "retries": 2},  # delay: [core] default_task_retry_delay
    ) as dag:

        @task(queue="media")
        def collect(**context: Any) -> list[str]:
            """The batch manifests named by the triggering asset events, plus every one still pending.

            Airflow folds an event that arrives while this DAG's next run is being queued into the run
            after it, so the events alone could leave admitted items waiting for another ingest run."""
            from clearframe.config import Settings
            from clearframe.pipeline import pending_manifests

            named: list[str] = []
            for events in (context.get("triggering_asset_events") or {}).values():
                for ev in events:
                    named.extend((ev.extra or {}).get("manifest_keys", []))
            pending = pending_manifests(Settings.from_env(), [s.name for s in sources])
            keys = sorted(set(named) | set(pending))
            log.info("%d batch manifests to curate: %d named by asset events, %d more pending", len(keys),
                     len(set(named)), len(set(pending) - set(named)))
            return keys

        @task(queue="media")
        def validate(manifest_keys: list[str], **context: Any) -> dict[str, Any]:
            """Great Expectations on each batch manifest: a failing batch goes to quarantine, not on."""
            from clearframe.config import Settings, load_source
            from clearframe.pipeline import validate_manifests

            srcs = [load_source(s.path) for s in sources]
            rep = validate_manifests(srcs, Settings.from_env(), manifest_keys, storage_run_id(context["run_id"]))
            for uri in rep.docs:
                log.info("Data Docs: %s", uri)
            if rep.blocked:
                log.warning("%d batch(es) failed validation; %d items quarantined: %s", len(rep.blocked),
                            rep.quarantined, rep.blocked)
            return {"passed": rep.passed, "blocked": rep.blocked, "quarantined": rep.quarantined}

        @task(queue="media")
        def publish(validated: dict[str, Any], **context: Any) -> dict[str, Any]:
            """Shard, validate shard indexes and the version, publish v<N> and move `latest`."""
            from clearframe.config import Settings, load_source
            from clearframe.pipeline import publish_dataset
            from clearframe.storage import open_storage

            settings = Settings.from_env()
            srcs = [load_source(s.path) for s in sources]
            rep = publish_dataset(srcs, settings, validated["passed"], storage_run_id(context["run_id"]))
            v = rep.version
            for uri in rep.docs:
                log.info("Data Docs: %s", uri)
            if v.version:
                log.info("dataset %s: published v%d (+%d items, %d duplicates skipped); card %s", dataset,
                         v.version, v.added, v.skipped_duplicates, open_storage(settings.storage).uri(v.card_key))
            else:
                log.info("dataset %s: nothing new; latest stays v%s", dataset, v.latest)
            if v.missing_staged:
                raise RuntimeError(f"{len(v.missing_staged)} admitted items have no staged copy: "
                                   f"{v.missing_staged[:5]}; re-run their ingest batches")
            return {"version": v.version, "latest": v.latest, "added": v.added, "members": v.members,
                    "shards": len(v.shards), "bytes": v.bytes, "quarantined": validated["quarantined"]}

        publish(validate(collect()))
    return dag


_sources, _ = load_registry(sources_dir())
_by_dataset: dict[str, list[Source]] = {}
for _s in _sources:
    _by_dataset.setdefault(_s.dataset_name, []).append(_s)
for _dataset, _members in sorted(_by_dataset.items()):
    globals()[curate_dag_id(_dataset)] = build_curate_dag(_dataset, _members)
