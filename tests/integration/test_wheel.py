"""The built wheel is the whole product: installed outside the checkout it migrates and serves the PWA."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.brokers import free_port
from tests.browser.conftest import _wait_until_up
from tests.conftest import ROOT

# What a build reads; the rest (state, caches, other builds) stays behind.
LEFT_OUT = shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__")


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtualenv holding only the wheel; its dependencies come from ours through a .pth file."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=LEFT_OUT)
    # Without build isolation the build needs no index: setuptools and wheel come from our venv.
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        work,
        source,
        cwd=work,
    )
    shutil.rmtree(source)
    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=work)
    python = venv / "bin" / "python"
    packages = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=work).strip()
    Path(packages, "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    (wheel,) = work.glob("anju-*.whl")
    run(python, "-m", "pip", "install", "-q", "--no-deps", wheel, cwd=work)
    return venv


def operator_env(**settings: str) -> dict[str, str]:
    """No PYTHONPATH and no ANJU_* of ours: only what an operator of the installed package would set."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("ANJU_")}
    return env | settings


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def test_the_installed_wheel_migrates_and_serves_the_pwa(installed, tmp_path):
    env = operator_env()
    found = run(
        installed / "bin" / "python", "-c", "import backend.web as w; print(w.PWA_DIR)", cwd=tmp_path, env=env
    )
    pwa = Path(found.strip())
    assert pwa.is_relative_to(installed) and not pwa.resolve().is_relative_to(ROOT)

    migrated = run(installed / "bin" / "anju", "migrate", cwd=tmp_path, env=env)
    assert migrated.startswith("database: ") and "migrations applied" in migrated
    assert (tmp_path / "var" / "anju.sqlite").is_file()  # the default database, beside var/secret.key

    port = free_port()
    env |= {"ANJU_DEMO": "true", "ANJU_PORT": str(port), "ANJU_MQTT_EMBEDDED_PORT": str(free_port())}
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [installed / "bin" / "anju", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server, log)
        shell, app_js, unknown_plate = fetch(url + "/"), fetch(url + "/app/app.js"), fetch(url + "/d/unknown")
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert shell[0] == 200 and b"<html" in shell[1].lower()
    assert app_js == (200, (pwa / "app.js").read_bytes())
    assert unknown_plate[0] == 404 and "门牌无效" in unknown_plate[1].decode()  # backend/templates shipped
