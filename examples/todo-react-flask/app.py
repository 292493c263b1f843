"""todo-react-flask: a JSON todo API in Flask, plus the React UI built from frontend/.

    GET   /api/todos          -> [{"id", "title", "done"}, ...]
    POST  /api/todos          {"title": "..."} -> 201 and the new item
    PATCH /api/todos/<id>     toggles done (or sets it: {"done": true|false})
    GET   /healthz            -> ok

The store is in memory (it resets on restart) and shared by the threads of one gunicorn
worker, which is plat's default; with WEB_CONCURRENCY > 1 each worker would have its own.
"""

import itertools
import os
import threading
from pathlib import Path

from flask import Flask, abort, jsonify, request, send_from_directory

DIST = Path(__file__).resolve().parent / "frontend" / "dist"
MAX_TITLE = 200

app = Flask(__name__, static_folder=None)

_lock = threading.Lock()
_ids = itertools.count(1)
_todos: dict[int, dict] = {}


@app.get("/healthz")
def healthz():
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/api/todos")
def list_todos():
    with _lock:
        return jsonify([dict(t) for t in _todos.values()])


@app.post("/api/todos")
def create_todo():
    body = request.get_json(silent=True) or {}
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        return jsonify(error="title must be a non-empty string"), 400
    title = title.strip()
    if len(title) > MAX_TITLE:
        return jsonify(error=f"title must be at most {MAX_TITLE} characters"), 400
    with _lock:
        todo = {"id": next(_ids), "title": title, "done": False}
        _todos[todo["id"]] = todo
        return jsonify(todo), 201


@app.patch("/api/todos/<int:todo_id>")
def update_todo(todo_id: int):
    body = request.get_json(silent=True) or {}
    done = body.get("done")
    if done is not None and not isinstance(done, bool):
        return jsonify(error="done must be true or false"), 400
    with _lock:
        todo = _todos.get(todo_id)
        if todo is None:
            return jsonify(error="no such todo"), 404
        todo["done"] = (not todo["done"]) if done is None else done
        return jsonify(dict(todo))


@app.errorhandler(404)
def not_found(err):
    if request.path.startswith("/api/"):
        return jsonify(error="not found"), 404
    return err


@app.get("/")
@app.get("/<path:path>")
def frontend(path=""):
    """The built React app: files from frontend/dist, index.html for anything else."""
    if path.startswith("api/") or not DIST.is_dir():
        abort(404)
    if path and (DIST / path).is_file():
        return send_from_directory(DIST, path)  # refuses paths outside DIST
    return send_from_directory(DIST, "index.html")


if __name__ == "__main__":
    # Local development only (`python app.py`), next to `npm run dev` in frontend/.
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8080")), debug=True)
