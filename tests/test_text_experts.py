"""Text experts on the bundled all-MiniLM-L6-v2 weights, offline (HF_HUB_OFFLINE=1).

The models are loaded once per module (about 5 s together on two cores).
"""

from __future__ import annotations

import os

import pytest
import torch

from n2nlib.experts import BERT, SentenceBERT, create_expert, expert_spec, is_frozen
from n2nlib.experts.text import bundled_model_path, check_texts

SIMILAR = ["a small red circle on the left", "a little red disc on the left side"]
UNRELATED = ["the stock market fell sharply on monday"]


@pytest.fixture(scope="module", autouse=True)
def _offline():
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def sbert(_offline):
    return SentenceBERT(device="cpu", batch_size=2)


@pytest.fixture(scope="module")
def bert(_offline):
    return BERT(device="cpu", batch_size=2)


def _cos(a, b):
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def test_sbert_encodes_offline_to_384_and_similar_sentences_are_closer(sbert):
    z = sbert.encode(SIMILAR + UNRELATED)
    assert z.shape == (3, 384) and z.dtype == torch.float32 and sbert.dim == 384
    assert not z.requires_grad and torch.isfinite(z).all()
    similar, unrelated = _cos(z[0], z[1]), max(_cos(z[0], z[2]), _cos(z[1], z[2]))
    assert similar > unrelated + 0.3, (similar, unrelated)
    # batching (batch_size=2 over 3 sentences) does not change the codes
    torch.testing.assert_close(sbert.encode(UNRELATED)[0], z[2], atol=1e-5, rtol=1e-4)


def test_sbert_single_pass_equals_sentence_transformers_encode(sbert):
    # batches up to batch_size go through the model's modules in one pass; longer lists go
    # through model.encode: both give what sentence-transformers' own encode gives
    texts = [SIMILAR[0], UNRELATED[0]]  # different lengths: the shorter one is padded
    own = sbert.model.encode(texts, convert_to_tensor=True, show_progress_bar=False)
    torch.testing.assert_close(sbert.encode(texts), own.float(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(sbert.encode(texts[1:]), own[1:].float(), atol=1e-6, rtol=1e-5)
    normalized = SentenceBERT(device="cpu", batch_size=2, normalize=True)
    z = normalized.encode(texts)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(2, dtype=z.dtype), atol=1e-6, rtol=0)


def test_the_plain_bert_forward_equals_the_models_modules(sbert):
    from n2nlib.experts.bert_forward import BertForward

    assert sbert._forward is not None  # the bundled MiniLM is a BERT it covers
    texts = [SIMILAR[0], UNRELATED[0], "red"]  # three lengths: padding masked in attention
    features = sbert.model.preprocess(texts) if hasattr(sbert.model, "preprocess") else \
        sbert.model.tokenize(texts)
    with torch.no_grad():
        modules = sbert.model(dict(features))["sentence_embedding"]
        plain = sbert._forward(features["input_ids"], features["attention_mask"])
    torch.testing.assert_close(torch.nn.functional.normalize(plain, dim=1), modules,
                               atol=1e-6, rtol=1e-5)
    assert not torch.allclose(plain[0], plain[1])
    # what it does not cover is left to the modules
    assert BertForward.build(torch.nn.Sequential(torch.nn.Linear(2, 2))) is None
    assert BertForward.build(torch.nn.Sequential(sbert.model[0])) is None  # no pooling


def test_the_plain_bert_forward_is_refused_where_the_modules_compute_otherwise(sbert):
    """A BERT whose layers compute something else than the plain forward (here one layer's
    activation swapped for ReLU, as a changed ``transformers`` might) is left to its modules."""
    import copy

    from n2nlib.experts.bert_forward import BertForward

    model = copy.deepcopy(sbert.model)
    assert BertForward.build(model) is not None
    model[0].auto_model.encoder.layer[2].intermediate.intermediate_act_fn = torch.nn.ReLU()
    assert BertForward.build(model) is None


def test_bert_mean_pooling_on_the_same_weights_matches_sbert_direction(sbert, bert):
    texts = SIMILAR + UNRELATED
    zb, zs = bert.encode(texts), sbert.encode(texts)
    assert zb.shape == (3, 384) and bert.dim == 384
    # all-MiniLM-L6-v2 = transformer + mean pooling + L2 normalisation
    torch.testing.assert_close(torch.nn.functional.normalize(zb, dim=1), zs, atol=1e-4,
                               rtol=1e-4)
    assert _cos(zb[0], zb[1]) > max(_cos(zb[0], zb[2]), _cos(zb[1], zb[2]))


def test_text_experts_are_frozen_and_say_how_to_rebuild(sbert, bert):
    for expert in (sbert, bert):
        assert is_frozen(expert) and not expert.train().training
        assert not any(p.requires_grad for p in expert.parameters())
    assert expert_spec(sbert) == {
        "name": "sentence-bert", "kwargs": {"model": None, "batch_size": 2, "normalize": False}
    }
    assert expert_spec(bert)["name"] == "bert"


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ("one sentence", TypeError, r"list of strings; for one sentence write \['one sentence'\]"),
        ([], ValueError, "empty"),
        (["ok", 3], TypeError, r"texts\[1\] must be a string, got int"),
        (["ok", "  "], ValueError, r"texts\[1\] is an empty string"),
        (None, TypeError, "list of strings, got NoneType"),
    ],
)
def test_bad_text_input_is_a_clear_error(sbert, bad, error, match):
    with pytest.raises(error, match=match):
        sbert.encode(bad)
    with pytest.raises(error, match=match):
        check_texts(bad)


def test_other_model_names_and_paths(sbert):
    # the bundled folder given as a path is the same model
    by_path = create_expert("sentence-bert", model=str(bundled_model_path()), device="cpu")
    torch.testing.assert_close(by_path.encode(UNRELATED), sbert.encode(UNRELATED))
    with pytest.raises(ValueError, match="not a folder"):
        SentenceBERT(model=str(bundled_model_path() / "config.json"))
    with pytest.raises(OSError):  # a hub name that is not cached, offline
        BERT(model="n2nlib-test/no-such-model")
