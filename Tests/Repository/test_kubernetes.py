"""deploy/kubernetes and deploy/inference-gateway: every manifest validates with
`kubernetes-validate --strict` against Kubernetes 1.31 (the kustomizations' resources and the
ConfigMaps their generators make), and the manifests agree with each other and with Kiln: probes,
drain timing against shutdown_grace_period, security, the model cache the init container fills,
the metric the autoscaler and the endpoint picker read."""
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
GATEWAY = ROOT / "deploy" / "inference-gateway"
VERSION = "1.31.0"
# Kinds that Kubernetes itself does not define (custom resources), and so have no schema to
# validate against: kubernetes-validate reports them as warnings.
CUSTOM_KINDS = {"ServiceMonitor", "InferencePool", "Kustomization"}


def documents(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kustomization(folder):
    return yaml.safe_load((folder / "kustomization.yaml").read_text())


def rendered(folder):
    """The kustomization's objects: its resources, and the ConfigMaps its generator makes."""
    spec = kustomization(folder)
    objects = [d for name in spec["resources"] for d in documents(folder / name)]
    for generator in spec.get("configMapGenerator", []):
        data = {pathlib.Path(f).name: (folder / f).read_text() for f in generator["files"]}
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data})
    for obj in objects:
        if obj["kind"] != "Namespace" and "namespace" in spec:
            obj["metadata"]["namespace"] = spec["namespace"]
    return objects


def validate(paths):
    command = [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", VERSION, *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True)


def problems_of(result):
    """kubernetes-validate's errors, and its warnings other than a custom kind's missing schema."""
    lines = (result.stdout + result.stderr).splitlines()
    problems = [l for l in lines if l.startswith("ERROR")]
    for line in lines:
        if line.startswith("WARN"):
            kind = re.search(r"schema for kind (\S+)", line)
            if not kind or kind.group(1) not in CUSTOM_KINDS:
                problems.append(line)
    return problems


def by_kind(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)} found"
    return found[0]


@pytest.fixture(scope="module")
def objects():
    return rendered(KUBERNETES)


def test_every_file_of_the_kustomizations_exists():
    for folder in (KUBERNETES, GATEWAY):
        spec = kustomization(folder)
        for name in spec["resources"] + [f for g in spec.get("configMapGenerator", []) for f in g["files"]]:
            assert (folder / name).is_file(), f"{folder.name}/{name}"


def test_the_config_map_is_kilns_configuration():
    assert (KUBERNETES / "kiln.toml").read_text() == (ROOT / "Config" / "kiln.toml").read_text(), (
        "deploy/kubernetes/kiln.toml must stay a copy of Config/kiln.toml")


def test_the_manifests_validate_strictly_for_kubernetes_1_31(tmp_path):
    files = []
    for folder in (KUBERNETES, GATEWAY):
        for number, obj in enumerate(rendered(folder)):
            path = tmp_path / f"{folder.name}-{number}-{obj['kind']}.yaml"
            path.write_text(yaml.safe_dump(obj))
            files.append(path)
    files.append(KUBERNETES / "prometheus-adapter-rules.yaml")
    result = validate(files)
    print(result.stdout, result.stderr)
    assert result.returncode == 0 and problems_of(result) == []
    passed = re.findall(r"passed for resource (\S+)", result.stdout + result.stderr)
    assert len(passed) == len(files) - sum(1 for p in files if p.name.endswith(("ServiceMonitor.yaml", "InferencePool.yaml")))


def test_the_validator_refuses_an_unknown_field(tmp_path):
    """The same call, on a Deployment with a misspelt field, fails: --strict is in force."""
    deployment = by_kind(rendered(KUBERNETES), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(deployment))
    result = validate([path])
    assert result.returncode != 0 and "readinessprobe" in result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_renders_what_validates(tmp_path):
    for folder in (KUBERNETES, GATEWAY):
        output = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True).stdout
        path = tmp_path / f"{folder.name}.yaml"
        path.write_text(output)
        result = validate([path])
        assert result.returncode == 0 and problems_of(result) == [], result.stdout + result.stderr


def kiln_container(deployment):
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "kiln")


