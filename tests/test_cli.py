"""Command line conventions: -h, check --strict and --format json in every outcome, the
extras named when missing, shell completion, and the pre-commit hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from deckgen.cli import main, rebuilder
from helpers import run

ROOT = Path(__file__).parents[1]
WARNED = "deck: D\ncards:\n  - id: a\n    cloze: '{{c1::x}} {{c3::y}}'\n"  # skips c2


def bank(tmp_path: Path, text: str) -> Path:
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "t.yaml").write_text(text, encoding="utf-8")
    return cards


@pytest.mark.parametrize("args", [["-h"], ["check", "-h"], ["init", "-h"]])
def test_short_help(args):
    result = run(*args)
    assert result.exit_code == 0
    assert result.output.startswith("Usage: ")
    assert result.output == run(*args[:-1], "--help").output


def test_check_strict_fails_on_warnings(tmp_path):
    cards = bank(tmp_path, WARNED)
    assert run("check", "--cards", cards).exit_code == 0
    result = run("check", "--cards", cards, "--strict")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "1 warning, which --strict fails on"
    assert "cloze numbers skip c2" in result.stderr


def json_check(cards: Path, *args: str) -> tuple[int, list[dict]]:
    result = run("check", "--cards", cards, "--format", "json", *args)
    return result.exit_code, json.loads(result.stdout)["problems"]


def test_check_json_in_every_outcome(tmp_path):
    missing = tmp_path / "nowhere"
    assert json_check(missing) == (1, [{"path": str(missing), "line": 0, "level": "error",
                                        "code": "",
                                        "message": "no such folder (pass --cards DIR)"}])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert json_check(empty) == (1, [{"path": str(empty), "line": 0, "level": "error", "code": "",
                                      "message": "no *.yaml topic files found"}])
    cards = bank(tmp_path, WARNED)
    code, problems = json_check(cards)
    assert (code, [(p["level"], p["code"]) for p in problems]) == (0, [("warning", "cloze-gap")])
    assert json_check(cards, "--strict")[0] == 1
    (cards / "t.yaml").write_text(WARNED.replace("{{c3::y}}", "{{c2::y}}"), encoding="utf-8")
    assert json_check(cards, "--strict") == (0, [])


def test_preview_without_the_anki_extra_says_what_to_install(cards, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "anki", None)  # as if not installed: import fails
    out = tmp_path / "build"
    result = run("preview", "--cards", cards, "--out", out)
    assert result.exit_code == 1
    assert result.output == ("deckgen preview needs the Anki library and MathJax:"
                             " pip install 'deckgen[anki]'\n")
    assert not out.exists()


def test_watch_without_the_anki_extra_builds_the_packages(cards, tmp_path, capsys):
    out = tmp_path / "build"
    rebuilder(cards, out, with_preview=False)()
    assert sorted(p.name for p in out.glob("*.apkg")) == ["all.apkg", "attention.apkg",
                                                          "figures.apkg"]
    assert not (out / "preview").exists()
    assert capsys.readouterr().out.endswith("watching for changes (Ctrl+C to stop)\n")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_as_documented(shell):
    result = CliRunner().invoke(main, [], prog_name="deckgen",
                                env={"_DECKGEN_COMPLETE": f"{shell}_source"})
    assert result.exit_code == 0
    assert "_DECKGEN_COMPLETE" in result.output
    assert f"_DECKGEN_COMPLETE={shell}_source deckgen" in (ROOT / "README.md").read_text(
        encoding="utf-8")


def test_the_pre_commit_hook_checks_the_bank(tmp_path, monkeypatch):
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    program, *args = hook["entry"].split()
    assert program == "deckgen" and hook["language"] == "python"
    assert hook["pass_filenames"] is False
    bank(tmp_path, WARNED)
    monkeypatch.chdir(tmp_path)  # pre-commit runs hooks at the repository's root
    assert run(*args).exit_code == 1
    (tmp_path / "cards" / "t.yaml").write_text(WARNED.replace("c3", "c2"), encoding="utf-8")
    assert run(*args).exit_code == 0


def test_a_closed_pipe_ends_a_build_with_one_line(cards, tmp_path):
    """`deckgen build | head -1`, when head has gone: the report has nowhere to go."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "deckgen", "build", "--cards", cards,
                               "--out", tmp_path / "build"], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert (tmp_path / "build" / "all.apkg").is_file()  # the build itself was done
