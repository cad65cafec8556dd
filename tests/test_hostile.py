"""Hostile and broken input: what ships is sanitized, and nothing ends in a traceback, a
hang or a silent loss."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deckgen import sanitize as sanitize_module
from deckgen.build import check as check_cards
from deckgen.build import collect_all
from helpers import run

PAYLOADS = {
    "entity in scheme": '<a href="jav&#x61;script:alert(1)">x</a>',
    "colon entity": '<a href="javascript&colon;alert(1)">x</a>',
    "tab entity": '<a href="java&#9;script:alert(1)">x</a>',
    "newline in scheme": '<a href="java\nscript:alert(1)">x</a>',
    "iframe srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "object data": '<object data="data:text/html,<script>alert(1)</script>"></object>',
    "embed data": '<embed src="data:text/html,<script>alert(1)</script>">',
    "alt with >": '<img alt=">" src=x onerror=alert(1)>',
    "inside pre": "<pre><img src=x onerror=alert(1)></pre>",
    "inside code": "<code><svg onload=alert(1)></code>",
    "svg animate": '<svg><animate attributeName="href" to="javascript:alert(1)"/></svg>',
    "form action": '<form action="javascript:alert(1)"><button>go</button></form>',
    "style": "<style>.card{display:none}</style>",
    "link": '<link rel="stylesheet" href="https://evil.example/x.css">',
    "base": '<base href="https://evil.example/">',
    "remote iframe": '<iframe src="https://evil.example/"></iframe>',
    "event on span": '<span onmouseover="alert(1)">x</span>',
    "cloze in attribute": '<a href="https://a.org" title="::<img src=x onerror=alert(1)>">y</a>',
    "comment": "<!-- {{c1::x}} -->",
    "field separator entity": "a&#31;b",
}


def write(cards: Path, text: str, name: str = "t.yaml") -> Path:
    cards.mkdir(parents=True, exist_ok=True)
    path = cards / name
    path.write_text(text, encoding="utf-8")
    return path


def basic(back: str, extra: str = "", allow: str = "") -> str:
    text = "deck: D\ncards:\n  - id: a\n    front: q\n    back: |\n"
    text += "".join(f"      {line}\n" for line in back.splitlines())
    if extra:
        text += f"    extra: {extra}\n"
    return text + (f"    allow: [{allow}]\n" if allow else "")


def shipped_fields(cards: Path) -> list[str]:
    collected = collect_all(cards)
    return [field for topic in collected.topics for note in topic.notes for field in note.fields]


def outside_allowlist(html: str) -> list[str]:
    """Elements and attributes outside the allowlist, as a browser would read them."""
    import nh3

    allow = sanitize_module.ALLOWLIST
    seen: list[str] = []

    def record(tag: str, name: str, value: str) -> str:
        if name not in allow.attributes.get(tag, ()) and name not in allow.values.get(tag, {}) \
                and not (name == "class" and tag in allow.classes):
            seen.append(f"{name}= on <{tag}>")
        if name == "href" and not re.match(r"(https?|mailto):", value, re.I):
            seen.append(f"href {value}")
        return value

    nh3.clean(html, tags=set(allow.tags), attribute_filter=record, link_rel=None,
              generic_attribute_prefixes=set("abcdefghijklmnopqrstuvwxyz"), url_schemes=None)
    seen += [f"<{t}>" for t in re.findall(r"<([a-zA-Z][^\s/>]*)", html) if t.lower()
             not in allow.tags]
    seen += ["comment"] * html.count("<!--")
    seen += [f"control U+{ord(c):04X}" for c in re.findall(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", html)]
    return seen


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_payload_is_an_error_and_never_ships(tmp_path, name):
    cards = tmp_path / "cards"
    write(cards, basic(PAYLOADS[name]))
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert "t.yaml:6: error: card 'a': back: " in result.stderr
    assert "allow: [unsafe-html]" in result.stderr

    write(cards, basic(PAYLOADS[name], allow="unsafe-html"))  # silenced: still sanitized
    fields = shipped_fields(cards)
    assert [f for f in fields if outside_allowlist(f)] == []


def test_markdown_link_with_javascript_and_math_stay_as_they_were(tmp_path):
    cards = tmp_path / "cards"
    write(cards, basic("[x](javascript:alert(1)) and $a<b$ and `<script>`"))
    result = run("check", "--cards", cards)
    assert result.exit_code == 1 and "link 'javascript:alert(1)'" in result.stderr
    write(cards, basic("$a<b$ and `<script>`\n\n```html\n<img onerror=x>\n```"))
    assert run("check", "--cards", cards).exit_code == 0


def test_markup_in_a_file_or_folder_name_is_escaped(tmp_path):
    cards = tmp_path / "cards"
    write(cards / "<img src=x onerror=alert(1)>", basic("a"))
    source = shipped_fields(cards)[-1]
    assert source == "&lt;img src=x onerror=alert(1)&gt;/t.yaml"


@pytest.mark.parametrize("tex, message", [
    (r"$\href{javascript:alert(1)}{x}$", r"\href in TeX is not allowed"),
    (r"$\url{file:///etc/passwd}$", r"\url in TeX is not allowed"),
    (r"$\style{color:red}{x}$", r"\style in TeX is not allowed"),
    (r"$\class{cloze}{x}$", r"\class in TeX is not allowed"),
    (r"$\cssId{x}{y}$", r"\cssId in TeX is not allowed"),
    (r"$\data{x=1}{y}$", r"\data in TeX is not allowed"),
    (r"<span>\(\style{color:red}{x}\)</span>", r"\style in TeX is not allowed"),
    (r"""$\mmlToken{mi}[href="javascript:alert(1)"]{x}$""", r"\mmlToken in TeX is not allowed"),
    (r"$\bbox[background:url(http://127.0.0.1/x)]{x}$", r"\bbox in TeX is not allowed"),
    (r"$\bbox [ red ; border: 1px ]{x}$", r"\bbox in TeX is not allowed"),
    (r"$\def\b#1{\bbox[#1]{x}}\b{background:url(https://a.org)}$", r"\bbox in TeX is not"),
    (r"$\let\B\bbox \B[background:url(https://a.org)]{x}$", r"\bbox in TeX is not allowed"),
    # A lone backslash (one before a line break) handed to a macro spells any command.
    ("\\(\\def\\x#1\n{#1href{javascript:alert(1)}{click}}\\x\\\n\\)",
     r"\def in TeX is not allowed"),
    ("\\(\\newcommand{\\x}[1]{#1href}\\)", r"\newcommand in TeX is not allowed"),
    (r"\(\unicode[x;background:url(https://a.org/b.png)]{x41}\)", r"\unicode in TeX is not"),
    (r"\(\require{html}\)", r"\require in TeX is not allowed"),
    (r"$\fcolorbox{red;background:url(https://a.org/b.png)}{white}{x}$",
     r"\fcolorbox in TeX is not allowed"),
    (r"$\definecolor{q}{named}{red;background:url(https://a.org)}$",
     r"\definecolor in TeX is not allowed"),
])
def test_tex_that_links_or_restyles_is_an_error(tmp_path, tex, message):
    cards = tmp_path / "cards"
    write(cards, basic(tex, allow="unsafe-html"))
    result = run("check", "--cards", cards)
    assert result.exit_code == 1 and message in result.stderr
    assert ":6: error: card 'a': " in result.stderr


def test_tex_links_to_the_web_are_fine(tmp_path):
    cards = tmp_path / "cards"
    write(cards, basic(r"$\href{https://arxiv.org}{x}$ and $\url{http://a.org}$"))
    assert run("check", "--cards", cards).exit_code == 0


def test_unclosed_tex_links_do_not_hang_the_check(tmp_path):
    """Each unclosed brace used to be scanned to the end of the field: over five minutes
    for these 320 KB (hours for 1 MB); a second or so now."""
    cards = tmp_path / "cards"
    write(cards, basic("```\n" + "\\href{https://a " * 20_000 + "\n```", allow="long-back"))
    result = subprocess.run([sys.executable, "-m", "deckgen", "check", "--cards", cards],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\x07", "\x9b"])
def test_control_characters_are_errors_at_their_line(tmp_path, char):
    cards = tmp_path / "cards"
    write(cards, basic("fine\nbad" + char + "here"))
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert f"t.yaml:7: error: control character U+{ord(char[-1]):04X}" in result.stderr
    assert "Traceback" not in result.output


def test_field_separator_in_a_file_name_is_an_error(tmp_path):
    cards = tmp_path / "cards"
    write(cards, basic("a"), name="a\x1fb.yaml")
    result = run("check", "--cards", cards)
    assert result.exit_code == 1 and "control character U+001F" in result.stderr


BOUNDED = {
    "alias bomb as key": ("a: &a [x, x, x, x, x, x, x, x, x]\n"
                          + "".join(f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                                    for p, c in zip("abcdefgh", "bcdefghi"))
                          + "deck: D\ncards:\n  - {id: a, front: q, back: b, *i : x}\n",
                          "more than 500,000 values"),
    "recursive alias": ("deck: D\ncards: &c\n  - *c\n", "refers to a node that contains it"),
    # PyYAML 6.0.4's libyaml stops it first, with its own words; earlier ones reach ours.
    "deep flow list": ("deck: D\ncards: " + "[" * 5000 + "]" * 5000 + "\n",
                       ("nested more than 50", "exceeded maximum nesting depth")),
    "huge flow list": ("deck: D\ncards: [" + "x," * 600_000 + "]\n", "more than 500,000 values"),
    "cloze number": ("deck: D\ncards:\n  - id: a\n    cloze: '{{c99999999999::x}}'\n",
                     "cloze number c99999999999 is outside c1..c500"),
    "cloze 501": ("deck: D\ncards:\n  - id: a\n    cloze: '{{c501::x}}'\n", "c1..c500"),
    "nested clozes": ("deck: D\ncards:\n  - id: a\n    cloze: '" + "{{c1::" * 300 + "x"
                      + "}}" * 300 + "'\n", "nested more than 10 deep"),
    "nested markdown list": ("deck: D\ncards:\n  - id: a\n    front: q\n    back: '"
                             + "- " * 1000 + "x'\n", "nested too deeply"),
}


@pytest.mark.parametrize("name", sorted(BOUNDED))
def test_bounded_work_ends_in_a_path_line_error(tmp_path, name):
    text, messages = BOUNDED[name]
    cards = tmp_path / "cards"
    write(cards, text)
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    words = "|".join(map(re.escape, [messages] if isinstance(messages, str) else messages))
    assert re.search(rf"t\.yaml:\d+: error: .*({words})", result.stderr), result.stderr


def test_unreadable_topic_is_an_error_not_a_removal(tmp_path):
    cards, out = tmp_path / "cards", tmp_path / "build"
    write(cards, basic("a"), name="one.yaml")
    write(cards, basic("b").replace("id: a", "id: b").replace("deck: D", "deck: E"),
          name="two.yaml")
    assert run("build", "--cards", cards, "--out", out).exit_code == 0
    state = (cards / "deckgen-state.json").read_bytes()
    (cards / "two.yaml").unlink()
    (cards / "two.yaml").symlink_to("gone.yaml")  # dangling
    (cards / "loop").symlink_to(".")
    result = run("build", "--cards", cards, "--out", out)
    assert result.exit_code == 1
    assert "two.yaml:1: error: cannot read this file (a symlink to nothing)" in result.stderr
    assert "loop:1: error: symlink loop" in result.stderr
    assert (out / "two.apkg").exists() and (cards / "deckgen-state.json").read_bytes() == state


def denied(real, matches):
    """`real`, failing with Permission denied where `matches`: permissions do not stop
    root, who runs CI."""

    def patched(target):
        if matches(target):
            raise PermissionError(errno.EACCES, "Permission denied", str(target))
        return real(target)

    return patched


def test_unreadable_folder_is_an_error(tmp_path, monkeypatch):
    import os

    cards = tmp_path / "cards"
    write(cards / "locked", basic("a"))
    monkeypatch.setattr(os, "scandir", denied(os.scandir, lambda p: str(p).endswith("locked")))
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert "locked:1: error: cannot read this folder (Permission denied)" in result.stderr


def test_unreadable_image_is_an_error_at_its_line(tmp_path, monkeypatch):
    cards = tmp_path / "cards"
    write(cards, basic("![x](fig.png)"))
    (cards / "fig.png").write_bytes(b"\x89PNG")
    monkeypatch.setattr(Path, "read_bytes", denied(Path.read_bytes, lambda p: p.name == "fig.png"))
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert "t.yaml:6: error: image 'fig.png' cannot be read (Permission denied)" in result.stderr


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
def test_full_disk_or_read_only_folder_keeps_earlier_outputs(tmp_path, monkeypatch, error):
    cards, out = tmp_path / "cards", tmp_path / "build"
    write(cards, basic("a"))
    assert run("build", "--cards", cards, "--out", out).exit_code == 0
    state, package = (cards / "deckgen-state.json").read_bytes(), (out / "all.apkg").read_bytes()
    write(cards, basic("changed"))
    from deckgen import atomic

    def failing(path):
        raise OSError(error, "simulated", str(path))

    monkeypatch.setattr(atomic, "temp_beside", failing)
    monkeypatch.setattr("deckgen.package.temp_beside", failing)
    result = run("build", "--cards", cards, "--out", out)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.stderr.splitlines()) == 1 and ": simulated; " in result.stderr
    assert (cards / "deckgen-state.json").read_bytes() == state
    assert (out / "all.apkg").read_bytes() == package


def test_full_disk_while_saving_the_state_keeps_it(tmp_path, monkeypatch):
    cards, out = tmp_path / "cards", tmp_path / "build"
    write(cards, basic("a"))
    assert run("build", "--cards", cards, "--out", out).exit_code == 0
    state = (cards / "deckgen-state.json").read_bytes()
    write(cards, basic("changed"))

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("deckgen.state.write_atomically", full)
    result = run("build", "--cards", cards, "--out", out)
    assert result.exit_code == 1
    assert result.stderr == (f"{cards / 'deckgen-state.json'}: No space left on device; free"
                             " some space and run it again\n")
    assert (cards / "deckgen-state.json").read_bytes() == state


@pytest.mark.parametrize("value", ['"soon"', "null", "1.5", "1e20", "-5", "100000000000000"])
def test_hand_edited_state_with_wrong_values_is_an_error(tmp_path, value):
    cards, out = tmp_path / "cards", tmp_path / "build"
    write(cards, basic("a"))
    assert run("build", "--cards", cards, "--out", out).exit_code == 0
    state = cards / "deckgen-state.json"
    text = state.read_text()
    state.write_text(re.sub(r'("a": \["[0-9a-f]+", )\d+', lambda m: m.group(1) + value, text))
    result = run("build", "--cards", cards, "--out", out)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the second value must be a time in whole seconds" in result.stderr
    assert re.search(r"deckgen-state\.json:\d+: error: cannot read the build state: 'a'",
                     result.stderr)


@pytest.mark.parametrize("first, second, message", [
    ("D::Sub", "d::sub", "deck 'd::sub' is the same deck in Anki (which ignores case, Unicode"
                         " normalization and spaces around '::') as 'D::Sub' of topic 'one'"),
    # Names as Anki stores them (spaces around '::' trimmed, Unicode in NFC) are equal.
    ("D::Sub", "D :: Sub", "deck 'D::Sub' is also used by topic 'one'"),
    ("D::Cafe\u0301", "D::Caf\u00e9", "deck 'D::Caf\u00e9' is also used by topic 'one'"),
])
def test_decks_anki_would_merge_are_errors_naming_both(tmp_path, first, second, message):
    cards = tmp_path / "cards"
    write(cards, basic("a").replace("deck: D", f"deck: '{first}'"), name="one.yaml")
    write(cards, basic("b").replace("id: a", "id: b").replace("deck: D", f"deck: '{second}'"),
          name="two.yaml")
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert result.stderr == f"{cards / 'two.yaml'}:1: error: {message} ({cards / 'one.yaml'})\n"


@pytest.mark.parametrize("tag, becomes", [("x::", "x::blank"), ("::", "blank::blank"),
                                          ("Cafe\u0301", "Caf\u00e9")])
def test_tags_anki_rewrites_are_errors(tmp_path, tag, becomes):
    cards = tmp_path / "cards"
    write(cards, basic("a") + f"    tags: ['{tag}']\n")
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert f"tag '{tag}' would become '{becomes}' in Anki" in result.stderr


def test_tags_differing_by_case_are_errors_naming_both(tmp_path):
    cards = tmp_path / "cards"
    write(cards, "deck: D\ntags: [Attention]\ncards:\n  - id: a\n    front: q\n    back: b\n"
                 "    tags: [attention]\n")
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert (f"t.yaml:4: error: tag 'attention' is the same tag in Anki, which ignores case,"
            f" as 'Attention' ({cards / 't.yaml'}:4)") in result.stderr  # the card that has it


def test_raw_img_is_packaged_like_a_markdown_image(tmp_path):
    cards = tmp_path / "cards"
    write(cards, basic('<img src="img/fig.png" alt="x">'))
    (cards / "img").mkdir()
    (cards / "img" / "fig.png").write_bytes(b"\x89PNG")
    checked = check_cards(cards)
    note = checked.notes[0]
    digest = hashlib.sha1(b"\x89PNG").hexdigest()[:10]
    assert [m.name for m in note.media] == [f"fig-{digest}.png"]
    assert f'src="{note.media[0].name}"' in note.fields[1]


@pytest.mark.parametrize("src", ["http://example.org/a.png", "file:///etc/passwd",
                                 "//example.org/a.png", "missing.png"])
def test_remote_file_and_missing_images_are_errors(tmp_path, src):
    cards = tmp_path / "cards"
    for text in (f"![x]({src})", f'<img src="{src}">'):
        write(cards, basic(text))
        result = run("check", "--cards", cards)
        assert result.exit_code == 1 and "t.yaml:6: error:" in result.stderr, text
        assert f"'{src}'" in result.stderr


def test_media_names_never_start_with_underscore(tmp_path):
    cards = tmp_path / "cards"
    write(cards, basic("![x](_x.png) ![y](__.png)"))
    (cards / "_x.png").write_bytes(b"\x89PNG a")
    (cards / "__.png").write_bytes(b"\x89PNG b")
    names = [m.name for m in check_cards(cards).notes[0].media]
    assert len(names) == 2 and not any(n.startswith("_") for n in names)


@pytest.mark.parametrize("piece", ["<![CDATA[ ", "[a]("])
def test_markup_that_markdown_chews_on_for_minutes_is_stopped(tmp_path, monkeypatch, piece):
    from deckgen import deadline

    monkeypatch.setattr(deadline, "LIMIT_S", 0.5)  # 2,000 of these took half a minute
    cards = tmp_path / "cards"
    write(cards, basic(piece * 2000))
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert (f"{cards / 't.yaml'}:6: error: text took over 0.5 s to render (thousands of"
            " unclosed '<', '[' or '(' in a row?); simplify it") in result.stderr


@pytest.mark.parametrize("kind", ["symlink loop", "name too long", "null byte"])
def test_image_paths_the_system_refuses_are_errors(tmp_path, kind):
    cards = tmp_path / "cards"
    src = {"symlink loop": "../loop/x.png", "name too long": "x" * 5000 + ".png",
           "null byte": "a\\0b.png"}[kind]
    if kind == "symlink loop":  # outside the cards folder, which is checked for loops
        (tmp_path / "loop").symlink_to("loop")
    for text in (f"![x]({src})", f"<img src='{src}'>"):
        # Double-quoted YAML, so that \0 is a null byte in the text.
        write(cards, f'deck: D\ncards:\n  - id: a\n    front: q\n    back: "{text}"\n')
        result = run("check", "--cards", cards)
        assert result.exit_code == 1, (text, result.stderr)
        assert "Traceback" not in result.stderr
        assert "t.yaml:5: error: image '" in result.stderr, (text, result.stderr)


def test_links_out_of_the_cards_folder_are_errors(tmp_path):
    """A topic file or folder reached through a link must not ship a file from elsewhere,
    nor walk the whole disk (a link to /)."""
    cards, outside = tmp_path / "cards", tmp_path / "outside"
    write(cards, basic("a"))
    write(outside, basic("secret").replace("id: a", "id: secret"), name="secret.yaml")
    (cards / "ext").symlink_to(outside)
    (cards / "root").symlink_to("/")
    (cards / "one.yaml").symlink_to(outside / "secret.yaml")
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert sorted(result.stderr.splitlines()) == [
        f"{cards / name}:1: error: a link to outside the cards folder; copy what it links"
        " to into the folder, or remove the link" for name in ("ext", "one.yaml", "root")]


def test_a_control_character_in_a_file_name_cannot_forge_report_lines(tmp_path):
    cards = tmp_path / "cards"
    write(cards, basic("a"))
    write(cards, basic("b").replace("id: a", "id: b"), name="x.yaml:1: warning: ok\nall.yaml")
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert result.stderr == (f"{cards}:1: error: the name 'x.yaml:1: warning: ok\\nall.yaml'"
                             " has a control character U+000A; rename it\n")


def test_a_huge_file_in_the_cards_folder_is_not_read_into_memory(tmp_path):
    cards = tmp_path / "cards"
    write(cards, basic("a"))
    with open(cards / "notes.bin", "wb") as f:  # sparse: no disk space used
        f.truncate(3 << 30)
    with open(cards / "huge.yaml", "wb") as f:
        f.truncate(100 << 20)
    code = ("import resource, sys\nresource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "sys.argv = ['deckgen', 'check', '--cards', sys.argv[1]]\n"
            "from deckgen.cli import main\nmain()\n")
    result = subprocess.run([sys.executable, "-c", code, cards], capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr == (f"{cards / 'huge.yaml'}:1: error: file too large (100 MiB; a"
                             " topic or state file may have at most 64 MiB)\n")


def test_a_huge_image_is_an_error_not_read(tmp_path):
    cards = tmp_path / "cards"
    write(cards, basic("![x](big.png)"))
    with open(cards / "big.png", "wb") as f:  # sparse
        f.truncate(100 << 20)
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert result.stderr.endswith("t.yaml:6: error: image 'big.png' is too large (100 MiB; a"
                                  " card's image may have at most 32 MiB)\n")


STATE_DAMAGE = {
    "nested too deeply": lambda state: state.write_text("[" * 100_000 + "]" * 100_000),
    "UTF-16": lambda state: state.write_text('{"version": 1}', encoding="utf-16"),
    "a link to a device": lambda state: state.symlink_to("/dev/zero"),
    "a pipe": lambda state: os.mkfifo(state),
    "a folder": lambda state: state.mkdir(),
}


@pytest.mark.parametrize("what", list(STATE_DAMAGE))
def test_a_hostile_state_file_is_one_error(tmp_path, what):
    cards, out = tmp_path / "cards", tmp_path / "build"
    write(cards, basic("a"))
    assert run("build", "--cards", cards, "--out", out).exit_code == 0
    before = (out / "all.apkg").read_bytes()
    state = cards / "deckgen-state.json"
    state.unlink()
    STATE_DAMAGE[what](state)
    write(cards, basic("b"))
    result = subprocess.run([sys.executable, "-m", "deckgen", "build", "--cards", cards,
                             "--out", out], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"{state}:") and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert (out / "all.apkg").read_bytes() == before


def test_many_wrong_state_entries_are_found_in_one_pass(tmp_path):
    cards = tmp_path / "cards"
    write(cards, basic("a"))
    entries = ",\n".join(f'    "c{n}": ["x", -1, "t", "y"]' for n in range(100_000))
    (cards / "deckgen-state.json").write_text(
        f'{{\n  "version": 1,\n  "notetypes": {{}},\n  "notes": {{\n{entries}\n  }}\n}}\n')
    result = subprocess.run([sys.executable, "-m", "deckgen", "build", "--cards", cards,
                             "--out", tmp_path / "build"], capture_output=True, text=True,
                            timeout=120)  # minutes when each key's line was searched for
    assert result.returncode == 1
    assert result.stderr.startswith(f"{cards / 'deckgen-state.json'}:5: error: cannot read"
                                    " the build state: 'c0': the second value")


def test_names_that_are_not_utf8_or_reorder_text_are_errors_and_icon_files_are_skipped(
        tmp_path):
    cards = tmp_path / "cards"
    write(cards, basic("a"))
    (cards / "Icon\r").write_bytes(b"")  # a macOS folder icon: not the author's file
    os.close(os.open(os.path.join(os.fsencode(cards), b"\xff\xfe.png"), os.O_CREAT, 0o644))
    (cards / "a\u202eb.png").write_bytes(b"\x89PNG")
    result = run("check", "--cards", cards)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert sorted(result.stderr.splitlines()) == sorted([
        f"{cards}:1: error: the name 'a\\u202eb.png' has a control character U+202E;"
        " rename it",
        f"{cards}:1: error: the name '\\udcff\\udcfe.png' is not valid UTF-8; rename it"])


def cloze_card(text: str) -> str:
    return "deck: D\ncards:\n  - id: a\n    cloze: |\n" + "".join(
        f"      {line}\n" for line in text.splitlines())


@pytest.mark.parametrize("text, command", [
    (r"x \(\hr{{c1::ef}}{javascript:alert(1)}{click}\) y", "href"),
    (r"x \(\bb{{c1::ox}}[background:url(https://a.org/t.png)]{E}\) y", "bbox"),
    (r"{{c1::a}} \(\st{{c2::yle}}{color:red}{x}\)", "style"),  # card 1's front joins c2
    (r"\(\hr{{c1::e::hint}}f{javascript:alert(1)}{x}\)", "href"),  # the hint is not shown
    (r"\(\h{{c1::r{{c2::e}}f}}{javascript:alert(1)}{x}\)", "href"),  # nested
    # Anki takes a hint from each piece of a deletion's text, not once for all of it.
    (r"x \({{c1::\h::junk{{c2::r}}e}}f{javascript:alert(1)}{click}\) y", "href"),
    # Card 2's question shows its hint in brackets: \bbox's options.
    (r"x \(\bb{{c1::ox}}{{c2::Q::background:url(https://a.org/t.png)}}{E}\) y", "bbox"),
    # Braces the sanitizer decodes from entities: Anki ends a deletion at the first }}.
    (r"\(\hr{{c1::e::&#123;}}f{javascript:alert(1)}{click}{{c2::y::&#125;a}}\)", "href"),
])
def test_tex_commands_spelled_across_a_cloze_are_errors(tmp_path, text, command):
    """Anki puts a deletion's text in place on the answer (and other deletions' on the
    front) before MathJax reads the formula: a command split by a deletion is whole then."""
    cards = tmp_path / "cards"
    write(cards, cloze_card(text))
    result = run("check", "--cards", cards)
    assert result.exit_code == 1 and f"\\{command} in TeX is not allowed" in result.stderr


@pytest.mark.parametrize("text", [
    r"{{c1::ok}} and {\{c9999::hidden}}",  # a deletion only Markdown makes
    r"{{c1::ok}} and {{c2::x &#123;&#123;c3::y}} }}",  # one made of entities, inside c2
])
def test_cloze_deletions_made_or_changed_by_markdown_escapes_are_errors(tmp_path, text):
    """Anki reads deletions in the rendered field: one there that the checks of the
    source did not see (numbered past c500, or ending elsewhere) is an error."""
    cards = tmp_path / "cards"
    write(cards, cloze_card(text))
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert ("t.yaml:5: error: card 'a': Anki would not read the cloze deletions as written"
            in result.stderr)


def test_a_cloze_in_a_highlighted_code_block_is_an_error_not_a_traceback(tmp_path):
    """Highlighting splits `{{c1::` into tokens: Anki would find no deletion, and the
    package no card."""
    cards = tmp_path / "cards"
    write(cards, cloze_card("```python\nx = {{c1::len}}(y)\n```"))
    result = run("build", "--cards", cards, "--out", tmp_path / "build")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr == (
        f"{cards / 't.yaml'}:5: error: card 'a': Anki would not read the cloze deletions as"
        " written (written: c1; read: none): a Markdown escape (\\{ or \\}) or an entity"
        " becomes a brace that opens or ends one, a code block's highlighting splits one, and"
        " the sanitizer removes one in unsafe markup; put deletions in plain text or inline"
        " code, and braces unescaped\n")


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85", "\u202e"])
def test_text_echoed_in_a_message_cannot_forge_report_lines(tmp_path, char):
    """A key or value quoted in a message, with a line separator (or a direction
    override), would read as a report line of its own to editors and CI."""
    cards = tmp_path / "cards"
    escaped = f"\\u{ord(char):04x}"  # as YAML writes it in double quotes
    write(cards, basic("a") + f'    "x{escaped}cards/evil.yaml:1: error: forged": 1\n')
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert char not in result.stderr
    assert len(result.stderr.splitlines()) == len(result.stderr.split("\n")) - 1 == 1
    assert f"x\\u{ord(char):04x}cards/evil.yaml:1: error: forged" in result.stderr


@pytest.mark.parametrize("text", [r"The set \{x\} has {{c1::one}} element",
                                  r"{{c1::答案}}。占位符写作 \{\{query\}\}。"])
def test_escaped_braces_that_change_no_deletion_are_fine(tmp_path, text):
    cards = tmp_path / "cards"
    write(cards, cloze_card(text))
    result = run("check", "--cards", cards)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("folder, name", [("", r"\(\href{javascript:alert(1)}{x}\).yaml"),
                                          (r"\(\bbox[background:red]{E}\)", "t.yaml")])
def test_a_backslash_in_a_file_or_folder_name_is_an_error(tmp_path, folder, name):
    """Each card's footer shows its file's path (Source), where MathJax reads TeX."""
    cards = tmp_path / "cards"
    write(cards / folder, basic("a"), name=name)
    result = run("check", "--cards", cards)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "has a backslash, which Anki would read as TeX" in result.stderr


@pytest.mark.parametrize("name", [".hid/a.png", ".a.png", "a.png~"])
def test_an_image_the_build_does_not_read_is_an_error(tmp_path, name):
    """Hidden files and backups are not the bank's files: the build never sees them
    change, so a card showing one would go stale."""
    cards = tmp_path / "cards"
    write(cards, basic(f"![x]({name})"))
    (cards / name).parent.mkdir(parents=True, exist_ok=True)
    (cards / name).write_bytes(b"\x89PNG")
    result = run("build", "--cards", cards, "--out", tmp_path / "build")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"image '{name}' is hidden, or links to a hidden file" in result.stderr


def test_a_cloze_number_in_full_width_digits_is_no_deletion(tmp_path):
    """Anki reads only ASCII digits: {{c１::x}} (a full-width 1, as a Chinese input method
    types it) shows "No cloze 1 found on card"."""
    cards = tmp_path / "cards"
    write(cards, cloze_card("缩放因子是 {{c\uff11::$\\sqrt{d_k}$}}。"))
    result = run("check", "--cards", cards)
    assert result.exit_code == 1
    assert "cloze has no deletion like {{c1::...}}" in result.stderr


def test_a_backslash_in_another_files_name_is_fine(tmp_path):
    """Only topic files' paths show in a card's footer."""
    cards = tmp_path / "cards"
    write(cards, basic("a"))
    (cards / "C:\\drafts.txt").write_text("notes", encoding="utf-8")
    assert run("check", "--cards", cards).exit_code == 0
