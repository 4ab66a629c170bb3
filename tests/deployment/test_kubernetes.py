"""The Kubernetes manifests: their contract with the image and the app, and valid for 1.30."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from churnguard.config import ENV_PREFIX, ChurnguardConfig, load_config, load_logging_config

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBE_DIR = REPO_ROOT / "deployment" / "kubernetes"
DOCKERFILE = REPO_ROOT / "deployment" / "Dockerfile"
KUSTOMIZATION = "kustomization.yaml"
#: A template with placeholders; real Secrets are created with kubectl, never committed.
PLACEHOLDER_MANIFEST = "secret.example.yaml"
KUBERNETES_VERSION = "1.30.0"
#: Peak RSS (VmHWM) of `churnguard serve` over 10,000-record batches, measured for the guide.
PEAK_RSS_BYTES = 427_516 * 1024
#: Settings in the ConfigMap that are not churnguard's own: MLflow's HTTP client.
FOREIGN_PREFIXES = ("MLFLOW_",)
_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}


def _manifest_files() -> list[Path]:
    return sorted(path for path in KUBE_DIR.glob("*.yaml") if path.name != KUSTOMIZATION)


def _load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _objects() -> list[dict[str, Any]]:
    return [doc for path in _manifest_files() for doc in _load(path)]


def _one(kind: str) -> dict[str, Any]:
    found = [doc for doc in _objects() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in {KUBE_DIR}, found {len(found)}"
    return found[0]


def _pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = _one("Deployment")["spec"]["template"]["spec"]
    return spec


def _api_container() -> dict[str, Any]:
    containers = _pod_spec()["containers"]
    assert len(containers) == 1, "the API pod runs one container"
    container: dict[str, Any] = containers[0]
    return container


def _config_data() -> dict[str, str]:
    data: dict[str, str] = _one("ConfigMap")["data"]
    return data


def _secret_template() -> dict[str, Any]:
    docs = _load(KUBE_DIR / PLACEHOLDER_MANIFEST)
    assert len(docs) == 1
    assert docs[0]["kind"] == "Secret"
    return docs[0]


def _quantity(value: str | int | float) -> float:
    """A Kubernetes quantity as a number: bytes for memory, cores for CPU."""
    text = str(value)
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    for suffix, factor in _SUFFIXES.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _effective_security(field: str) -> Any:
    """A securityContext field as the container gets it (its own value, else the pod's)."""
    container = _api_container().get("securityContext", {})
    return container.get(field, _pod_spec().get("securityContext", {}).get(field))


def _port_number(port: str | int) -> int:
    if isinstance(port, int):
        return port
    numbers = {p["name"]: p["containerPort"] for p in _api_container()["ports"]}
    assert port in numbers, f"port {port!r} names no container port ({sorted(numbers)})"
    return int(numbers[port])


def _writable_mounts() -> dict[str, dict[str, Any]]:
    """Mount path -> volume, for the mounts the container can write to."""
    volumes = {volume["name"]: volume for volume in _pod_spec()["volumes"]}
    return {
        mount["mountPath"]: volumes[mount["name"]]
        for mount in _api_container()["volumeMounts"]
        if not mount.get("readOnly", False)
    }


def _image_user() -> int:
    match = re.search(r"^USER\s+(\d+)", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, "deployment/Dockerfile has no numeric USER"
    return int(match.group(1))


def _image_port() -> int:
    match = re.search(r"^EXPOSE\s+(\d+)", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, "deployment/Dockerfile has no EXPOSE"
    return int(match.group(1))


def _secret_findings(text: str) -> list[str]:
    """Strings in ``text`` that look like real credentials."""
    findings = re.findall(r"[a-z][a-z0-9+.-]*://[^\s/:@]+:[^\s/@]+@", text)  # URL user:password@
    findings += re.findall(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)
    findings += re.findall(r"\b(?:AKIA|ghp_|github_pat_|xox[bp]-|sk-)[A-Za-z0-9_]{12,}", text)
    # Long tokens mixing digits and both cases (base64, hex keys); paths and words have none.
    findings += [
        token
        for token in re.findall(r"[A-Za-z0-9+/]{32,}={0,2}", text)
        if re.search(r"\d", token) and re.search(r"[a-z]", token) and re.search(r"[A-Z]", token)
    ]
    return findings


@pytest.mark.unit
def test_every_manifest_is_a_named_kubernetes_object_with_the_app_labels() -> None:
    files = _manifest_files()
    assert {path.name for path in files} >= {
        "deployment.yaml",
        "service.yaml",
        "hpa.yaml",
        "configmap.yaml",
        PLACEHOLDER_MANIFEST,
    }
    for path in files:
        docs = _load(path)
        assert docs, f"{path.name} is empty"
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= set(doc), path.name
            assert doc["metadata"]["name"].startswith("churnguard"), path.name
            assert "namespace" not in doc["metadata"], f"{path.name}: kustomization sets it"
            assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "churnguard", path.name


@pytest.mark.unit
def test_probes_check_health_and_readiness_on_the_container_port() -> None:
    container = _api_container()
    port = _image_port()
    expected = {"startupProbe": "/health", "livenessProbe": "/health", "readinessProbe": "/ready"}
    for probe_name, path in expected.items():
        probe = container[probe_name]["httpGet"]
        assert probe["path"] == path, probe_name
        assert _port_number(probe["port"]) == port, probe_name
    startup = container["startupProbe"]
    # The model loads before /health answers: a registry download needs more than a minute.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
    assert container["readinessProbe"]["periodSeconds"] <= 10
    # A restart never brings a model back while the registry is down: liveness stays on /health.
    assert container["livenessProbe"]["httpGet"]["path"] != "/ready"


@pytest.mark.unit
def test_requests_and_limits_are_set_above_the_measured_memory() -> None:
    resources = _api_container()["resources"]
    for kind in ("cpu", "memory"):
        request = _quantity(resources["requests"][kind])
        limit = _quantity(resources["limits"][kind])
        assert 0 < request <= limit, kind
    assert _quantity(resources["requests"]["memory"]) >= PEAK_RSS_BYTES
    assert _quantity(resources["limits"]["memory"]) >= 2 * PEAK_RSS_BYTES
    # The spool's emptyDir counts against the pod's ephemeral storage.
    state = _writable_mounts()["/var/lib/churnguard"]
    if "emptyDir" in state:
        limit = _quantity(resources["limits"]["ephemeral-storage"])
        assert _quantity(state["emptyDir"]["sizeLimit"]) < limit


@pytest.mark.unit
def test_the_container_runs_as_the_images_user_without_privileges() -> None:
    assert _effective_security("runAsNonRoot") is True
    assert _effective_security("runAsUser") == _image_user() == 10001
    assert _effective_security("allowPrivilegeEscalation") is False
    assert _effective_security("privileged") in (None, False)
    assert _effective_security("capabilities")["drop"] == ["ALL"]
    assert "add" not in _effective_security("capabilities")
    assert _effective_security("seccompProfile") == {"type": "RuntimeDefault"}
    assert _pod_spec()["automountServiceAccountToken"] is False


@pytest.mark.unit
def test_root_filesystem_is_read_only_and_only_tmp_and_the_state_folder_are_writable() -> None:
    assert _effective_security("readOnlyRootFilesystem") is True
    writable = _writable_mounts()
    # Paths inside the pod: the model download and the prediction log's spool.
    assert set(writable) == {"/tmp", "/var/lib/churnguard"}  # noqa: S108
    for path, volume in writable.items():
        assert "emptyDir" in volume or "persistentVolumeClaim" in volume, path
    spool = Path(_config_data()["CHURNGUARD_MONITORING_SPOOL_DIR"])
    assert spool.is_relative_to("/var/lib/churnguard")


@pytest.mark.unit
def test_settings_come_from_the_configmap_and_churnguard_accepts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_map = _one("ConfigMap")
    env_from = _api_container()["envFrom"]
    assert {"configMapRef": {"name": config_map["metadata"]["name"]}} in env_from
    data = _config_data()
    for key, value in data.items():
        assert isinstance(value, str), f"{key}: ConfigMap values must be quoted strings"
        if key.startswith(FOREIGN_PREFIXES):
            continue
        assert key.startswith(ENV_PREFIX), key
        section = key.removeprefix(ENV_PREFIX).split("_", 1)[0].lower()
        # Unknown keys of a known section are errors, but an unknown section is ignored.
        assert section in set(ChurnguardConfig.model_fields) | {"log"}, key
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO_ROOT)  # the image's working directory holds configs/ the same way

    config = load_config()
    load_logging_config()

    assert config.serving.host == "0.0.0.0"  # noqa: S104 - the pod's port must be reachable
    assert config.serving.port == _image_port()
    assert config.serving.model_uri == data["CHURNGUARD_SERVING_MODEL_URI"]
    assert config.mlflow.tracking_uri.startswith("http")


@pytest.mark.unit
def test_store_url_has_no_password_and_libpq_gets_it_from_the_secret() -> None:
    url = make_url(_config_data()["CHURNGUARD_SERVING_STORE_URL"])
    assert url.drivername == "postgresql+psycopg"
    assert url.username
    assert url.password is None
    env = {item["name"]: item for item in _api_container()["env"]}
    reference = env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]
    secret = _secret_template()
    assert reference["name"] == secret["metadata"]["name"]
    assert reference["key"] in secret["stringData"]
    assert not reference.get("optional", False)


@pytest.mark.unit
def test_api_key_file_is_the_mounted_secret_item_readable_by_the_pod_group_only() -> None:
    secret = _secret_template()
    key_file = Path(_config_data()["CHURNGUARD_SERVING_API_KEY_FILE"])
    volumes = {volume["name"]: volume for volume in _pod_spec()["volumes"]}
    mount = next(
        m for m in _api_container()["volumeMounts"] if key_file.is_relative_to(m["mountPath"])
    )
    assert mount["readOnly"] is True
    source = volumes[mount["name"]]["secret"]
    assert source["secretName"] == secret["metadata"]["name"]
    item = next(i for i in source["items"] if Path(mount["mountPath"], i["path"]) == key_file)
    assert item["key"] in secret["stringData"]
    # Files of a Secret volume belong to root and the fsGroup: the user reads it as the group.
    mode = item.get("mode", source["defaultMode"])
    assert mode & 0o040
    assert not mode & 0o007
    assert _pod_spec()["securityContext"]["fsGroup"] == _image_user()


@pytest.mark.unit
def test_service_and_budget_select_the_pods_and_the_service_targets_the_named_port() -> None:
    deployment = _one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    service = _one("Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == selector
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"]) == ("http", 80)
    assert _port_number(port["targetPort"]) == _image_port()
    assert _one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == _image_port()
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.unit
def test_hpa_scales_the_deployment_on_cpu_and_scales_down_slowly() -> None:
    deployment = _one("Deployment")
    hpa = _one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert target["name"] == deployment["metadata"]["name"]
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 90
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60
    # Utilization is relative to the request; a fixed replica count would fight the HPA.
    assert "cpu" in _api_container()["resources"]["requests"]
    assert "replicas" not in deployment["spec"]


@pytest.mark.unit
def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((KUBE_DIR / KUSTOMIZATION).read_text(encoding="utf-8"))
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources))
    for resource in resources:
        assert (KUBE_DIR / resource).is_file(), f"{resource} is listed but does not exist"
    expected = {path.name for path in _manifest_files()} - {PLACEHOLDER_MANIFEST}
    assert set(resources) == expected
    assert kustomization["namespace"] == "churnguard"
    # Selectors are immutable: labels added by kustomize must stay out of them.
    assert "commonLabels" not in kustomization
    assert all(not group.get("includeSelectors", False) for group in kustomization["labels"])
    (image,) = kustomization["images"]
    assert image["name"] == _api_container()["image"]
    assert isinstance(image["newTag"], str)
    assert image["newTag"]


