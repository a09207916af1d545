"""MMCL: Multi-Modality Collaborative Learning (arXiv 2501.12424, withdrawn by its authors).

Pipeline, per modality m of M >= 2:
    X_m (B, L_m, D_m) -> projection Z_m (B, L_m, d)
    -> CSD: split Z_m into common_m and specific_m (parameter-free "minimum cosine" rule)
    -> CCE: self-attention on common_m, mean over steps                 -> c_m (B, d)
    -> CSM: a policy gate per step on specific_m, a Transformer, mean    -> s_m (B, d)
       (the policies are trained by a centralised critic: actor-critic)
    -> fusion of e_m = [c_m ; s_m] over modalities -> prediction head.

Two variants (see docs/mmcl.md for the reasoning and what each measures):
    reference: the math of the public reference code without its crashes: common = P @ Z_m,
        specific = softmax(1 - P) @ Z_m (close to a plain mean), critic bootstrapped on the
        NEXT batch's state, actor fed features gated by the previous step's action in training
        (and the replay buffer holds those gated states), the reference's attention block.
    corrected: specific from the least-shared steps (softmax(-S / tau) @ Z_m), a sharper
        temperature, a one-step bandit critic (target = reward), the actor always on ungated
        features (no train/test mismatch), a residual attention + feed-forward CCE block.
The corrected variant's five changes are each a switch of their own (`specific`,
`csd_temperature`, `critic_target`, `actor_input`, `cce_block`; "auto" follows the variant), so
a difference between the variants can be traced to one change. Everything else is the
reference's in both: the critic's and the fusion gate's layers, independently initialised
target networks, a replay buffer sampled without replacement once it holds more than a batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.profiler import record_function
from torch.utils.checkpoint import checkpoint

from mmcl.data.batching import Batch
from mmcl.errors import UserError
from mmcl.models import feed_forward as fast_feed_forward
from mmcl.models import short_attention
from mmcl.models.base import (
    DataInfo,
    ModelOutput,
    PredictionHead,
    TaskModel,
    attendable,
    kernels,
    masked_max,
    masked_mean,
    masked_softmax,
    shape_predictions,
    task_loss,
    true_label_reward,
)
from mmcl.models.layers import LearnedDecoupling
from mmcl.models.replay_buffer import ReplayBuffer
from mmcl.models.text_frontend import TextInput

CHOICES = {
    "variant": ("reference", "corrected"),
    "csd": ("min_cosine", "learned", "none"),
    "cce": ("attention", "maxpool", "mean"),
    "csm": ("actor_critic", "fixed", "none"),
    "fusion": ("gated_mean", "concat"),
    "alignment": ("auto", "pairwise", "best_match"),
    "specific": ("auto", "reference", "least_similar", "residual"),
    "critic_target": ("auto", "bootstrap", "reward"),
    "actor_input": ("auto", "carried", "ungated"),
    "cce_block": ("auto", "reference", "transformer"),
}
# what "auto" means for each of the corrected variant's switches: (reference, corrected)
VARIANT_DEFAULTS = {
    "specific": ("reference", "least_similar"),
    "critic_target": ("bootstrap", "reward"),
    "actor_input": ("carried", "ungated"),
    "cce_block": ("reference", "transformer"),
}


@dataclass
class MMCLConfig(TextInput):
    variant: str = "corrected"
    d_model: int = 128  # reference code: 128 (the paper says 256)
    n_heads: int = 4
    dropout: float = 0.5
    # the Transformer layers' feed-forward width: the reference keeps PyTorch's default 2048
    # (16 x d), which is ~89% of a training step's FLOPs; 4 x d is the usual choice elsewhere
    ffn_dim: int = 2048
    csd: str = "min_cosine"
    cce: str = "attention"
    csm: str = "actor_critic"
    fusion: str = "gated_mean"
    # pairwise: the reference's L x L rule (all modalities the same length);
    # best_match: each own step scored by its best match in each partner (any lengths)
    alignment: str = "auto"
    # the corrected variant's five changes, one switch each ("auto" / 0: the variant's)
    specific: str = "auto"  # reference | least_similar (corrected) | residual
    csd_temperature: float = 0.0  # softmax temperature of CSD's weights: 1.0 | 0.2 (corrected)
    # bootstrap: r + gamma * Q'(s', a'(s')) with s' the next batch's state (reference);
    # reward: a one-step bandit, the target is r (corrected)
    critic_target: str = "auto"
    # carried: in training the actor sees its batch gated by the previous step's action
    # (reference); ungated: the specific features as they are, as at evaluation (corrected)
    actor_input: str = "auto"
    # reference: LayerNorm(ctx + Linear(ctx)) on attention without output projection;
    # transformer: a residual attention + feed-forward layer (corrected)
    cce_block: str = "auto"
    w_pred: float = 7.0
    w_ac: float = 13.0
    gamma: float = 0.5
    tau_target: float = 0.01
    buffer_size: int = 1000
    ac_batch_size: int = 128
    # learned (MISA-style) decoupling loss weights
    w_sim: float = 1.0
    w_diff: float = 0.3
    w_recon: float = 1.0

    def validate(self) -> None:
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise UserError(f"mmcl.{key} = '{getattr(self, key)}'; choose one of {allowed}.")
        if self.ffn_dim < 1:
            raise UserError(f"mmcl.ffn_dim = {self.ffn_dim}; it must be at least 1.")
        if self.ac_batch_size < 2:
            # the critic's BatchNorm needs two rows
            raise UserError(f"mmcl.ac_batch_size = {self.ac_batch_size}; it must be at least 2.")
        if self.d_model % self.n_heads:
            raise UserError(
                f"mmcl.d_model ({self.d_model}) must be divisible by mmcl.n_heads ({self.n_heads})."
            )

    def resolved(self, switch: str) -> str:
        """One of the corrected variant's switches, "auto" replaced by the variant's choice."""
        value = getattr(self, switch)
        if value != "auto":
            return value
        return VARIANT_DEFAULTS[switch][self.variant == "corrected"]

    @property
    def specific_rule(self) -> str:
        return self.resolved("specific")

    @property
    def temperature(self) -> float:
        if self.csd_temperature > 0:
            return self.csd_temperature
        return 1.0 if self.variant == "reference" else 0.2


# --------------------------------------------------------------------------- CSD


def csd_pairwise(
    z: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], rule: str, temperature: float
) -> tuple[dict, dict, dict]:
    """The reference rule for equal-length (word-aligned) modalities.

    S_mn[i, j] = cos(Z_m[i], Z_n[j]); S_m = min over partners n; P_m = softmax_j(S_m / t);
    common_m = P_m @ Z_m (own steps re-weighted by how similar partners are at step j).
    Returns common, specific (each (B, L, d)) and P (B, L, L) per modality.
    """
    unit = {m: F.normalize(x, dim=-1) for m, x in z.items()}
    common, specific, weights = {}, {}, {}
    for m, zm in z.items():
        s_min, valid = None, masks[m]
        for n in z:
            if n == m:
                continue
            s_mn = unit[m] @ unit[n].transpose(1, 2)  # (B, L, L)
            s_min = s_mn if s_min is None else torch.minimum(s_min, s_mn)
            valid = valid & masks[n]
        # a sample whose modalities share no valid step keeps its own steps
        valid = torch.where(valid.any(-1, keepdim=True), valid, masks[m])
        cols = valid.unsqueeze(1).expand_as(s_min)  # (B, L, L): which steps j may be weighted
        p = masked_softmax(s_min / temperature, cols)
        common[m] = p @ zm
        if rule == "reference":
            specific[m] = masked_softmax(1.0 - p, cols) @ zm
        elif rule == "least_similar":
            specific[m] = masked_softmax(-s_min / temperature, cols) @ zm
        else:  # residual
            specific[m] = zm - common[m]
        weights[m] = p
    return common, specific, weights


def csd_best_match(
    z: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], rule: str, temperature: float
) -> tuple[dict, dict, dict]:
    """The generalisation to unaligned modalities (any lengths, including 1).

    Own step i of m scores s_i = min over partners n of max_j cos(Z_m[i], Z_n[j]) (its best
    match in the partner that matches it worst). Weights w = softmax_i(s / t) over own steps;
    common_m[i] = n_valid * w_i * Z_m[i] (so uniform weights give Z_m back), and specific_m
    likewise with the rule's weights. Returns common, specific (B, L_m, d), weights (B, L_m).
    """
    unit = {m: F.normalize(x, dim=-1) for m, x in z.items()}
    common, specific, weights = {}, {}, {}
    for m, zm in z.items():
        score = None
        for n in z:
            if n == m:
                continue
            s_mn = unit[m] @ unit[n].transpose(1, 2)  # (B, L_m, L_n)
            best = s_mn.masked_fill(~masks[n].unsqueeze(1), float("-inf")).amax(-1)  # (B, L_m)
            score = best if score is None else torch.minimum(score, best)
        mask = masks[m]
        n_valid = mask.sum(-1, keepdim=True).to(zm.dtype)  # (B, 1)
        w = masked_softmax(score / temperature, mask)
        common[m] = (n_valid * w).unsqueeze(-1) * zm
        if rule == "residual":
            specific[m] = zm - common[m]
        else:
            logits = 1.0 - w if rule == "reference" else -score / temperature
            specific[m] = (n_valid * masked_softmax(logits, mask)).unsqueeze(-1) * zm
        weights[m] = w
    return common, specific, weights


# --------------------------------------------------------------------------- CCE


class ReferenceAttentionBlock(nn.Module):
    """The reference's CCE block: out = LayerNorm(ctx + Linear(ctx)), ctx = multi-head
    self-attention with the heads concatenated as they come out (no output projection, which
    nn.MultiheadAttention would add), no residual from x, no feed-forward."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.linear = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx = self_attention(self.qkv(x), self.heads, attendable(mask))
        return self.norm(ctx + self.linear(ctx))


