"""Helpers the tests share: run the CLI, import a package as a user would."""

from __future__ import annotations

from pathlib import Path

from anki.collection import Collection, ImportAnkiPackageRequest
from click.testing import CliRunner, Result

from deckgen.cli import main


def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input,
                              catch_exceptions=False)


def build(cards: Path, out: Path) -> Result:
    result = run("build", "--cards", cards, "--out", out)
    assert result.exit_code == 0, result.output
    return result


def import_package(col: Collection, package: Path):
    """Import as a user would, with the import options Anki offers by default."""
    options = col._backend.get_import_anki_package_presets()
    return col.import_anki_package(
        ImportAnkiPackageRequest(package_path=str(package), options=options)).log
