"""The deploy files, checked statically (no Docker engine, no Kubernetes cluster, no network).

What each test proves is in its name; deploy/README.md "What was validated" lists them. The
Compose schema is vendored (tests/unit/deploy_schemas/SOURCE.md); Kubernetes schemas come
with kubernetes-validate; the RayCluster is checked against a subset of the KubeRay v1 CRD
written here, its pod templates against Kubernetes' own PodTemplate schema.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from hub.cli import build_parser
from hub.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "deploy_schemas"
# Oldest and newest Kubernetes minors the manifests are checked against (both bundled by
# kubernetes-validate, offline).
K8S_VERSIONS = ("1.29.0", "1.37.0")
# Environment variables in the deploy files that are not hub settings, and who reads them.
NOT_SETTINGS = {
    "RAY_AUTH_MODE": "Ray itself (token authentication of the cluster)",
    "POSTGRES_USER": "the postgres image",
    "POSTGRES_DB": "the postgres image",
    "POSTGRES_PASSWORD": "the postgres image / compose interpolation",
}
SEVA_IMAGE = "seva-hub"


# --- helpers -------------------------------------------------------------------------------


def yaml_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} with ``values`` (unset: default)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        if name in values:
            return values[name]
        if op == ":-":
            return arg
        raise AssertionError(f"${{{name}}} has no value and no default")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", one, text)


def env_example_values() -> dict[str, str]:
    """The variables deploy/env.example asks for, with placeholder values."""
    names = re.findall(r"^([A-Z_][A-Z0-9_]*)=", (DEPLOY / "env.example").read_text(), re.M)
    return {name: f"test-{name.lower()}" for name in names}


def compose() -> dict[str, Any]:
    return yaml.safe_load(interpolate((DEPLOY / "compose.yaml").read_text(), env_example_values()))


def seva_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Compose services running the Seva Hub image."""
    return {
        name: service
        for name, service in spec["services"].items()
        if str(service.get("image", "")).split(":")[0] == SEVA_IMAGE
        or str(service.get("image", "")).startswith("${SEVA_IMAGE")
        or "build" in service
    }


def hub_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in seva_services(spec).items()
        if service.get("command") == ["serve"] and "entrypoint" not in service
    }


def k8s_docs() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml_docs(path)
    ]


def pod_templates(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] in ("Deployment", "Job"):
        return [doc["spec"]["template"]]
    if doc["kind"] == "RayCluster":
        spec = doc["spec"]
        return [spec["headGroupSpec"]["template"]] + [
            group["template"] for group in spec["workerGroupSpecs"]
        ]
    return []


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuations joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        pending += (" " if pending else "") + line.rstrip("\\").strip()
        if line.endswith("\\"):
            continue
        keyword, _, args = pending.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def dockerfile_ray_version() -> str:
    args = [a for k, a in dockerfile_instructions() if k == "ARG" and a.startswith("RAY_VERSION=")]
    versions = {a.split("=", 1)[1] for a in args}
    assert len(versions) == 1, f"every RAY_VERSION ARG must agree: {versions}"
    return versions.pop()


