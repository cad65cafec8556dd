import pytest

from deckgen.cloze import BadDeletion, find_deletions, pad_deletions


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
