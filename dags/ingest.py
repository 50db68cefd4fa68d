"""Ingest DAGs: one `ingest__<source>` per file in the source registry (include/sources/*.yaml).

discover -> mapped gate + fetch + inspect per batch -> publish (an Asset event naming the batch manifests).
XCom carries storage keys and counts only; candidates and media stay in storage. The logic lives in the
`clearframe` package; this file only wires it into tasks.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, Asset, Param, get_current_context, task

from clearframe.config import Source, load_registry
from clearframe.naming import admitted_asset, ingest_dag_id, pool_name, sources_dir, storage_run_id

log = logging.getLogger(__name__)


def _doc(source: Source) -> str:
    acq = source.acquisition
    basis = f"contract `{acq.contract_id}`" + (" (covers AI training)" if acq.covers_training else "") \
        if acq.basis == "contract" else "open licences, item by item"
    pol = source.license_policy
    overrides = ", ".join(f"{k}: {v}" for k, v in pol.model_dump().items() if v) or "the defaults"
    return (
        f"## Ingest `{source.name}` ({source.kind})\n\n{source.description.strip() or '(no description)'}\n\n"
        f"- **Source file:** `{source.path}`\n- **Acquisition basis:** {basis}\n"
        f"- **Licence policy:** allow CC0, PDDC, PDM, CC-BY; review share-alike and no-derivatives; deny "
        f"non-commercial, all-rights-reserved and missing. Overrides: {overrides}.\n"
        f"- **Dataset:** `{source.dataset_name}` (curated by `curate__{source.dataset_name}`)\n"
        f"- **Politeness:** pool `{pool_name(source.name)}` with {source.fetch.per_host} slots caps concurrent "
        "requests to this source across the fleet.\n\n"
        "Every candidate is gated on metadata before any media byte is fetched; the ledger records each "
        "decision with its evidence. `dry_run` gates only."
    )


def build_ingest_dag(source: Source) -> DAG:
    asset = Asset(*admitted_asset(source.dataset_name))
    with DAG(
        dag_id=ingest_dag_id(source.name),
        doc_md=_doc(source),
        schedule=source.schedule,
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["clearframe", "stage:ingest", f"source:{source.name}", f"kind:{source.kind}"],
        default_args={"owner": "clearframe", "retries": 2},  # delay: [core] default_task_retry_delay
        params={
            "limit": Param(None, type=["null", "integer"], minimum=1,
                           description="At most this many candidates (empty: all)."),
            "batch_size": Param(source.batch_size, type="integer", minimum=1, maximum=5000,
                                description="Candidates per mapped batch task."),
            "dry_run": Param(False, type="boolean", description="Gate only: write the ledger, fetch no media."),
        },
    ) as dag:

        @task(queue="ingest", pool=pool_name(source.name))
        def discover(**context: Any) -> list[dict[str, Any]]:
            from clearframe.config import Settings, load_source
            from clearframe.pipeline import plan_batches

            params = context["params"]
            src = load_source(source.path)
            refs = plan_batches(src, Settings.from_env(), storage_run_id(context["run_id"]),
                                limit=params["limit"], batch_size=params["batch_size"])
            log.info("%s: %d candidates in %d batches", src.name, sum(r["count"] for r in refs), len(refs))
            return refs

        @task(queue="ingest", pool=pool_name(source.name),
              map_index_template="batch {{ batch_label }}")
        def gate_fetch_inspect(ref: dict[str, Any], **context: Any) -> dict[str, Any]:
            from clearframe.config import Settings, load_source
            from clearframe.pipeline import run_batch_ref

            ctx = get_current_context()
            ctx["batch_label"] = f"{ref['batch_id']} ({ref['count']} candidates)"  # type: ignore[typeddict-unknown-key]
            src = load_source(source.path)
            # One request at a time per host inside a task: the pool's slots are the fleet-wide cap.
            out = run_batch_ref(src, Settings.from_env(), storage_run_id(context["run_id"]), ref,
                                dry_run=context["params"]["dry_run"], per_host=1)
            c = out["counts"]
            ctx["batch_label"] = (f"{ref['batch_id']}: {c['candidates']} cand, allow {c['allow']}, "  # type: ignore[typeddict-unknown-key]
                                  f"deny {c['deny']}, defer {c['defer']}, review {c['review']}, "
                                  f"fetched {c['fetched']}, quarantined {c['quarantined']}, {c['bytes']} B")
            log.info("batch %s summary: %s", ref["batch_id"], c)
            return {"batch_id": out["batch_id"], "manifest_key": out["manifest_key"],
                    "ledger_key": out["ledger_key"], "counts": c}

        @task(queue="ingest", outlets=[asset])
        def publish(results: list[dict[str, Any]], **context: Any) -> dict[str, int]:
            totals: dict[str, int] = {}
            for r in results:
                for k, v in r["counts"].items():
                    totals[k] = totals.get(k, 0) + v
            log.info("%s run %s: %s", source.name, context["run_id"], totals)
            manifests = [r["manifest_key"] for r in results]
            if context["params"]["dry_run"]:
                manifests = []
            context["outlet_events"][asset].extra = {"source": source.name, "manifest_keys": manifests,
                                                     "counts": totals}
            return totals

        publish(gate_fetch_inspect.expand(ref=discover()))
    return dag


_sources, _errors = load_registry(sources_dir())  # broken files are reported by source_errors.py
for _source in _sources:
    globals()[ingest_dag_id(_source.name)] = build_ingest_dag(_source)
