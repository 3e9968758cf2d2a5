"""deploy/ checked offline (issue 14): the compose file against the compose-spec JSON schema,
the Kubernetes manifests against Kubernetes' own schemas, the Helm values parse; and every
search attribute the code uses is registered by the compose namespace job, the k8s namespace
job, the production docs and the dev stack alike, with the type the code writes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cli.dev import temporal_command
from infra.settings import Settings
from tests.support import ROOT
from workflows import search_attributes as sa

COMPOSE = ROOT / "deploy/compose/compose.yaml"
COMPOSE_JOB = ROOT / "deploy/compose/scripts/setup-namespace.sh"
K8S = ROOT / "deploy/k8s/confide"
K8S_JOB = K8S / "namespace-setup-job.yaml"
CODE = ["workflows", "intake", "cli", "infra", "audit", "activities", "domain"]
PAIR = re.compile(r"--name[ =]+(Confide\w+)\s+--type[ =]+(\w+)")


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _registered(text: str) -> dict[str, str]:
    return dict(PAIR.findall(text))


def _expected() -> dict[str, str]:
    return {key.name: type_name for key, type_name in sa.TYPE_NAMES.items()}


def test_every_search_attribute_the_code_names_is_in_the_one_list():
    named = set()
    for folder in CODE:
        for path in (ROOT / folder).rglob("*.py"):
            named |= set(re.findall(r"\bConfide(?:[A-Z][a-z]+)+\b", path.read_text()))
    named |= set(re.findall(r"\bConfide(?:[A-Z][a-z]+)+\b", (ROOT / "worker.py").read_text()))
    assert named and named <= set(_expected()), named - set(_expected())
    assert set(_expected()) == {key.name for key in sa.ALL}


@pytest.mark.parametrize(
    "where",
    ["compose namespace job", "k8s namespace job", "production docs", "dev stack"],
)
def test_every_search_attribute_is_registered_with_its_type(where):
    if where == "compose namespace job":
        registered = _registered(COMPOSE_JOB.read_text())
    elif where == "k8s namespace job":
        registered = _registered(K8S_JOB.read_text())
    elif where == "production docs":
        registered = _registered((ROOT / "deploy/production/README.md").read_text())
    else:
        cmd = temporal_command(Settings.from_env())
        registered = dict(
            cmd[i + 1].split("=", 1) for i, arg in enumerate(cmd) if arg == "--search-attribute"
        )
    assert registered == _expected()


def test_the_compose_file_follows_the_compose_spec():
    out = subprocess.run(
        [_bin("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_compose_file_keeps_its_secrets_out_of_the_repository():
    compose = yaml.safe_load(COMPOSE.read_text())
    secrets = compose.get("secrets") or {}
    assert secrets, "the compose file names its secrets"
    for name, spec in secrets.items():
        # A file the operator creates (git-ignored) or the environment: never a value here.
        assert set(spec) <= {"file", "environment", "external", "name"}, name
        if "file" in spec:
            assert spec["file"].startswith("./secrets/"), (name, spec)
    ignored = (ROOT / "deploy/compose/secrets/.gitignore").read_text().split()
    assert "*" in ignored
    services = compose["services"]
    workers = [s for name, s in services.items() if "worker" in name]
    replicas = sum((s.get("deploy") or {}).get("replicas", 1) for s in workers)
    assert replicas >= 2, "two or more workers"


def test_the_kubernetes_manifests_build_and_follow_kubernetes_schemas(tmp_path):
    kubectl = shutil.which("kubectl")
    if kubectl:
        built = subprocess.run(
            [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, check=False
        )
        assert built.returncode == 0, built.stderr
        documents = built.stdout
    else:
        # Without kubectl, the base's resources as listed (no patches are used in it).
        listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
        documents = "\n---\n".join((K8S / name).read_text() for name in listed)
    manifest = tmp_path / "all.yaml"
    manifest.write_text(documents)
    out = subprocess.run(
        [_bin("kubernetes-validate"), "--strict", str(manifest)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(documents) if d}
    assert {"Deployment", "PodDisruptionBudget", "Job"} <= kinds


def test_the_temporal_helm_values_parse():
    values = yaml.safe_load((ROOT / "deploy/k8s/temporal-values.yaml").read_text())
    # The 1.x chart keeps it under persistence (its UPGRADING.md).
    assert values["server"]["config"]["persistence"]["numHistoryShards"] > 0
