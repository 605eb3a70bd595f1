"""The sdist and the wheel, built as a release would build them, and the sdist used as a source tree.

One build (sdist, then the wheel from the sdist) serves every test. The sdist must hold the
whole project, so that someone with only the tarball can regenerate and check `generated/`,
build the docs and run the tests; the wheel only the package. Both carry the MIT LICENSE and
pass `twine check`. Built without isolation (setuptools, build and twine are in the dev
extra), so no network is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest
from support import ROOT, TIMEOUT

NAME = "fastware-0.1.0"


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=12 * TIMEOUT)
    assert proc.returncode == 0, f"{argv} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], ROOT)
    return out


def _sdist(dist: Path) -> Path:
    return dist / f"{NAME}.tar.gz"


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("fastware-0.1.0-*.whl")
    return wheel


def _tracked_files() -> list[str]:
    """Every file of the repository (git ls-files); the test skips outside a git checkout."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to compare the sdist with")
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=True)
    return [path for path in listing.stdout.splitlines() if (ROOT / path).is_file()]


def test_twine_check_passes(dist: Path) -> None:
    _run([sys.executable, "-m", "twine", "check", "--strict", str(_sdist(dist)), str(_wheel(dist))], ROOT)


def test_the_sdist_holds_every_file_of_the_repository(dist: Path) -> None:
    with tarfile.open(_sdist(dist)) as tar:
        members = {name.removeprefix(NAME + "/") for name in tar.getnames()}
        license_file = tar.extractfile(f"{NAME}/LICENSE")
        assert license_file is not None
        license_text = license_file.read().decode()
    assert license_text.startswith("MIT License")
    # Git's own files are the only ones a source tree does not need.
    missing = [path for path in _tracked_files() if path not in members and path != ".gitignore"]
    assert missing == []
    for path in ("schema/asgi-websocket.schema.json", "codegen/__main__.py", "docs/index.md", "mkdocs.yml"):
        assert path in members
    assert not [name for name in members if "__pycache__" in name or name.endswith((".pyc", ".so"))]


def test_the_wheel_holds_the_package_typed_and_licensed(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"{NAME}.dist-info/METADATA").decode()
    assert f"{NAME}.dist-info/licenses/LICENSE" in names
    assert {"fastware/py.typed", "fastware/types.py", "fastware/_generated/methods.py"} <= names
    assert {
        "fastware/integrations/asgi.py",
        "fastware/integrations/fastapi.py",
        "fastware/integrations/starlette.py",
    } <= names
    # Only the package: no tests, docs or generator.
    assert {name.split("/")[0] for name in names} == {"fastware", f"{NAME}.dist-info"}
    assert "License-Expression: MIT" in metadata
    assert "Project-URL: Source, " in metadata


def test_from_the_unpacked_sdist_codegen_check_and_the_tests_pass(dist: Path, tmp_path: Path) -> None:
    with tarfile.open(_sdist(dist)) as tar:
        tar.extractall(tmp_path, filter="data")
    src = tmp_path / NAME
    # A fresh environment with the sdist installed as a developer installs it (editable, which
    # maps fastware._generated to generated/), borrowing the test dependencies of this one.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).stdout.strip()
    )
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "dev-dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = ["install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "-e", str(src)]
    _run([sys.executable, "-m", "pip", "--python", str(python), *install], tmp_path, env=env)
    where = _run([str(python), "-c", "import fastware._generated as g; print(g.__file__)"], tmp_path, env=env)
    assert Path(where.stdout.strip()).is_relative_to(src), where.stdout

    check = _run([str(python), "-m", "codegen", "--check"], src, env=env)
    assert "up to date" in check.stdout
    # A sample of the server-free tests: the unit tests, the hot path and the message models
    # (the whole suite is there, as the test above shows; all of it takes minutes).
    sample = ["tests/unit", "tests/test_hot_path.py", "tests/messages/test_models.py"]
    tests = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *sample], src, env=env)
    assert " passed" in tests.stdout and " failed" not in tests.stdout
