"""The AWS templates (infra/cloudformation/): cfn-lint clean, and the house rules read from their content.

Offline: cfn-lint validates against the resource schemas it ships with; the rules below parse the YAML
(with a loader that accepts CloudFormation's short tags such as !Ref and !Sub) and assert on what the
templates say: private, encrypted buckets that abort incomplete uploads; no literal secret; S3 write access
by prefix (ingest never writes datasets/, only curation does); one Celery worker service per queue on
Fargate Spot, each with an autoscaling target on its queue depth.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CFN = ROOT / "infra" / "cloudformation"
TEMPLATES = sorted(CFN.glob("*.yaml"))

INGEST_PREFIXES = {"staging/", "ledger/", "evidence/", "batches/", "runs/", "quarantine/"}
CURATION_ONLY = {"datasets/", "validation/"}
QUEUES = ("ingest", "media", "default")
METRIC_NAMESPACE = "ClearFrame/Celery"


# --- loading ------------------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """A safe loader that turns `!Ref X` into {"Ref": X} and `!Sub s` into {"Fn::Sub": s}, and so on."""


def _construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=CfnLoader)  # a SafeLoader subclass


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    return {p.name: load(p) for p in TEMPLATES}


@pytest.fixture(scope="module")
def airflow() -> dict[str, Any]:
    return load(CFN / "airflow.yaml")


def resources(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def text_of(value: Any) -> str:
    """The literal text of a string, an Fn::Sub (its template string) or an Fn::Join (joined literals)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(text_of(p) for p in parts)
    return json.dumps(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def walk(node: Any, path: tuple[str, ...] = ()):
    """Yield (path, key, value) for every mapping entry of a parsed template."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, v
            yield from walk(v, (*path, str(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, (*path, str(i)))


# --- cfn-lint ---------------------------------------------------------------------------------------------


def cfn_lint_bin() -> str:
    candidate = Path(sys.executable).with_name("cfn-lint")
    found = str(candidate) if candidate.exists() else shutil.which("cfn-lint")
    assert found, "cfn-lint is not installed: it is in requirements.txt (run scripts/bootstrap)"
    return found


def test_the_templates_exist():
    assert {p.name for p in TEMPLATES} == {"storage.yaml", "data.yaml", "airflow.yaml"}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_reports_no_error(path: Path):
    proc = subprocess.run(
        [cfn_lint_bin(), "--format", "json", "--regions", "us-east-1", "eu-west-1", "--", str(path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.stdout.strip(), f"cfn-lint printed nothing (rc={proc.returncode}): {proc.stderr}"
    matches = json.loads(proc.stdout)
    lines = [f"{m['Level']} {m['Rule']['Id']} line {m['Location']['Start']['LineNumber']}: {m['Message']}"
             for m in matches]
    errors = [m for m in matches if m["Level"] == "Error"]
    assert not errors, f"{path.name}: cfn-lint errors (and warnings):\n" + "\n".join(lines)
    # Warnings do not fail the build, but they are shown here and must not be silent parse failures.
    assert proc.returncode & 2 == 0, "\n".join(lines) or proc.stderr


# --- storage ----------------------------------------------------------------------------------------------


def bucket_problems(name: str, props: dict[str, Any]) -> list[str]:
    problems = []
    sse = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    algorithms = {r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in sse}
    if not algorithms & {"aws:kms", "AES256", "aws:kms:dsse"}:
        problems.append(f"{name}: no default encryption")
    block = props.get("PublicAccessBlockConfiguration", {})
    for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
        if block.get(flag) is not True:
            problems.append(f"{name}: public access block lacks {flag}")
    rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
    aborts = [r for r in rules if r.get("Status") == "Enabled" and not r.get("Prefix")
              and r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1]
    if not aborts:
        problems.append(f"{name}: no bucket-wide rule aborting incomplete multipart uploads after 1 day")
    return problems


def test_every_bucket_is_encrypted_private_and_aborts_incomplete_uploads(templates):
    buckets = {f"{t}:{k}": v.get("Properties", {}) for t, tpl in templates.items()
               for k, v in resources(tpl, "AWS::S3::Bucket").items()}
    assert buckets, "no S3 bucket in the templates"
    problems = [p for name, props in buckets.items() for p in bucket_problems(name, props)]
    assert not problems, "\n".join(problems)


def test_bucket_rule_checker_can_fail():
    bad = {"BucketEncryption": {}, "LifecycleConfiguration": {"Rules": [
        {"Status": "Enabled", "Prefix": "staging/", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]}}
    found = bucket_problems("bad", bad)
    assert any("encryption" in p for p in found)
    assert any("BlockPublicPolicy" in p for p in found)
    assert any("multipart" in p for p in found)


def test_data_bucket_versioned_expires_staging_and_denies_plain_http(templates):
    storage = templates["storage.yaml"]
    data = storage["Resources"]["DataBucket"]["Properties"]
    assert data["VersioningConfiguration"]["Status"] == "Enabled"
    rules = data["LifecycleConfiguration"]["Rules"]
    staging = [r for r in rules if r.get("Prefix") == "staging/" and r.get("ExpirationInDays")]
    assert staging, "objects under staging/ never expire"
    assert any("NoncurrentVersionExpiration" in r and not r.get("Prefix") for r in rules)
    policy = storage["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in policy)


# --- secrets ----------------------------------------------------------------------------------------------

SECRET_KEYS = {"Password", "MasterUserPassword", "AuthToken", "SecretString", "MasterUserSecret"}
SECRET_ENV = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|SQL_ALCHEMY_CONN|BROKER_URL|RESULT_BACKEND|REGISTRY_URL")


def literal_secrets(template: dict[str, Any]) -> list[str]:
    problems = []
    for path, key, value in walk(template.get("Resources", {})):
        if key in SECRET_KEYS and not isinstance(value, dict | list):
            problems.append(f"{'/'.join(path)}/{key} is a literal")
        elif key in SECRET_KEYS and key != "MasterUserSecret" and "{{resolve:secretsmanager:" not in text_of(value):
            problems.append(f"{'/'.join(path)}/{key} is not a Secrets Manager dynamic reference")
        if key == "Environment" and isinstance(value, list):
            for var in value:
                if isinstance(var, dict) and SECRET_ENV.search(str(var.get("Name", ""))):
                    problems.append(f"{'/'.join(path)}: {var['Name']} is a plain environment variable, not an ECS secret")
    for name in template.get("Parameters", {}):
        if re.search("password|token", name, re.I):
            problems.append(f"parameter {name} carries a secret through the template")
    return problems


def test_no_literal_secret_in_any_template(templates):
    problems = [f"{t}: {p}" for t, tpl in templates.items() for p in literal_secrets(tpl)]
    assert not problems, "\n".join(problems)
    for path in TEMPLATES:
        plain = re.findall(r"^\s*(\w*(?:Password|AuthToken)):\s*['\"]?(?!!Sub|\{\{resolve)(\S+)", path.read_text(), re.M)
        assert not plain, f"{path.name}: plain secret value(s) {plain}"


def test_secret_checker_can_fail():
    bad = {"Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "Properties": {"MasterUserPassword": "hunter22"}},
                         "Td": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"ContainerDefinitions": [
                             {"Environment": [{"Name": "AIRFLOW__CORE__FERNET_KEY", "Value": "x"}]}]}}}}
    found = literal_secrets(bad)
    assert any("MasterUserPassword" in p for p in found)
    assert any("FERNET_KEY" in p for p in found)


def test_database_and_broker_are_private_and_encrypted(templates):
    data = templates["data.yaml"]
    (db,) = resources(data, "AWS::RDS::DBInstance").values()
    props = db["Properties"]
    assert props["Engine"] == "postgres"
    assert props["StorageEncrypted"] is True and props["PubliclyAccessible"] is False
    assert props.get("ManageMasterUserPassword") is True or \
        "{{resolve:secretsmanager:" in text_of(props["MasterUserPassword"])
    (broker,) = resources(data, "AWS::ElastiCache::ReplicationGroup").values()
    bprops = broker["Properties"]
    assert bprops["Engine"] == "redis"
    assert bprops["TransitEncryptionEnabled"] is True and bprops["AtRestEncryptionEnabled"] is True
    assert "{{resolve:secretsmanager:" in text_of(bprops["AuthToken"])
    urls = [text_of(s["Properties"].get("SecretString")) for s in resources(data, "AWS::SecretsManager::Secret").values()]
    assert any(u.startswith("rediss://") for u in urls), "the broker URL must use TLS (rediss://)"


# --- IAM --------------------------------------------------------------------------------------------------


def is_s3_write(action: str) -> bool:
    return action in ("*", "s3:*") or action.startswith(("s3:Put", "s3:Delete", "s3:Abort", "s3:Restore",
                                                          "s3:Replicate", "s3:Create"))


def s3_writes(role: dict[str, Any]) -> dict[str, set[str]]:
    """{resource text: write actions} over every Allow statement of a role's inline policies."""
    writes: dict[str, set[str]] = {}
    for policy in role["Properties"].get("Policies", []):
        for st in as_list(policy["PolicyDocument"]["Statement"]):
            if st["Effect"] != "Allow":
                continue
            actions = {a for a in as_list(st["Action"]) if is_s3_write(a)}
            if actions:
                for res in as_list(st["Resource"]):
                    writes.setdefault(text_of(res), set()).update(actions)
    return writes


def written_prefixes(role: dict[str, Any]) -> set[str]:
    """The storage prefixes a role may write; '*' for a bucket-wide (or any) resource."""
    prefixes = set()
    for res in s3_writes(role):
        m = re.fullmatch(r"arn:\$\{AWS::Partition\}:s3:::\$\{DataBucketName\}/([a-z_-]+/)\*", res)
        prefixes.add(m.group(1) if m else "*")
    return prefixes


def test_roles_never_allow_everything(airflow):
    for name, role in resources(airflow, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for st in as_list(policy["PolicyDocument"]["Statement"]):
                actions = as_list(st["Action"])
                assert not {"*", "s3:*", "iam:*", "kms:*"} & set(actions), f"{name}: {actions}"


def test_ingest_workers_write_only_the_ingest_prefixes(airflow):
    role = airflow["Resources"]["IngestWorkerTaskRole"]
    prefixes = written_prefixes(role)
    assert prefixes, "the ingest role cannot write anything"
    assert prefixes <= INGEST_PREFIXES, f"ingest writes outside its prefixes: {prefixes - INGEST_PREFIXES}"
    assert not prefixes & CURATION_ONLY
    assert {"staging/", "ledger/", "evidence/", "batches/"} <= prefixes


def test_only_the_curation_role_writes_datasets(airflow):
    roles = resources(airflow, "AWS::IAM::Role")
    writers = {name for name, role in roles.items() if written_prefixes(role) & (CURATION_ONLY | {"*"})}
    assert writers == {"CurationWorkerTaskRole"}, f"roles writing datasets/ or validation/: {writers}"
    assert CURATION_ONLY <= written_prefixes(roles["CurationWorkerTaskRole"])
    for name in ("ControlPlaneTaskRole", "DefaultWorkerTaskRole", "QueueMetricsTaskRole", "TaskExecutionRole"):
        assert not s3_writes(roles[name]), f"{name} may write to S3"


def test_prefix_checker_can_fail():
    role = {"Properties": {"Policies": [{"PolicyDocument": {"Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject"],
         "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${DataBucketName}/datasets/*"},
                      {"Fn::Sub": "arn:${AWS::Partition}:s3:::${DataBucketName}/*"}]}]}}]}}
    assert written_prefixes(role) == {"datasets/", "*"}


