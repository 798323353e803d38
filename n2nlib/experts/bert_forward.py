r"""Sentence-BERT's forward pass as plain tensor operations on the model's own weights.

For one short sentence, ``transformers``' ``BertModel`` spends more than a third of its time in
its modules' Python bookkeeping (``benchmarks/RESULTS.md``, session 19). :class:`BertForward`
computes the same function directly — for a post-LayerNorm BERT encoder with absolute
positions and exact GELU, followed by mean pooling over the unmasked tokens:

.. math::
    x_0 = \mathrm{LN}(E_{tok}[w] + E_{pos}[t] + E_{type}[s]), \qquad
    a_l = \mathrm{LN}\big(x_{l-1} + W_o\,\mathrm{MHA}(x_{l-1})\big), \qquad
    x_l = \mathrm{LN}\big(a_l + W_2\,\mathrm{GELU}(W_1 a_l)\big)

It reads the weights from the modules on every call (nothing is copied, so moving or
changing the model is safe). :meth:`BertForward.build` returns ``None`` for any other
architecture or pooling, and when the modules of the installed ``transformers`` do not
compute what this module does on a small check batch; the caller then runs the modules.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BertForward"]


class BertForward:
    """Mean-pooled BERT sentence codes from a sentence-transformers model, without its modules.

    Build it with :meth:`build`; call it on the tokenizer's ``input_ids``, ``attention_mask``
    and (optionally) ``token_type_ids``, each ``(B, T)``, to get the model's sentence
    embeddings ``(B, hidden)``: the pooled codes, L2-normalised where the model ends with a
    ``Normalize`` module.
    """

    def __init__(self, bert: nn.Module, normalize: bool) -> None:  # use build()
        self.bert = bert
        self.normalize = normalize
        config = bert.config
        self.heads = int(config.num_attention_heads)
        self.eps = float(config.layer_norm_eps)

    @classmethod
    def build(cls, model: Any) -> BertForward | None:
        """For a sentence-transformers model made of ``[Transformer(BertModel), Pooling(mean),
        Normalize?]`` whose BERT this module covers; else ``None``."""
        modules = list(model) if isinstance(model, nn.Sequential) else []
        if not 2 <= len(modules) <= 3:
            return None
        bert = getattr(modules[0], "auto_model", None)
        config = getattr(bert, "config", None)
        pooling = modules[1]
        pool_config = pooling.get_config_dict() if hasattr(pooling, "get_config_dict") else {}
        mean = (pool_config.get("pooling_mode") == "mean" if "pooling_mode" in pool_config
                else bool(pool_config.get("pooling_mode_mean_tokens"))
                and sum(bool(v) for k, v in pool_config.items()
                        if k.startswith("pooling_mode_")) == 1)
        if (config is None or not mean
                or getattr(config, "model_type", None) != "bert"
                or getattr(config, "hidden_act", None) != "gelu"
                or getattr(config, "position_embedding_type", "absolute") != "absolute"
                or getattr(config, "is_decoder", False)
                or type(bert).__name__ != "BertModel"
                or (len(modules) == 3 and type(modules[2]).__name__ != "Normalize")):
            return None
        forward = cls(bert, normalize=len(modules) == 3)
        return forward if forward._agrees_with(bert) else None

    def _agrees_with(self, bert: nn.Module) -> bool:
        """Whether this forward equals ``bert``'s modules, mean-pooled, on two short sequences
        (one padded): a guard against ``transformers`` versions whose layers differ."""
        vocab = int(getattr(bert.config, "vocab_size", 9))
        ids = (torch.arange(1, 9) % vocab).view(2, 4).to(bert.device)
        mask = torch.ones_like(ids)
        mask[1, 3] = 0
        try:
            with torch.no_grad():
                hidden = bert(input_ids=ids, attention_mask=mask).last_hidden_state
                keep = mask.to(hidden.dtype).unsqueeze(-1)
                expected = (hidden * keep).sum(1) / keep.sum(1)
                return bool(torch.allclose(self._pooled(ids, mask), expected, rtol=1e-4,
                                           atol=1e-5))
        except (AttributeError, IndexError, RuntimeError, TypeError, ValueError):
            return False

    def __call__(self, input_ids: Tensor, attention_mask: Tensor,
                 token_type_ids: Tensor | None = None) -> Tensor:
        z = self._pooled(input_ids, attention_mask, token_type_ids)
        return F.normalize(z, dim=1) if self.normalize else z

    def _pooled(self, input_ids: Tensor, attention_mask: Tensor,
                token_type_ids: Tensor | None = None) -> Tensor:
        emb, layers = self.bert.embeddings, self.bert.encoder.layer
        batch, length = input_ids.shape
        types = (emb.token_type_embeddings.weight[0] if token_type_ids is None
                 else emb.token_type_embeddings(token_type_ids))
        x = emb.word_embeddings(input_ids) + emb.position_embeddings.weight[:length] + types
        width = x.shape[-1:]
        x = F.layer_norm(x, width, emb.LayerNorm.weight, emb.LayerNorm.bias, self.eps)
        mask = None  # additive attention mask: 0 on tokens, the most negative float on padding
        if not bool(attention_mask.all()):
            keep = attention_mask[:, None, None, :].to(x.dtype)
            mask = (1.0 - keep) * torch.finfo(x.dtype).min
        for layer in layers:
            attn = layer.attention.self

            def heads(linear: nn.Linear, x: Tensor = x) -> Tensor:
                return linear(x).view(batch, length, self.heads, -1).transpose(1, 2)

            a = F.scaled_dot_product_attention(heads(attn.query), heads(attn.key),
                                               heads(attn.value), attn_mask=mask)
            a = a.transpose(1, 2).reshape(batch, length, -1)
            out = layer.attention.output
            x = F.layer_norm(out.dense(a) + x, width, out.LayerNorm.weight, out.LayerNorm.bias,
                             self.eps)
            h = F.gelu(layer.intermediate.dense(x))
            out = layer.output
            x = F.layer_norm(out.dense(h) + x, width, out.LayerNorm.weight, out.LayerNorm.bias,
                             self.eps)
        keep = attention_mask.to(x.dtype).unsqueeze(-1)
        return (x * keep).sum(1) / keep.sum(1).clamp_min(1e-9)
