"""Image references, layer chain IDs and redaction, as data."""

from __future__ import annotations

import hashlib

import pytest

from agent.images import all_chains, auth_config, chain_ids, pull_secrets, redact
from plat_contract.api import Pull
from plat_contract.images import ImageRef, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "expected", "pull"),
    [
        ("app", ImageRef(None, "app", None, None), ("app", "latest")),
        ("app:v1", ImageRef(None, "app", "v1", None), ("app", "v1")),
        ("team/app:v1", ImageRef(None, "team/app", "v1", None), ("team/app", "v1")),
        ("127.0.0.1:5000/team/app:v1", ImageRef("127.0.0.1:5000", "127.0.0.1:5000/team/app", "v1", None),
         ("127.0.0.1:5000/team/app", "v1")),
        ("127.0.0.1:5000/team/app", ImageRef("127.0.0.1:5000", "127.0.0.1:5000/team/app", None, None),
         ("127.0.0.1:5000/team/app", "latest")),
        (f"reg:5000/app@{DIGEST}", ImageRef("reg:5000", "reg:5000/app", None, DIGEST), ("reg:5000/app", DIGEST)),
        (f"reg.example.com/app:v2@{DIGEST}", ImageRef("reg.example.com", "reg.example.com/app", "v2", DIGEST),
         ("reg.example.com/app", DIGEST)),
        ("localhost/app:dev", ImageRef("localhost", "localhost/app", "dev", None), ("localhost/app", "dev")),
        ("ghcr.io/org/sub/app:1.2.3", ImageRef("ghcr.io", "ghcr.io/org/sub/app", "1.2.3", None),
         ("ghcr.io/org/sub/app", "1.2.3")),
        ("  app:v1 ", ImageRef(None, "app", "v1", None), ("app", "v1")),
    ],
)
def test_parse_reference(ref: str, expected: ImageRef, pull: tuple[str, str]) -> None:
    parsed = parse_reference(ref)
    assert parsed == expected
    assert parsed.pull_args() == pull


@pytest.mark.parametrize("ref", ["", "   ", "app:", "app@", "my app:v1", ":v1"])
def test_parse_reference_refuses_non_references(ref: str) -> None:
    with pytest.raises(ValueError, match="not an image reference"):
        parse_reference(ref)


def test_chain_ids_follow_the_oci_definition() -> None:
    d0, d1, d2 = ("sha256:" + c * 64 for c in "012")
    c1 = "sha256:" + hashlib.sha256(f"{d0} {d1}".encode()).hexdigest()
    c2 = "sha256:" + hashlib.sha256(f"{c1} {d2}".encode()).hexdigest()
    assert chain_ids([d0, d1, d2]) == [d0, c1, c2]
    assert chain_ids([d0]) == [d0], "a one-layer image's chain ID is its diff ID"
    assert chain_ids([]) == []


def test_chain_ids_known_value() -> None:
    """Worked out once from the spec (`printf 'sha256:aaa… sha256:bbb…' | sha256sum`) and pinned."""
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([a, b]) == [a, "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c"]
    assert chain_ids([a, b])[1] != chain_ids([b, a])[1], "order matters"


def test_all_chains_is_the_sorted_union_over_images() -> None:
    a, b, c = ("sha256:" + ch * 64 for ch in "abc")
    shared = chain_ids([a, b])
    found = all_chains([[a, b], [a, b, c], [c]])
    assert found == sorted({*shared, chain_ids([a, b, c])[2], c})
    assert all_chains([]) == []


def test_redact_hides_every_value_longest_first() -> None:
    assert redact("user bob pass hunter2 (hunter2)", ["hunter2", "bob"]) == "user *** pass *** (***)"
    assert redact("token abcdef and abc", ["abc", "abcdef"]) == "token *** and ***"
    assert redact("a 1 b", ["1", ""], min_length=3) == "a 1 b", "short values are left alone when asked"
    assert redact("nothing here", []) == "nothing here"


def test_pull_options() -> None:
    pull = {"auth": {"username": "robot", "password": "s3cret"}, "always": True}
    assert pull_secrets(Pull.model_validate(pull)) == ["s3cret", "robot"]
    assert pull_secrets(None) == [] and pull_secrets(Pull(auth=None)) == []
    assert auth_config(pull["auth"]) == {"username": "robot", "password": "s3cret"}
    assert auth_config(None) is None
