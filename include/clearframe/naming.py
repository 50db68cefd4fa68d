"""Names shared by the DAG files, the platform scripts and the tests (no Airflow import here)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def sources_dir() -> Path:
    """The source registry: $CLEARFRAME_SOURCES, else include/sources/ of this checkout."""
    return Path(os.environ.get("CLEARFRAME_SOURCES") or PROJECT_ROOT / "include" / "sources")


def ingest_dag_id(source: str) -> str:
    return f"ingest__{source}"


def curate_dag_id(dataset: str) -> str:
    return f"curate__{dataset}"


def pool_name(source: str) -> str:
    return f"source__{source}"


def admitted_asset(dataset: str) -> tuple[str, str]:
    """(name, uri) of the asset through which ingestion hands a dataset's admitted items to curation."""
    return f"clearframe_admitted__{dataset}", f"clearframe://datasets/{dataset}/admitted"


def storage_run_id(airflow_run_id: str) -> str:
    """An Airflow run id made safe for a storage key (it contains ':' and '+')."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in airflow_run_id)
