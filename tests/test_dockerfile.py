"""The one image, checked without a Docker engine.

The Dockerfile is parsed (continuation lines joined, comments dropped) and checked: the base image is pinned
to an exact version, every install comes from the lock (`uv pip sync requirements.txt`) or is the package
itself (`--no-deps -e .`), uv is the lock's uv, the image runs as a non-root user, has a healthcheck, sets
AIRFLOW_HOME and the DAG and plugin folders to the copied project, bakes in no secret, and copies only files
that exist. The rules are plain functions, also run against broken Dockerfiles so that each can fail.

docker/entrypoint.sh is run in its dry-run mode (CLEARFRAME_ENTRYPOINT_DRY_RUN=1 prints each command it
would exec), and every printed command is checked against the real CLIs of the project's venv: Airflow
commands are parsed by Airflow's own argument parser (with CeleryExecutor, so `airflow celery` exists), the
Celery app of the worker healthcheck is loaded, `clearframe --help` runs, and the API server's healthcheck
is run against a local HTTP server.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import stat
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
VENV_BIN = ROOT / ".venv" / "bin"
LOCK = ROOT / "requirements.txt"
AIRFLOW_COMPONENTS = ["scheduler", "api-server", "dag-processor", "triggerer"]
WORKERS = {"worker-ingest": "ingest", "worker-media": "media", "worker-default": "default"}
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


# --------------------------------------------------------------------------------------------- parsing


@dataclass
class Instruction:
    name: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the logical line, continuations joined


def parse_dockerfile(text: str) -> list[Instruction]:
    """Logical instructions of a Dockerfile: comments and blank lines dropped, `\\` continuations joined."""
    out: list[Instruction] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            name, _, args = buf.strip().partition(" ")
            out.append(Instruction(name.upper(), args.strip()))
        buf = ""
    if buf.strip():
        name, _, args = buf.strip().partition(" ")
        out.append(Instruction(name.upper(), args.strip()))
    return out


def lock_pin(name: str, lock_text: str) -> str:
    m = re.search(rf"^{re.escape(name)}==(\S+)", lock_text, re.M | re.I)
    assert m, f"{name} is not pinned in requirements.txt"
    return m.group(1)


def lock_python(lock_text: str) -> str:
    m = re.search(r"--python-version\s+(\d+\.\d+\.\d+)", lock_text)
    assert m, "requirements.txt does not say which Python it was compiled for"
    return m.group(1)


def exec_form(args: str) -> list[str] | None:
    """The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD, or None for the shell form."""
    try:
        v = json.loads(args)
    except ValueError:
        return None
    return v if isinstance(v, list) and all(isinstance(x, str) for x in v) else None


def shell_segments(run_args: str) -> list[list[str]]:
    """The simple commands of a RUN line (split on &&, ||, ;, |), each as argv."""
    tokens = shlex.split(run_args, posix=True)
    segments: list[list[str]] = [[]]
    for t in tokens:
        if t in {"&&", "||", ";", "|"}:
            segments.append([])
        else:
            segments[-1].append(t)
    return [s for s in segments if s]


# ----------------------------------------------------------------------------------------------- rules


def check_base_image(ins: list[Instruction], lock_text: str) -> list[str]:
    errors = []
    froms = [i for i in ins if i.name == "FROM"]
    if not froms:
        return ["no FROM"]
    for f in froms:
        image = f.args.split()[0]
        if image.startswith("--platform"):
            image = f.args.split()[1]
        ref, _, digest = image.partition("@")
        name, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "")
        if not tag or tag == "latest":
            errors.append(f"{image}: no exact tag")
            continue
        if not re.match(r"^\d+\.\d+\.\d+(-[a-z0-9.-]+)?$", tag):
            errors.append(f"{image}: tag {tag!r} is not an exact version (x.y.z)")
        if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            errors.append(f"{image}: malformed digest {digest!r}")
        if name.endswith("python") and not tag.startswith(lock_python(lock_text) + "-") and tag != lock_python(
            lock_text
        ):
            errors.append(f"{image}: Python {tag} differs from the lock's {lock_python(lock_text)}")
    return errors


INSTALLERS = re.compile(r"(^|/)(pip3?|uv|easy_install|poetry|pipenv|conda|apt-get|apt|apk)$")


UV_OPTS_WITH_VALUE = {"--python", "-p", "--index-url", "-i", "--extra-index-url", "--cache-dir", "--target",
                      "--prefix", "-c", "--constraint", "--override", "--find-links", "-f", "--python-version"}


def uv_pip_targets(argv: list[str]) -> tuple[str, list[tuple[str, bool]]]:
    """`uv pip SUB ...`: SUB and what it installs, as (target, editable) pairs (`-r FILE` counts as FILE)."""
    rest = argv[argv.index("pip") + 1 :]
    sub, rest = (rest[0], rest[1:]) if rest else ("", [])
    targets: list[tuple[str, bool]] = []
    it = iter(rest)
    for a in it:
        if a in {"-e", "--editable"}:
            targets.append((next(it, ""), True))
        elif a in {"-r", "--requirement", "--requirements"}:
            targets.append((next(it, ""), False))
        elif a in UV_OPTS_WITH_VALUE:
            next(it, None)
        elif not a.startswith("-"):
            targets.append((a, False))
    return sub, targets


def check_installs(ins: list[Instruction], lock_text: str) -> list[str]:
    """Every install is the lock's uv, `uv pip sync requirements.txt` or `uv pip install --no-deps -e .`."""
    errors: list[str] = []
    uv_pin = lock_pin("uv", lock_text)
    synced = False
    for i in (i for i in ins if i.name == "RUN"):
        for argv in shell_segments(i.args):
            # `python -m pip ...` is pip too
            if len(argv) >= 3 and re.search(r"(^|/)python[\d.]*$", argv[0]) and argv[1:3] == ["-m", "pip"]:
                argv = ["pip", *argv[3:]]
            if not INSTALLERS.search(argv[0]):
                continue
            tool = Path(argv[0]).name
            words = [a for a in argv[1:] if not a.startswith("-")]
            cmd = " ".join(argv)
            if tool in {"apt-get", "apt", "apk"}:
                pkgs = words[1:] if words[:1] == ["install"] or words[:1] == ["add"] else []
                if any("=" not in p for p in pkgs):
                    errors.append(f"unpinned system package install: {cmd}")
                continue
            if tool in {"pip", "pip3"} and words[:1] == ["install"]:
                # only the bootstrap of uv itself, at the lock's version
                if words[1:] != [f"uv=={uv_pin}"] or any(a in argv for a in ("-r", "--requirement", "-e")):
                    errors.append(f"pip installs something other than uv=={uv_pin}: {cmd}")
                continue
            if tool == "uv" and words[:1] == ["pip"]:
                sub, targets = uv_pip_targets(argv)
                if sub == "sync":
                    if targets != [("requirements.txt", False)]:
                        errors.append(f"uv pip sync of something other than requirements.txt: {cmd}")
                    synced = True
                elif sub == "install":
                    if "--no-deps" not in argv or targets != [(".", True)]:
                        errors.append(f"uv pip install of something other than `--no-deps -e .`: {cmd}")
                elif sub not in {"compile", "freeze", "list", "show", "check"}:
                    errors.append(f"unexpected uv pip command: {cmd}")
                continue
            if tool == "uv" and words[:1] in (["add"], ["tool"], ["sync"], ["run"]):
                errors.append(f"uv {words[0]} is not an install from the lock: {cmd}")
                continue
            if tool in {"easy_install", "poetry", "pipenv", "conda"}:
                errors.append(f"installer not allowed: {cmd}")
    if not synced:
        errors.append("no `uv pip sync requirements.txt`: the lock is never installed")
    return errors


