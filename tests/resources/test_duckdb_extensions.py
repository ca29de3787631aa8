"""DuckDB extensions load offline from their pinned wheels, into the directory given."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from resources.duckdb_extensions import ExtensionUnavailableError, load_extension, wheel_file


@pytest.mark.parametrize("name", ["postgres", "mysql", "sqlite"])
def test_an_extension_is_installed_from_its_wheel_and_loaded(name: str, tmp_path: Path) -> None:
    con = duckdb.connect()
    load_extension(con, name, tmp_path / "extensions")
    loaded = con.execute(
        "SELECT loaded, install_path FROM duckdb_extensions() "
        "WHERE extension_name = ? OR list_contains(aliases, ?)",
        [name, name],
    ).fetchone()
    assert loaded is not None and loaded[0] is True
    assert str(tmp_path / "extensions") in loaded[1]
    assert con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone() == (
        False,
    )
    # A second connection finds it installed and only loads it.
    again = duckdb.connect()
    load_extension(again, name, tmp_path / "extensions")


def test_an_extension_without_its_wheel_names_the_package(tmp_path: Path) -> None:
    assert wheel_file("spatial") is None
    with pytest.raises(ExtensionUnavailableError, match=r"duckdb-extension-spatial==1\.5\.5"):
        load_extension(duckdb.connect(), "spatial", tmp_path)
    with pytest.raises(ValueError):
        load_extension(duckdb.connect(), "x; DROP TABLE y", tmp_path)
