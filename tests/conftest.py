"""Session-wide test policy.

Under CI=true a skipped test is a failed one: a test that skips in CI does not exist. The
exception is a tool no reachable registry provides; such tests are exempt by name, below,
and their skip still says what is missing. `PLAT_TEST_SUMMARY` names a file that receives
the session's counts (`.ci/run` prints them).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Generator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_COLOR", "1")

CI_SKIP_EXEMPT = {
    "tests/unit/test_terraform.py::test_terraform_validate_and_mocked_plan":
        "terraform and its provider mirror come with the machine; no reachable registry provides them",
}
"""Test id → why it may skip under CI=true."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def fail_the_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI=true, which counts as a failure: {skip_reason(report)}\n"
                       "Install what it needs in scripts/test, or exempt it by name in tests/conftest.py "
                       "(CI_SKIP_EXEMPT) when no reachable registry provides it.")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and in_ci() and not hasattr(report, "wasxfail") \
            and item.nodeid.split("[", 1)[0] not in CI_SKIP_EXEMPT:
        fail_the_skip(report)


SKIPPED_MODULES: list[str] = []
"""Under CI=true: modules that skipped as a whole at import (`importorskip`). Failing their
collection report would interrupt the session, so they fail it at its end instead."""


TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test carries its tier's marker, from the folder it is in: `-m unit`, `-m "not e2e"`."""
    root = Path(__file__).resolve().parent
    for item in items:
        tier = Path(str(item.path)).resolve().relative_to(root).parts[0]
        if tier in TIERS:
            item.add_marker(tier)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped and in_ci():
        SKIPPED_MODULES.append(f"{report.nodeid}: {skip_reason(report)}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if SKIPPED_MODULES and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in SKIPPED_MODULES:
        terminalreporter.write_line(f"FAILED {line} (a module skipped under CI=true counts as a failure)", red=True)
    target = os.environ.get("PLAT_TEST_SUMMARY")
    if not target:
        return
    stats = terminalreporter.stats
    counts = {"passed": len([r for r in stats.get("passed", []) if r.when == "call"]),
              "failed": len(stats.get("failed", [])) + len(stats.get("error", [])) + len(SKIPPED_MODULES),
              "skipped": len(stats.get("skipped", [])) - len(SKIPPED_MODULES)}
    Path(target).write_text(json.dumps(counts))
