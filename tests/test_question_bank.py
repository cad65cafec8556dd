"""The question bank in cards/ is product: these are its invariants."""

from __future__ import annotations

import re
import shutil
import statistics
from pathlib import Path

import pytest

from deckgen.build import build, check
from deckgen.lints import LONG_BACK, reading_length
from deckgen.state import STATE_FILE
from helpers import import_package

CARDS = Path(__file__).parent.parent / "cards"

# Every question of the source material has a card with exactly this id.
CATALOG_IDS = """
what-is-llm param-count-notation llm-strengths llm-weaknesses open-source-model-families
decoder-architectures-compared prefix-lm-vs-causal-lm why-decoder-only
llm-architecture-overview popular-open-source-llms model-structure-types
bert-vs-llama-use-cases generative-vs-discriminative llm-vs-statistical-lm
foundation-model-types seq2seq-models encoder-vs-decoder llm-training-objective
masked-language-modeling autoregressive-vs-masked next-sentence-prediction
emergent-abilities-definition emergent-abilities-causes zero-shot-learning few-shot-learning
attention-mechanism multi-head-attention softmax-in-attention dot-product-attention-scaling
attention-formula positional-encoding mqa-vs-gqa layernorm-placement llm-activation-functions
transformer-vanishing-gradient transformer-vs-rnn-seq2seq context-window
llama-max-input-length long-text-handling mixture-of-experts tokenization-basics oov-subword
tokenizer-bpe chatglm3-tokenizer embedding-init adaptive-softmax beam-vs-greedy temperature
top-k-vs-top-p repetition-problem-definition repetition-problem-causes
repetition-problem-mitigation lora-vs-qlora peft-vs-forgetting full-finetune-memory
sft-makes-model-dumb sft-base-vs-chat overfitting-mitigation hyperparameters sft-data-format
rm-data-format ppo-data-format dataset-sources finetune-data-size pretraining-datasets
sft-data-construction domain-specific-llm-need domain-cpt-data-selection
mitigate-catastrophic-forgetting cpt-knowledge-injection domain-instruction-format
domain-eval-set domain-vocab-expansion train-your-own-llm cross-entropy-loss
embedding-gradient jacobian-backprop eigen-dimensionality-reduction kl-divergence
relu-derivative chain-rule-backprop prompt-engineering chain-of-thought rag-pipeline
knowledge-graph-integration multimodal-llm-cases gemini-multimodal gpt4-vs-gpt3 hallucination
fix-biased-outputs deployment-challenges knowledge-distillation rope-rotary-position rmsnorm
kv-cache flashattention paged-attention-continuous-batching llm-quantization
speculative-decoding dpo grpo-reasoning-rl scaling-laws-chinchilla long-context-extension
zero-distributed-training moe-routing-load-balancing agents-tool-use prompt-injection-security
""".split()  # noqa: SIM905 (a block of ids reads better than a list)

TOPICS = {"basics", "pretraining", "transformer", "tokenization", "decoding", "finetuning",
          "data", "domain", "math", "applications", "distributed", "alignment", "serving",
          "evaluation", "agents", "multimodal"}
MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.DOTALL)
LEFT, RIGHT = re.compile(r"\\left(?![a-zA-Z])"), re.compile(r"\\right(?![a-zA-Z])")
CODE = re.compile(r"<pre>.*?</pre>|<code>.*?</code>", re.DOTALL)


@pytest.fixture(scope="module")
def bank():
    return check(CARDS)


@pytest.fixture(scope="module")
def cards(bank):
    return [card for topic, _ in bank.rendered for card in topic.cards]


def test_check_passes_without_warnings(bank):
    assert bank.warnings == []
    assert {topic.id for topic, _ in bank.rendered} == TOPICS
    assert all(topic.deck.startswith("LLM 面试::") for topic, _ in bank.rendered)


def test_every_catalog_question_has_its_card(cards):
    assert len(CATALOG_IDS) == len(set(CATALOG_IDS)) == 107
    assert sorted(set(CATALOG_IDS) - {card.id for card in cards}) == []


def test_size_of_the_bank(cards):
    assert len(cards) >= 380
    assert sum(card.is_cloze for card in cards) >= 30


def test_answers_are_short_enough_to_recall(cards):
    lengths = [reading_length(card.back.source) for card in cards if card.back]
    assert statistics.median(lengths) <= 110
    over = [card.id for card in cards
            if card.back and reading_length(card.back.source) > LONG_BACK
            and "long-back" not in card.allow]
    assert over == []


def test_every_card_has_one_level_and_a_reference(cards):
    for card in cards:
        levels = [t for t in card.tags if t.startswith("level::")]
        assert levels in (["level::basic"], ["level::advanced"]), card.id
        assert card.extra and "参考" in card.extra.source, card.id


def test_every_formula_is_typeset_and_balanced(bank):
    for _, notes in bank.rendered:
        for note in notes:
            for html in note.fields:
                for _, tex in MATH.findall(html):
                    plain = tex.replace(r"\{", "").replace(r"\}", "")
                    assert plain.count("{") == plain.count("}"), (note.card_id, tex)
                    assert len(LEFT.findall(tex)) == len(RIGHT.findall(tex)), (note.card_id, tex)
                rest = CODE.sub("", MATH.sub("", html))
                for leftover in ("$", r"\(", r"\[", r"\frac", r"\mathrm"):
                    assert leftover not in rest, (note.card_id, leftover, rest)


def test_the_bank_imports_into_anki(tmp_path, collection):
    cards_copy = tmp_path / "cards"
    shutil.copytree(CARDS, cards_copy)
    report = build(cards_copy, tmp_path / "build")
    # The committed state matches the cards, so a fresh clone updates no note in Anki.
    total = report.changes.total
    assert total.added == total.updated == total.removed == [], \
        "run `deckgen build` and commit cards/deckgen-state.json"
    assert (cards_copy / STATE_FILE).read_bytes() == (CARDS / STATE_FILE).read_bytes(), \
        "note types changed: run `deckgen build` and commit cards/deckgen-state.json"
    assert len(report.packages) == len(TOPICS) + 1
    log = import_package(collection, tmp_path / "build" / "all.apkg")
    assert len(log.new) == len(total.unchanged) == collection.note_count()
    names = {d.name for d in collection.decks.all_names_and_ids()}
    assert "LLM 面试" in names and "LLM 面试::Transformer 与注意力" in names
