"""infra/terraform checked without a cloud: every .tf parsed with python-hcl2, plus `terraform
validate` and `terraform test` (a mocked AWS provider) where terraform and a local provider
mirror are installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is not installed (pip install -e '.[test]')")

MODULE = Path(__file__).resolve().parents[2] / "infra/terraform"
TF_FILES = sorted(MODULE.glob("*.tf"))
VAR_REF = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")


def unquote(value: Any) -> Any:
    """python-hcl2 keeps quotes on string literals (v8) and wraps expressions in `${…}`."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if value.startswith("${") and value.endswith("}"):
            value = value[2:-1]
    return value


def blocks(doc: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, body) of every `kind "label" {…}` block."""
    for entry in doc.get(kind, []):
        for label, body in entry.items():
            yield unquote(label), body


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


@pytest.fixture(scope="module")
def docs() -> dict[str, dict[str, Any]]:
    assert TF_FILES, f"no .tf files in {MODULE}"
    return {p.name: hcl2.loads(p.read_text()) for p in TF_FILES}


def merged(docs: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {label: body for doc in docs.values() for label, body in blocks(doc, kind)}


def test_every_variable_has_a_description_and_a_type(docs: dict[str, dict[str, Any]]) -> None:
    variables = merged(docs, "variable")
    assert variables
    missing = {name: [k for k in ("description", "type") if not unquote(body.get(k, ""))]
               for name, body in variables.items()}
    assert {n: m for n, m in missing.items() if m} == {}


def test_every_referenced_variable_is_declared(docs: dict[str, dict[str, Any]]) -> None:
    declared = set(merged(docs, "variable"))
    used = {m for doc in docs.values() for s in strings(doc) for m in VAR_REF.findall(s)}
    assert used - declared == set()
    assert {"instance_count", "ssh_public_key", "allowed_ssh_cidrs", "gateway_port", "name_prefix", "labels"} <= used


def test_the_documented_variables_exist(docs: dict[str, dict[str, Any]]) -> None:
    variables = merged(docs, "variable")
    assert {"instance_count", "instance_type", "ami_id", "region", "ssh_public_key", "allowed_ssh_cidrs",
            "gateway_port", "name_prefix", "labels"} <= set(variables)
    assert variables["gateway_port"]["default"] == 80
    assert "default" not in variables["ssh_public_key"] and "default" not in variables["allowed_ssh_cidrs"]


def test_outputs_for_ansible_and_plat_yaml(docs: dict[str, dict[str, Any]]) -> None:
    outputs = merged(docs, "output")
    assert {"hosts", "ansible_inventory", "plat_yaml_hosts"} <= set(outputs)
    assert all(unquote(body.get("description", "")) for body in outputs.values())
    inventory = " ".join(strings(outputs["ansible_inventory"]["value"]))
    assert "[plat_hosts]" in inventory and "ansible_user=${var.deploy_user}" in inventory


def ingress_ports(docs: dict[str, dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    """(from_port, to_port, sources) of every ingress rule, whichever resource style declares it."""
    rules = []
    for doc in docs.values():
        for rtype, named in blocks(doc, "resource"):
            for body in named.values():
                if rtype == "aws_security_group":
                    rules += [(r["from_port"], r["to_port"], unquote(r.get("cidr_blocks")))
                              for r in body.get("ingress", [])]
                elif rtype == "aws_vpc_security_group_ingress_rule" or (
                        rtype == "aws_security_group_rule" and unquote(body.get("type")) == "ingress"):
                    rules.append((body["from_port"], body["to_port"], unquote(body.get("cidr_blocks"))))
    return [(unquote(f), unquote(t), s) for f, t, s in rules]


def test_the_firewall_opens_exactly_ssh_and_the_gateway_port(docs: dict[str, dict[str, Any]]) -> None:
    rules = ingress_ports(docs)
    assert sorted((str(f), str(t)) for f, t, _ in rules) == [("22", "22"), ("var.gateway_port", "var.gateway_port")]
    sources = {str(f): s for f, _, s in rules}
    assert sources["22"] == "var.allowed_ssh_cidrs"
    assert sources["var.gateway_port"] == "var.allowed_gateway_cidrs"


def test_the_provider_version_is_pinned(docs: dict[str, dict[str, Any]]) -> None:
    terraform = [body for doc in docs.values() for body in doc.get("terraform", [])]
    providers = {name: spec for t in terraform for entry in t.get("required_providers", [])
                 for name, spec in entry.items() if not name.startswith("__")}
    assert providers, "no required_providers block"
    for name, spec in providers.items():
        version = unquote(spec.get("version", ""))
        assert re.fullmatch(r"(~>\s*\d+\.\d+(\.\d+)?|=?\s*\d+\.\d+\.\d+)", version), \
            f"{name}: version {version!r} is not pinned"
        assert unquote(spec["source"]).startswith("hashicorp/")


def test_no_hard_coded_secrets(docs: dict[str, dict[str, Any]]) -> None:
    for body in merged(docs, "provider").values():
        assert not {"access_key", "secret_key", "token", "password"} & set(body), \
            "credentials come from the environment"
    text = "\n".join(p.read_text() for p in [*TF_FILES, *MODULE.glob("*.tfvars*")])
    assert not re.search(r"AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}", text), "an AWS access key id"
    assert "PRIVATE KEY" not in text
    literal = re.compile(r'^\s*\w*(password|secret|token|access_key|private_key)\s*=\s*"[^"$]+"',
                         re.IGNORECASE | re.MULTILINE)
    assert not literal.findall(text)


def test_cloud_init_allows_keys_only(docs: dict[str, dict[str, Any]]) -> None:
    locals_ = {k: v for doc in docs.values() for block in doc.get("locals", []) for k, v in block.items()}
    user_data = re.sub(r"\s+", " ", unquote(locals_["user_data"]))
    for needle in ("#cloud-config", "lock_passwd = true", "ssh_pwauth = false", "disable_root = true",
                   "ssh_authorized_keys = [trimspace(var.ssh_public_key)]"):
        assert needle in user_data, needle


def _terraform_env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1",
            "TF_DATA_DIR": str(tmp / ".terraform"), "NO_COLOR": "1"}


def test_terraform_validate_and_mocked_plan(tmp_path: Path) -> None:
    """The real terraform on a copy of the module, providers from a local mirror (no network)."""
    terraform = shutil.which("terraform")
    plugins = Path(os.environ.get("PLAT_TF_PLUGIN_DIR", "/opt/tf-plugins"))
    if not terraform or not (plugins / "registry.terraform.io/hashicorp/aws").is_dir():
        pytest.skip("terraform or a local provider mirror (PLAT_TF_PLUGIN_DIR with hashicorp/aws) is not installed")
    work = tmp_path / "module"
    shutil.copytree(MODULE, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    env = _terraform_env(tmp_path)

    def run(*args: str) -> str:
        proc = subprocess.run([terraform, *args, "-no-color"], cwd=work, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert proc.returncode == 0, f"terraform {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    run("fmt", "-check", "-recursive")
    run("init", "-backend=false", "-input=false", f"-plugin-dir={plugins}")
    run("validate")
    out = run("test")
    assert re.search(r"Success! \d+ passed, 0 failed", out), out
