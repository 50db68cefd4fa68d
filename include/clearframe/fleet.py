"""Fleet identity: how a worker names itself in Airflow's task-instance records.

Airflow records `hostname` on every task instance and on every try, from `[core] hostname_callable`. On
AWS each worker container has its own host name, which is enough. When several workers share one host
(the local fleet test, or a developer machine), set `CLEARFRAME_WORKER_NAME` per worker and point
`AIRFLOW__CORE__HOSTNAME_CALLABLE` at `clearframe.fleet.worker_hostname`: each try then records which worker
ran it. The entrypoint (docker/entrypoint.sh) names the Celery node after the same value.

The name must stay the same for a worker's lifetime: the API server rejects a task's heartbeat whose host
name differs from the one the task started with.
"""

from __future__ import annotations

import os
import re
import socket

WORKER_NAME_ENV = "CLEARFRAME_WORKER_NAME"
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def worker_hostname() -> str:
    """`$CLEARFRAME_WORKER_NAME` when set, else this host's fully qualified name."""
    name = os.environ.get(WORKER_NAME_ENV, "").strip()
    if not name:
        return socket.getfqdn()
    if not _VALID.fullmatch(name):
        raise ValueError(f"{WORKER_NAME_ENV}={name!r} is not a valid worker name: use 1 to 100 letters, digits, "
                         "'.', '_' or '-', starting with a letter or digit")
    return name
