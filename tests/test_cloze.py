import pytest

from deckgen.cloze import BadDeletion, find_deletions, numbers, pad_deletions, sides


def test_finds_numbers_and_hints():
    text = "{{c1::a}} and {{c2::b::hint}} then {{c1::c}}"
    assert [d.number for d in find_deletions(text)] == [1, 2, 1]


def test_braces_inside_a_deletion_do_not_end_it():
    (deletion,) = find_deletions(r"$x={{c1::\frac{a}{\sqrt{b}}}}$")
    assert deletion.end == len(r"$x={{c1::\frac{a}{\sqrt{b}}}}")


@pytest.mark.parametrize("source, padded", [
    (r"{{c1::\frac{a}{b}}}", r"{{c1::\frac{a}{b} }}"),
    (r"{{c1::\frac{a}{\sqrt{b}}}}", r"{{c1::\frac{a}{\sqrt{b} } }}"),
    (r"{{c1::$\sqrt{d_k}$}}", r"{{c1::$\sqrt{d_k}$}}"),
    ("{{c1::outer {{c2::inner}}}}", "{{c1::outer {{c2::inner}} }}"),
    ("plain }} outside", "plain }} outside"),
])
def test_padding_leaves_anki_one_closing_pair(source, padded):
    assert pad_deletions(source) == padded


def test_unclosed_deletion_reports_where_it_opens():
    with pytest.raises(BadDeletion) as info:
        find_deletions("ok {{c1::never closed }")
    assert info.value.offset == 3


SIDES = [
    r"\(\h{{c1::r::junk{{c2::e}}f}}{x}\)",
    r"\(\bb{{c1::ox}}{{c2::Q::CSS}}{E}\)",
    r"\(\hr{{c1::e::{}}f{j}{c}{{c2::y::}a}}\)",
    r"\({{c1::a::h1::h2}} }} {{c3::b}}\)",
    r"\(" + "".join(f"{{{{c{i}::{chr(96 + i)}" for i in range(1, 13)) + "}}" * 12 + r"\)",
    r"\(a {{c2::b {{c1::c}} d}} e\)",
]


@pytest.mark.parametrize("text", SIDES)
def test_sides_are_what_anki_shows(text, collection):
    """The answer and each card's question, as the Anki library renders them (in math,
    where Anki adds no markup around a deletion)."""
    note = collection.new_note(collection.models.by_name("Cloze"))
    note["Text"] = text
    shown = []
    for number in sorted(numbers(text)):
        card = note.ephemeral_card(ord=number - 1)
        question = card.question().split("</style>")[-1]
        if "No cloze" not in question:  # a deletion nested too deep: Anki drops it
            shown.append((question, card.answer().split("</style>")[-1].split("<br>")[0]))
    answers = {answer for _, answer in shown}
    assert len(answers) == 1 and sides(text) == [*answers, *(q for q, _ in shown)]
