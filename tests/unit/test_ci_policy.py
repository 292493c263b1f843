"""tests/conftest.py's CI policy, run on a throwaway suite with pytest's own pytester."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
SUITE = '''
import pytest
pytest_plugins = []

def test_runs():
    assert True

def test_needs_a_tool():
    pytest.skip("frobnicator is not installed")

@pytest.mark.skipif(True, reason="haproxy is not installed")
def test_marked():
    pass
'''


@pytest.fixture
def suite(pytester: pytest.Pytester, tmp_path: Path) -> pytest.Pytester:
    (pytester.path / "tests").mkdir()
    shutil.copy(CONFTEST, pytester.path / "tests" / "conftest.py")
    (pytester.path / "tests" / "test_suite.py").write_text(SUITE)
    (pytester.path / "tests" / "test_imports.py").write_text(
        "import pytest\npytest.importorskip('no_such_module_here')\n\ndef test_x():\n    pass\n")
    return pytester


def test_outside_ci_a_skip_stays_a_skip(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    suite.runpytest("-p", "no:cacheprovider", "tests").assert_outcomes(passed=1, skipped=3)


def test_under_ci_every_skip_fails_with_its_reason(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    counts = tmp_path / "counts.json"
    monkeypatch.setenv("PLAT_TEST_SUMMARY", str(counts))
    result = suite.runpytest("-p", "no:cacheprovider", "tests")
    outcomes = result.parseoutcomes()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # pytest's own line still calls the skipped module skipped; the policy's count does not.
    assert outcomes.get("passed") == 1 and outcomes.get("errors", 0) + outcomes.get("failed", 0) == 2, outcomes
    text = result.stdout.str()
    for reason in ("frobnicator is not installed", "haproxy is not installed"):
        assert f"skipped under CI=true, which counts as a failure: {reason}" in text
    assert "FAILED tests/test_imports.py: could not import 'no_such_module_here'" in text
    assert counts.read_text() == '{"passed": 1, "failed": 3, "skipped": 0}'


def test_an_exempt_test_may_skip_under_ci(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    conftest = suite.path / "tests" / "conftest.py"
    conftest.write_text(conftest.read_text().replace(
        '"tests/unit/test_terraform.py::test_terraform_validate_and_mocked_plan"',
        '"tests/test_suite.py::test_needs_a_tool"'))
    result = suite.runpytest("-p", "no:cacheprovider", "tests/test_suite.py")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and outcomes.get("skipped") == 1
    assert outcomes.get("errors", 0) + outcomes.get("failed", 0) == 1
    result.stdout.fnmatch_lines(["*haproxy is not installed*"])
