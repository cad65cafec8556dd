"""Property-based: random YAML structures, Unicode and Markdown/TeX/HTML fed to `check`.

Whatever comes in, no exception escapes, every problem has a path and a line, and no
field that would ship holds an element or attribute outside the sanitizer's allowlist.
Derandomized and bounded, so CI runs the same examples in a few seconds.
"""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deckgen.build import collect_all
from test_hostile import PAYLOADS, outside_allowlist

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
PIECES = [*PAYLOADS.values(), "$x$", "$$\n\\frac{a}{b}\n$$", "\\(", "{{c1::", "}}", "::",
          "{{c2::a::b}}", "**b**", "- ", "\n", "> ", "```\n", "`", "![i](a.png)", "<b>",
          "&#31;", "&amp;", "[l](http://a.org)", "|a|b|\n|-|-|\n|1|2|", "\\href{x}{y}", "\u0301"]
markup = st.lists(st.sampled_from(PIECES) | st.text(max_size=8), max_size=12).map("".join)
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10) | markup
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6) | st.sampled_from(
                          ["id", "front", "back", "cloze", "extra", "tags", "allow"]),
                          inner, max_size=4), max_leaves=12)
card = st.fixed_dictionaries({"id": st.sampled_from(["a", "b", "C", "a b"]),
                              "front": markup, "back": markup},
                             optional={"cloze": markup, "extra": markup,
                                       "tags": st.lists(st.text(max_size=5), max_size=2)})
topic = st.fixed_dictionaries({"deck": st.text(max_size=10) | st.just("D"),
                               "cards": st.lists(card | values, max_size=3)})


def check_everything(tmp_path, text: str) -> None:
    cards = tmp_path / "cards"
    cards.mkdir(exist_ok=True)
    (cards / "t.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    collected = collect_all(cards)  # raises nothing: every problem is collected
    for problem in collected.problems:
        assert problem.path and problem.line >= 1, problem
    for topic in collected.topics:
        for note in topic.notes:
            for field in note.fields:
                assert outside_allowlist(field) == [], field


@FUZZ
@given(topic)
def test_random_topics(tmp_path, data):
    check_everything(tmp_path, yaml.safe_dump(data, allow_unicode=True))


@FUZZ
@given(st.text(max_size=200))
def test_random_unicode(tmp_path, text):
    check_everything(tmp_path, text.replace("\ud800", "").encode("utf-8", "replace").decode())


@FUZZ
@given(markup)
def test_random_markup_in_a_card(tmp_path, text):
    for key in ("back", "cloze"):
        sides = f"front: q\n    {key}: " if key == "back" else f"{key}: "
        body = "".join(f"      {line}\n" for line in text.splitlines()) or "      x\n"
        check_everything(tmp_path, f"deck: D\ncards:\n  - id: a\n    {sides}|\n{body}")
