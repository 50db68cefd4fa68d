# One image for every ClearFrame component: the CLI today, Airflow's components and workers later.
# It installs exactly the pinned lock (requirements.txt) and the clearframe package, nothing else.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CLEARFRAME_HOME=/var/lib/clearframe \
    VIRTUAL_ENV=/opt/clearframe/.venv PATH=/opt/clearframe/.venv/bin:$PATH

RUN useradd --create-home --uid 50000 clearframe \
    && mkdir -p /opt/clearframe /var/lib/clearframe && chown clearframe /opt/clearframe /var/lib/clearframe
WORKDIR /opt/clearframe
USER clearframe

COPY --chown=clearframe requirements.txt pyproject.toml README.md ./
COPY --chown=clearframe scripts/bootstrap scripts/bootstrap
RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir "uv==$(sed -n 's/^uv==//p' requirements.txt)" \
    && .venv/bin/uv pip sync --python .venv/bin/python requirements.txt
COPY --chown=clearframe include include
COPY --chown=clearframe dags dags
COPY --chown=clearframe plugins plugins
RUN .venv/bin/uv pip install --no-deps --python .venv/bin/python -e .

HEALTHCHECK --interval=60s --timeout=10s CMD ["clearframe", "--help"]
ENTRYPOINT ["clearframe"]
CMD ["--help"]
