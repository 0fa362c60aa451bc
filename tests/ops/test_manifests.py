"""The Kubernetes manifests, rendered by kustomize and validated against the schemas offline,
hold the hardening the threat model relies on; the Dockerfile keeps its invariants."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.32"  # the oldest version the manifests must work on


@cache
def rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render k8s/ (apt-get install kubectl or "
                    "kubernetes-client); .ci/run checks for it")
    out = subprocess.run([kubectl, "kustomize", str(ROOT / "k8s")], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in rendered() if d["kind"] == kind}


def test_every_object_validates_against_the_kubernetes_schemas() -> None:
    for doc in rendered():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_everything_lives_in_petrosa_apps() -> None:
    assert "petrosa-apps" in of_kind("Namespace")
    for doc in rendered():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "petrosa-apps", doc["metadata"]["name"]


def test_the_five_processes_with_their_replica_rules() -> None:
    deployments = of_kind("Deployment")
    assert set(deployments) == {"cio-web", "cio-nurse", "cio-celery-worker", "cio-celery-beat",
                                "cio-audit-sink"}
    assert deployments["cio-nurse"]["spec"]["replicas"] >= 2
    beat = deployments["cio-celery-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"]["type"] == "Recreate"
    assert "daphne" in deployments["cio-web"]["spec"]["template"]["spec"]["containers"][0][
        "command"]
    pdbs = {p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: p["spec"]
            for p in of_kind("PodDisruptionBudget").values()}
    assert pdbs["cio-nurse"]["minAvailable"] >= 1
    assert "cio-celery-beat" not in pdbs  # never blocks a drain; Recreate keeps it single
    # Every Nurse env lands in the same queue group (from the ConfigMap).
    assert of_kind("ConfigMap")["cio-config"]["data"]["NURSE_QUEUE_GROUP"] == "cio-nurse"


@pytest.mark.parametrize("name", ["cio-web", "cio-nurse", "cio-celery-worker",
                                  "cio-celery-beat", "cio-audit-sink"])
def test_pods_are_hardened_probed_and_bounded(name: str) -> None:
    pod = of_kind("Deployment")[name]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 1000
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    assert "livenessProbe" in container and "readinessProbe" in container
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]  # the only writable path


def test_web_probes_hit_the_health_endpoints_and_nurse_has_its_ops_port() -> None:
    web = of_kind("Deployment")["cio-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    assert web["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready"
    nurse = of_kind("Deployment")["cio-nurse"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in nurse["env"]}
    port = int(env["CIO_NURSE_OPS_PORT"])
    assert nurse["ports"][0]["containerPort"] == port
    assert nurse["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert nurse["readinessProbe"]["httpGet"]["path"] == "/readyz"


_SECRETISH = re.compile(r"(?i)(secret|password|token|api_key|_key$|database_url|redis_url|"
                        r"nats_url|webhook_url)")


def test_secrets_are_referenced_never_inlined() -> None:
    assert not of_kind("Secret"), "Secrets are created out of band, never rendered from git"
    for name, deployment in of_kind("Deployment").items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        for var in container.get("env", []):
            if _SECRETISH.search(var["name"]) and not var["name"].endswith("_FILE"):
                assert "valueFrom" in var and "secretKeyRef" in var["valueFrom"], (name, var)
            if var["name"].endswith("_FILE"):
                assert var["value"].startswith("/run/secrets/cio/"), (name, var)
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        secret = next(v["secret"] for v in volumes if "secret" in v)
        assert secret["secretName"] == "petrosa-cio-secrets"
        assert secret["defaultMode"] in (0o400, 0o440)
    for key, value in of_kind("ConfigMap")["cio-config"]["data"].items():
        assert not _SECRETISH.search(key) or value in ("", "true", "false"), key


def test_only_the_worker_holds_provider_keys() -> None:
    for name, deployment in of_kind("Deployment").items():
        env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        provider = {"STRATEGIST_LLM_API_KEY_FILE", "EMAIL_HOST_PASSWORD_FILE",
                    "GRAFANA_API_TOKEN_FILE", "ALERT_WEBHOOK_URL_FILE"} & env
        assert not provider or name == "cio-celery-worker", (name, provider)


def test_network_policy_denies_by_default_and_opens_only_named_doors() -> None:
    policies = of_kind("NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    nurse = policies["cio-nurse-ingress"]["spec"]
    assert [p["port"] for rule in nurse["ingress"] for p in rule["ports"]] == [9102]
    external = policies["allow-external-providers"]["spec"]
    selected = external["podSelector"]["matchExpressions"][0]["values"]
    assert "cio-nurse" not in selected
    blocked = external["egress"][0]["to"][0]["ipBlock"]["except"]
    assert "169.254.169.254/32" in blocked


def test_the_out_of_band_watcher_is_not_in_the_cluster() -> None:
    assert not of_kind("CronJob") and not of_kind("Job")
    text = "\n".join(p.read_text() for p in (ROOT / "k8s").rglob("*.yaml"))
    assert "heartbeat_watch" not in text and "nuclear_option" not in text


def test_dockerfile_invariants() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.M)
    assert len(stages) >= 2, "multi-stage"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert re.findall(r"^USER\s+(\S+)", text, re.M)[-1] == "1000:1000"
    assert "--require-hashes" in text and "requirements.lock" in text
    assert "collectstatic" in text and "compileall" in text  # nothing written at run time
    runtime = text.split("AS runtime", 1)[1]
    assert "build-essential" not in runtime and "uv" not in runtime.split("COPY")[0]
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "tests", "**/.env", "var"):
        assert entry in ignored, entry
