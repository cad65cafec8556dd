"""Find the YAML sources, validate them, and turn them into Topics.

Validation walks PyYAML's node tree rather than plain Python values, so every
problem can name the line it is on; all problems are gathered before failing.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from deckgen import COMBINED, chunks, yamltree
from deckgen.anki_names import anki_deck, anki_tag, deck_key
from deckgen.errors import UNSHOWABLE, Problem
from deckgen.lints import LINTS
from deckgen.model import Card, Location, Text, Topic

SLUG = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
MAX_ID = 100  # an id is shown in each card's footer and in every message about it
# What libyaml refuses (C0 and C1 controls but tab, newline, CR and NEL; U+FFFE/F), and
# U+001F: Anki's field separator, which would split a note into extra fields.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
# The source format's keys. src/deckgen/topic.schema.json says the same for editors, and
# tests/test_schema.py checks that the two agree.
TOPIC_KEYS = ("deck", "id", "tags", "cards")
TOPIC_REQUIRED = ("deck", "cards")
CARD_KEYS = ("id", "front", "back", "cloze", "extra", "tags", "allow")
TEXT_KEYS = ("front", "back", "cloze", "extra")
SIDES = ("front", "back")  # what a card has unless it is a cloze
# The cards of a file by the hash of their text, as known_cards() makes them for the next
# read_topic_by_card(): the number of values in the text, and (id, line, front, back,
# cloze, extra, tags, allow) with each text as (source, line), lines counted from the
# text's first.
KnownCards = dict[bytes, tuple[int, tuple]]
KEY_SIZE = 16  # bytes of a card text's SHA-256 kept
MIN_CARD_VALUES = 5  # a mapping, its id, and a cloze (or a front and a back: 7)


@dataclass(frozen=True)
class CardOrigins:
    """Where each card of a file read card by card came from, in order: the hash of its
    text, the number of values in that text, and the number of lines before it. Enough
    to make the file's KnownCards from its cards (known_cards()) when the cache is saved;
    packed, as a build holds one for every file it read until then."""

    hashes: bytes = b""  # KEY_SIZE bytes a card
    node_counts: array = field(default_factory=lambda: array("q"))
    lines_before: array = field(default_factory=lambda: array("q"))

    @classmethod
    def packed(cls, entries: list[tuple[bytes, int, int]]) -> CardOrigins:
        return cls(b"".join(key for key, _, _ in entries),
                   array("q", (count for _, count, _ in entries)),
                   array("q", (before for _, _, before in entries)))

    def __len__(self) -> int:
        return len(self.node_counts)

    def __iter__(self) -> Iterator[tuple[bytes, int, int]]:
        for n, (count, before) in enumerate(zip(self.node_counts, self.lines_before)):
            yield self.hashes[n * KEY_SIZE:(n + 1) * KEY_SIZE], count, before


class _Refused(Exception):
    """The file, or what is known of its cards, is not such that it can be read card by
    card exactly as it reads whole."""


def read_topic(cards_dir: Path, path: Path, raw: bytes | None = None,
               ) -> tuple[Topic | None, list[Problem]]:
    """One source file (its bytes, if already read): its topic (None if unusable) and the
    problems found in it."""
    reader = _FileReader(cards_dir, path)
    topic = reader.read(path.read_bytes() if raw is None else raw)
    return topic, reader.problems


def read_topic_by_card(cards_dir: Path, path: Path, raw: bytes, known: KnownCards,
                       ) -> tuple[Topic | None, list[Problem], CardOrigins]:
    """read_topic(), parsing only the cards whose text is not in `known` (what
    known_cards() gave for the file before) where the file can be cut at its cards
    (chunks.cut); and where each card came from (none if the file was read whole). Any
    problem, any doubt, or a value of the wrong shape in `known` (a cache) means the
    whole file is read as read_topic() reads it."""
    reader = _FileReader(cards_dir, path)
    try:
        topic = reader.read_by_card(raw, known)
    except (yaml.YAMLError, yamltree.TooLarge, _Refused):
        topic = None
    if topic is not None and not reader.problems:
        return topic, [], CardOrigins.packed(reader.origins)
    return (*read_topic(cards_dir, path, raw), CardOrigins())


def known_cards(topic: Topic, origins: CardOrigins) -> KnownCards:
    """The cards of a topic read card by card, by their text, for the next reading.
    (read_by_card() gives one origin a card, in order: a mismatch is a bug, and fails.)"""
    return {key: (count, _card_tuple(card, before))
            for (key, count, before), card in zip(origins, topic.cards, strict=True)}


class _FileReader:
    def __init__(self, cards_dir: Path, path: Path):
        self.path = path
        self.shown = str(path)
        # The same however the cards folder is named or given (`--cards .`): a note's
        # Source must not change when nothing in it did.
        self.label = path.relative_to(cards_dir).as_posix()
        self.problems: list[Problem] = []
        self.origins: list[tuple[bytes, int, int]] = []  # read_by_card(): CardOrigins
        self.line_offset = 0  # lines before the text being parsed (a card's, read alone)

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.shown, line, message))

    def _line(self, node: yaml.Node) -> int:
        return node.start_mark.line + 1 + self.line_offset

    def read(self, raw: bytes) -> Topic | None:
        text = self._decoded(raw)
        root = self._parse(text) if text is not None else None
        return self._topic(root, self._cards) if root is not None else None

    def read_by_card(self, raw: bytes, known: KnownCards) -> Topic | None:
        """read(), parsing only the cards whose text is not in `known`; raises _Refused
        where the file cannot be read so (read() then says what is wrong, if anything)."""
        text = self._decoded(raw)
        parts = chunks.cut(text) if text is not None else None
        if parts is None:
            raise _Refused("not cut")
        if len(parts.chunks) * MIN_CARD_VALUES > yamltree.MAX_NODES:
            raise _Refused("a card is wrong, or the file too large: read() says which")
        rest = yamltree.compose_counted(parts.rest)
        values = rest.values
        cards = []
        for chunk in parts.chunks:
            key = hashlib.sha256(chunk.text.encode()).digest()[:KEY_SIZE]
            entry = known.get(key)
            if entry is None:
                count, card = self._chunk(chunk)
            elif (type(entry) is tuple and len(entry) == 2 and type(entry[0]) is int
                  and entry[0] > 0):
                count, card = entry[0], _card_at(entry[1], chunk.line - 1, self.shown)
            else:
                raise _Refused("not what known_cards() gives")
            self.origins.append((key, count, chunk.line - 1))
            values += count
            if values > yamltree.MAX_NODES:
                raise _Refused("too large: read() says so")
            cards.append(card)

        def spliced(node: yaml.Node | None) -> list[Card]:
            if not (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")
                    and self._line(node) == parts.cards_line):
                raise _Refused("the cards' key is not where the cut found it")
            return cards

        if not isinstance(rest.root, yaml.MappingNode):
            raise _Refused("not a mapping: read() says so")
        return self._topic(rest.root, spliced)

    def _chunk(self, chunk: chunks.Chunk) -> tuple[int, Card]:
        """One item of the list of cards, parsed alone: the number of values in it, and
        its card."""
        node, values, anchored = yamltree.compose_counted(chunk.text)
        if anchored:  # its anchor could be what an alias after it means
            raise _Refused("an anchor")
        if not (isinstance(node, yaml.SequenceNode) and len(node.value) == 1):
            raise _Refused("not one item")
        self.line_offset = chunk.line - 1
        try:
            card = self._card(node.value[0], 1)
        finally:
            self.line_offset = 0
        if card is None:
            raise _Refused("not a card: read() says why")
        return values, card

    def _decoded(self, raw: bytes) -> str | None:
        if char := CONTROL.search(self.label):
            self.error(1, f"the file's path has control character U+{ord(char.group()):04X};"
                          " rename it")
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            self.error(line, f"file is not valid UTF-8 (byte 0x{raw[e.start]:02x});"
                             " save it as UTF-8")
            return None
        text = text.removeprefix("\ufeff")
        controls = list(CONTROL.finditer(text))
        for match in controls[:10]:  # checked here: libyaml stops with no line at the first
            self.error(text.count("\n", 0, match.start()) + 1,
                       f"control character U+{ord(match.group()):04X}; delete it")
        return None if controls else text

    def _topic(self, root: yaml.Node, cards_of: Callable[[yaml.Node | None], list[Card]],
               ) -> Topic | None:
        if not isinstance(root, yaml.MappingNode):
            self.error(self._line(root), "a topic file must be a mapping with 'deck' and 'cards'")
            return None
        entries = self._mapping(root, TOPIC_KEYS, "topic")
        for key in TOPIC_REQUIRED:
            if key not in entries:
                self.error(self._line(root), f"missing key '{key}'")
        topic_id = self._slug(entries.get("id"), "topic id") if "id" in entries else self.path.stem
        if "id" not in entries and (not SLUG.match(topic_id) or len(topic_id) > MAX_ID):
            self.error(1, f"file name '{self.path.name}' is not a valid topic id; add an 'id' key"
                          f" (lowercase letters, digits and hyphens, at most {MAX_ID} characters)")
        if topic_id == COMBINED:
            self.error(self._line(entries.get("id", root)),
                       f"topic id '{COMBINED}' is reserved for the combined package")
        deck = self._deck(entries.get("deck"))
        tags = self._tags(entries.get("tags"))
        cards = cards_of(entries.get("cards"))
        if deck is None or topic_id is None:
            return None
        return Topic(topic_id, deck, self.path, self.label, tuple(cards), tags)

    def _parse(self, text: str) -> yaml.Node | None:
        try:
            node = yamltree.compose(text)
        except yamltree.TooLarge as e:
            self.error(e.line, str(e))
            return None
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            message = f"invalid YAML: {e.problem or e.context}"
            if e.context and e.context_mark and e.problem:
                message += f" ({e.context} that starts at line {e.context_mark.line + 1})"
            self.error(_line_of(mark, text), message)
            return None
        except yaml.YAMLError as e:  # unmarked: libyaml's reader errors
            self.error(1, f"invalid YAML: {e}")
            return None
        if node is None:
            self.error(1, "file is empty; a topic needs 'deck' and 'cards'")
        return node

    def _mapping(self, node: yaml.MappingNode, allowed: tuple[str, ...], what: str,
                 ) -> dict[str, yaml.Node]:
        """Key -> value node; reports unknown and repeated keys."""
        entries: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):  # never printed: it may be an alias bomb
                self.error(self._line(key), f"a key in {what} must be text, like 'id'")
                continue
            name = key.value
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.error(self._line(key), f"unknown key '{name}' in {what}{hint}")
            elif name in entries:
                self.error(self._line(key), f"key '{name}' appears twice in {what}")
            else:
                entries[name] = value
        return entries

    def _string(self, node: yaml.Node | None, what: str) -> str | None:
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(self._line(node), f"{what} must be text")
            return None
        if node.tag.endswith(":null") or not node.value.strip():
            self.error(self._line(node), f"{what} is empty")
            return None
        return node.value

    def _slug(self, node: yaml.Node | None, what: str) -> str | None:
        value = self._string(node, what)
        if value is not None and len(value) > MAX_ID:
            self.error(self._line(node), f"{what} '{value[:37]}...' is {len(value)} characters"
                                         f" long; ids may have at most {MAX_ID}")
            return None
        if value is not None and not SLUG.match(value):
            self.error(self._line(node), f"{what} '{value}' must be a lowercase slug"
                                    " (a-z, 0-9 and '-', starting with a letter or digit)")
            return None
        return value

    def _deck(self, node: yaml.Node | None) -> str | None:
        if node is None:
            return None
        deck = self._string(node, "deck")
        if deck is not None and (char := UNSHOWABLE.search(deck)):
            what = ("a line break or tab" if char.group() in "\t\n\r"
                    else "a control or text-direction character")
            self.error(self._line(node), f"deck name {deck!r} has {what}; Anki would drop or"
                                         " garble it")
            return None
        if deck is not None and any(not part.strip() for part in deck.split("::")):
            self.error(self._line(node), f"deck name '{deck}' has an empty part between '::'")
            return None
        if deck is not None and deck_key(deck) == "default":
            self.error(self._line(node), f"deck name '{deck}' is Anki's own first deck,"
                                         " 'Default': Anki would import into a deck"
                                         " 'Default_' instead; choose another name")
            return None
        return anki_deck(deck) if deck else None  # as Anki names it: reports say the same

    def _tags(self, node: yaml.Node | None) -> tuple[str, ...]:
        tags = []
        for tag, item in self._texts(node, "tags", "a tag"):
            if any(c.isspace() for c in tag):
                self.error(self._line(item), f"tag '{tag}' contains whitespace; Anki tags"
                                             " cannot")
            elif anki_tag(tag) != tag:
                self.error(self._line(item), f"tag '{tag}' would become '{anki_tag(tag)}' in Anki;"
                                        " write it that way")
            else:
                tags.append(tag)
        return tuple(tags)

    def _texts(self, node: yaml.Node | None, what: str,
               each: str) -> list[tuple[str, yaml.Node]]:
        """A list of texts, each with its node."""
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(self._line(node), f"{what} must be a list, like [a, b]")
            return []
        return [(text, item) for item in node.value
                if (text := self._string(item, each)) is not None]

    def _cards(self, node: yaml.Node | None) -> list[Card]:
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(self._line(node), "'cards' must be a list of cards")
            return []
        cards = [self._card(item, n) for n, item in enumerate(node.value, 1)]
        return [card for card in cards if card is not None]

    def _card(self, node: yaml.Node, number: int) -> Card | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(self._line(node),
                       f"card #{number} must be a mapping with 'id' and 'front'/'back'")
            return None
        entries = self._mapping(node, CARD_KEYS, f"card #{number}")
        if "id" not in entries:
            self.error(self._line(node), f"card #{number}: missing key 'id'")
            return None
        card_id = self._slug(entries["id"], "card id")
        if card_id is None:
            return None
        texts = {key: self._text(entries[key], f"card '{card_id}': '{key}'")
                 for key in TEXT_KEYS if key in entries}
        if not self._has_sides(entries, card_id, self._line(node)):
            return None
        allow = tuple(name for name, _ in self._texts(entries.get("allow"), "allow", "a lint"))
        for name in allow:
            if name not in LINTS:
                self.error(self._line(entries["allow"]), f"card '{card_id}': unknown lint"
                                                         f" '{name}' in allow (known:"
                                                         f" {', '.join(LINTS)})")
        if any(text is None for text in texts.values()):
            return None
        return Card(card_id, Location(self.shown, self._line(node)),
                    tags=self._tags(entries.get("tags")), allow=allow, **texts)

    def _has_sides(self, entries: dict[str, yaml.Node], card_id: str, line: int) -> bool:
        if "cloze" in entries:
            both = [key for key in SIDES if key in entries]
            if both:
                self.error(line, f"card '{card_id}': a cloze card cannot also have '{both[0]}'")
            return not both
        missing = [key for key in SIDES if key not in entries]
        for key in missing:
            self.error(line, f"card '{card_id}': missing key '{key}' (or use 'cloze')")
        return not missing

    def _text(self, node: yaml.Node, what: str) -> Text | None:
        value = self._string(node, what)
        if value is None:
            return None
        # A block scalar's text starts on the line after its '|' or '>'.
        first = self._line(node) + (1 if node.style in ("|", ">") else 0)
        return Text(value, Location(self.shown, first))


def _card_tuple(card: Card, before: int) -> tuple:
    """A card as plain values (for the cache), its lines counted from its text's first,
    which has `before` lines before it in the file."""
    texts = [(t.source, t.where.line - before) if t else None
             for t in (card.front, card.back, card.cloze, card.extra)]
    return (card.id, card.where.line - before, *texts, card.tags, card.allow)


def _card_at(values: tuple, offset: int, shown: str) -> Card:
    """The card of _card_tuple(), `offset` lines further down the file shown as `shown`;
    _Refused if the values are not of the shape of such a card's (a damaged cache). Only
    the shape: like a shard's rendered HTML, a cache's values of the right shape are
    trusted, as only deckgen writes them."""
    try:
        card_id, line, *texts, tags, allow = values
        sound = (type(card_id) is str and SLUG.match(card_id) and type(line) is int
                 and line >= 1 and len(texts) == 4
                 and all(t is None or (type(t) is tuple and len(t) == 2 and type(t[0]) is str
                                       and type(t[1]) is int and t[1] >= line) for t in texts)
                 # the sides a card has: front and back, or a cloze
                 and [t is not None for t in texts[:3]] in ([True, True, False],
                                                             [False, False, True])
                 and _strings(tags) and _strings(allow))
    except (TypeError, ValueError) as e:
        raise _Refused("not a card's values") from e
    if not sound:
        raise _Refused("not a card's values")
    return Card(card_id, Location(shown, line + offset),
                *(Text(t[0], Location(shown, t[1] + offset)) if t else None for t in texts),
                tags=tags, allow=allow)


def _strings(values: object) -> bool:
    return type(values) is tuple and all(type(v) is str for v in values)


Outline = tuple[str, str, str, list[tuple[str, int, tuple[str, ...]]]]


def cross_file_problems(topics: list[Outline]) -> list[Problem]:
    """Ids, topics and decks that must be unique across files, and tags Anki would merge;
    each topic given as (path, topic id, deck, [(card id, line, tags)])."""
    problems = []
    seen_cards: dict[str, tuple[str, int]] = {}
    seen_topics: dict[str, str] = {}
    seen_decks: dict[str, tuple[str, str, str]] = {}  # key -> (deck, topic id, path)
    for path, topic_id, deck, cards in topics:
        if topic_id in seen_topics:
            problems.append(Problem(path, 1, f"topic id '{topic_id}' is also used by"
                                             f" {seen_topics[topic_id]}"))
        key = deck_key(deck)
        if key in seen_decks:
            other_deck, other_id, other_path = seen_decks[key]
            same = ("is also used by" if other_deck == deck else
                    "is the same deck in Anki (which ignores case, Unicode normalization and"
                    f" spaces around '::') as '{other_deck}' of")
            problems.append(Problem(path, 1, f"deck '{deck}' {same} topic '{other_id}'"
                                             f" ({other_path})"))
        seen_topics.setdefault(topic_id, path)
        seen_decks.setdefault(key, (deck, topic_id, path))
        for card_id, line, _ in cards:
            if card_id in seen_cards:
                first_path, first_line = seen_cards[card_id]
                problems.append(Problem(path, line, f"duplicate card id '{card_id}' (first"
                                                    f" defined at {first_path}:{first_line})"))
            else:
                seen_cards[card_id] = (path, line)
    return problems + _tag_case_problems(topics)


def _line_of(mark: yaml.Mark | None, text: str) -> int:
    """The line of a YAML error, from 1. At the end of the text, past its last line break
    (or a break libyaml assumes), that is the last line, not the one after it."""
    if mark is None:
        return 1
    if mark.index >= len(text) and mark.column == 0:
        return max(1, mark.line)
    return mark.line + 1


def _tag_case_problems(topics: list[Outline]) -> list[Problem]:
    """Tags that differ only by case: Anki keeps one spelling for both."""
    problems = []
    seen: dict[str, tuple[str, str, int]] = {}
    for path, _, _, cards in topics:
        for _, line, tags in cards:
            for tag in tags:
                first, first_path, first_line = seen.setdefault(tag.casefold(),
                                                                (tag, path, line))
                if first != tag:
                    problems.append(Problem(path, line, (
                        f"tag '{tag}' is the same tag in Anki, which ignores case, as"
                        f" '{first}' ({first_path}:{first_line}); spell them the same")))
    return problems
