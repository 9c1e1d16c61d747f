"""The tekken representation: Mistral's multilingual BPE, loaded offline from the mistral-common wheel, spends
fewer tokens than GPT-2's BPE on non-English text and decodes back to it."""

import pytest

from audiobits.representations import build
from audiobits.representations.base import Utterance, UtteranceError

pytestmark = pytest.mark.needs("mistral_common")

SAID = {"en": "Please enter your password followed by the pound key.",
        "ru": "Введите пароль и нажмите решетку.", "fr": "Composez votre mot de passe suivi du dièse."}


@pytest.fixture(scope="module")
def tekken():
    return build("tekken")


def test_ids_are_tekkens_without_the_control_block_and_decode_back(tekken):
    ids = tekken.encode([Utterance(lang, text) for lang, text in SAID.items()])
    for text, tokens in zip(SAID.values(), ids):
        assert tokens.min() >= 0 and tokens.max() < tekken.eos_id
        assert tekken.tokenizer.decode((tokens + tekken.offset).tolist()) == text
    meta = tekken.bin_meta("c")
    assert (meta.vocab_size, meta.eos_id, meta.codebooks[0].size, meta.dtype) == (130073, 130072, 130072, "uint32")
    assert meta.encoder["weights"] == "tekken_240911.json"


def test_it_spends_fewer_tokens_than_gpt2_on_russian(tekken):
    gpt2 = build("text")
    russian = [Utterance("ru", SAID["ru"])]
    assert len(tekken.encode(russian)[0]) * 2 < len(gpt2.encode(russian)[0])
    english = [Utterance("en", SAID["en"])]
    assert abs(len(tekken.encode(english)[0]) - len(gpt2.encode(english)[0])) <= 2  # English costs both the same


def test_an_empty_transcript_is_dropped(tekken):
    with pytest.raises(UtteranceError, match="empty"):
        tekken.encode([Utterance("e", "")])
