"""A minimal Flask app for plat: a JSON greeting at / and a health check at /healthz."""

import os

from flask import Flask, jsonify

APP_NAME = "hello-python-flask"

app = Flask(__name__)


@app.get("/")
def index():
    return jsonify(message=f"hello from {APP_NAME}")


@app.get("/healthz")
def healthz():
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


if __name__ == "__main__":
    # Local development only; in the image plat serves `app:app` with gunicorn.
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8080")), debug=True)
