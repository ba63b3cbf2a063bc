"""deploy/compose.yaml, deploy/kubernetes/initserve.yaml and deploy/nginx/Dockerfile, checked offline.

The schemas come inside test dependencies, nothing is downloaded: the Compose Specification's JSON schema
vendored by ``check-jsonschema`` (``check_jsonschema/builtin_schemas/vendor/compose-spec.json``, Apache-2.0,
its licence beside it), and the Kubernetes JSON schemas of ``kubernetes-validate`` (strict: an unknown
field is an error). Then what the schemas cannot say: the files agree with each other, with the nginx
configuration and with the service's settings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from service.settings import Settings
from tests.deploy.proxy import SITE, directive, seconds

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_VERSION = "1.33.0"  # the oldest Kubernetes still supported upstream when this was written


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "initserve.yaml").read_text()))
    return {document["kind"]: document for document in documents}


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert errors == [], [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]
    # the schema is really checked: a misspelt key is refused
    broken = {**compose, "services": {"x": {"image": "a", "stop_grace_perod": "1s"}}}
    assert not validator.is_valid(broken)


def test_compose_replicas_are_the_nginx_upstream(compose: dict[str, Any]) -> None:
    """Every upstream server of the nginx site is a replica service on port 8000, which nginx waits for,
    keeps idle connections to for less than the replica does, and stops later than it drains."""
    upstream = SITE.read_text().split("upstream initserve {", 1)[1].split("}", 1)[0]
    servers = [line.split()[1] for line in upstream.splitlines() if line.strip().startswith("server ")]
    services = compose["services"]
    nginx = services["nginx"]
    assert len(servers) >= 2
    for server in servers:
        name, port = server.split(":")
        replica = services[name]
        assert port == "8000" and "8000" in replica["expose"]
        assert nginx["depends_on"][name] == {"condition": "service_healthy"}
        environment = replica["environment"]
        assert float(environment["INITSERVE_KEEP_ALIVE_SECONDS"]) > seconds(directive("keepalive_timeout", upstream))
        grace = seconds(replica["stop_grace_period"].removesuffix("s"))
        assert grace > float(environment["INITSERVE_GRACEFUL_SHUTDOWN_SECONDS"])
        assert replica["read_only"] is True and "/tmp" in replica["tmpfs"]


@pytest.mark.parametrize("kind", ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"])
def test_kubernetes_manifest_follows_the_schema(manifests: dict[str, dict[str, Any]], kind: str) -> None:
    assert kubernetes_validate.validate(manifests[kind], KUBERNETES_VERSION, strict=True)


def test_kubernetes_schema_is_really_checked(manifests: dict[str, dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(manifests["Deployment"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kubernetes_deployment_probes_resources_and_shutdown(manifests: dict[str, dict[str, Any]]) -> None:
    """Readiness on /readyz, liveness on /healthz, requests and a memory limit above the generation
    budget, a grace period longer than the preStop pause plus the service's graceful shutdown."""
    deployment, service, autoscaler = (manifests[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler"))
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    limit = container["resources"]["limits"]["memory"]
    assert limit.endswith("Gi") and int(limit[:-2]) << 30 > Settings().generation_budget()
    env = _env(container)
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pause + float(env["INITSERVE_GRACEFUL_SHUTDOWN_SECONDS"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"])  # MPLCONFIGDIR, NUMBA_CACHE_DIR
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert autoscaler["spec"]["minReplicas"] >= 2


def test_nginx_image_is_linted() -> None:
    beside = Path(sys.executable).with_name("hadolint")
    binary = str(beside) if beside.is_file() else "hadolint"
    run = subprocess.run(
        [binary, "--no-color", "--format", "json", "Dockerfile"],
        cwd=DEPLOY / "nginx",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(run.stdout or "null") == [], run.stdout + run.stderr
    text = (DEPLOY / "nginx" / "Dockerfile").read_text()
    assert "COPY initserve.conf /etc/nginx/conf.d/initserve.conf" in text
    assert "sites-enabled/default" in text  # Debian's default site would take port 80 first