def setting_env_names() -> set[str]:
    """Every environment name hub/settings.py reads (aliases, or SEVA_ + the field name)."""
    names: set[str] = set()
    prefix = Settings.model_config.get("env_prefix", "")
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            names.update(str(choice).upper() for choice in choices)
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def load_sandbox_seed() -> Any:
    """deploy/docker/sandbox_seed.py as a module (deploy/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "sandbox_seed", DEPLOY / "docker" / "sandbox_seed.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_seva_command(argv: list[str]) -> None:
    """``argv`` (after ``seva``) is a subcommand the real CLI parser accepts."""
    args = build_parser().parse_args(argv)
    assert args.command, argv
    if args.command == "emulate":
        assert args.args and args.args[0] in ("razorpay", "cashfree"), argv


# --- every file ----------------------------------------------------------------------------


def test_every_yaml_file_under_deploy_parses_into_documents() -> None:
    paths = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert len(paths) >= 10
    for path in paths:
        docs = yaml_docs(path)
        assert docs, f"{path} has no document"
        assert all(isinstance(doc, dict) for doc in docs), path


# --- Kubernetes ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_validate_strictly_against_the_bundled_schemas(version: str) -> None:
    kinds = set()
    for path, doc in k8s_docs():
        kinds.add(doc["kind"])
        if doc["apiVersion"].startswith("ray.io/"):
            continue  # not a built-in kind: see the RayCluster tests
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']} (Kubernetes {version}): {exc.message}")
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
        "Secret",
        "Job",
        "Ingress",
        "NetworkPolicy",
        "RayCluster",
    } <= kinds


def test_the_validator_refuses_a_misspelled_field() -> None:
    """Control: strict validation really rejects what a typo would produce."""
    deployment = next(d for _, d in k8s_docs() if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml_docs(K8S / "kustomization.yaml")[0]
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secret.example.yaml"}
    assert all(doc["metadata"].get("namespace", "seva") == "seva" for _, doc in k8s_docs())


def test_hub_deployment_probes_drain_and_run_unprivileged() -> None:
    docs = {doc["kind"]: doc for _, doc in k8s_docs() if doc["metadata"]["name"] == "seva-hub"}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (hub,) = pod["containers"]
    assert hub["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert hub["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert hub["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert_seva_command(hub["args"])
    assert hub["args"] == ["serve"]
    # preStop sleep first, then the hub's own shutdown, all within the grace period.
    pre_stop = hub["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + 15
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert hub["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["topologySpreadConstraints"]
    assert {"configMapRef", "secretRef"} <= {k for src in hub["envFrom"] for k in src}
    # The HPA, PDB and Service all point at this Deployment's pods.
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == "seva-hub"
    assert docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2
    for kind in ("PodDisruptionBudget", "Service"):
        selector = docs[kind]["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= labels.items(), kind
    # Service links would inject SEVA_<SERVICE>_PORT=tcp://... variables, which the
    # SEVA_-prefixed settings could read (a Service named "seva" would set SEVA_PORT).
    for _, doc in k8s_docs():
        for template in pod_templates(doc):
            assert template["spec"]["enableServiceLinks"] is False, doc["metadata"]["name"]
    migrate = next(d for _, d in k8s_docs() if d["kind"] == "Job")
    assert migrate["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


# A subset of KubeRay's ray.io/v1 RayCluster CRD (its openAPIV3Schema), for the fields used
# here: unknown or misspelled keys at these levels fail, types are KubeRay's.
_GROUP_COMMON: dict[str, Any] = {
    "rayStartParams": {"type": "object", "additionalProperties": {"type": "string"}},
    "template": {"type": "object", "required": ["spec"]},
}
RAYCLUSTER_V1_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayCluster"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["headGroupSpec"],
            "additionalProperties": False,
            "properties": {
                "rayVersion": {"type": "string"},
                "enableInTreeAutoscaling": {"type": "boolean"},
                "suspend": {"type": "boolean"},
                "headServiceAnnotations": {"type": "object"},
                "autoscalerOptions": {"type": "object"},
                "headGroupSpec": {
                    "type": "object",
                    "required": ["template"],
                    "additionalProperties": False,
                    "properties": {
                        **_GROUP_COMMON,
                        "serviceType": {"type": "string"},
                        "enableIngress": {"type": "boolean"},
                        "headService": {"type": "object"},
                    },
                },
                "workerGroupSpecs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["groupName", "template"],
                        "additionalProperties": False,
                        "properties": {
                            **_GROUP_COMMON,
                            "groupName": {"type": "string"},
                            "replicas": {"type": "integer", "minimum": 0},
                            "minReplicas": {"type": "integer", "minimum": 0},
                            "maxReplicas": {"type": "integer", "minimum": 0},
                            "numOfHosts": {"type": "integer", "minimum": 1},
                            "suspend": {"type": "boolean"},
                            "scaleStrategy": {"type": "object"},
                        },
                    },
                },
            },
        },
    },
}


def raycluster() -> dict[str, Any]:
    (doc,) = yaml_docs(K8S / "raycluster.yaml")
    return doc


def test_raycluster_uses_only_kuberay_v1_fields_and_valid_pod_templates() -> None:
    doc = raycluster()
    jsonschema.validate(doc, RAYCLUSTER_V1_SUBSET)
    for template in pod_templates(doc):
        wrapped = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "ray"},
            "template": template,
        }
        kubernetes_validate.validate(wrapped, K8S_VERSIONS[-1], strict=True)
        # KubeRay runs the first container as the Ray node: it must be this image.
        assert template["spec"]["containers"][0]["image"].split("/")[-1].startswith(SEVA_IMAGE)
        assert template["metadata"]["labels"]["app.kubernetes.io/component"] == "ray"
    for group in doc["spec"]["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    broken = json.loads(json.dumps(doc))
    broken["spec"]["workerGroupSpecs"][0]["replica"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, RAYCLUSTER_V1_SUBSET)


def test_hubs_and_ray_nodes_run_one_ray_version_within_the_pyproject_range() -> None:
    import tomllib

    ray_version = dockerfile_ray_version()
    assert raycluster()["spec"]["rayVersion"] == ray_version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (ray_pin,) = [Requirement(r) for r in project["dependencies"] if Requirement(r).name == "ray"]
    assert Version(ray_version) in ray_pin.specifier, (ray_version, str(ray_pin))
    # The base image's Python satisfies requires-python (and is the one Ray nodes run too).
    base = next(a for k, a in dockerfile_instructions() if k == "ARG" and a.startswith("PYTHON"))
    python = re.search(r"python:(\d+\.\d+)", base)
    assert python, base
    assert Version(python.group(1) + ".0") in SpecifierSet(project["requires-python"])
    # Same image everywhere: every pod of the Ray cluster and the hubs.
    images = {
        c["image"]
        for _, doc in k8s_docs()
        if doc["metadata"]["name"] in ("seva-hub", "seva-migrate", "seva-ray")
        for template in pod_templates(doc)
        for c in template["spec"]["containers"]
    }
    assert images == {"registry.example.in/seva-hub:0.1.0"}


def test_hubs_reach_the_kuberay_head_service_of_the_raycluster() -> None:
    config = next(d for _, d in k8s_docs() if d["kind"] == "ConfigMap")
    host, _, port = config["data"]["RAY_ADDRESS"].partition(":")
    assert host.split(".")[0] == f"{raycluster()['metadata']['name']}-head-svc"
    assert port == "6379"


# --- Compose -------------------------------------------------------------------------------


def compose_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / "compose-spec.json").read_text())
    return schema


def test_compose_file_follows_the_compose_specification_schema() -> None:
    spec = compose()
    validator = jsonschema.Draft201909Validator(compose_schema())
    errors = sorted(validator.iter_errors(spec), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    broken = json.loads(json.dumps(spec))
    broken["services"]["hub-a"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["hub-b"]["helthcheck"] = {}
    assert len(list(validator.iter_errors(broken))) >= 2


def test_compose_runs_every_required_service_wired_by_health() -> None:
    spec = compose()
    services = spec["services"]
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    ray_head = services["ray-head"]
    assert ray_head["entrypoint"] == ["ray"]
    assert ray_head["command"][:3] == ["start", "--head", "--block"]
    assert "--port=6379" in ray_head["command"]
    assert services["migrate"]["command"] == ["migrate"]
    hubs = hub_services(spec)
    assert set(hubs) == {"hub-a", "hub-b"}
    for name, hub in hubs.items():
        conditions = {dep: v["condition"] for dep, v in hub["depends_on"].items()}
        assert conditions == {
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "ray-head": "service_healthy",
            "migrate": "service_completed_successfully",
        }, name
        assert "/readyz" in " ".join(hub["healthcheck"]["test"])
        env = hub["environment"]
        for required in ("DATABASE_URL", "REDIS_URL", "RAY_ADDRESS", "SEVA_SECRET_KEY"):
            assert env.get(required), (name, required)
        assert env["RAY_ADDRESS"] == "ray-head:6379"
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert "@postgres:5432/" in env["DATABASE_URL"]
    # Placement is a hash modulo the shard counts, tokens must verify everywhere.
    first, second = (hub["environment"] for hub in hubs.values())
    for shared in ("SEVA_SHARDS", "SEVA_WALLET_SHARDS", "SEVA_JWT_SECRET", "SEVA_SECRET_KEY"):
        assert first[shared] == second[shared], shared
    assert {"hub-a", "hub-b"} <= set(services["nginx"]["depends_on"])
    for name, gateway in (("razorpay-emulator", "razorpay"), ("cashfree-emulator", "cashfree")):
        emulator = services[name]
        assert emulator["profiles"] == ["sandbox"]
        assert emulator["command"][:2] == ["emulate", gateway]
    for service in services.values():
        if "sandbox" not in service.get("profiles", []):
            assert "emulate" not in service.get("command", []), "emulators only in the sandbox"


def test_compose_commands_are_real_seva_subcommands() -> None:
    spec = compose()
    for name, service in seva_services(spec).items():
        if "entrypoint" in service:
            continue
        assert isinstance(service["command"], list), name
        assert_seva_command(service["command"])
    # The sandbox seeding one-shot: `seva demo-seed`, then the script with arguments it takes.
    seed = spec["services"]["sandbox-seed"]["command"][0]
    first, _, second = seed.partition("&&")
    assert_seva_command(shlex.split(first)[1:])
    script_argv = shlex.split(second)
    assert script_argv[:2] == ["python", "/opt/seva-deploy/sandbox_seed.py"]
    sandbox_seed = load_sandbox_seed()
    gateways = [script_argv[i + 1] for i, a in enumerate(script_argv) if a == "--gateway"]
    parsed = [sandbox_seed.parse_gateway(g) for g in gateways]
    assert {name for name, _, _ in parsed} == {"razorpay", "cashfree"}
    for _, hub_side, control in parsed:
        # What the hubs store must pass the loopback-only rule for plain http.
        from protocols.gateway_config import check_base_url

        check_base_url(hub_side)
        assert "emulator" in control


def test_python_snippets_in_healthchecks_compile() -> None:
    snippets = []
    for service in compose()["services"].values():
        test = service.get("healthcheck", {}).get("test", [])
        if test[:3] == ["CMD", "python", "-c"]:
            snippets.append(test[3])
    for keyword, args in dockerfile_instructions():
        if keyword == "HEALTHCHECK":
            command = exec_form(args[args.index("CMD") + 3 :].strip())
            assert command[:2] == ["python", "-c"]
            assert "/healthz" in command[2]
            snippets.append(command[2])
    assert len(snippets) >= 4
    for snippet in snippets:
        compile(snippet, "<healthcheck>", "exec")


# --- nginx ---------------------------------------------------------------------------------


def test_nginx_upgrades_websockets_to_both_hubs_with_timeouts_beyond_the_heartbeat() -> None:
    conf = (DEPLOY / "nginx" / "nginx.conf").read_text()
    directives = [
        line.split("#", 1)[0].strip().rstrip(";")
        for line in conf.splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert "proxy_http_version 1.1" in directives
    assert "proxy_set_header Upgrade $http_upgrade" in directives
    assert "proxy_set_header Connection $connection_upgrade" in directives
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{\s*default upgrade;", conf)
    upstream = re.search(r"upstream (\w+) \{(.*?)\}", conf, re.S)
    assert upstream
    assert f"proxy_pass http://{upstream.group(1)}" in directives
    servers = set(re.findall(r"^\s*server ([\w.-]+:\d+)", upstream.group(2), re.M))
    hubs = hub_services(compose())
    assert servers == {f"{name}:{hub['environment']['SEVA_PORT']}" for name, hub in hubs.items()}
    assert "ip_hash" in directives
    settings = Settings(
        socket_ping_interval_secs=float(
            next(iter(hubs.values()))["environment"]["SEVA_SOCKET_PING_INTERVAL_SECS"]
        )
    )
    heartbeat = settings.socket_ping_interval_secs + settings.socket_ping_timeout_secs
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        (value,) = re.findall(rf"{name} (\d+)s", conf)
        assert int(value) > heartbeat, name
    listen = re.search(r"listen (\d+)", conf)
    assert listen
    assert services_port(compose()["services"]["nginx"]) == listen.group(1)


def services_port(service: dict[str, Any]) -> str:
    (mapping,) = service["ports"]
    return str(mapping).rsplit(":", 1)[1]


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_is_multistage_slim_unprivileged_and_runs_seva_serve() -> None:
    instructions = dockerfile_instructions()
    keywords = [k for k, _ in instructions]
    assert set(keywords) <= {
        "ARG", "FROM", "RUN", "COPY", "ENV", "WORKDIR", "USER", "EXPOSE", "HEALTHCHECK",
        "ENTRYPOINT", "CMD", "LABEL",
    }  # fmt: skip
    froms = [a for k, a in instructions if k == "FROM"]
    assert len(froms) >= 2 and all(" AS " in f for f in froms), froms
    assert any(a == "PYTHON_IMAGE=python:3.11-slim-bookworm" for k, a in instructions if k == "ARG")
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    # The runtime stage installs from the build stage's wheel, runs as a non-root user.
    assert any(k == "COPY" and a.startswith("--from=build ") for k, a in instructions)
    assert any(k == "RUN" and "pip wheel" in a for k, a in instructions)
    # The web board's vendored socket.io-client is fetched before the wheel packages hub/web.
    runs = [a for k, a in instructions if k == "RUN"]
    vendor = next(i for i, a in enumerate(runs) if "deploy/scripts/vendor_board.py" in a)
    assert vendor < next(i for i, a in enumerate(runs) if "pip wheel" in a)
    users = [a for k, a in instructions if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "FROM")
    # Every COPY source exists in the build context (the repository root) and is not ignored.
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for keyword, args in instructions:
        if keyword != "COPY" or "--from=" in args:
            continue
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source not in ignored and source.split("/")[0] not in ignored, source
    entrypoint = exec_form(next(a for k, a in instructions if k == "ENTRYPOINT"))
    cmd = exec_form(next(a for k, a in instructions if k == "CMD"))
    assert entrypoint == ["seva-entrypoint"]
    assert_seva_command(cmd)
    assert cmd == ["serve"]
    script = (DEPLOY / "docker" / "entrypoint.sh").read_text()
    assert script.rstrip().splitlines()[-1] == 'exec seva "$@"'
    assert "--num-cpus=0" in script


def test_dockerignore_keeps_local_data_and_secrets_out_of_the_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".git", ".venv", ".seva", "deploy/.env", "tests"):
        assert entry in ignored, entry


# --- settings ------------------------------------------------------------------------------


def deploy_env(spec: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Environment variables given to Seva processes, per place they are set."""
    places: dict[str, dict[str, str]] = {}
    for name, service in seva_services(spec).items():
        places[f"compose:{name}"] = {k: str(v) for k, v in service.get("environment", {}).items()}
    for path, doc in k8s_docs():
        where = f"k8s:{path.name}:{doc['kind']}"
        if doc["kind"] == "ConfigMap":
            places[where] = dict(doc["data"])
        elif doc["kind"] == "Secret":
            places[where] = dict(doc["stringData"])
        for template in pod_templates(doc):
            for container in template["spec"]["containers"]:
                env = {e["name"]: e.get("value", "<from-ref>") for e in container.get("env", [])}
                places[f"{where}:{container['name']}"] = env
    return places


