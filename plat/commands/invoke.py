from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from plat.commands._fleet_options import AppDir, Env, Hosts, Labels
from plat.errors import PlatError
from plat.ui import note, print_json

EXAMPLES = """Examples:
  plat invoke hello-go
  plat invoke todo /api/todos -X POST -d '{"title": "ship"}' -H 'Content-Type: application/json'
  plat invoke todo /api/todos -d @todo.json --async
  plat invoke todo --wait 3f2c9a...
  plat invoke hello-go -e production --host web2   # through one host's gateway"""


def _body(data: str | None) -> bytes | None:
    if data is None:
        return None
    if data.startswith("@"):
        path = Path(data[1:])
        if not path.is_file():
            raise PlatError(f"-d {data}: no such file")
        return path.read_bytes()
    return data.encode()


def _headers(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep or not name.strip():
            raise PlatError(f"-H {pair!r}: expected 'Name: value'")
        out[name.strip()] = value.strip()
    return out


def invoke(
    app: Annotated[str, typer.Argument(help="App name.")],
    path: Annotated[str, typer.Argument(help="Path inside the app.")] = "/",
    data: Annotated[str | None, typer.Option("--data", "-d", help="Request body, or @file.")] = None,
    header: Annotated[list[str], typer.Option("--header", "-H", help="'Name: value' (repeatable).")] = [],
    method: Annotated[str | None, typer.Option("--request", "-X",
                                               help="HTTP method (default GET, POST with -d).")] = None,
    async_: Annotated[bool, typer.Option("--async", help="Queue it; print the invocation id.")] = False,
    wait: Annotated[str | None, typer.Option("--wait", help="Wait for an async invocation's result.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait.")] = 60.0,
    app_dir: AppDir = ".",
    env: Env = None,
    host: Hosts = [],
    label: Labels = [],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Call an app through the gateway (of any host, or --host), synchronously or through the async queue."""
    from plat.targets import gateways, scope

    if not path.startswith("/"):
        path = "/" + path
    with gateways(scope(app_dir, env, host, label), timeout) as clients:
        if wait:
            _wait(app, wait, clients, timeout, json_)
        _call(app, path, data, header, method, async_, clients[0], json_)


def _wait(app: str, wait: str, clients: list, timeout: float, json_: bool) -> None:
    """Poll for an async result on the host that queued it (searched when not given)."""
    import httpx

    for where, http in clients:
        try:
            if http.get(f"/async/{app}/~invocations/{wait}").status_code != 404:
                break
        except httpx.HTTPError as exc:
            raise PlatError(f"{where}: {exc}") from None
    else:
        raise PlatError(f"{app}: no invocation {wait} on {', '.join(w for w, _ in clients)}")
    deadline = time.monotonic() + timeout
    while True:
        inv = http.get(f"/async/{app}/~invocations/{wait}").json()
        if inv.get("status") in ("done", "failed", "dead") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if json_:
        print_json({**inv, "host": where})
    else:
        note(f"{inv.get('status')} after {inv.get('attempts')} attempt(s) on {where}, "
             f"status {inv.get('result_status')}")
        sys.stdout.write((inv.get("result_body") or "") + "\n")
    raise typer.Exit(0 if inv.get("status") == "done" else 1)


def _call(app: str, path: str, data: str | None, header: list[str], method: str | None, async_: bool,
          client: tuple, json_: bool) -> None:
    import httpx

    where, http = client
    body = _body(data)
    verb = (method or ("POST" if body is not None else "GET")).upper()
    url = f"/async/{app}{path}" if async_ else f"/{app}{path}"
    t0 = time.perf_counter()
    try:
        resp = http.request(verb, url, content=body, headers=_headers(header))
    except httpx.HTTPError as exc:
        raise PlatError(f"{where}: {url}: {exc}", "is the agent up? `plat agent status` / `plat hosts check`") from None
    ms = (time.perf_counter() - t0) * 1000
    cold = resp.headers.get("X-Plat-Cold-Start") == "1"
    if async_:
        info = resp.json()
        if resp.status_code != 202:
            raise PlatError(f"{where}: {app}: {info.get('error', resp.text)}")
        if json_:
            print_json(info)
        else:
            note(f"queued on {where}: plat invoke {app} --wait {info['id']}")
            sys.stdout.write(info["id"] + "\n")
        return
    if json_:
        try:
            parsed = resp.json()
        except (ValueError, json.JSONDecodeError):
            parsed = resp.text
        print_json({"status": resp.status_code, "ms": round(ms, 1), "cold_start": cold,
                    "instance": resp.headers.get("X-Plat-Instance"), "body": parsed})
    else:
        sys.stdout.write(resp.text + ("" if resp.text.endswith("\n") else "\n"))
        note(f"{resp.status_code} in {ms:.1f} ms{' (cold start)' if cold else ''}"
             f" via {where}/{resp.headers.get('X-Plat-Instance', '?')}")
    if resp.status_code >= 400:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(invoke)