def test_execution_role_reads_exactly_the_injected_secrets(airflow):
    role = airflow["Resources"]["TaskExecutionRole"]["Properties"]
    managed = [text_of(a) for a in role["ManagedPolicyArns"]]
    assert any(a.endswith("service-role/AmazonECSTaskExecutionRolePolicy") for a in managed)
    readable = {json.dumps(r) for p in role["Policies"] for st in as_list(p["PolicyDocument"]["Statement"])
                if "secretsmanager:GetSecretValue" in as_list(st["Action"]) for r in as_list(st["Resource"])}
    injected = {json.dumps(s["ValueFrom"]) for td in resources(airflow, "AWS::ECS::TaskDefinition").values()
                for c in td["Properties"]["ContainerDefinitions"] for s in c.get("Secrets", [])}
    assert injected and injected == readable


# --- ECS services, queues, autoscaling ----------------------------------------------------------------------


def services(airflow: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """{service logical id: (service properties, its container definition)}."""
    out = {}
    for name, svc in resources(airflow, "AWS::ECS::Service").items():
        td = airflow["Resources"][svc["Properties"]["TaskDefinition"]["Ref"]]["Properties"]
        (container,) = td["ContainerDefinitions"]
        out[name] = (svc["Properties"], container | {"_task": td})
    return out


ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
IMAGE_ENTRYPOINT = "/opt/clearframe/docker/entrypoint.sh"  # the Dockerfile's ENTRYPOINT
COMPONENTS = ("scheduler", "api-server", "dag-processor", "triggerer", "worker-ingest", "worker-media",
              "worker-default", "init")


def resolved_commands(container: dict[str, Any]) -> list[str]:
    """What the container runs. A container that keeps the image's entrypoint names a component; the
    real entrypoint, in dry-run mode with the container's literal environment, prints the commands it
    would run for it (the last one is exec'd)."""
    if "EntryPoint" in container:
        return [" ".join([*container["EntryPoint"], *container.get("Command", [])])]
    env = {e["Name"]: e["Value"] for e in container.get("Environment", []) if isinstance(e["Value"], str)}
    done = subprocess.run([str(ENTRYPOINT), *container["Command"]], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **env, "CLEARFRAME_ENTRYPOINT_DRY_RUN": "1"})
    assert done.returncode == 0, f"{container['Name']}: entrypoint {container['Command']}: {done.stderr}"
    return done.stdout.strip().splitlines()