def check_user(ins: list[Instruction]) -> list[str]:
    users = [i.args.split(":")[0] for i in ins if i.name == "USER"]
    if not users:
        return ["no USER: the image runs as root"]
    if users[-1] in {"root", "0"}:
        return [f"the last USER is {users[-1]}"]
    created = any(i.name == "RUN" and re.search(rf"(useradd|adduser)\b[^&;]*\b{re.escape(users[-1])}\b", i.args)
                  for i in ins)
    return [] if created else [f"USER {users[-1]} is never created"]


def check_healthcheck(ins: list[Instruction]) -> list[str]:
    hc = [i for i in ins if i.name == "HEALTHCHECK"]
    if not hc:
        return ["no HEALTHCHECK"]
    if hc[-1].args.strip().upper() == "NONE":
        return ["HEALTHCHECK NONE"]
    if "CMD" not in hc[-1].args.split():
        return ["HEALTHCHECK without CMD"]
    return []


def env_of(ins: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for i in (i for i in ins if i.name == "ENV"):
        for tok in shlex.split(i.args):
            k, sep, v = tok.partition("=")
            if sep:
                env[k] = v
    return env


SECRET_NAMES = re.compile(
    r"PASSWORD|SECRET|FERNET|TOKEN|SQL_ALCHEMY_CONN|BROKER_URL|RESULT_BACKEND|ACCESS_KEY|PRIVATE_KEY|_CONN_", re.I
)


def check_no_secrets(ins: list[Instruction]) -> list[str]:
    errors = []
    for i in ins:
        if i.name in {"ENV", "ARG", "LABEL"}:
            for tok in shlex.split(i.args):
                key = tok.partition("=")[0]
                if SECRET_NAMES.search(key) and not key.endswith("_FILE"):
                    errors.append(f"{i.name} {key}: a secret or connection string in the image")
        if i.name in {"COPY", "ADD"} and re.search(r"(^|\s)(\.env|airflow\.cfg|\S*\.pem|\S*id_rsa)\b", i.args):
            errors.append(f"{i.name} {i.args}: copies a secret-bearing file")
    return errors


def copies(ins: list[Instruction]) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY/ADD from the build context, the destination made absolute."""
    out = []
    workdir = "/"
    for i in ins:
        if i.name == "WORKDIR":
            workdir = str(Path(workdir, i.args))
        if i.name not in {"COPY", "ADD"}:
            continue
        words = shlex.split(i.args)
        if any(a.startswith("--from") for a in words):
            continue
        flags = [a for a in words if a.startswith("--")]
        rest = i.args
        for f in flags:
            rest = rest.replace(f, "", 1)
        parts = exec_form(rest.strip()) or [a for a in words if not a.startswith("--")]
        out.append((parts[:-1], str(Path(workdir, parts[-1]))))
    return out


def copy_sources(ins: list[Instruction]) -> list[str]:
    return [src for sources, _ in copies(ins) for src in sources]


def check_airflow_paths(ins: list[Instruction]) -> list[str]:
    env = env_of(ins)
    workdir = [i.args for i in ins if i.name == "WORKDIR"][-1:]
    errors = []
    home = env.get("AIRFLOW_HOME")
    if not home:
        return ["AIRFLOW_HOME is not set"]
    if workdir and home != workdir[0]:
        errors.append(f"AIRFLOW_HOME {home} is not the project folder {workdir[0]}")
    for key, folder in (("AIRFLOW__CORE__DAGS_FOLDER", "dags"), ("AIRFLOW__CORE__PLUGINS_FOLDER", "plugins")):
        want = f"{home}/{folder}"
        if env.get(key) != want:
            errors.append(f"{key}={env.get(key)!r}, want {want!r}")
        if not any(srcs == [folder] and dest == want for srcs, dest in copies(ins)):
            errors.append(f"{folder}/ is not copied to {want}")
    return errors


# -------------------------------------------------------------------------------- the Dockerfile itself


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    assert DOCKERFILE.is_file()
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def lock_text() -> str:
    return LOCK.read_text()


def test_base_image_is_pinned_to_an_exact_version(instructions, lock_text):
    assert check_base_image(instructions, lock_text) == []


def test_every_install_comes_from_the_lock(instructions, lock_text):
    assert check_installs(instructions, lock_text) == []


def test_uv_is_the_locks_uv(instructions, lock_text):
    pin = lock_pin("uv", lock_text)
    installs = [a for i in instructions if i.name == "RUN" for a in shlex.split(i.args) if a.startswith("uv==")]
    assert installs == [f"uv=={pin}"]
    out = subprocess.run([str(VENV_BIN / "uv"), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.split()[1] == pin, "the project's venv runs another uv than the lock's"


def test_the_package_builds_from_the_lock_without_downloads(instructions, lock_text):
    """`--no-build-isolation` means the build backend must come from the lock."""
    uses_no_isolation = any("--no-build-isolation" in i.args for i in instructions if i.name == "RUN")
    if uses_no_isolation:
        pyproject = (ROOT / "pyproject.toml").read_text()
        m = re.search(r'requires\s*=\s*\["setuptools>=(\d+)', pyproject)
        assert m, "pyproject.toml's build backend is no longer setuptools: update this test and the Dockerfile"
        assert int(lock_pin("setuptools", lock_text).split(".")[0]) >= int(m.group(1))


def test_runs_as_a_non_root_user(instructions):
    assert check_user(instructions) == []


def test_has_a_healthcheck_through_the_entrypoint(instructions):
    assert check_healthcheck(instructions) == []
    hc = [i for i in instructions if i.name == "HEALTHCHECK"][-1].args
    argv = exec_form(hc[hc.index("CMD") + 3 :].strip())
    assert argv and argv[0].endswith("docker/entrypoint.sh") and argv[1] == "healthcheck"


def test_entrypoint_is_the_script(instructions):
    argv = exec_form([i for i in instructions if i.name == "ENTRYPOINT"][-1].args)
    assert argv and argv[0].endswith("/docker/entrypoint.sh")
    workdir = [i.args for i in instructions if i.name == "WORKDIR"][-1]
    assert argv[0] == f"{workdir}/docker/entrypoint.sh"
    assert "docker/entrypoint.sh" in copy_sources(instructions)


def test_airflow_home_dags_and_plugins_are_the_copied_project(instructions):
    assert check_airflow_paths(instructions) == []


def test_no_secret_is_baked_in(instructions):
    assert check_no_secrets(instructions) == []


def test_every_copied_file_exists(instructions):
    sources = copy_sources(instructions)
    assert sources
    missing = [s for s in sources if not (ROOT / s).exists()]
    assert missing == []
    # the package build needs these three; the README is pyproject's `readme`
    assert {"requirements.txt", "pyproject.toml", "README.md", "include"} <= set(sources)


# Each rule fails on a Dockerfile that breaks it.
GOOD = DOCKERFILE.read_text() if DOCKERFILE.is_file() else ""


@pytest.mark.parametrize(
    ("broken", "rule"),
    [
        (re.sub(r"^FROM .*$", "FROM python:latest", GOOD, count=1, flags=re.M), check_base_image),
        (re.sub(r"^FROM .*$", "FROM python:3.11-slim", GOOD, count=1, flags=re.M), check_base_image),
        (re.sub(r"^FROM .*$", "FROM python", GOOD, count=1, flags=re.M), check_base_image),
        (re.sub(r"^FROM .*$", "FROM python:3.12.1-slim-bookworm", GOOD, count=1, flags=re.M), check_base_image),
        (re.sub(r"^FROM .*$", "FROM python:3.11.7-slim@sha256:abc123", GOOD, count=1, flags=re.M),
         check_base_image),
        (GOOD + "\nRUN .venv/bin/pip install requests\n", check_installs),
        (GOOD + "\nRUN pip install -r requirements.txt\n", check_installs),
        (GOOD + "\nRUN .venv/bin/uv pip install --python .venv/bin/python -e .\n", check_installs),
        (GOOD + "\nRUN .venv/bin/uv pip install --no-deps boto3\n", check_installs),
        (GOOD + "\nRUN apt-get update && apt-get install -y ffmpeg\n", check_installs),
        (GOOD.replace("uv==", "uv==0.0.1+x"), check_installs),
        (GOOD.replace("requirements.txt\n", "requirements.in\n"), check_installs),
        (GOOD + "\nUSER root\n", lambda ins, _lock: check_user(ins)),
        (re.sub(r"^USER .*$", "", GOOD, flags=re.M), lambda ins, _lock: check_user(ins)),
        (re.sub(r"^HEALTHCHECK[^\n]*\\\n[^\n]*$", "", GOOD, flags=re.M), lambda ins, _lock: check_healthcheck(ins)),
        (GOOD + "\nHEALTHCHECK NONE\n", lambda ins, _lock: check_healthcheck(ins)),
        (GOOD + "\nENV AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql://u:p@db/airflow\n",
         lambda ins, _lock: check_no_secrets(ins)),
        (GOOD + "\nARG AWS_SECRET_ACCESS_KEY\n", lambda ins, _lock: check_no_secrets(ins)),
        (GOOD + "\nENV AIRFLOW__CORE__DAGS_FOLDER=/tmp/dags\n", lambda ins, _lock: check_airflow_paths(ins)),
    ],
    ids=[
        "latest", "floating-minor", "no-tag", "other-python", "bad-digest", "pip-unpinned", "pip-r",
        "uv-with-deps", "uv-other-package", "apt-unpinned", "uv-not-lock-pin", "sync-other-file", "user-root",
        "no-user", "no-healthcheck", "healthcheck-none", "baked-conn", "baked-aws-key", "dags-elsewhere",
    ],
)
def test_each_rule_fails_on_a_broken_dockerfile(broken, rule, lock_text):
    assert broken != GOOD
    assert rule(parse_dockerfile(broken), lock_text), "the rule accepted a broken Dockerfile"


def test_copy_of_a_missing_file_is_caught():
    ins = parse_dockerfile(GOOD + "\nCOPY does-not-exist.txt ./\n")
    assert [s for s in copy_sources(ins) if not (ROOT / s).exists()] == ["does-not-exist.txt"]


# ------------------------------------------------------------------------------------------ entrypoint


def entry(*args: str, dry: bool = True, extra_env: dict[str, str] | None = None,
          stubs: Path | None = None) -> subprocess.CompletedProcess:
    """Run the entrypoint. Not in dry-run mode, `stubs` puts fake CLIs first on PATH, so nothing real starts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "CLEARFRAME_"))}
    env["PATH"] = os.pathsep.join([*([str(stubs)] if stubs else []), str(VENV_BIN), env.get("PATH", "")])
    env["CLEARFRAME_COMPONENT_FILE"] = os.devnull
    if dry:
        env["CLEARFRAME_ENTRYPOINT_DRY_RUN"] = "1"
    else:
        assert stubs, "a real run needs stub CLIs"
    env.update(extra_env or {})
    return subprocess.run(["bash", str(ENTRYPOINT), *args], capture_output=True, text=True, env=env, timeout=60)


