"""The package installs cleanly: plugins inside it (``dfqbench.methods``, ``dfqbench.baselines``), no top-level
``methods`` or ``baselines`` in site-packages, and what the commands need shipped as package data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
SOURCE_IGNORE = shutil.ignore_patterns(".git", ".venv", "runs", "build", "*.egg-info", "__pycache__", ".*cache",
                                       ".hypothesis", ".benchmarks")


def package_folders() -> set[str]:
    """Every package folder of the repository, as the import name it installs under."""
    names = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "dfqbench").rglob("__init__.py")}
    return names | {"dfqbench.methods", "dfqbench.baselines"}


def test_pyproject_lists_every_package_folder_and_maps_the_plugins_inside_the_package():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(setuptools["packages"]) == package_folders()
    assert setuptools["package-dir"] == {"dfqbench.methods": "methods", "dfqbench.baselines": "baselines"}
    assert (ROOT / "methods" / "__init__.py").is_file() and (ROOT / "baselines" / "__init__.py").is_file()


def run_installed(args: list[str], cwd: Path, target: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run([sys.executable, "-m", "dfqbench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_pip_install_target_runs_from_another_directory(tmp_path):
    source, target, elsewhere = tmp_path / "source", tmp_path / "site", tmp_path / "elsewhere"
    shutil.copytree(ROOT, source, ignore=SOURCE_IGNORE)
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(source)], check=True, timeout=600)
    assert not (target / "methods").exists() and not (target / "baselines").exists()
    for shipped in ("methods/maskaq.py", "baselines/noise.py", "tables/reported.csv", "tables/claims.csv",
                    "zoo/weights/manifest.json", "zoo/weights/fmnist_vit.safetensors"):
        assert (target / "dfqbench" / shipped).is_file(), shipped

    where = subprocess.run([sys.executable, "-c", "import dfqbench.methods.maskaq as m; print(m.__file__)"],
                           cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True,
                           text=True, check=True).stdout
    assert where.startswith(str(target))

    listed = run_installed(["list", "methods"], elsewhere, target)
    assert listed.returncode == 0, listed.stderr
    assert all(name in listed.stdout for name in ("maskaq", "mimiq", "sardfq", "psaq-vit"))
    run = run_installed(["--threads", "1", "run", "--methods", "noise", "--models", "fmnist_vit", "--bits", "4w4a",
                         "--profile", "smoke", "--limit", "64"], elsewhere, target)
    assert run.returncode == 0, run.stderr
    assert (elsewhere / "runs" / "dfqbench.sqlite").is_file()
    table = run_installed(["table", "--reported", "--format", "md"], elsewhere, target)
    assert table.returncode == 0, table.stderr
    assert "| noise |" in table.stdout
    shipped = subprocess.run([sys.executable, "-c", "import pandas; from dfqbench.paths import REPORTED, CLAIMS; "
                              "print(REPORTED, len(pandas.read_csv(REPORTED)), len(pandas.read_csv(CLAIMS)))"],
                             cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True,
                             text=True, check=True).stdout.split()
    assert shipped[0].startswith(str(target)) and int(shipped[1]) > 0 and int(shipped[2]) > 0
