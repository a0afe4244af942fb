"""bin/demo and bin/test install the project only when pyproject.toml changed since the last install."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT

# Stands in for the virtualenv's interpreter: notes each pip install, fails when told to.
FAKE_PYTHON = """#!/usr/bin/env bash
echo "$*" >>"$(dirname "$0")/../../pip.log"
[ ! -e "$(dirname "$0")/../../pip-fails" ]
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    shutil.copy(ROOT / "bin" / "_bootstrap.sh", tmp_path / "bin")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "anju"\n')
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return tmp_path


def python_env(root: Path, extras: str = "") -> subprocess.CompletedProcess[str]:
    script = f'source "{root}/bin/_bootstrap.sh" && python_env "{extras}"'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


def installs(root: Path) -> list[str]:
    log = root / "pip.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if line.startswith("-m pip install -q -e")]


def test_an_unchanged_project_is_not_installed_again(tmp_path):
    root = project(tmp_path)
    assert python_env(root).returncode == 0 and python_env(root).returncode == 0
    assert installs(root) == ["-m pip install -q -e ."]
    assert python_env(root, "[test]").returncode == 0  # other extras: installed once more
    (root / "pyproject.toml").write_text('[project]\nname = "anju"\nversion = "2"\n')
    assert python_env(root).returncode == 0
    assert installs(root) == ["-m pip install -q -e ."] + ["-m pip install -q -e .[test]"] + [
        "-m pip install -q -e ."
    ]


def test_a_failed_install_stops_the_script_and_is_tried_again(tmp_path):
    root = project(tmp_path)
    (root / "pip-fails").touch()
    assert python_env(root).returncode != 0
    (root / "pip-fails").unlink()
    assert python_env(root).returncode == 0
    assert len(installs(root)) == 2