@pytest.mark.unit
def test_no_file_holds_a_real_looking_secret() -> None:
    # The detector itself finds what it must.
    assert _secret_findings("postgresql+psycopg://churnguard:hunter2@postgres:5432/churnguard")
    assert _secret_findings("api-key: Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpL")
    files = [*KUBE_DIR.iterdir(), REPO_ROOT / "docs" / "deployment_guide.md"]
    for path in files:
        assert not _secret_findings(path.read_text(encoding="utf-8")), path.name
    for doc in _objects():
        if doc["kind"] == "Secret":
            assert "data" not in doc, "a template shows placeholders in stringData, never base64"
            for key, value in doc["stringData"].items():
                assert value.startswith("change-me"), key
        if doc["kind"] == "ConfigMap":
            for key in doc["data"]:
                secretive = re.search(r"PASSWORD|SECRET|TOKEN|API_KEY(?!_FILE)", key)
                assert not secretive, f"{key} belongs in the Secret"


def _kubernetes_validate() -> str:
    """The kubernetes-validate command (the project's venv, else PATH); skip or fail without."""
    beside = Path(sys.executable).parent / "kubernetes-validate"
    found = str(beside) if beside.is_file() else shutil.which("kubernetes-validate")
    if found is None:
        reason = "kubernetes-validate is not installed (uv sync installs it, dev group)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must provide it")
        pytest.skip(reason)
    return found


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    command = [_kubernetes_validate(), "--strict", "-k", KUBERNETES_VERSION, str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.integration
@pytest.mark.parametrize("path", _manifest_files(), ids=lambda path: path.name)
def test_manifest_is_valid_for_kubernetes_1_30(path: Path) -> None:
    result = _validate(path)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("passed for resource") == len(_load(path)), output


@pytest.mark.integration
@pytest.mark.parametrize(
    ("change", "message"),
    [
        # A wrong type fails in any mode.
        (("  revisionHistoryLimit:", '  replicas: "two"\n  revisionHistoryLimit:'), "replicas"),
        # A misspelled field fails only in strict mode: this proves --strict is on.
        (("          readinessProbe:", "          readinesProbe:"), "readinesProbe"),
    ],
    ids=["replicas-as-text", "misspelled-field"],
)
def test_kubernetes_validate_rejects_a_broken_deployment(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = (KUBE_DIR / "deployment.yaml").read_text(encoding="utf-8")
    old, new = change
    assert text.count(old) == 1, f"the manifest changed: {old!r} is not there once"
    broken = tmp_path / "deployment.yaml"
    broken.write_text(text.replace(old, new), encoding="utf-8")

    result = _validate(broken)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in output, output


@pytest.mark.integration
def test_kustomize_renders_the_namespaced_objects_with_the_release_image(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot render the kustomization")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBE_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    kustomization = yaml.safe_load((KUBE_DIR / KUSTOMIZATION).read_text(encoding="utf-8"))

    kinds = sorted(doc["kind"] for doc in rendered)
    assert kinds == sorted(
        doc["kind"] for resource in kustomization["resources"] for doc in _load(KUBE_DIR / resource)
    )
    assert "Secret" not in kinds
    assert {doc["metadata"]["namespace"] for doc in rendered} == {"churnguard"}
    (deployment,) = (doc for doc in rendered if doc["kind"] == "Deployment")
    (image,) = kustomization["images"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{image.get('newName', image['name'])}:{image['newTag']}"
    assert deployment["spec"]["selector"] == _one("Deployment")["spec"]["selector"]
    output = tmp_path / "rendered.yaml"
    output.write_text(result.stdout, encoding="utf-8")
    validated = _validate(output)
    assert validated.returncode == 0, validated.stdout + validated.stderr
