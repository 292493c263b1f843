"""Python entry points found by reading the source: each app shape, as a table.

The sources are the shapes frameworks' own docs and generators produce (Flask's tutorial
factory, `django-admin startproject`, FastAPI's "bigger applications"); the integration
corpus builds and boots the real ones.
"""

from pathlib import Path

import pytest

from plat.app import resolve_app
from plat.builder.context import plan_context
from plat.errors import PlatError
from plat.runtimes.python_entry import EntryMiss, PythonEntry, find_entry
from plat.runtimes.registry import load_runtimes

FRAMEWORKS = load_runtimes()["python-flask"].frameworks
MANAGE = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n'


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "target", "kind", "path"),
    [
        ({"app.py": "from flask import Flask\napp = Flask(__name__)\n"}, "app:app", "wsgi", ""),
        ({"main.py": "import flask\napplication = flask.Flask('x')\n"}, "main:application", "wsgi", ""),
        # Flask's tutorial: a package with a factory that takes an optional argument.
        ({"flaskr/__init__.py": "from flask import Flask\ndef create_app(test_config=None):\n    return Flask('f')\n"},
         "flaskr:create_app()", "wsgi", ""),
        # A src layout: importable from src/.
        ({"src/shop/__init__.py": "from flask import Flask\ndef create_app():\n    pass\n"},
         "shop:create_app()", "wsgi", "src"),
        ({"app/__init__.py": "", "app/main.py": "from fastapi import FastAPI\napp: FastAPI = FastAPI()\n"},
         "app.main:app", "asgi", ""),
        ({"server.py": "from starlette.applications import Starlette\napp = Starlette()\n"},
         "server:app", "asgi", ""),
        ({"asgi.py": "from quart import Quart\napp = Quart(__name__)\n",
          "helpers.py": "from quart import Quart\nother = Quart('y')\n"}, "asgi:app", "asgi", ""),
        ({"manage.py": MANAGE, "mysite/__init__.py": "",
          "mysite/settings.py": "WSGI_APPLICATION = 'mysite.wsgi.application'\n"},
         "mysite.wsgi:application", "wsgi", ""),
        ({"manage.py": MANAGE, "mysite/__init__.py": "",
          "mysite/settings.py": "ASGI_APPLICATION = 'mysite.asgi.application'\n"},
         "mysite.asgi:application", "asgi", ""),
    ],
)
def test_finds(tmp_path: Path, files: dict[str, str], target: str, kind: str, path: str) -> None:
    found = find_entry(tree(tmp_path, files), FRAMEWORKS)
    assert isinstance(found, PythonEntry)
    assert (found.target, found.kind, found.path) == (target, kind, path)
    assert found.why


@pytest.mark.parametrize(
    "files",
    [
        {"app.py": "import numpy\napp = numpy.array([1])\n"},  # no framework imported
        {"app.py": "from flask import Flask\ndef create_app(config):\n    pass\n"},  # needs an argument
        {"app.py": "from flask import Flask\ndef build():\n    app = Flask('x')\n"},  # not at module level
        {"app.py": "from flask import (\n"},  # does not parse
        {"tests/app.py": "from flask import Flask\napp = Flask('x')\n"},  # tests are not the app
        {"my-app.py": "from flask import Flask\napp = Flask('x')\n"},  # not importable
    ],
)
def test_misses(tmp_path: Path, files: dict[str, str]) -> None:
    assert isinstance(find_entry(tree(tmp_path, files), FRAMEWORKS), EntryMiss)


def test_the_source_is_read_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    tree(tmp_path, {"app.py": f"open({str(marker)!r}, 'w')\nfrom flask import Flask\napp = Flask('x')\n"})
    assert isinstance(find_entry(tmp_path, FRAMEWORKS), PythonEntry)
    assert not marker.exists()


def test_a_link_out_of_the_tree_is_no_evidence(tmp_path: Path) -> None:
    outside = tree(tmp_path / "outside", {"app.py": "from flask import Flask\napp = Flask('x')\n"})
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").symlink_to(outside / "app.py")
    assert isinstance(find_entry(tmp_path / "app", FRAMEWORKS), EntryMiss)


def _dockerfile(root: Path) -> str:
    return plan_context(resolve_app(root), {}).generated[".plat/Dockerfile"].decode()


def test_the_scaffold_runs_what_was_found(tmp_path: Path) -> None:
    tree(tmp_path, {"requirements.txt": "fastapi\n", "app/__init__.py": "",
                    "app/main.py": "from fastapi import FastAPI\napp = FastAPI()\n"})
    text = _dockerfile(tmp_path)
    assert "pip install uvicorn\n" in text and "gunicorn" not in text.split("# --- final")[0]
    assert "PLAT_APP_SERVER=uvicorn" in text and "PLAT_APP_MODULE=app.main" in text


def test_a_bare_django_project_gets_django_whitenoise_and_its_static_files(tmp_path: Path) -> None:
    tree(tmp_path, {"manage.py": MANAGE, "mysite/__init__.py": "",
                    "mysite/settings.py": "WSGI_APPLICATION = 'mysite.wsgi.application'\n"})
    text = _dockerfile(tmp_path)
    assert "pip install gunicorn whitenoise django" in text
    assert "collectstatic --noinput" in text and "PLAT_DJANGO_SETTINGS=mysite.settings" in text


def test_a_flask_factory_gets_its_instance_folder_and_is_called(tmp_path: Path) -> None:
    tree(tmp_path, {"pyproject.toml": '[project]\nname = "flaskr"\ndependencies = ["flask"]\n',
                    "flaskr/__init__.py": "from flask import Flask\ndef create_app(test_config=None):\n    pass\n"})
    text = _dockerfile(tmp_path)
    assert "RUN mkdir -p instance" in text and "PLAT_APP_FACTORY=1" in text
    assert "pip install gunicorn\n" in text  # flask comes from pyproject.toml, not from plat


def test_a_procfile_stands_in_for_an_entry_point(tmp_path: Path) -> None:
    tree(tmp_path, {"requirements.txt": "flask\n", "Procfile": "release: x\nweb: gunicorn 'odd:make(1)'\n",
                    "odd.py": "import flask\n"})
    app = resolve_app(tmp_path)
    assert app.entry is None and app.procfile == "gunicorn 'odd:make(1)'"


def test_no_entry_and_no_procfile_says_what_was_looked_at(tmp_path: Path) -> None:
    tree(tmp_path, {"requirements.txt": "flask\n", "odd.py": "import flask\n"})
    with pytest.raises(PlatError) as info:
        resolve_app(tmp_path)
    assert "no web app found" in info.value.message and "odd.py" in info.value.message
    assert "Procfile" in (info.value.hint or "")
