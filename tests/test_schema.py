"""The JSON Schema that editors use: the bank and the `init` example pass it, it rejects
the mistakes it can see, and it agrees with the loader on every key."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from deckgen import loader, resources
from deckgen.lints import LINTS
from helpers import run
from test_errors import CASES

BANK = Path(__file__).parents[1] / "cards"
SCHEMA = json.loads(resources.SCHEMA.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
# Mistakes in one file that the schema sees; the rest need deckgen check (YAML syntax,
# other files, images, cloze syntax, encodings).
SEEN_BY_SCHEMA = ["bad-card-id", "cloze-and-front", "empty-deck", "empty-fields", "empty-file",
                  "missing-card-id", "missing-deck", "missing-front-and-back", "tag-with-space",
                  "tags-not-a-list", "unknown-key", "unknown-topic-key"]


def errors(document) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(document)]


def test_the_schema_is_valid_json_schema():
    jsonschema.Draft7Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("source", sorted(BANK.glob("*.yaml")), ids=lambda p: p.name)
def test_the_bank_passes(source):
    assert errors(yaml.safe_load(source.read_text(encoding="utf-8"))) == []


def test_the_init_example_passes():
    example = resources.STARTER / "cards" / "example.yaml"
    text = example.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../deckgen.schema.json\n")
    assert errors(yaml.safe_load(text)) == []


@pytest.mark.parametrize("case", SEEN_BY_SCHEMA)
def test_mistakes_in_one_file_are_rejected(case):
    (text,) = CASES[case][0].values()
    assert errors(yaml.safe_load(text)) != []


def test_cloze_needs_a_deletion_and_deck_parts_a_name():
    card = {"id": "a", "cloze": "no deletion"}
    assert errors({"deck": "D", "cards": [card]}) != []
    assert errors({"deck": "D", "cards": [dict(card, cloze="{{c1::x}}")]}) == []
    for deck in ("::B", "A::", "A:: ::B"):
        assert errors({"deck": deck, "cards": []}) != [], deck
    assert errors({"deck": "A::B::C", "cards": []}) == []


def test_the_schema_and_the_loader_agree_on_every_key():
    card = SCHEMA["definitions"]["card"]
    assert sorted(SCHEMA["properties"]) == sorted(loader.TOPIC_KEYS)
    assert sorted(SCHEMA["required"]) == sorted(loader.TOPIC_REQUIRED)
    assert sorted(card["properties"]) == sorted(loader.CARD_KEYS)
    assert card["required"] == ["id"]
    assert sorted(card["else"]["required"]) == sorted(loader.SIDES)
    text = {"$ref": "#/definitions/text"}
    text_keys = [k for k, v in card["properties"].items() if text in v.get("allOf", [])]
    assert sorted(text_keys) == sorted(loader.TEXT_KEYS)
    assert card["properties"]["allow"]["items"]["enum"] == list(LINTS)


def test_deckgen_schema_prints_it():
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == SCHEMA
