"""Which runtime is this folder? Score each runtime's signals, then decide.

A runtime's confidence is the sum of the weights of its matching signals (capped at 1).
A runtime that `absorbs` others (a Flask backend absorbing a JS frontend) removes them from
the candidates when it matches, so composite apps are one app, not a first match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from plat.errors import PlatError
from plat.runtimes.python_entry import PythonEntry, find_entry
from plat.runtimes.registry import Runtime, Signal

MATCH_THRESHOLD = 0.5
"""Below this confidence a runtime is not a candidate."""
AMBIGUITY_MARGIN = 0.3
"""Two candidates closer than this are ambiguous."""
_MAX_READ = 256 * 1024


@dataclass(frozen=True)
class Candidate:
    runtime: str
    confidence: float
    signals: tuple[str, ...]


@dataclass(frozen=True)
class Detection:
    runtime: str
    confidence: float
    signals: tuple[str, ...]
    frontend: str | None
    candidates: tuple[Candidate, ...] = field(default=())


def _matches(root: Path, signal: Signal) -> bool:
    path = root / signal.file
    if not path.is_file() or (path.is_symlink() and not path.resolve().is_relative_to(root.resolve())):
        return False  # a link out of the tree is no signal of what the tree holds
    if signal.contains is None:
        return True
    try:
        text = path.read_bytes()[:_MAX_READ].decode("utf-8", "replace")
    except OSError:
        return False
    return re.search(signal.contains, text) is not None


ENTRY_WEIGHT = 0.8
"""An entry point found in the source is as strong a signal as a dependency file naming the framework."""


def score(root: Path, runtime: Runtime) -> Candidate:
    matched = [s for s in runtime.detect.signals if _matches(root, s)]
    weights, says = [s.weight for s in matched], [s.says for s in matched]
    if runtime.analyzer == "python":
        found = find_entry(root, runtime.frameworks)
        if isinstance(found, PythonEntry):
            weights.append(ENTRY_WEIGHT)
            says.append(found.why)
    confidence = min(1.0, round(sum(weights), 3))
    return Candidate(runtime.name, confidence, tuple(says))


def rank(root: Path, runtimes: dict[str, Runtime]) -> list[Candidate]:
    """Candidates above the threshold, best first, after absorption."""
    scored = {name: score(root, rt) for name, rt in runtimes.items()}
    live = {n: c for n, c in scored.items() if c.confidence >= MATCH_THRESHOLD}
    for name in list(live):
        if name in live:
            for absorbed in runtimes[name].detect.absorbs:
                live.pop(absorbed, None)
    return sorted(live.values(), key=lambda c: (-c.confidence, c.runtime))


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", re.M)


def _described(root: Path, name: str) -> str:
    """`requirements.txt (numpy, pandas)`: a dependency list says what it does name."""
    if not name.startswith("requirements") or (root / name).is_symlink():
        return name
    try:
        text = (root / name).read_bytes()[:_MAX_READ].decode("utf-8", "replace")
    except OSError:
        return name
    packages = [m.group(1) for m in _REQUIREMENT.finditer(text) if not m.group(1).startswith("-")][:6]
    return f"{name} ({', '.join(packages)})" if packages else f"{name} (empty)"


def frontend_of(root: Path, runtime: Runtime) -> str | None:
    fe = runtime.frontend
    return fe.dir if fe and (root / fe.marker).is_file() else None


def detect(root: Path, runtimes: dict[str, Runtime]) -> Detection:
    """The one runtime for `root`, or a PlatError listing what was looked for or found."""
    if not root.is_dir():
        raise PlatError(f"{root}: not a directory")
    ranked = rank(root, runtimes)
    pin = "pin it with `runtime: <name>` in plat.yaml"
    if not ranked:
        looked = sorted({s.file for rt in runtimes.values() for s in rt.detect.signals})
        present = [name for name in looked if (root / name).is_file()]
        found = (f"found {', '.join(_described(root, name) for name in present)}, but none names a web framework or "
                 "server plat knows" if present else f"looked for {', '.join(looked)}")
        raise PlatError(
            f"no app found in {root}: {found}",
            f"pin the runtime with `runtime: <{'|'.join(runtimes)}>` in plat.yaml, add a Procfile with a `web:` "
            "line, or write a Dockerfile (`plat init` makes a new app)",
        )
    best = ranked[0]
    if len(ranked) > 1 and best.confidence - ranked[1].confidence < AMBIGUITY_MARGIN:
        listed = ", ".join(f"{c.runtime} ({c.confidence:.2f})" for c in ranked)
        raise PlatError(f"{root}: more than one runtime fits: {listed}", f"{pin}")
    runtime = runtimes[best.runtime]
    return Detection(
        runtime=best.runtime,
        confidence=best.confidence,
        signals=best.signals,
        frontend=frontend_of(root, runtime),
        candidates=tuple(ranked),
    )