def test_the_deployment_runs_kiln_safely(objects):
    deployment = by_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    for container in pod["containers"] + pod["initContainers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, container["name"]
        assert security["allowPrivilegeEscalation"] is False, container["name"]
        assert security["capabilities"]["drop"] == ["ALL"], container["name"]
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], container["name"]
    kiln = kiln_container(deployment)
    assert kiln["startupProbe"]["httpGet"]["path"] == "/health"
    assert kiln["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert kiln["livenessProbe"]["httpGet"]["path"] == "/health"
    startup = kiln["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, "room for a model load"


def test_draining_fits_the_grace_period(objects):
    """preStop outlasts a readiness period (the pod leaves the endpoints before SIGTERM), and the
    termination grace covers preStop plus Kiln's own shutdown_grace_period."""
    deployment = by_kind(objects, "Deployment")
    settings = tomllib.loads(by_kind(objects, "ConfigMap", "kiln-config")["data"]["kiln.toml"])
    grace = settings["timeouts"]["shutdown_grace_period"]
    kiln = kiln_container(deployment)
    pre_stop = kiln["lifecycle"]["preStop"]["sleep"]["seconds"]
    readiness = kiln["readinessProbe"]
    assert pre_stop >= readiness["periodSeconds"] * readiness["failureThreshold"]
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > pre_stop + grace


def test_the_model_cache_is_filled_by_the_checksum_verified_fetch(objects):
    deployment = by_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    fetch = pod["initContainers"][0]
    cache = fetch["args"][fetch["args"].index("--cache") + 1]
    names = [a for a in fetch["args"] if not a.startswith("-") and a != cache]
    pinned = json.loads((ROOT / "Scripts" / "models.json").read_text())["models"]
    assert names and all(n in pinned for n in names)
    kiln = kiln_container(deployment)
    env = {e["name"]: e for e in kiln["env"]}
    assert env["KILN_MODEL_CACHE"]["value"] == cache
    mounts = lambda c: {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volume = next(name for name, path in mounts(fetch).items() if path == cache)
    assert mounts(kiln)[volume] == cache
    # The init container's image is the Dockerfile's stage that runs Scripts/fetch-model.py.
    assert fetch["image"].startswith("kiln-models")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM \S+ AS models$", dockerfile, re.M)
    # Secrets: the API keys and the TLS pair.
    assert env["KILN_API_KEYS"]["valueFrom"]["secretKeyRef"]["name"] == "kiln-api-keys"
    tls = next(v for v in pod["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == "kiln-tls"
    assert env["KILN_TLS_CERT"]["value"].startswith(mounts(kiln)["tls"])


def test_the_service_budget_and_monitor_select_the_pods(objects):
    labels = by_kind(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    matches = lambda selector: all(labels.get(k) == v for k, v in selector.items())
    service = by_kind(objects, "Service")
    assert matches(service["spec"]["selector"])
    assert matches(by_kind(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    monitor = by_kind(objects, "ServiceMonitor")
    assert all(service["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])


def test_the_autoscaler_reads_kilns_waiting_requests_through_the_adapter(objects):
    hpa = by_kind(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == by_kind(objects, "Deployment")["metadata"]["name"]
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    name = metric["pods"]["metric"]["name"]
    assert name == "kiln_requests_waiting"
    adapter = yaml.safe_load(documents(KUBERNETES / "prometheus-adapter-rules.yaml")[0]["data"]["config.yaml"])
    rule = next(r for r in adapter["rules"] if r["name"]["as"] == name)
    assert rule["seriesQuery"].startswith(name + "{")
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
    # Kiln exports it (with its per-model label).
    exporter = (ROOT / "Sources/KilnAPI/Ops/SchedulerMetricsExporter.swift").read_text()
    assert '"requests_waiting"' in exporter


def test_the_endpoint_picker_reads_kilns_metrics_of_the_pool():
    objects = rendered(GATEWAY)
    pool = by_kind(objects, "InferencePool")
    deployment = by_kind(rendered(KUBERNETES), "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels.get(k) == v for k, v in pool["spec"]["selector"]["matchLabels"].items())
    assert pool["spec"]["targetPorts"][0]["number"] == kiln_container(deployment)["ports"][0]["containerPort"]
    picker = by_kind(objects, "Deployment", "kiln-epp")
    args = dict(a[2:].split("=", 1) for a in picker["spec"]["template"]["spec"]["containers"][0]["args"])
    assert args["pool-name"] == pool["metadata"]["name"]
    assert args["total-queued-requests-metric"] == "kiln_requests_waiting"
    assert args["total-running-requests-metric"] == "kiln_requests_running"
    assert args["kv-cache-usage-percentage-metric"] == "kiln_kv_cache_usage_ratio"
    assert args["lora-info-metric"] == "" and args["cache-info-metric"] == ""
    config = yaml.safe_load((GATEWAY / "endpoint-picker-config.yaml").read_text())
    assert args["config-file"] == "/config/endpoint-picker-config.yaml"
    plugins = {p["type"] for p in config["plugins"]}
    assert {"queue-scorer", "kv-cache-utilization-scorer"} <= plugins
    assert {r["pluginRef"] for r in config["schedulingProfiles"][0]["plugins"]} <= plugins
