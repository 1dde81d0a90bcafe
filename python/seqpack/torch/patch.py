"""Patch-level training (Shao et al., "Patch-Level Training for Large Language Models"): the
model reads patches, each the mean of K consecutive token embeddings, and predicts the K
tokens of the next patch; after a share λ of the token budget, training goes on at token
level."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from seqpack.errors import InvalidInputError

__all__ = ["PatchAlign", "PatchSchedule", "patch_batch", "patch_embed", "patch_loss"]

PatchAlign = Literal["document", "none"]


def patch_batch(
    batch: dict[str, Any], cu_seqlens: torch.Tensor, patch_size: int, align: PatchAlign
) -> dict[str, Any]:
    """The patch-level keys of a token-level batch whose rows are ``K·T`` tokens and whose
    segments are ``cu_seqlens``: ``patch_position_ids`` and ``patch_document_ids`` [B, T],
    ``patch_cu_seqlens`` with ``patch_max_seqlen``, and ``patch_labels`` [B, T, K] (the K
    tokens of the next patch, -100 where that patch is of another document, or padding).

    ``align="document"`` expects a plan aligned to K (every document starts on a patch
    boundary and is padded to a multiple of K), so no patch mixes documents and patch
    positions restart per document. ``align="none"`` is the paper's reference behaviour:
    patches straddle documents, positions count patches along the row, and labels run across
    documents (only padding is left out)."""
    k = patch_size
    ids: torch.Tensor = batch["input_ids"]
    rows, length = ids.shape
    patches = length // k
    documents: torch.Tensor = batch["document_ids"]
    labels = torch.full((rows, patches, k), -100, dtype=torch.int64)
    if align == "document":
        first = documents[:, ::k]
        next_labels = batch["labels"].view(rows, patches, k)[:, 1:]
        same = (first[:, 1:] == first[:, :-1]) & (first[:, :-1] >= 0)
        labels[:, :-1] = torch.where(same[..., None], next_labels, -100)
        out = {
            "patch_position_ids": batch["position_ids"][:, ::k] // k,
            "patch_document_ids": first,
            "patch_cu_seqlens": (cu_seqlens // k).to(torch.int32),
        }
    else:
        real = (documents >= 0).view(rows, patches, k)[:, 1:]
        labels[:, :-1] = torch.where(real, ids.view(rows, patches, k)[:, 1:], -100)
        out = {
            "patch_position_ids": torch.arange(patches).expand(rows, -1).contiguous(),
            "patch_document_ids": torch.zeros(rows, patches, dtype=torch.int32),
            "patch_cu_seqlens": torch.arange(0, rows * patches + 1, patches, dtype=torch.int32),
        }
    out["patch_labels"] = labels
    out["patch_max_seqlen"] = int(
        (out["patch_cu_seqlens"][1:] - out["patch_cu_seqlens"][:-1]).max()
    )
    return out


def patch_embed(inputs_embeds: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``[B, K·T, d]`` token embeddings to ``[B, T, d]`` patch embeddings: the mean of each
    group of K."""
    rows, length, dim = inputs_embeds.shape
    if length % patch_size:
        raise InvalidInputError(
            f"{length} tokens are not a whole number of patches of {patch_size}"
        )
    return inputs_embeds.view(rows, length // patch_size, patch_size, dim).mean(dim=2)


def patch_loss(
    logits: torch.Tensor,
    patch_labels: torch.Tensor,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> torch.Tensor:
    """The patch-level loss: each patch's one distribution ``logits`` [B, T, V] scored
    against each of the K tokens of ``patch_labels`` [B, T, K], -100 ignored. ``"mean"``
    averages over every (patch, token) pair that has a label, which for K = 1 is the usual
    next-token loss; ``"sum"`` adds them; ``"none"`` gives them [B, T, K], 0 where ignored."""
    log_probs = torch.log_softmax(logits.float() if logits.dtype == torch.float16 else logits, -1)
    valid = patch_labels != -100
    picked = torch.gather(log_probs, -1, patch_labels.clamp(min=0))
    nll = torch.where(valid, -picked, 0.0)
    if reduction == "none":
        return nll
    if reduction == "sum":
        return nll.sum()
    return nll.sum() / valid.sum().clamp(min=1)


@dataclass(frozen=True)
class PatchSchedule:
    """When to switch from patch to token level: the first ``lam`` of ``total_tokens`` are
    trained at patch level with patches of ``K`` tokens, the rest at token level. Steps hold
    the same number of tokens in both stages (a patch-level row of K·T tokens is T patches),
    so a patch-level step costs about 1/K of a token-level one: the whole run costs
    ``lam / K + (1 − lam)`` of token-level training."""

    total_tokens: int
    lam: float = 2 / 3
    K: int = 4

    def __post_init__(self) -> None:
        if self.total_tokens < 1:
            raise InvalidInputError(f"total_tokens must be positive, got {self.total_tokens!r}")
        if not 0 <= self.lam <= 1:
            raise InvalidInputError(f"lam must be in [0, 1], got {self.lam!r}")
        if self.K < 1:
            raise InvalidInputError(f"K must be a positive integer, got {self.K!r}")

    @property
    def patch_tokens(self) -> int:
        """Tokens trained at patch level."""
        return round(self.lam * self.total_tokens)

    @property
    def relative_cost(self) -> float:
        """Compute of the whole run relative to training every token at token level."""
        return self.lam / self.K + (1 - self.lam)

    def stage(self, tokens_seen: int) -> Literal["patch", "token"]:
        """The stage of the step that starts after ``tokens_seen`` tokens."""
        return "patch" if tokens_seen < self.patch_tokens else "token"

    def switch_step(self, tokens_per_step: int) -> int:
        """The first token-level step when every step holds ``tokens_per_step`` tokens."""
        return -(-self.patch_tokens // tokens_per_step)