def command_line(container: dict[str, Any]) -> str:
    return resolved_commands(container)[-1]


def test_every_container_runs_the_one_image(airflow):
    for name, (_, container) in services(airflow).items():
        assert container["Image"] == {"Ref": "ImageUri"}, name
    assert "ImageUri" in airflow["Parameters"]


def test_airflow_containers_start_through_the_image_entrypoint(airflow):
    """Every Airflow container names a component of docker/entrypoint.sh, so it gets the entrypoint's
    shared-secret guard and queue sizing, and ECS runs the entrypoint's healthcheck for that component."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f'ENTRYPOINT ["{IMAGE_ENTRYPOINT}"]' in dockerfile
    seen = set()
    for td_name, td in resources(airflow, "AWS::ECS::TaskDefinition").items():
        for c in td["Properties"]["ContainerDefinitions"]:
            if c["Name"] == "queue-metrics":
                continue
            assert "EntryPoint" not in c, f"{td_name}/{c['Name']} overrides the image's entrypoint"
            component = c["Command"][0]
            assert component in COMPONENTS and len(c["Command"]) == 1, (td_name, c["Command"])
            seen.add(component)
            secrets = {s["Name"] for s in c.get("Secrets", [])}
            assert {"AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"} <= secrets, (td_name, secrets)
            if component != "init":
                assert c["HealthCheck"]["Command"] == ["CMD", IMAGE_ENTRYPOINT, "healthcheck", component], td_name
    assert seen == set(COMPONENTS)
    init = [c for td in resources(airflow, "AWS::ECS::TaskDefinition").values()
            for c in td["Properties"]["ContainerDefinitions"] if c["Command"] == ["init"]]
    assert [line.split(" ")[:3] for line in resolved_commands(init[0])] == [
        ["airflow", "db", "migrate"], ["clearframe", "pools"], ["airflow", "pools", "import"]]


def test_control_plane_runs_as_four_services(airflow):
    commands = {command_line(c).split(" --")[0] for _, c in services(airflow).values()}
    for component in ("airflow scheduler", "airflow api-server", "airflow dag-processor", "airflow triggerer"):
        assert component in commands, f"no service runs `{component}`"


def worker_services(airflow: dict[str, Any]) -> dict[str, str]:
    """{queue: service logical id} for every `airflow celery worker --queues <q>` service."""
    out = {}
    for name, (_, container) in services(airflow).items():
        cmd = command_line(container)
        if cmd.startswith("airflow celery worker"):
            m = re.search(r"--queues (\S+)", cmd)
            assert m, f"{name} runs a Celery worker without --queues: {cmd}"
            assert m.group(1) not in out, f"two services consume queue {m.group(1)}"
            out[m.group(1)] = name
    return out


def test_each_queue_has_its_worker_service_on_fargate_spot(airflow):
    workers = worker_services(airflow)
    assert set(workers) == set(QUEUES)
    svcs = services(airflow)
    roles = {"ingest": "IngestWorkerTaskRole", "media": "CurationWorkerTaskRole", "default": "DefaultWorkerTaskRole"}
    for queue, name in workers.items():
        props, container = svcs[name]
        providers = {s["CapacityProvider"]: s for s in props["CapacityProviderStrategy"]}
        assert providers.get("FARGATE_SPOT", {}).get("Weight", 0) > 0, f"{name} does not run on Fargate Spot"
        assert container["_task"]["TaskRoleArn"] == {"Fn::GetAtt": [roles[queue], "Arn"]}, name
        assert re.search(r"--concurrency \d+", command_line(container)), f"{name}: concurrency not sized"
        assert container.get("StopTimeout") == 120, f"{name}: give a Spot interruption its full 2 minutes"


def test_every_worker_service_scales_on_its_queue_depth(airflow):
    targets = resources(airflow, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = resources(airflow, "AWS::ApplicationAutoScaling::ScalingPolicy")
    for queue, service in worker_services(airflow).items():
        mine = [k for k, t in targets.items() if f"${{{service}.Name}}" in text_of(t["Properties"]["ResourceId"])]
        assert len(mine) == 1, f"no scalable target for {service}"
        t = targets[mine[0]]["Properties"]
        assert t["ScalableDimension"] == "ecs:service:DesiredCount"
        pol = [p["Properties"] for p in policies.values() if p["Properties"]["ScalingTargetId"] == {"Ref": mine[0]}]
        assert pol, f"no scaling policy for {service}"
        spec = pol[0]["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
        depth = [m["MetricStat"]["Metric"] for m in spec["Metrics"] if "MetricStat" in m
                 and m["MetricStat"]["Metric"]["MetricName"] == "QueueDepth"]
        assert depth and depth[0]["Namespace"] == METRIC_NAMESPACE
        assert {"Name": "Queue", "Value": queue} in depth[0]["Dimensions"]


def test_queue_depth_is_published_for_every_queue(airflow):
    publishers = [c for _, c in services(airflow).values() if METRIC_NAMESPACE in command_line(c)]
    assert len(publishers) == 1, "one service publishes the queue depth metric"
    env = {e["Name"]: e["Value"] for e in publishers[0]["Environment"]}
    assert set(env["CLEARFRAME_QUEUES"].split(",")) == set(QUEUES)
    assert "put_metric_data" in command_line(publishers[0])
    role = airflow["Resources"][publishers[0]["_task"]["TaskRoleArn"]["Fn::GetAtt"][0]]["Properties"]
    (st,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert st["Action"] == "cloudwatch:PutMetricData"
    assert st["Condition"]["StringEquals"]["cloudwatch:namespace"] == METRIC_NAMESPACE


def test_settings_come_from_environment_and_connections(airflow):
    for name, (_, container) in services(airflow).items():
        env = {e["Name"] for e in container.get("Environment", [])}
        secrets = {s["Name"] for s in container.get("Secrets", [])}
        assert "AIRFLOW__CELERY__BROKER_URL" in secrets, name
        if command_line(container).startswith("airflow"):
            assert {"CLEARFRAME_STORAGE", "AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW__CORE__EXECUTOR"} <= env, name
        if command_line(container).startswith("airflow celery worker"):
            assert "CLEARFRAME_REGISTRY_URL" in secrets, name


def test_every_database_url_names_a_driver_the_image_installs(templates):
    """SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3, which the image does not install: a URL
    without the driver fails when a worker first stores a Celery result. Airflow also opens an async
    engine (asyncpg) on its metadata database at start."""
    urls = [m.group(0) for t in templates.values() for m in re.finditer(r"[\w+]*postgresql[\w+]*://", text_of(t))]
    assert urls, "no database URL found in the templates"
    for url in urls:
        assert url.removeprefix("db+") == "postgresql+psycopg2://", url
    lock = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^psycopg2-binary==", lock, re.M) and re.search(r"^asyncpg==", lock, re.M)
    assert not re.search(r"^psycopg==", lock, re.M)


FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def test_every_airflow_container_uses_the_production_auth_manager(airflow):
    """Several API servers behind the load balancer need users in the database (FAB), not the simple auth
    manager's per-process generated passwords; tests/test_auth_fab.py shows two servers sharing them."""
    for td_name, td in resources(airflow, "AWS::ECS::TaskDefinition").items():
        for c in td["Properties"]["ContainerDefinitions"]:
            if c["Name"] == "queue-metrics":
                continue
            env = {e["Name"]: e["Value"] for e in c.get("Environment", [])}
            assert env.get("AIRFLOW__CORE__AUTH_MANAGER") == FAB, td_name
    assert re.search(r"^apache-airflow-providers-fab==", (ROOT / "requirements.txt").read_text(), re.M)
    admin = [c for td in resources(airflow, "AWS::ECS::TaskDefinition").values()
             for c in td["Properties"]["ContainerDefinitions"] if c["Command"] == ["init"]][0]
    assert {"Name": "CLEARFRAME_ADMIN_PASSWORD", "ValueFrom": {"Ref": "UiAdminSecretArn"}} in admin["Secrets"]
