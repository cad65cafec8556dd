"""Reading a topic file card by card (loader.read_topic_by_card) gives exactly what
reading it whole gives (read_topic): the same topic, lines and problems, for files laid
out as usual, for layouts the cut must refuse, and for random edits of both, with the
cards of the file before the edit known. Property-based, derandomized and bounded."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deckgen import chunks, yamltree
from deckgen.build import build
from deckgen.loader import known_cards, read_topic, read_topic_by_card

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

USUAL = """\
deck: "LLM::Basics"
tags: [llm]
cards:
  # Attention
  - id: attention
    front: What does attention compute?
    back: |
      A weighted sum of values.

      Weights: $\\mathrm{softmax}(QK^T/\\sqrt{d})$.
    tags: [core]

  - id: kv-cache
    front: 'Why keep a KV cache?'
    back: >-
      So each step attends to past
      keys without recomputing them.
# Decoding
  - id: greedy
    cloze: "{{c1::Greedy}} decoding takes
      the most likely token."
    extra: |+
      kept trailing lines

    allow: [long-back]
id: basics
"""

# Layouts the cut must refuse, or whose pieces parse differently alone: each must
# still read exactly as the whole file does.
ODD = {
    "flow list": 'deck: D\ncards: [{id: a, front: f, back: b}]\n',
    "tab indent": "deck: D\ncards:\n  - id: a\n\tfront: f\n    back: b\n",
    "less indented line": "deck: D\ncards:\n  - id: a\n    front: f\n back: b\n",
    "anchor across cards": ("deck: D\ncards:\n  - id: a\n    front: &q f\n    back: b\n"
                            "  - id: b\n    front: *q\n    back: c\n"),
    "alias to the header": "deck: &d D\ncards:\n  - id: a\n    front: *d\n    back: b\n",
    "quote across cards": ('deck: D\ncards:\n  - id: a\n    front: "f\n  - id: b\n'
                           '    back: b"\n    back: c\n'),
    "two cards keys": "deck: D\ncards:\n  - id: a\n    front: f\n    back: b\ncards:\n",
    "cards key in a string": ('deck: "D\ncards:\n  - id: a\n    front: f\n    back: b"\n'),
    "old Mac line breaks": "deck: D\rcards:\r  - id: a\r    front: f\r    back: b\r",
    "line separator": "deck: D\ncards:\n  - id: a\n    front: f\u2028x\n    back: b\n",
    "crlf": "deck: D\r\ncards:\r\n  - id: a\r\n    front: f\r\n    back: b\r\n",
    "items at column 0": ("deck: D\ncards:\n- id: a\n  front: f\n  back: b\n- id: b\n"
                          "  cloze: '{{c1::x}}'\n"),
    "dash alone": "deck: D\ncards:\n  -\n    id: a\n    front: f\n    back: b\n",
    "document markers": "---\ndeck: D\ncards:\n  - id: a\n    front: f\n    back: b\n...\n",
    "second document": "deck: D\ncards:\n  - id: a\n    front: f\n    back: b\n---\nx: 1\n",
    "tag directive": ("%TAG !e! tag:example.com,2000:\n---\ndeck: D\ncards:\n  - id: a\n"
                      "    front: !e!x f\n    back: b\n"),
    "nested list item": "deck: D\ncards:\n  - - id: a\n      front: f\n      back: b\n",
    "errors in a card": "deck: D\ncards:\n  - id: A\n    front: f\n  - front: g\n",
    "empty cards": "deck: D\ncards:\n",
    "keys after cards": "cards:\n  - id: a\n    front: f\n    back: b\ndeck: D\ntags: [x]\n",
    "mapping below its dash": ("deck: D\ncards:\n  - # first\n    id: a\n    front: |\n"
                               "      f\n\n      $\\frac{a}{b$\n    back: b\n  - \n    id: b\n"
                               "    cloze: '{{c1::x}}'\n"),
    "anchor in a card, alias after the list": ("deck: &d Foo\ncards:\n  - id: x\n"
                                               "    front: &d bar\n    back: y\ntags: [*d]\n"),
    "tag directive redefining !": ("%TAG ! tag:yaml.org,2002:\n---\ndeck: D\ncards:\n"
                                   "  - id: x\n    front: !null foo\n    back: y\n"),
    "tag directive redefining !!": ("%TAG !! tag:a:nu\n---\ndeck: D\ncards:\n  - id: x\n"
                                    "    front: !!ll foo\n    back: y\n"),
    "comment right after the key": "deck: D\ncards:#x\n  - id: a\n    front: f\n    back: b\n",
}


def read_both(tmp_path: Path, text: str, before: str | None = None):
    """The file read whole, and card by card knowing the cards of `before`."""
    path = tmp_path / "t.yaml"
    raw = text.encode("utf-8", "surrogatepass")
    known = {} if before is None else known_of(path, before)
    return read_topic(tmp_path, path, raw), read_topic_by_card(tmp_path, path, raw, known)


def known_of(path: Path, text: str) -> dict:
    """The known cards a build that read `text` card by card keeps."""
    topic, _, texts = read_topic_by_card(path.parent, path,
                                         text.encode("utf-8", "surrogatepass"), {})
    return known_cards(topic, texts) if texts else {}


def test_a_usual_file_is_read_card_by_card_and_as_a_whole(tmp_path):
    (whole, problems), (topic, found, texts) = read_both(tmp_path, USUAL)
    assert problems == [] and found == []
    assert topic == whole
    assert [c.id for c in topic.cards] == ["attention", "kv-cache", "greedy"]
    assert [c.where.line for c in topic.cards] == [5, 13, 19]
    assert topic.cards[0].back.where.line == 8
    assert topic.cards[2].extra.source == "kept trailing lines\n\n"
    assert len(texts) == 3  # it was cut: one text per card
    assert [line for _, _, line in texts] == [4, 12, 18]  # lines before each


def test_known_cards_are_not_parsed_again_and_move_with_their_lines(tmp_path):
    edited = USUAL.replace("    front: What does", "    front: |\n      What\n      does", 1)
    (whole, _), (topic, _, texts) = read_both(tmp_path, edited, before=USUAL)
    assert topic == whole
    assert [c.where.line for c in topic.cards] == [5, 15, 21]
    path = tmp_path / "t.yaml"
    assert len(set(known_of(path, USUAL)) & {key for key, _, _ in texts}) == 2  # not edited


def test_a_known_card_is_used_without_parsing_its_text(tmp_path, monkeypatch):
    path = tmp_path / "t.yaml"
    known = known_of(path, USUAL)
    composed = []
    real = yamltree.compose_counted
    monkeypatch.setattr(yamltree, "compose_counted", lambda t: composed.append(t) or real(t))
    topic, _, _ = read_topic_by_card(tmp_path, path, USUAL.encode(), known)
    assert len(composed) == 1 and "- id:" not in composed[0]  # the rest of the file only
    assert topic == read_topic(tmp_path, path, USUAL.encode())[0]


def test_odd_layouts_read_as_the_whole_file_does(tmp_path):
    for name, text in ODD.items():
        (whole, problems), (topic, found, _) = read_both(tmp_path, text)
        assert (topic, found) == (whole, problems), name
        (_, _), (again, found_again, _) = read_both(tmp_path, text, before=text)
        assert (again, found_again) == (whole, problems), name


def test_the_cut_refuses_what_it_cannot_cut_exactly():
    for name in ("flow list", "tab indent", "less indented line", "two cards keys",
                 "old Mac line breaks", "line separator", "dash alone", "empty cards",
                 "tag directive redefining !", "comment right after the key"):
        assert chunks.cut(ODD[name]) is None, name
    cut = chunks.cut(ODD["items at column 0"])
    assert cut is not None and [c.line for c in cut.chunks] == [3, 6]


def test_a_damaged_cache_of_known_cards_reads_the_whole_file(tmp_path):
    path = tmp_path / "t.yaml"
    known = known_of(path, USUAL)
    whole = read_topic(tmp_path, path, USUAL.encode())
    key = next(iter(known))
    for damaged in [(1, ("a",)), (1, (7, 1, None, None, None, None, (), ())),
                    (1, ("a", "1", None, None, None, None, (), ())), ("x", ()),
                    (1, ("a", 1, ("f", 1), None, None, None, ["t"], ())),
                    (1, ("a", 1, ("f",), None, None, None, (), ())),
                    (1, ("a", 1, "f1", None, None, None, (), ())), (1, ()),
                    (1, ("a", 1, None, None, None, None, (), ())),
                    (1, ("a", 1, ("f", 1), None, ("c", 1), None, (), ())),
                    (1, ("A b", 1, ("f", 1), ("b", 2), None, None, (), ()))]:
        topic, problems, _ = read_topic_by_card(tmp_path, path, USUAL.encode(),
                                                {**known, key: damaged})
        assert (topic, problems) == whole, damaged


def test_too_many_values_across_cards_is_still_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(yamltree, "MAX_NODES", 40)
    text = "deck: D\ncards:\n" + "".join(
        f"  - id: c{i}\n    front: f\n    back: b\n" for i in range(8))  # 7 values a card
    (whole, problems), (topic, found, _) = read_both(tmp_path, text)
    assert topic is whole is None and found == problems
    assert "more than 40 values" in problems[0].message


def test_a_file_with_more_cards_than_values_allowed_is_not_read_card_by_card(
        tmp_path, monkeypatch):
    # Each card has at least five values (a mapping, its id, and a cloze or a front and
    # back): with more cards than a fifth of the limit, reading whole says what is wrong.
    monkeypatch.setattr(yamltree, "MAX_NODES", 40)
    text = "deck: D\ncards:\n" + "".join(f"  - id: c{i}\n    cloze: x\n" for i in range(9))
    composed = []
    real = yamltree.compose_counted
    monkeypatch.setattr(yamltree, "compose_counted", lambda t: composed.append(t) or real(t))
    (whole, problems), (topic, found, _) = read_both(tmp_path, text)
    assert (topic, found) == (whole, problems) and "more than 40 values" in found[0].message
    assert [t for t in composed if t.startswith("  - id:")] == []  # no card read alone


TEXTS = ["q", "a: b", "x # y", "two words", "{{c1::x}}", "$x^2$", "- item", "# h", "'", '"']
BLOCK_LINES = st.lists(st.sampled_from([*TEXTS, "", "  deeper"]), min_size=1, max_size=3)


def field(draw, key: str, indent: str) -> str:
    """One card field in one of YAML's styles, at the card's indentation."""
    text = draw(st.sampled_from(TEXTS))
    style = draw(st.sampled_from(["plain", "single", "double", "block"]))
    if style == "plain" and text[0] not in "-#'\"{" and ": " not in text:
        return f"{indent}{key}: {text}\n"
    if style in ("plain", "single"):
        quoted = text.replace("'", "''")
        return f"{indent}{key}: '{quoted}'\n"
    if style == "double":
        return f'{indent}{key}: "{text.replace(chr(34), "")}\n{indent}  more"\n'
    header = draw(st.sampled_from(["|", "|+", "|-", ">", ">-"]))
    lines = draw(BLOCK_LINES)
    return f"{indent}{key}: {header}\n" + "".join(
        f"{indent}  {line}\n" if line else "\n" for line in lines)


@st.composite
def usual_files(draw) -> str:
    """A topic file as people write them: cards in a block list, comments, blank lines."""
    dash = " " * draw(st.sampled_from([0, 2, 4]))
    inner = dash + "  "
    cards = []
    for n in range(draw(st.integers(1, 5))):
        between = draw(st.sampled_from(["", "\n", "# part\n", f"{dash}# note\n", "  \n"]))
        keys = draw(st.sampled_from([["front", "back"], ["cloze"], ["front", "back", "extra"],
                                     ["cloze", "extra"]]))
        body = "".join(field(draw, key, inner) for key in keys)
        tags = draw(st.sampled_from(["", f"{inner}tags: [t, u]\n", f"{inner}allow: [long-back]\n"]))
        lead = draw(st.sampled_from(["", "", f"# c\n{inner}", f"\n{inner}", "&a ", "!!map "]))
        cards.append(f"{between}{dash}- {lead}id: c{n}\n{body}{tags}")
    after = draw(st.sampled_from(["", "id: t\n", "tags: [x]\n# end\n"]))
    return "deck: D\ncards:\n" + "".join(cards) + after


# Any character of YAML's syntax, inserted or deleted anywhere.
edits = st.tuples(st.integers(0, 400), st.integers(0, 4), st.sampled_from(
    ["", "x", "\n", " ", "  ", "\n  - id: n\n    front: q\n    back: r", "#", "'", '"', ":",
     "- ", "\t", "|", "\r\n", "&x ", "*x", "[", "{", "\n- id: z\n", "\ncards:\n", "---\n"]))

@PROPERTY
@given(usual_files(), edits)
def test_edited_files_read_card_by_card_as_a_whole(tmp_path, before, edit):
    at, cut_out, insert = edit
    at = min(at, len(before))
    after = before[:at] + insert + before[at + cut_out:]
    (whole, problems), (topic, found, _) = read_both(tmp_path, after, before=before)
    assert (topic, found) == (whole, problems)
    (_, _), (_, before_problems, texts) = read_both(tmp_path, before)
    # Read card by card, unless something in it is wrong or a card defines an anchor.
    assert texts or before_problems or "&a" in before


def test_a_build_parses_only_the_edited_card(tmp_path, monkeypatch):
    cards, out = tmp_path / "cards", tmp_path / "build"
    cards.mkdir()
    (cards / "basics.yaml").write_text(USUAL, encoding="utf-8")
    build(cards, out, now=1_700_000_000)
    (cards / "basics.yaml").write_text(USUAL.replace("So each step", "So every step"),
                                       encoding="utf-8")
    composed = []
    real = yamltree.compose_counted
    monkeypatch.setattr(yamltree, "compose_counted", lambda t: composed.append(t) or real(t))
    report = build(cards, out, now=1_700_000_100)
    assert report.changes.changed_ids == ["kv-cache"]
    assert [t for t in composed if "- id:" in t] == [
        "  - id: kv-cache\n    front: 'Why keep a KV cache?'\n    back: >-\n"
        "      So every step attends to past\n      keys without recomputing them.\n"
        "# Decoding\n"]
