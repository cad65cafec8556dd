"""Shared fixtures: a scratch copy of the fixture cards, the CLI, a real Anki collection."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from anki.collection import Collection

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def cards(tmp_path: Path) -> Path:
    """A writable copy of tests/fixtures/cards."""
    target = tmp_path / "cards"
    shutil.copytree(FIXTURES / "cards", target)
    return target


@pytest.fixture
def collection(tmp_path: Path):
    folder = tmp_path / "collection"
    folder.mkdir()
    col = Collection(str(folder / "collection.anki2"))
    yield col
    col.close()
