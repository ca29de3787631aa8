"""`tributary new-source NAME` writes a plugin package that installs with `pip install -e` and
passes its own test on first run."""

from __future__ import annotations

import os
import subprocess
import sysconfig
import venv
from pathlib import Path

from typer.testing import CliRunner

from platform_assets.cli import app
from tests.conftest import REPO


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    output = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"{' '.join(command)}:\n{output}"
    return done.stdout


def test_the_generated_package_installs_and_passes_its_own_test(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["new-source", "weather_station", "-d", str(tmp_path)])
    assert result.exit_code == 0, result.output
    package = tmp_path / "weather_station"
    assert "pip install -e ." in result.output

    # A fresh environment that sees the packages Tributary runs with, as a plugin author's does.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        tmp_path,
        dict(os.environ),
    ).strip()
    Path(site, "tributary_project.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    run([str(python), "-m", "pip", "install", "--quiet", "-e", str(package)], tmp_path, env)
    output = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], package, env)

    assert "1 passed" in output


def test_a_name_that_is_not_an_identifier_or_a_folder_that_exists_is_refused(
    tmp_path: Path,
) -> None:
    bad = CliRunner().invoke(app, ["new-source", "Weather-Station", "-d", str(tmp_path)])
    (tmp_path / "shop").mkdir()
    taken = CliRunner().invoke(app, ["new-source", "shop", "-d", str(tmp_path)])

    assert bad.exit_code == 1 and "is not a source name" in bad.output
    assert taken.exit_code == 1 and "already exists" in taken.output
    assert list(tmp_path.iterdir()) == [tmp_path / "shop"]
