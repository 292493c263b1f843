"""Apps no one here wrote, from their frameworks' own generators and source distributions
(tools/corpus.py): each is detected, built, deployed to a real local agent (whose health
probe and read-only, capability-less instances they must pass) and answers a known page,
through the app's path and through its host name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import local_agent, plat
from tools.corpus import CORPUS, CorpusApp, make

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def agent(engine: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with local_agent(tmp_path_factory.mktemp("plat-home")) as info:
        yield info


@pytest.mark.parametrize("app", CORPUS, ids=[a.name for a in CORPUS])
def test_a_real_app_deploys_and_answers(app: CorpusApp, agent: dict[str, str], tmp_path: Path) -> None:
    folder = make(app, tmp_path)
    detected = plat("detect", str(folder), "--json")
    assert detected.code == 0, detected.stderr
    assert json.loads(detected.stdout)["entry"]["target"] == app.target

    deployed = plat("deploy", str(folder), "--json")
    assert deployed.code == 0, deployed.stderr

    by_path = httpx.get(f"{agent['gateway']}/{app.name}{app.path}", timeout=30)
    assert by_path.status_code == 200 and app.expect in by_path.text, by_path.text[:300]
    by_host = httpx.get(f"{agent['gateway']}{app.path}", headers={"Host": f"{app.name}.plat.localhost"}, timeout=30)
    assert by_host.status_code == 200 and app.expect in by_host.text


def test_django_static_files_are_collected_and_served(agent: dict[str, str], tmp_path: Path) -> None:
    mysite = next(a for a in CORPUS if a.name == "mysite")
    folder = make(mysite, tmp_path)
    assert plat("deploy", str(folder), "--json").code == 0
    css = httpx.get(f"{agent['gateway']}/static/admin/css/base.css", headers={"Host": "mysite.plat.localhost"})
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    # Django's host check still holds: a Host that is none of the app's is refused by the app.
    evil = httpx.get(f"{agent['gateway']}/mysite/", headers={"Host": "evil.example"})
    assert evil.status_code in (400, 404)
