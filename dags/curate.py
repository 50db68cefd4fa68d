"""Curate DAGs: one `curate__<dataset>` per dataset named in the source registry.

Scheduled on the `clearframe_admitted__<dataset>` asset that ingest DAGs update; shards the admitted items
of the triggering batch manifests into WebDataset tar shards with Parquet indexes. Validation (Great
Expectations, as blocking gates) plugs in between `collect` and `shard`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, Asset, task

from clearframe.config import Source, load_registry
from clearframe.naming import admitted_asset, curate_dag_id, sources_dir

log = logging.getLogger(__name__)


def build_curate_dag(dataset: str, sources: list[Source]) -> DAG:
    names = ", ".join(f"`{s.name}`" for s in sources)
    with DAG(
        dag_id=curate_dag_id(dataset),
        doc_md=(f"## Curate dataset `{dataset}`\n\nRuns when an ingest DAG of {names} publishes admitted "
                "items. Shards them (WebDataset tar + Parquet index + stats) under "
                f"`datasets/{dataset}/shards/`. Items already in a committed shard are skipped, so a re-run "
                "adds nothing."),
        schedule=[Asset(*admitted_asset(dataset))],
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["clearframe", "stage:curate", f"dataset:{dataset}"],
        default_args={"owner": "clearframe", "retries": 2, "retry_delay": dt.timedelta(minutes=2)},
    ) as dag:

        @task(queue="media")
        def collect(**context: Any) -> list[str]:
            """The batch manifests named by the asset events that triggered this run."""
            keys: list[str] = []
            for events in (context.get("triggering_asset_events") or {}).values():
                for ev in events:
                    keys.extend((ev.extra or {}).get("manifest_keys", []))
            if not keys:  # a manual run: curate whatever the dataset's sources have staged
                from clearframe.config import Settings
                from clearframe.pipeline import pending_manifests

                keys = pending_manifests(Settings.from_env(), [s.name for s in sources])
            log.info("%d batch manifests to curate", len(keys))
            return sorted(set(keys))

        @task(queue="media")
        def shard(manifest_keys: list[str]) -> dict[str, Any]:
            from clearframe.config import Settings, load_source
            from clearframe.pipeline import shard_refs

            src = load_source(sources[0].path)  # shard options come from the dataset's first source
            report = shard_refs(src, Settings.from_env(), manifest_keys)
            log.info("dataset %s: %d new members in %d shards (%d bytes), %d already sharded", dataset,
                     report.members, len(report.shards), report.bytes, report.skipped_existing)
            if report.missing_staged:
                raise RuntimeError(f"{len(report.missing_staged)} admitted items have no staged copy: "
                                   f"{report.missing_staged[:5]}; re-run their ingest batches")
            return {"shards": report.shards, "members": report.members, "bytes": report.bytes}

        shard(collect())
    return dag


_sources, _ = load_registry(sources_dir())
_by_dataset: dict[str, list[Source]] = {}
for _s in _sources:
    _by_dataset.setdefault(_s.dataset_name, []).append(_s)
for _dataset, _members in sorted(_by_dataset.items()):
    globals()[curate_dag_id(_dataset)] = build_curate_dag(_dataset, _members)