def commands(*args: str, **kw) -> list[list[str]]:
    r = entry(*args, **kw)
    assert r.returncode == 0, r.stderr
    return [shlex.split(line) for line in r.stdout.splitlines() if line.strip()]


def test_entrypoint_exists_is_executable_and_parses():
    assert ENTRYPOINT.is_file()
    assert ENTRYPOINT.stat().st_mode & stat.S_IXUSR and os.access(ENTRYPOINT, os.X_OK)
    assert ENTRYPOINT.read_text().startswith("#!/usr/bin/env bash\n")
    r = subprocess.run(["bash", "-n", str(ENTRYPOINT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # it starts components; it never installs anything at run time
    assert not re.search(r"\b(pip|uv)\b[^\n]*\binstall\b", ENTRYPOINT.read_text())


ALL_COMPONENTS = [*AIRFLOW_COMPONENTS, *WORKERS, "init"]


@pytest.fixture(scope="module")
def planned() -> dict[str, list[list[str]]]:
    """Every command the entrypoint runs, per component and per healthcheck."""
    plan = {c: commands(c) for c in ALL_COMPONENTS}
    plan["clearframe"] = commands("clearframe", "run", "x.yaml", "--dry-run")
    plan.update({f"healthcheck {c}": commands("healthcheck", c) for c in [*AIRFLOW_COMPONENTS, *WORKERS]})
    plan["healthcheck"] = commands("healthcheck")
    return plan


def test_every_command_exists_in_the_venv(planned):
    for name, cmds in planned.items():
        assert cmds, f"{name}: no command"
        for argv in cmds:
            assert (VENV_BIN / argv[0]).is_file() and os.access(VENV_BIN / argv[0], os.X_OK), (name, argv)


def parse_with_airflow(argvs: list[list[str]], tmp: Path) -> list[dict]:
    """Parse each `airflow ...` argv with Airflow's own CLI parser (nothing is run)."""
    script = r"""
import json, sys
from airflow.cli.cli_parser import get_parser
out = []
for argv in json.loads(sys.argv[1]):
    try:
        ns = get_parser().parse_args(argv[1:])
    except SystemExit as e:
        out.append({"argv": argv, "error": f"exit {e.code}"})
        continue
    out.append({"argv": argv, "func": bool(getattr(ns, "func", None)),
                **{k: v for k, v in vars(ns).items() if isinstance(v, (str, int, bool, type(None)))}})
print("RESULT " + json.dumps(out))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp), AIRFLOW__CORE__EXECUTOR="CeleryExecutor", AIRFLOW__CORE__LOAD_EXAMPLES="False")
    r = subprocess.run([str(VENV_BIN / "python"), "-c", script, json.dumps(argvs)], capture_output=True,
                       text=True, env=env, timeout=300)
    lines = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
    assert r.returncode == 0 and lines, r.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_every_airflow_command_is_valid_for_airflows_own_parser(planned, tmp_path):
    argvs = [argv for cmds in planned.values() for argv in cmds if argv[0] == "airflow"]
    assert len(argvs) >= len(AIRFLOW_COMPONENTS) + len(WORKERS) + 3
    parsed = parse_with_airflow(argvs, tmp_path)
    bad = [p for p in parsed if "error" in p or not p["func"]]
    assert bad == []
    by_cmd = {" ".join(p["argv"]): p for p in parsed}
    for job in ("SchedulerJob", "DagProcessorJob", "TriggererJob"):
        p = by_cmd[f"airflow jobs check --job-type {job} --local"]
        assert p["job_type"] == job and p["local"] is True


def test_parser_check_can_fail(tmp_path):
    parsed = parse_with_airflow([["airflow", "celery", "worker", "--queue-name", "ingest"],
                                 ["airflow", "jobs", "check", "--job-type", "WorkerJob"]], tmp_path)
    assert all("error" in p for p in parsed)


@pytest.mark.parametrize("component", AIRFLOW_COMPONENTS + list(WORKERS))
def test_component_help_exits_0(component, tmp_path):
    """`airflow <component> --help` (or `airflow celery worker --help`) with the venv's Airflow."""
    sub = ["celery", "worker"] if component.startswith("worker-") else [component]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW__CORE__EXECUTOR="CeleryExecutor", AIRFLOW_HOME=str(tmp_path))
    r = subprocess.run([str(VENV_BIN / "airflow"), *sub, "--help"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage: airflow " + " ".join(sub) in r.stdout.lower()


def test_workers_serve_their_queue_with_concurrency_fitting_their_work(planned):
    def worker_opts(argv: list[str]) -> dict[str, str]:
        assert argv[:3] == ["airflow", "celery", "worker"]
        return {argv[i]: argv[i + 1] for i in range(3, len(argv) - 1) if argv[i].startswith("--")}

    opts = {c: worker_opts(planned[c][0]) for c in WORKERS}
    for c, queue in WORKERS.items():
        assert opts[c]["--queues"] == queue
        assert opts[c]["--celery-hostname"].startswith(queue + "@")
    ingest, media = int(opts["worker-ingest"]["--concurrency"]), int(opts["worker-media"]["--concurrency"])
    assert media >= 1 and ingest >= 2 * media, "ingest is network-bound: more task processes than media"
    # media: one process per vCPU of the container
    vcpus = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
    cpu_max = Path("/sys/fs/cgroup/cpu.max")
    if cpu_max.exists() and cpu_max.read_text().split()[0] != "max":
        quota, period = (int(x) for x in cpu_max.read_text().split())
        vcpus = min(vcpus, -(-quota // period))
    assert media == vcpus
    # the queues the DAGs route to are served
    dag_queues = set(re.findall(r"queue=\"(\w+)\"", (ROOT / "dags" / "ingest.py").read_text()
                                + (ROOT / "dags" / "curate.py").read_text()))
    assert dag_queues <= set(WORKERS.values())


def test_worker_concurrency_overrides():
    out = commands("worker-media", extra_env={"CLEARFRAME_MEDIA_CONCURRENCY": "7"})
    assert out[0][out[0].index("--concurrency") + 1] == "7"
    out = commands("worker-ingest", extra_env={"CLEARFRAME_INGEST_CONCURRENCY": "32"})
    assert out[0][out[0].index("--concurrency") + 1] == "32"


def test_worker_healthcheck_pings_this_worker(planned):
    for c in WORKERS:
        worker_name = planned[c][0][planned[c][0].index("--celery-hostname") + 1]
        hc = planned[f"healthcheck {c}"][0]
        assert hc[:5] == ["celery", "--app", CELERY_APP, "inspect", "ping"]
        assert hc[hc.index("--destination") + 1] == worker_name


def test_the_worker_celery_app_loads(tmp_path):
    """The worker command and its healthcheck both load the celery provider's app: it must import."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW__CORE__EXECUTOR="CeleryExecutor", AIRFLOW_HOME=str(tmp_path))
    r = subprocess.run([str(VENV_BIN / "celery"), "--app", CELERY_APP, "inspect", "ping", "--help"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]


def test_clearframe_command_exists(planned):
    assert planned["clearframe"] == [["clearframe", "run", "x.yaml", "--dry-run"]]
    assert planned["healthcheck"] == [["clearframe", "--help"]]
    r = subprocess.run([str(VENV_BIN / "clearframe"), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "usage: clearframe" in r.stdout
    r = subprocess.run([str(VENV_BIN / "clearframe"), "pools", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200
    body = {"metadatabase": {"status": "healthy"}, "scheduler": {"status": "unhealthy"}}

    def do_GET(self):
        data = json.dumps(self.body).encode()
        self.send_response(self.status if self.path == "/api/v2/monitor/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.mark.parametrize(
    ("status", "db", "healthy"), [(200, "healthy", True), (200, "unhealthy", False), (503, "healthy", False)]
)
def test_api_server_healthcheck_against_a_live_endpoint(status, db, healthy):
    handler = type("H", (_Health,), {"status": status, "body": {"metadatabase": {"status": db}}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        port = str(server.server_address[1])
        [argv] = commands("healthcheck", "api-server", extra_env={"AIRFLOW__API__PORT": port})
        assert argv[0] == "python" and argv[-1] == f"http://127.0.0.1:{port}/api/v2/monitor/health"
        r = subprocess.run([str(VENV_BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=30)
        assert (r.returncode == 0) is healthy, r.stderr
    finally:
        server.shutdown()
        server.server_close()


def test_api_server_listens_where_its_healthcheck_looks(planned):
    argv = planned["api-server"][0]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert planned["healthcheck api-server"][0][-1].startswith(f"http://127.0.0.1:{argv[argv.index('--port') + 1]}/")


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    """Fake `airflow`, `clearframe` and `celery` that only report how they were called (exit 97)."""
    d = tmp_path / "stubs"
    d.mkdir()
    for name in ("airflow", "clearframe", "celery"):
        f = d / name
        f.write_text(f'#!/bin/sh\necho "STUB {name} $*"\nexit 97\n')
        f.chmod(0o755)
    return d


def test_airflow_components_refuse_to_start_without_shared_secrets(stubs):
    """The check comes first: exit 2 naming what is missing, and no Airflow command is run."""
    for c in [*AIRFLOW_COMPONENTS, "worker-media", "init"]:
        r = entry(c, dry=False, stubs=stubs)
        assert r.returncode == 2, (c, r.stdout, r.stderr)
        assert "STUB" not in r.stdout
        assert "AIRFLOW__CORE__FERNET_KEY" in r.stderr and "AIRFLOW__API_AUTH__JWT_SECRET" in r.stderr
    partial = {"AIRFLOW__CORE__FERNET_KEY_SECRET": "airflow/fernet"}
    r = entry("scheduler", dry=False, stubs=stubs, extra_env=partial)
    assert r.returncode == 2 and "FERNET" not in r.stderr and "JWT_SECRET" in r.stderr


def test_with_the_secrets_the_component_is_execd(stubs):
    secrets = {"AIRFLOW__CORE__FERNET_KEY_CMD": "cat /run/secrets/fernet", "AIRFLOW__API_AUTH__JWT_SECRET": "x"}
    r = entry("worker-media", dry=False, stubs=stubs, extra_env={**secrets, "CLEARFRAME_MEDIA_CONCURRENCY": "3"})
    assert r.returncode == 97
    assert r.stdout.startswith("STUB airflow celery worker --queues media --concurrency 3 ")
    r = entry("clearframe", "optout", "list", dry=False, stubs=stubs)
    assert (r.returncode, r.stdout.strip()) == (97, "STUB clearframe optout list")


def test_unknown_component_is_an_error():
    r = entry("worker-gpu")
    assert r.returncode == 2 and "unknown component" in r.stderr
    r = entry("healthcheck", "worker-gpu")
    assert r.returncode == 2


def test_a_named_worker_uses_its_name_for_celery_and_its_healthcheck():
    """Several workers on one host (the fleet test) are told apart by CLEARFRAME_WORKER_NAME; task
    instances record the same name through clearframe.fleet.worker_hostname (the image's hostname_callable)."""
    env = {"CLEARFRAME_WORKER_NAME": "ingest-7"}
    (worker,) = commands("worker-ingest", extra_env=env)
    assert worker[worker.index("--celery-hostname") + 1] == "ingest@ingest-7"
    (hc,) = commands("healthcheck", "worker-ingest", extra_env=env)
    assert hc[hc.index("--destination") + 1] == "ingest@ingest-7"
    assert "AIRFLOW__CORE__HOSTNAME_CALLABLE=clearframe.fleet.worker_hostname" in DOCKERFILE.read_text()


def test_api_server_bind_address_and_workers_can_be_set():
    (api,) = commands("api-server", extra_env={"CLEARFRAME_API_HOST": "127.0.0.1", "CLEARFRAME_API_WORKERS": "3"})
    assert api[api.index("--host") + 1] == "127.0.0.1" and api[api.index("--workers") + 1] == "3"


def test_exec_runs_a_one_off_command_and_refuses_an_empty_one():
    (cmd,) = commands("exec", "python", "-c", "print('a b')")
    assert cmd == ["python", "-c", "print('a b')"]
    r = entry("exec")
    assert r.returncode == 2 and "exec needs a command" in r.stderr


def _pins(path: Path) -> dict[str, str]:
    return {k.lower(): v for k, v in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", path.read_text(), re.M)}


def test_the_image_lock_holds_no_test_tools_and_the_dev_lock_keeps_its_pins():
    """The image installs requirements.txt only; .venv gets requirements-dev.txt, which must pin every
    runtime package at the same version, so tests run against exactly what the image runs."""
    runtime, dev = _pins(LOCK), _pins(ROOT / "requirements-dev.txt")
    for tool in ("pytest", "moto", "playwright", "hypothesis", "ruff", "mypy", "cfn-lint", "webdataset"):
        assert tool not in runtime, f"{tool} is a test tool in the image's lock"
        assert tool in dev, f"{tool} missing from requirements-dev.txt"
    assert {k: dev.get(k) for k in runtime} == runtime
    assert "-c requirements.txt" in (ROOT / "requirements-dev.in").read_text()
    assert "requirements-dev.txt" in (ROOT / "scripts" / "bootstrap").read_text()
    assert "requirements-dev" not in DOCKERFILE.read_text()


def test_dockerignore_keeps_local_state_out_and_every_copy_source_in():
    """`.dockerignore` uses Go filepath.Match patterns per path; the ones here are plain names and `**/`
    globs, which fnmatch reads the same way for these paths."""
    import fnmatch

    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")], "no re-includes: keep the rules simple"

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return any(fnmatch.fnmatch(pre, pat) or fnmatch.fnmatch(pre, pat.removeprefix("**/"))
                   or fnmatch.fnmatch(parts[i - 1], pat.removeprefix("**/"))
                   for i, pre in enumerate(prefixes, start=1) for pat in patterns)

    for local in (".venv/bin/python", ".git/HEAD", ".clearframe/airflow/passwords.json",
                  "include/clearframe/__pycache__/x.pyc", "tests/test_fleet.py", "bench/out/x.json"):
        assert ignored(local), f"{local} would be sent to the Docker daemon"
    copies = [ins.args for ins in parse_dockerfile(DOCKERFILE.read_text()) if ins.name == "COPY"]
    sources = [src for args in copies for src in args.split()[:-1] if not src.startswith("--")]
    assert sources
    for src in sources:
        assert not ignored(src), f"COPY {src} is excluded by .dockerignore"
        for f in ([ROOT / src] if (ROOT / src).is_file() else (ROOT / src).rglob("*.py")):
            rel = f.relative_to(ROOT).as_posix()
            assert "__pycache__" in rel or not ignored(rel), f"{rel} is copied but ignored"
