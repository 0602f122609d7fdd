"""Hugging Face ``transformers`` interoperability (the ``hf`` extra).

``import dnagpt.hf`` registers dnagpt with ``transformers``' Auto classes (importing
``transformers`` takes seconds, so plain ``import dnagpt`` does not). Then a directory written by
dnagpt's ``save_pretrained`` (or a shipped model's directory) loads the Hugging Face way::

    import dnagpt.hf
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    model = AutoModelForCausalLM.from_pretrained("runs/demo/model")   # a DNAGPT decoder
    ids = model.dnagpt.tokenizer().encode("<R>ATGGCGTAC")
    out = model.generate(torch.tensor([ids]), max_new_tokens=20, do_sample=False)

* ``AutoConfig``: :class:`HFConfig` (``model_type`` "dnagpt", which every saved
  ``config.json`` carries), holding the dnagpt configuration's fields;
* ``AutoModel``: the trunk of any family, returning ``last_hidden_state``;
* ``AutoModelForCausalLM``: the DNAGPT decoder with its token head; works with ``generate``
  (greedy, sampling, beam search), its key/value cache kept in ``transformers``' cache object;
* ``AutoModelForMaskedLM``: the encoders (``bert`` and ``gpn`` families) with their token head;
* ``AutoModelForSequenceClassification``: a model fine-tuned by dnagpt (its directory holds
  ``task.json``) for classification or regression, of any family; logits over its labels (or its
  value), usable in a ``transformers`` ``pipeline("text-classification")``;
* ``AutoTokenizer``: every model directory's ``tokenizer.json`` is Hugging Face's format and gives
  dnagpt's ids; a fine-tuned model's puts its task's prompt around each sequence.

Each wrapper holds the dnagpt model as ``.dnagpt``; loading and saving go through dnagpt's own
checked reader and writer, so the files are the same either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    GenerationMixin,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import (
    BaseModelOutput,
    CausalLMOutputWithPast,
    MaskedLMOutput,
    SequenceClassifierOutput,
)

from .errors import CheckpointError, ConfigError
from .models import FAMILIES, ModelConfig, PretrainedModel, build_model, get_family, load_model
from .models.config import MODEL_TYPE

# transformers 5.x renamed the outputs' "past_key_values" to "cache"
_CACHE_FIELD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


class HFConfig(PretrainedConfig):
    """A dnagpt configuration (any family) as ``transformers`` sees it: the same fields, read
    from and written to the same ``config.json``."""

    model_type = MODEL_TYPE
    attribute_map: ClassVar[dict[str, str]] = {  # the names transformers' generic code asks for
        "hidden_size": "d_model",
        "num_hidden_layers": "n_layer",
        "num_attention_heads": "n_head",
        "max_position_embeddings": "context_length",
    }

    def __init__(self, family: str = "dnagpt", **fields) -> None:
        try:
            config_class = get_family(family, "Hugging Face configuration").config
        except ConfigError as e:
            raise CheckpointError(str(e)) from None
        keys = {*config_class.__dataclass_fields__, *config_class.saved_keys} - {"family", "model_type"}
        own = {f: fields.pop(f) for f in keys if f in fields}
        own["family"] = family
        self.dnagpt_fields = own
        for key, value in own.items():
            setattr(self, key, value)
        fields.setdefault("tie_word_embeddings", False)  # the token head has its own weights
        super().__init__(**fields)

    def to_dnagpt(self) -> ModelConfig:
        """The dnagpt configuration these fields describe (checked as dnagpt checks any)."""
        fields = dict(self.dnagpt_fields)
        vocabulary = fields.get("tokenizer_file")
        if vocabulary and not Path(vocabulary).is_absolute() and self.name_or_path:  # a saved model's own copy
            fields["tokenizer_file"] = str(Path(self.name_or_path) / vocabulary)
        return FAMILIES[fields["family"]].config.from_dict(fields, "Hugging Face configuration")

    @classmethod
    def from_dnagpt(cls, config: ModelConfig) -> HFConfig:
        fields = config.to_dict()
        fields.pop("model_type", None)
        return cls(**fields)


class HFModel(PreTrainedModel):
    """Any dnagpt family's trunk under ``transformers``' ``AutoModel``: ``last_hidden_state`` out."""

    config_class = HFConfig
    base_model_prefix = "dnagpt"
    causal: ClassVar[bool | None] = None  # the models this wrapper accepts: causal ones, masked ones or (None) all
    _supports_cache_class = True

    def __init__(self, config: HFConfig, model: PretrainedModel | None = None) -> None:
        super().__init__(config)
        family = FAMILIES[config.dnagpt_fields["family"]]
        if self.causal is not None and family.model.causal != self.causal:
            wanted = "AutoModelForCausalLM" if family.model.causal else "AutoModelForMaskedLM"
            raise CheckpointError(f"a {family.name!r} model cannot be read as {type(self).__name__}; use {wanted} "
                                  "(or AutoModel for its hidden states)")  # fmt: skip
        self.dnagpt = model if model is not None else build_model(config.to_dnagpt())

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *args, dtype=None, **kwargs):
        """Read a dnagpt directory (or a shipped model's name) with dnagpt's checked reader.
        Hub options (``revision``, ``cache_dir`` ...) do not apply to a local directory and are
        ignored; ``dtype`` (or ``torch_dtype``) casts the weights."""
        dtype = dtype if dtype is not None else kwargs.get("torch_dtype")
        if isinstance(dtype, str):
            dtype = None if dtype == "auto" else getattr(torch, dtype)
        model = load_model(pretrained_model_name_or_path, dtype=dtype or torch.float32)
        wrapper = cls(HFConfig.from_dnagpt(model.config), model)
        wrapper.config.name_or_path = str(pretrained_model_name_or_path)
        return wrapper.eval()

    def save_pretrained(self, save_directory: str | Path, *args, **kwargs) -> None:
        """Write the dnagpt directory (safetensors weights, ``config.json``, ``tokenizer.json``)."""
        self.dnagpt.save_pretrained(save_directory)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.dnagpt.transformer.wte

    def _trunk(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None):
        mask = attention_mask.bool() if attention_mask is not None else None
        return self.dnagpt(input_ids, attention_mask=mask, compute_heads=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_) -> BaseModelOutput:
        """Final hidden states ``[batch, length, d_model]``; ``attention_mask`` is 0 on padding."""
        return BaseModelOutput(last_hidden_state=self._trunk(input_ids, attention_mask).hidden_states)


class HFForMaskedLM(HFModel):
    """The masked models (the ``bert`` and ``gpn`` families) with their token head, under
    ``AutoModelForMaskedLM``."""

    causal = False

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **_,
    ) -> MaskedLMOutput:
        """Token logits at every position; with ``labels`` (-100 where not scored) the mean loss."""
        hidden = self._trunk(input_ids, attention_mask).hidden_states
        logits = self.dnagpt.token_logits(hidden)
        loss = None
        if labels is not None:
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=(hidden,))


class HFForCausalLM(HFModel, GenerationMixin):
    """The causal models (the DNAGPT decoder) with their token head, under ``AutoModelForCausalLM``;
    ``generate`` works."""

    causal = True

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        labels: torch.Tensor | None = None,
        past_key_values: Cache | None = None,
        **_,
    ) -> CausalLMOutputWithPast:
        """Next-token logits. ``cache`` (``past_key_values`` before transformers 5.x) holds the
        keys and values of the tokens before ``input_ids``; those of ``input_ids`` are appended to it.
        With ``labels`` (the input ids, -100 where not scored) the mean next-token loss, shifted
        as ``transformers`` does."""
        cache = cache if cache is not None else past_key_values
        if use_cache and cache is None:
            cache = DynamicCache()
        past_len = cache.get_seq_length() if cache is not None else 0
        past = [(layer.keys, layer.values) for layer in cache.layers] if past_len else None
        mask = attention_mask.bool() if attention_mask is not None else None
        out = self.dnagpt(input_ids, attention_mask=mask, past_key_values=past, use_cache=cache is not None)
        if cache is not None:
            for i, (k, v) in enumerate(out.past_key_values):
                cache.update(k[:, :, past_len:], v[:, :, past_len:], i)
        loss = None
        if labels is not None:
            shifted = out.logits[:, :-1].flatten(0, 1).float()
            loss = torch.nn.functional.cross_entropy(shifted, labels[:, 1:].flatten(), ignore_index=-100)
        return CausalLMOutputWithPast(loss=loss, logits=out.logits, **{_CACHE_FIELD: cache})


class HFForSequenceClassification(HFModel):
    """A model fine-tuned by dnagpt for classification or regression (any family), under
    ``AutoModelForSequenceClassification``: ``logits`` ``[batch, labels]`` (the label tokens' or the
    task head's), or ``[batch, 1]`` holding the predicted value in the task's units. Its inputs are
    what the directory's tokenizer gives (the task's prompt around each sequence), right-padded.
    dnagpt's ``predict`` gives the same answers, except that it also averages the reading frames of
    a model fine-tuned with ``frame_shift`` and the windows of a sequence longer than the context."""

    def __init__(self, config: HFConfig, model: PretrainedModel | None = None, codec=None) -> None:
        super().__init__(config, model)
        self.codec = codec

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *args, dtype=None, **kwargs):
        """Read a fine-tuned model directory (weights, ``config.json`` and ``task.json``)."""
        from .tasks.codec import load_task_codec

        wrapper = super().from_pretrained(pretrained_model_name_or_path, *args, dtype=dtype, **kwargs)
        codec = load_task_codec(pretrained_model_name_or_path, wrapper.dnagpt)
        spec = codec.spec
        if spec.output == "sequence":
            raise CheckpointError(f"{pretrained_model_name_or_path}: fine-tuned to generate sequences; read it with "
                                  "AutoModelForCausalLM")  # fmt: skip
        if spec.output == "token" and len(spec.label_columns) > 1:
            raise CheckpointError(f"{pretrained_model_name_or_path}: answers {len(spec.label_columns)} label columns "
                                  "at once; a sequence classifier answers one (use dnagpt predict)")  # fmt: skip
        if codec.alignment is not None:
            raise CheckpointError(f"{pretrained_model_name_or_path}: reads a multiple alignment beside each sequence, "
                                  "which a transformers pipeline cannot pass (use dnagpt predict)")  # fmt: skip
        wrapper.codec = codec
        config = wrapper.config
        if spec.output == "token":
            config.id2label = dict(enumerate(codec.label_names))
            config.label2id = {name: i for i, name in enumerate(codec.label_names)}
            config.problem_type = "single_label_classification"
        else:
            config.id2label, config.label2id = {0: spec.name}, {spec.name: 0}
            config.problem_type = "regression"
        return wrapper

    def save_pretrained(self, save_directory: str | Path, *args, **kwargs) -> None:
        """Write the fine-tuned directory: weights, ``config.json``, tokenizer and ``task.json``."""
        self.dnagpt.save_pretrained(save_directory)
        self.codec.save(save_directory)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        numbers: torch.Tensor | None = None,
        number_mask: torch.Tensor | None = None,
        **_,
    ) -> SequenceClassifierOutput:
        """Label logits (or the value) of each right-padded row. ``numbers`` and ``number_mask``
        (``[batch, length]``) carry the values of a task with numeric inputs, which a tokenizer
        cannot; with ``labels`` (class indices, or values) the loss."""
        from .tasks.codec import TaskBatch

        if attention_mask is None:
            lengths = torch.full((input_ids.shape[0],), input_ids.shape[1], device=input_ids.device)
        else:
            mask = attention_mask.bool()
            lengths = mask.sum(dim=1)
            if (mask != (torch.arange(mask.shape[1], device=mask.device)[None, :] < lengths[:, None])).any():
                raise ConfigError("dnagpt reads each answer at a row's last real token: pad on the right "
                                  "(tokenizer.padding_side = 'right')")  # fmt: skip
        answers = (lengths - 1)[:, None]
        batch = TaskBatch(input_ids, numbers, number_mask, answers, target=answers)
        scores = self.codec.scores(self.dnagpt, batch)
        logits = scores[:, 0, :] if scores.dim() == 3 else scores[:, None]
        loss = None
        if labels is not None:
            if self.config.problem_type == "regression":
                loss = torch.nn.functional.mse_loss(logits[:, 0], labels.float())
            else:
                loss = torch.nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def register() -> None:
    """Register dnagpt's configuration and models with the Auto classes (done on import; repeat-safe)."""
    AutoConfig.register(MODEL_TYPE, HFConfig, exist_ok=True)
    AutoModel.register(HFConfig, HFModel, exist_ok=True)
    AutoModelForCausalLM.register(HFConfig, HFForCausalLM, exist_ok=True)
    AutoModelForMaskedLM.register(HFConfig, HFForMaskedLM, exist_ok=True)
    AutoModelForSequenceClassification.register(HFConfig, HFForSequenceClassification, exist_ok=True)


register()

__all__ = ["HFConfig", "HFForCausalLM", "HFForMaskedLM", "HFForSequenceClassification", "HFModel", "register"]
