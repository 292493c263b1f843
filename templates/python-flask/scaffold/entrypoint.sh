#!/bin/sh
# plat's launcher for Flask apps: exec gunicorn (so it is PID 1 and gets SIGTERM) on $PORT.
# Arguments, if any, run instead (e.g. `docker run IMAGE python3 -m flask routes`).
set -eu
if [ "$#" -gt 0 ]; then
  exec "$@"
fi

# The WSGI callable: $PLAT_WSGI_APP, else wsgi:app, app:app or main:app by which file exists.
if [ -n "${PLAT_WSGI_APP:-}" ]; then
  target=$PLAT_WSGI_APP
elif [ -f wsgi.py ]; then
  target=wsgi:app
elif [ -f app.py ]; then
  target=app:app
else
  target=main:app
fi

# gunicorn >= 25 opens a control socket under $XDG_RUNTIME_DIR, else $HOME (read-only here).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/dev/shm}"

# One worker with threads by default, so in-process state is shared; scale with
# WEB_CONCURRENCY / GUNICORN_THREADS, or pass anything else through GUNICORN_CMD_ARGS.
# The worker heartbeat files go to /dev/shm, which is writable under a read-only root.
exec gunicorn \
  --bind "0.0.0.0:${PORT:-8080}" \
  --workers "${WEB_CONCURRENCY:-1}" \
  --threads "${GUNICORN_THREADS:-8}" \
  --worker-tmp-dir /dev/shm \
  --graceful-timeout "${GUNICORN_GRACEFUL_TIMEOUT:-8}" \
  --access-logfile - \
  --error-logfile - \
  "$target"
