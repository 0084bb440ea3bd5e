"""The import contracts in pyproject.toml hold, and they would catch an import that points up."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, env={"PYTHONPATH": str(cwd)}
    )


def test_the_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward_import", "broken"),
    [
        ("apps/execution/services/transitions.py", "from .sweep import tasks_sweep", "Execution services"),
        ("apps/execution/services/queueing.py", "from .bulk import tasks_apply", "Execution services"),
        ("apps/core/schema.py", "from apps.execution.models import ExecutionTask", "Apps depend only downwards"),
        ("apps/offers/models.py", "from apps.income.models import IncomeEvent", "Apps depend only downwards"),
    ],
)
def test_an_upward_import_breaks_a_contract(tmp_path, module, upward_import, broken):
    shutil.copytree(ROOT / "apps", tmp_path / "apps", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "opsconsole", tmp_path / "opsconsole", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{upward_import}  # pointing up\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert f"{broken}" in result.stdout.split("Broken contracts")[1]
