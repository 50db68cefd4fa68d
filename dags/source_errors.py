"""Surfaces broken source files as DAG import errors (naming the file and field) in the Airflow UI.

The ingest and curate DAG files skip a broken source so that every other source's DAGs still load;
this file fails to import for as long as any source file is broken, so the error is never silent.
"""

from __future__ import annotations

from airflow.sdk import DAG  # noqa: F401  (marks this file as a DAG file for the DAG processor)

from clearframe.config import load_registry
from clearframe.errors import ConfigError
from clearframe.naming import sources_dir

_, _errors = load_registry(sources_dir())
if _errors:
    raise ConfigError(
        str(sources_dir()), None,
        f"{len(_errors)} broken source file(s); their DAGs are not loaded:\n" + "\n".join(str(e) for e in _errors),
        "fix the file and field named above",
    )
