#!/bin/sh
# plat's launcher for Python web apps: exec the server (so it is PID 1 and gets SIGTERM) on $PORT.
# Arguments, if any, run instead (e.g. `docker run IMAGE python3 -m flask routes`).
set -eu
if [ "$#" -gt 0 ]; then
  exec "$@"
fi

# gunicorn >= 25 opens a control socket under $XDG_RUNTIME_DIR, else $HOME (read-only here).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/dev/shm}"

# A Procfile's `web:` line wins (Heroku's convention), as the app's own command.
if [ -f Procfile ]; then
  web=$(sed -n 's/^web:[[:space:]]*//p' Procfile | head -n 1)
  if [ -n "$web" ]; then
    exec /bin/sh -c "exec $web"
  fi
fi

# The app object plat found in the source when it built the image (PLAT_APP_*), unless
# PLAT_WSGI_APP names one (module:object, or module:factory() for gunicorn).
if [ -n "${PLAT_WSGI_APP:-}" ]; then
  target=$PLAT_WSGI_APP
  server=gunicorn
else
  target="${PLAT_APP_MODULE:-app}:${PLAT_APP_OBJECT:-app}"
  server=${PLAT_APP_SERVER:-gunicorn}
fi

if [ "$server" = uvicorn ]; then
  # ASGI. X-Forwarded-* are trusted from the gateway only: instances are reached through it.
  factory=""
  if [ -n "${PLAT_APP_FACTORY:-}" ]; then factory="--factory"; fi
  exec uvicorn $factory \
    --host 0.0.0.0 \
    --port "${PORT:-8080}" \
    --workers "${WEB_CONCURRENCY:-1}" \
    --proxy-headers \
    --forwarded-allow-ips '*' \
    --timeout-graceful-shutdown "${GUNICORN_GRACEFUL_TIMEOUT:-8}" \
    "$target"
fi

if [ -n "${PLAT_APP_FACTORY:-}" ]; then target="$target()"; fi
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
