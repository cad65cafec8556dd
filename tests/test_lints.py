"""Each lint: what it catches, its level, its line, and how `allow:` silences it."""

from __future__ import annotations

import json

import pytest

from helpers import run


def check(tmp_path, cards_yaml: str, *args: str, files: dict[str, bytes] | None = None):
    cards = tmp_path / "cards"
    cards.mkdir(parents=True)
    (cards / "t.yaml").write_text("deck: D\ncards:\n" + cards_yaml, encoding="utf-8")
    for name, data in (files or {}).items():
        (cards / name).write_bytes(data)
    return run("check", "--cards", cards, *args)


def card(card_id: str, back: str, front: str | None = None, extra: str = "") -> str:
    lines = [f"  - id: {card_id}", f"    front: {front or card_id}", "    back: |"]
    lines += [f"      {line}" for line in back.splitlines()]
    if extra:
        lines.append(f"    extra: {extra}")
    return "\n".join(lines) + "\n"


ERRORS = {
    "tex-braces": (card("a", "ok\n$\\frac{a}{b$"),
                   "t.yaml:7: error: card 'a': unbalanced braces in \\frac{a}{b"),
    "tex-left-right": (card("a", "$$\n\\left( x\n$$"),
                       "t.yaml:7: error: card 'a': \\left and \\right do not pair up in"
                       " \\left( x"),
    "tex-open": (card("a", "energy $E=mc^2 is famous"),
                 "t.yaml:6: error: card 'a': math left open at '$E=mc^2 is famous'; close"
                 " it, or escape a literal dollar as \\$"),
    "unsafe-html": (card("a", "fine\n<span onclick=alert(1)>x</span>"),
                    "t.yaml:7: error: card 'a': back: onclick= on <span>: not allowed in a card"
                    " (could run code, load from the network or restyle the card in every"
                    " reviewer's Anki); left out of what ships. Remove it, or add"
                    " allow: [unsafe-html] to ship the field without it"),
}


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_error_lints_fail_check_and_can_be_allowed(tmp_path, code):
    yaml_text, expected = ERRORS[code]
    result = check(tmp_path, yaml_text)
    assert result.exit_code == 1
    assert result.stderr == f"{tmp_path / 'cards'}/{expected}\n"

    allowed = check(tmp_path / "allowed", yaml_text + f"    allow: [{code}]\n")
    assert allowed.exit_code == 0, allowed.stderr
    assert allowed.stderr == ""


@pytest.mark.parametrize("snippet", ["<script>alert(1)</script>",
                                     "[click](javascript:alert(1))",
                                     '<a href="#" onclick="steal()">x</a>'])
def test_unsafe_html_is_caught_in_every_form(tmp_path, snippet):
    result = check(tmp_path, card("a", snippet))
    assert result.exit_code == 1 and "not allowed in a card" in result.stderr


def test_html_in_code_is_only_text(tmp_path):
    result = check(tmp_path, card("a", "`<script>` and\n\n```html\n<img onerror=x>\n```"))
    assert result.exit_code == 0, result.stderr


def test_prices_and_escaped_dollars_are_not_open_math(tmp_path):
    result = check(tmp_path, card("a", "costs $5, or $10 and \\$x"))
    assert result.exit_code == 0, result.stderr


def test_warnings_do_not_fail_check(tmp_path):
    yaml_text = (card("a", "one") + card("b", "two", front="A!") +
                 "  - id: c\n    cloze: '{{c1::x}} {{c3::y}}'\n")
    result = check(tmp_path, yaml_text, files={"unused.png": b"\x89PNG"})
    cards = tmp_path / "cards"
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"{cards}/t.yaml:7: warning: card 'b': same question as card 'a' ({cards}/t.yaml:3)",
        f"{cards}/t.yaml:12: warning: card 'c': cloze numbers skip c2; Anki makes no card for"
        " them",
        f"{cards}/unused.png:1: warning: image is not used by any card; delete it or link it",
    ]
    assert result.stdout.endswith("3 cards in 1 topic, 3 warnings\n")


def test_json_output_for_editors(tmp_path):
    result = check(tmp_path, card("a", "$\\frac{a}{b$") + card("b", "fine", front="A"),
                   "--format", "json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert [(p["line"], p["level"], p["code"]) for p in problems] == [
        (6, "error", "tex-braces"), (7, "warning", "duplicate-front")]
    assert problems[0]["path"].endswith("t.yaml")