def test_every_environment_name_in_the_deploy_files_is_a_hub_setting() -> None:
    known = setting_env_names()
    assert {"DATABASE_URL", "REDIS_URL", "RAY_ADDRESS", "SEVA_SECRET_KEY", "SEVA_SHARDS"} <= known
    for where, env in deploy_env(compose()).items():
        for name in env:
            assert name in known or name in NOT_SETTINGS, f"{where}: {name} is not a setting"
    for name in env_example_values():
        assert name in known or name in NOT_SETTINGS, f"env.example: {name}"


def test_hub_environments_in_compose_and_kubernetes_are_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The values parse: what a hub started with them would read (secrets are placeholders)."""
    spec = compose()
    config = next(d for _, d in k8s_docs() if d["kind"] == "ConfigMap")["data"]
    secret = next(d for _, d in k8s_docs() if d["kind"] == "Secret")["stringData"]
    environments = {name: hub["environment"] for name, hub in hub_services(spec).items()}
    environments["k8s"] = {**config, **secret, "SEVA_HOST": "0.0.0.0"}
    for where, env in environments.items():
        for name in setting_env_names():
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        settings = Settings()
        assert settings.database_url is not None, where
        assert settings.redis_url is not None, where
        assert settings.ray_address, where
        assert settings.host == "0.0.0.0", where
        assert settings.shards == int(env["SEVA_SHARDS"]), where
