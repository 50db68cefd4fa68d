# One image for every ClearFrame process: the Airflow scheduler, API server, DAG processor and triggerer,
# the Celery workers of each queue (ingest, media, default) and the clearframe CLI.
#   docker run IMAGE scheduler | api-server | dag-processor | triggerer | worker-ingest | worker-media |
#                    worker-default | init | clearframe ARGS... | airflow ARGS...
# (docker/entrypoint.sh; its `healthcheck` knows which component the container runs).
#
# It installs exactly the pinned lock (requirements.txt) with the lock's own uv, then the clearframe package
# without dependencies. No secret is baked in: the metadata database, broker, Fernet key and JWT secret come
# from the environment (ECS task definition / Secrets Manager) at run time.
#
# Base image: pinned to the exact tag. Its digest is not pinned because no digest of this tag could be
# verified on the build machine (no access to the registry); add `@sha256:<digest>` from
# `docker buildx imagetools inspect python:3.11.7-slim-bookworm` when building with registry access.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/clearframe/.venv PATH=/opt/clearframe/.venv/bin:$PATH \
    CLEARFRAME_HOME=/var/lib/clearframe \
    AIRFLOW_HOME=/opt/clearframe \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/clearframe/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/clearframe/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__EXECUTOR=CeleryExecutor \
    AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY=120 \
    AIRFLOW__CORE__HOSTNAME_CALLABLE=clearframe.fleet.worker_hostname \
    AIRFLOW__CORE__AUTH_MANAGER=airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager \
    AIRFLOW_CONFIG=/var/lib/clearframe/airflow/airflow.cfg \
    AIRFLOW__LOGGING__BASE_LOG_FOLDER=/var/lib/clearframe/airflow/logs \
    AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY=/var/lib/clearframe/airflow/logs/dag_processor \
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=/var/lib/clearframe/airflow/simple_auth_manager_passwords.json.generated

# The code and the venv belong to root and are read-only for the runtime user; it writes only under
# /var/lib/clearframe (Airflow's generated config, logs, ClearFrame's work files).
RUN useradd --create-home --uid 50000 --gid 0 clearframe \
    && mkdir -p /opt/clearframe /var/lib/clearframe/airflow/logs \
    && chown -R clearframe:0 /var/lib/clearframe
WORKDIR /opt/clearframe

# The lock first, so that code changes do not reinstall the stack. uv's version is the lock's pin
# (tests/test_dockerfile.py checks that they agree); `uv pip sync` installs exactly the lock, nothing else.
COPY requirements.txt pyproject.toml README.md ./
RUN python -m venv .venv \
    && .venv/bin/pip install --no-cache-dir --disable-pip-version-check uv==0.13.9 \
    && test "$(.venv/bin/uv --version | cut -d' ' -f2)" = "$(sed -n 's/^uv==//p' requirements.txt)" \
    && .venv/bin/uv pip sync --no-cache --python .venv/bin/python requirements.txt

COPY include include
COPY dags dags
COPY plugins plugins
COPY docker/entrypoint.sh docker/entrypoint.sh
# setuptools comes from the lock (no build isolation: nothing is resolved or downloaded for the build).
RUN .venv/bin/uv pip install --no-cache --no-deps --no-build-isolation --python .venv/bin/python -e . \
    && chmod 0755 docker/entrypoint.sh

USER clearframe
EXPOSE 8080
# Each component is checked its own way (scheduler/dag-processor/triggerer: `airflow jobs check --local`;
# api-server: /api/v2/monitor/health; workers: `celery inspect ping` of this worker; CLI: `clearframe --help`).
# ECS ignores a Dockerfile HEALTHCHECK: task definitions call `entrypoint.sh healthcheck COMPONENT` themselves.
HEALTHCHECK --interval=30s --timeout=20s --start-period=60s --retries=3 \
    CMD ["/opt/clearframe/docker/entrypoint.sh", "healthcheck"]
ENTRYPOINT ["/opt/clearframe/docker/entrypoint.sh"]
CMD ["clearframe", "--help"]