class EncoderLayer(nn.TransformerEncoderLayer):
    """The reference's encoder layer: nn.TransformerEncoderLayer with PyTorch's defaults
    (ReLU, post-norm) and dropout 0, batch first; its parameters, their names and their
    initialisation are PyTorch's.

    The forward runs the same arithmetic written out: nn.MultiheadAttention's training path
    turns the batch sequence-first and splits the packed q/k/v projection through copies whose
    backward fills three zero tensors of the projection's size per layer (the profile in
    docs/performance.md@50f71fa); here the projection goes to `self_attention` as it is (viewed as
    heads for scaled_dot_product_attention; short sequences in bf16 on the CPU through
    `short_attention`, which lays it out once). On the CPU in fp32 the feed-forward's products go
    through oneDNN, in blocks of rows without gradients (see `feed_forward`); bf16 inference,
    and inference on other devices, keep PyTorch's fused fast path (measured faster in bf16
    here).
    """

    def __init__(self, d: int, heads: int, ff: int) -> None:
        super().__init__(d, heads, dim_feedforward=ff, dropout=0.0, batch_first=True)
        # dropout with p = 0 is the identity: the modules go, the math stays
        self.dropout = self.dropout1 = self.dropout2 = nn.Identity()

    def forward(
        self,
        src: torch.Tensor,
        src_mask: torch.Tensor | None = None,
        src_key_padding_mask: torch.Tensor | None = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        inference = not (self.training or torch.is_grad_enabled())
        fast_path = inference and (
            src.device.type != "cpu" or torch.is_autocast_enabled(src.device.type)
        )
        if src_mask is not None or is_causal or fast_path:
            return super().forward(src, src_mask, src_key_padding_mask, is_causal)
        attn = self.self_attn
        qkv = F.linear(src, attn.in_proj_weight, attn.in_proj_bias)
        keys = None if src_key_padding_mask is None else attendable(~src_key_padding_mask)
        x = self.norm1(src + attn.out_proj(self_attention(qkv, attn.num_heads, keys)))
        return self.norm2(x + self.feed_forward(x))

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """linear2(relu(linear1(x))). In fp32 on the CPU its products go through oneDNN
        where the build has it, the ReLU fused into the first (`models/feed_forward.py`: same
        arithmetic, measured faster); without gradients in blocks of FFN_BLOCK_ROWS rows, the
        hidden block still in cache (the 2048-wide hidden activations of 5120 rows are 42 MB;
        docs/performance.md@50f71fa sections 8 and 9)."""
        if fast_feed_forward.applies(x):
            return fast_feed_forward.feed_forward(x, self.linear1, self.linear2, FFN_BLOCK_ROWS)
        if torch.is_grad_enabled():
            return self.linear2(F.relu(self.linear1(x)))
        # bf16 and other devices; in bf16 (half the bytes) blocks were not faster at every
        # width (ffn-blocks.txt)
        return self.linear2(self.linear1(x).relu_())


def self_attention(qkv: torch.Tensor, heads: int, keys: torch.Tensor | None) -> torch.Tensor:
    """Multi-head self-attention (B, L, d) from the packed q/k/v projection (B, L, 3 * d), the
    heads concatenated; `keys` (B, L): the steps that may be attended to. Short sequences in
    bf16 on the CPU take `short_attention` (measured faster: docs/performance.md@50f71fa sec. 10);
    the rest PyTorch's scaled_dot_product_attention, given the projection viewed as heads."""
    if short_attention.applies(qkv):
        return short_attention.attention(qkv, heads, keys)
    b, length, packed = qkv.shape
    d = packed // 3
    q, k, v = qkv.view(b, length, 3, heads, d // heads).permute(2, 0, 3, 1, 4).unbind(0)
    mask = None if keys is None else keys[:, None, None, :]
    ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, heads, L, d/heads)
    return ctx.transpose(1, 2).reshape(b, length, d)


# rows per block of the feed-forward without gradients: 512 (x 2048 hidden units x 4 bytes =
# 4 MB) was the fastest of 256, 512 and 1024 in fp32 here with MKL's products; with oneDNN's,
# 512, 1024 and 2048 were within 10 % of each other at 2048 wide (docs/performance.md@50f71fa 8, 9)
FFN_BLOCK_ROWS = 512

# sequences longer than this recompute their Transformer layers' activations (and CSD's) in
# the backward pass instead of holding them (same numbers; memory at 500 steps in
# docs/performance.md@50f71fa)
RECOMPUTE_STEPS = 64


def encode(layer: EncoderLayer, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`layer` on x (B, L, d) with its padding mask; long sequences with activation
    checkpointing when training."""
    if torch.is_grad_enabled() and layer.training and x.shape[1] > RECOMPUTE_STEPS:
        # TransformerEncoderLayer(src, src_mask, src_key_padding_mask)
        return recomputed(layer, x.device, x.shape[1], x, None, ~mask)
    return layer(x, src_key_padding_mask=~mask)


def recomputed(fn, device: torch.device, steps: int, *args):
    """fn(*args) with its activations recomputed in the backward pass instead of held; the
    recomputation runs outside the forward's attention-kernel choice, so it makes the same
    one (for `steps`-long sequences on `device`)."""
    precision = "bf16" if torch.is_autocast_enabled(device.type) else "fp32"
    return checkpoint(_with_kernels, fn, device, steps, precision, *args, use_reentrant=False)


def _with_kernels(fn, device: torch.device, steps: int, precision: str, *args):
    with kernels(device, steps, precision):
        return fn(*args)


class CommonEnhancement(nn.Module):
    """CCE on one modality's common part -> (B, d)."""

    def __init__(self, kind: str, block: str, d: int, heads: int, ff: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "attention":
            self.block = (
                ReferenceAttentionBlock(d, heads)
                if block == "reference"
                else EncoderLayer(d, heads, ff)
            )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.kind == "maxpool":
            return masked_max(x, mask)
        if self.kind == "attention":
            if isinstance(self.block, ReferenceAttentionBlock):
                x = self.block(x, mask)
            else:
                x = encode(self.block, x, mask)
        return masked_mean(x, mask)


# --------------------------------------------------------------------------- CSM

# rows x steps the critic takes in one go: up to AC_WHOLE_STEPS (128 x 20 in the reference's
# IEMOCAP setting, 128 x 50 MOSI word pieces) all at once; more (500-step sequences) in chunks
# of AC_CHUNK_STEPS, 10 rows at a time, recomputed in the backward pass (memory: see
# docs/performance.md@50f71fa). Recomputing costs a forward pass: not worth it for short sequences.
AC_WHOLE_STEPS = 8192
AC_CHUNK_STEPS = 5120


class Critic(nn.Module):
    """Centralised Q(s, a): per modality [state ; action tiled n_heads times] -> Transformer
    -> mean over steps; concatenated over modalities; the reference's head
    Linear -> Linear -> Dropout -> ReLU -> BatchNorm -> Linear -> scalar."""

    def __init__(self, modalities: list[str], d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        width = d + heads  # divisible by heads because d is
        self.encoders = nn.ModuleDict({m: EncoderLayer(width, heads, ff) for m in modalities})
        self.head = nn.Sequential(
            nn.Linear(len(modalities) * width, d),
            nn.Linear(d, d),
            nn.Dropout(dropout),
            nn.ReLU(),
            nn.BatchNorm1d(d),
            nn.Linear(d, 1),
        )

    def forward(self, state: dict, action: dict, masks: dict) -> torch.Tensor:
        """Q (B,). Many rows x steps (long sequences) go through the encoders a chunk of rows
        at a time, their activations recomputed in the backward pass: the same numbers (the
        head's BatchNorm still sees every row at once) in a fraction of the memory."""
        n = next(iter(masks.values())).shape[0]
        length = max(x.shape[1] for x in masks.values())
        per_chunk = max(1, AC_CHUNK_STEPS // length)
        if n * length <= AC_WHOLE_STEPS or n <= per_chunk:
            pooled = self.pool(state, action, masks)
        else:
            parts, device = [], next(iter(masks.values())).device
            for i in range(0, n, per_chunk):
                rows = [
                    {m: x[i : i + per_chunk] for m, x in d.items()} for d in (state, action, masks)
                ]
                if torch.is_grad_enabled():
                    parts.append(recomputed(self.pool, device, length, *rows))
                else:
                    parts.append(self.pool(*rows))
            pooled = torch.cat(parts)
        return self.head(pooled).squeeze(-1)

    def pool(self, state: dict, action: dict, masks: dict) -> torch.Tensor:
        """The encoders' pooled outputs, concatenated over modalities (B, M * (d + heads))."""
        pooled = []
        for m, enc in self.encoders.items():
            a = action[m].unsqueeze(-1).expand(-1, -1, self.heads)  # (B, L, heads)
            h = enc(torch.cat([state[m], a], dim=-1), src_key_padding_mask=~masks[m])
            pooled.append(masked_mean(h, masks[m]))
        return torch.cat(pooled, dim=-1)


class Actors(nn.Module):
    """One policy per modality: a gate sigmoid(Linear(d -> 1)) on every step."""

    def __init__(self, modalities: list[str], d: int) -> None:
        super().__init__()
        self.policy = nn.ModuleDict({m: nn.Linear(d, 1) for m in modalities})

    def forward(self, state: dict, masks: dict) -> dict[str, torch.Tensor]:
        return {
            m: torch.sigmoid(self.policy[m](state[m])).squeeze(-1) * masks[m] for m in self.policy
        }


# --------------------------------------------------------------------------- model


class MMCL(TaskModel):
    min_modalities = 2
    why = "it splits each modality by its similarity to the others"

    def __init__(self, cfg: MMCLConfig, info: DataInfo) -> None:
        super().__init__()
        cfg.validate()
        self.cfg, self.info = cfg, info
        mods, d, h, ff = info.modalities, cfg.d_model, cfg.n_heads, cfg.ffn_dim
        same_len = len(set(info.seq_lens.values())) == 1
        if cfg.alignment == "pairwise" and not same_len:
            raise UserError(
                f"mmcl.alignment = 'pairwise' needs equal sequence lengths; found {info.seq_lens}. "
                "Use 'best_match' or 'auto'."
            )
        self.alignment = (
            cfg.alignment if cfg.alignment != "auto" else ("pairwise" if same_len else "best_match")
        )
        self.proj = nn.ModuleDict({m: nn.Linear(info.dims[m], d) for m in mods})
        self.learned = LearnedDecoupling(mods, d) if cfg.csd == "learned" else None
        block = cfg.resolved("cce_block")
        self.cce = nn.ModuleDict({m: CommonEnhancement(cfg.cce, block, d, h, ff) for m in mods})
        e_dim = d
        if cfg.csm != "none":
            e_dim = 2 * d
            self.spec_enc = nn.ModuleDict({m: EncoderLayer(d, h, ff) for m in mods})
        if cfg.csm == "actor_critic":
            self.actors = Actors(mods, d)
            self.critic = Critic(mods, d, h, ff, cfg.dropout)
            self.bootstrap = cfg.resolved("critic_target") == "bootstrap"
            if self.bootstrap:
                # initialised on their own, as in the reference (not copies of the online ones)
                self.actors_target = Actors(mods, d).requires_grad_(False)
                self.critic_target = Critic(mods, d, h, ff, cfg.dropout).requires_grad_(False)
            self.buffer = ReplayBuffer(cfg.buffer_size, info.seq_lens, d, self.bootstrap)
            self._prev_gate: dict[str, torch.Tensor] | None = None
        if cfg.fusion == "gated_mean":
            self.fusion_gate = nn.ModuleDict(
                # the reference's gate: two linear layers, no nonlinearity between them
                {m: nn.Sequential(nn.Linear(e_dim, d), nn.Linear(d, 1)) for m in mods}
            )
            fused_dim = e_dim
        else:
            fused_dim = len(mods) * e_dim
        self.head = PredictionHead(fused_dim, d, info.task.output_dim, cfg.dropout)

    # -- forward ------------------------------------------------------------------------
    def decouple(self, z: dict, masks: dict) -> tuple[dict, dict, dict, dict]:
        """CSD: common and specific parts per modality, weights for diagnostics, losses."""
        if self.cfg.csd == "none":
            return z, z, {}, {}
        if self.learned is not None:
            common, specific, losses = self.learned(z, masks)
            return common, specific, {}, losses
        fn = csd_pairwise if self.alignment == "pairwise" else csd_best_match
        args = (z, masks, self.cfg.specific_rule, self.cfg.temperature)
        steps = max(x.shape[1] for x in z.values())
        if torch.is_grad_enabled() and self.training and steps > RECOMPUTE_STEPS:
            # its steps x steps similarities are recomputed in the backward pass, not held
            common, specific, weights = checkpoint(fn, *args, use_reentrant=False)
        else:
            common, specific, weights = fn(*args)
        return common, specific, weights, {}

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        # the named scopes show up in torch.profiler (benchmarks/profile_mmcl.py); they cost
        # nothing measurable when no profiler runs
        with record_function("mmcl.project+csd"):
            z = {
                m: self.proj[m](features[m]) * masks[m].unsqueeze(-1) for m in self.info.modalities
            }
            common, specific, weights, csd_losses = self.decouple(z, masks)
        out = ModelOutput(preds=torch.empty(0), aux_losses=csd_losses, csd_weights=weights)
        with record_function("mmcl.cce"):
            embeddings = {m: self.cce[m](common[m], masks[m]) for m in z}  # (B, d)
        if self.cfg.csm != "none":
            with record_function("mmcl.csm"):
                state = self._actor_state(specific)
                gates = (
                    {m: masks[m].to(x.dtype) for m, x in specific.items()}
                    if self.cfg.csm == "fixed"
                    else self.actors(state, masks)
                )
                for m in z:
                    gated = specific[m] * gates[m].unsqueeze(-1)
                    h = encode(self.spec_enc[m], gated, masks[m])
                    embeddings[m] = torch.cat([embeddings[m], masked_mean(h, masks[m])], dim=-1)
            out.gates, out.specific, out.actor_state = gates, specific, state
        if self.cfg.fusion == "gated_mean":
            weighted = [torch.sigmoid(self.fusion_gate[m](e)) * e for m, e in embeddings.items()]
            fused = torch.stack(weighted).mean(0)
        else:
            fused = torch.cat(list(embeddings.values()), dim=-1)
        out.preds = shape_predictions(self.head(fused), self.info.task)
        return out

    def _actor_state(self, specific: dict) -> dict[str, torch.Tensor]:
        """What the actors act on (and the replay buffer stores as the state)."""
        carried = (
            self.cfg.csm == "actor_critic"
            and self.training
            and self.cfg.resolved("actor_input") == "carried"
            and self._prev_gate is not None
        )
        if not carried:
            return specific
        # reference training: this batch's features gated by the previous step's action
        # (another batch's); at evaluation the actor sees them ungated
        return {m: x * self._carry_gate(m, x).unsqueeze(-1) for m, x in specific.items()}

    def _carry_gate(self, m: str, x: torch.Tensor) -> torch.Tensor:
        prev = self._prev_gate[m]
        gate = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)
        b, length = min(x.shape[0], prev.shape[0]), min(x.shape[1], prev.shape[1])
        gate[:b, :length] = prev[:b, :length]
        return gate

    # -- losses -------------------------------------------------------------------------
    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        pred = task_loss(out.preds, batch.labels, self.info.task)
        total = self.cfg.w_pred * pred
        logs = {"pred_loss": float(pred.detach())}
        if self.learned is not None:
            for k, w in (
                ("sim", self.cfg.w_sim),
                ("diff", self.cfg.w_diff),
                ("recon", self.cfg.w_recon),
            ):
                value = out.aux_losses[k]
                total = total + w * value
                logs[f"{k}_loss"] = float(value.detach())
        return total, logs

    def extra_param_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.cfg.csm != "actor_critic":
            return {}
        return {"critic": list(self.critic.parameters()), "actor": list(self.actors.parameters())}

    def main_parameters(self) -> list[nn.Parameter]:
        # the prediction loss also trains the actors (the gates are differentiable), as in the
        # reference; only the critic is left to its own optimiser
        critic = (
            {id(p) for p in self.critic.parameters()} if self.cfg.csm == "actor_critic" else set()
        )
        return [p for p in self.parameters() if p.requires_grad and id(p) not in critic]

    def extra_update(
        self, batch: Batch, out: ModelOutput, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, float]:
        """One critic step and one actor step on replayed transitions."""
        if self.cfg.csm != "actor_critic":
            return {}
        mods = self.info.modalities
        rows = {
            "reward": true_label_reward(out.preds.detach(), batch.labels, self.info.task),
            # the state the actors acted on: with actor_input = carried, already gated by the
            # previous step's action (so the critic learns Q on what the actors see)
            **{f"state.{m}": out.actor_state[m].detach() for m in mods},
            **{f"mask.{m}": batch.masks[m] for m in mods},
            **{f"action.{m}": out.gates[m].detach() for m in mods},
        }
        self._prev_gate = {m: rows[f"action.{m}"] for m in mods}
        # with the bootstrapped critic, s' is the NEXT batch's row (unrelated samples), as the
        # actors see it: the buffer completes this step's transitions when the next arrives
        self.buffer.push(rows)
        # the reference waits until the buffer holds more than one sample's worth
        if self.buffer.size <= self.cfg.ac_batch_size:
            return {}
        with record_function("mmcl.ac.replay+target"):
            sample = self.buffer.sample(self.cfg.ac_batch_size)
            target = sample["reward"]
            if self.bootstrap:
                with torch.no_grad():
                    target = target + self.cfg.gamma * self._q(self.critic_target, sample, "next")
        with record_function("mmcl.ac.critic"):
            optimizers["critic"].zero_grad(set_to_none=True)
            q = self._q(self.critic, sample, "stored")
            critic_loss = self.cfg.w_ac * F.l1_loss(q.float(), target.float())
            critic_loss.backward()
            optimizers["critic"].step()
            optimizers["critic"].zero_grad(set_to_none=True)
        with record_function("mmcl.ac.actor"):
            self.critic.requires_grad_(False)
            optimizers["actor"].zero_grad(set_to_none=True)
            actor_loss = -self.cfg.w_ac * self._q(self.critic, sample, "actors").float().mean()
            actor_loss.backward()
            optimizers["actor"].step()
            self.critic.requires_grad_(True)
        if self.bootstrap:
            self._soft_update(self.critic_target, self.critic)
            self._soft_update(self.actors_target, self.actors)
        return {
            "critic_loss": float(critic_loss.detach()),
            "actor_loss": float(actor_loss.detach()),
            "reward": float(rows["reward"].mean()),
        }

    def _q(self, critic: Critic, sample: dict, action: str) -> torch.Tensor:
        """Q of replayed transitions for the `stored` action, for the actors' action now
        (`actors`), or (`next`) of the next states for the target actors' action."""
        mods = self.info.modalities
        prefix = "next_" if action == "next" else ""
        state = {m: sample[f"{prefix}state.{m}"] for m in mods}
        masks = {m: sample[f"{prefix}mask.{m}"] for m in mods}
        if action == "next":
            chosen = self.actors_target(state, masks)
        elif action == "actors":
            chosen = self.actors(state, masks)
        else:
            chosen = {m: sample[f"action.{m}"] for m in mods}
        return critic(state, chosen, masks)

    def _soft_update(self, target: nn.Module, online: nn.Module) -> None:
        with torch.no_grad():
            for t, o in zip(target.parameters(), online.parameters(), strict=True):
                t.lerp_(o, self.cfg.tau_target)

    # -- state for exact resume ---------------------------------------------------------
    def training_state(self) -> dict[str, object]:
        if self.cfg.csm != "actor_critic":
            return {}
        state: dict[str, object] = {"buffer": self.buffer.state_dict()}
        if self._prev_gate is not None:
            state["prev_gate"] = dict(self._prev_gate)
        return state

    def load_training_state(self, state: dict[str, object]) -> None:
        if self.cfg.csm != "actor_critic":
            return
        self.buffer.load_state_dict(state["buffer"])
        self._prev_gate = state.get("prev_gate")
        self.move_training_state(self.device)

    def move_training_state(self, device: torch.device) -> None:
        if self.cfg.csm != "actor_critic":
            return
        # in bf16 training the critic reads the states in bf16 anyway: store them so
        self.buffer.to(device, torch.bfloat16 if self.precision == "bf16" else torch.float32)
        if self._prev_gate is not None:
            self._prev_gate = {k: v.to(device) for k, v in self._prev_gate.items()}
