"""Batched sampling with the key/value cache.

Prompts are left-padded into one batch, run once, and then extended one token at
a time from the cache: every step costs one token per sequence instead of the
whole prefix (the published code re-ran the full prefix, one sample at a time).
Sampling: temperature (0 = greedy), top-k, top-p (nucleus), several samples per
prompt, and stop tokens (by default ``<P>`` and the unknown id, as in the
published code; a fine-tuned generation task adds its own stop symbol).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import torch
from pydantic import Field

from .data.fasta import format_fasta
from .device import precision_context
from .errors import ConfigError
from .models import DNAGPT
from .tokenizers import UNKNOWN_ID, KmerTokenizer
from .validation import settings


@settings
class SamplingConfig:
    """How to draw tokens."""

    max_new_tokens: Annotated[int, Field(ge=1)] = 128  # tokens added to each prompt, at most
    temperature: Annotated[float, Field(ge=0)] = 1.0  # 0 = always the most likely token
    top_k: Annotated[int, Field(ge=0)] = 0  # keep the k most likely tokens (0 = all)
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0  # keep the smallest set of tokens whose probability reaches p
    num_samples: Annotated[int, Field(ge=1)] = 1  # samples per prompt
    stop_ids: tuple[int, ...] | None = None  # None = <P> and the unknown id
    seed: int | None = None  # for reproducible samples
    # allowed[i] = the tokens that may be drawn at step i (bool, [steps, vocab]); later steps are free.
    # For outputs of a fixed layout, e.g. one of two alleles per SNP in an artificial haplotype.
    allowed: torch.Tensor | None = None


@dataclass
class Generation:
    """One generated sequence."""

    prompt_index: int
    token_ids: list[int]  # the new tokens, stop token excluded
    stopped: bool  # True if a stop token ended it (False: ran out of max_new_tokens)
    text: str = ""


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set to -inf every logit outside the top-k and outside the top-p nucleus (per row)."""
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # drop a token once the tokens before it already reach top_p (the first one always stays)
        drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def generate(
    model: DNAGPT,
    prompts: Sequence[str],
    config: SamplingConfig | None = None,
    tokenizer: KmerTokenizer | None = None,
    batch_size: int | None = None,
    precision: str = "fp32",
) -> list[Generation]:
    """Continue each prompt ``config.num_samples`` times; returns one :class:`Generation` each,
    in prompt order. Prompts are texts of the token language, e.g. ``"<R>ATGGCG"``.
    ``batch_size``: sequences generated together (None: all at once; fewer use less memory).
    ``precision``: the number format of the model's arithmetic (see :mod:`dnagpt.device`)."""
    cfg = config or SamplingConfig()
    tok = tokenizer or model.tokenizer()
    if not prompts:
        raise ConfigError("no prompts to generate from")
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    encs = [tok.encode(p) for p in prompts for _ in range(cfg.num_samples)]
    owners = [i for i in range(len(prompts)) for _ in range(cfg.num_samples)]
    longest = max(len(e) for e in encs)
    if longest + cfg.max_new_tokens > model.config.context_length:
        raise ConfigError(
            f"prompt of {longest} tokens + {cfg.max_new_tokens} new tokens exceeds the model's context of "
            f"{model.config.context_length}; lower max_new_tokens"
        )
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    if cfg.seed is not None:
        generator.manual_seed(cfg.seed)
    model.eval()
    step = batch_size or len(encs)
    results = []
    with precision_context(precision, device):
        for start in range(0, len(encs), step):
            rows = range(start, min(start + step, len(encs)))
            drawn = _generate_batch(model, [encs[i] for i in rows], cfg, tok, generator)
            for row, (stopped, ids) in zip(rows, drawn, strict=True):
                results.append(Generation(owners[row], ids, stopped, text=tok.decode(ids) if ids else ""))
    return results


def _generate_batch(model: DNAGPT, encs: list, cfg: SamplingConfig, tok: KmerTokenizer,
                    generator: torch.Generator) -> list[tuple[bool, list[int]]]:  # fmt: skip
    """Generate after each of ``encs`` together: (stopped by a stop token, new token ids) per row."""
    device = next(model.parameters()).device
    batch = tok.batch_encode(encs, padding_side="left").to(device)
    stop = torch.tensor(cfg.stop_ids if cfg.stop_ids is not None else (tok.pad_id, UNKNOWN_ID), device=device)
    # Without padding (prompts of one length, decided here on the host) the causal order is the whole
    # mask, and the prompt's attention can take its fast unmasked path.
    mask = batch.attention_mask if len({len(e) for e in encs}) > 1 else None
    out = model(batch.input_ids, batch.numbers, batch.number_mask, attention_mask=mask, use_cache=True)
    logits = out.logits[:, -1]
    n, prompt_len = batch.input_ids.shape
    cache, visible = _preallocated_cache(out.past_key_values, mask, prompt_len + cfg.max_new_tokens)
    position = batch.attention_mask.sum(-1, keepdim=True)  # positions count real tokens (left padding)
    finished = torch.zeros(n, dtype=torch.bool, device=device)
    stopped = torch.zeros(n, dtype=torch.bool, device=device)
    new_tokens = []
    allowed = cfg.allowed.to(device) if cfg.allowed is not None else None
    for step in range(cfg.max_new_tokens):
        logits = logits.float()
        if allowed is not None and step < len(allowed):
            logits = logits.masked_fill(~allowed[step], float("-inf"))
        next_ids = _choose(logits, cfg, generator)
        hit = torch.isin(next_ids, stop) & ~finished
        stopped |= hit
        finished |= hit
        new_tokens.append(torch.where(finished, torch.full_like(next_ids, -1), next_ids))
        if bool(finished.all()) or step + 1 == cfg.max_new_tokens:
            break
        column = prompt_len + step
        if visible is not None:
            visible[..., column] = True
        logits = model.decode_step(next_ids[:, None], position, cache, column, visible)
        position = position + 1
    table = torch.stack(new_tokens, dim=1).tolist()
    return [(bool(stopped[row]), [t for t in table[row] if t >= 0]) for row in range(len(encs))]


def _preallocated_cache(prompt_cache: list, prompt_mask: torch.Tensor | None,
                        capacity: int) -> tuple[list, torch.Tensor | None]:  # fmt: skip
    """The prompt's keys and values copied into buffers of ``capacity`` columns that each step then
    writes in place (a cache grown by concatenation would be copied whole at every step), and,
    for left-padded prompts, which columns each row may attend to (``[batch, 1, 1, capacity]``)."""
    cache = []
    for keys, values in prompt_cache:
        b, heads, length, width = keys.shape
        buffers = [t.new_zeros(b, heads, capacity, width) for t in (keys, values)]
        buffers[0][:, :, :length] = keys
        buffers[1][:, :, :length] = values
        cache.append(tuple(buffers))
    if prompt_mask is None:
        return cache, None
    visible = torch.zeros(prompt_mask.shape[0], 1, 1, capacity, dtype=torch.bool, device=prompt_mask.device)
    visible[:, 0, 0, : prompt_mask.shape[1]] = prompt_mask.bool()
    return cache, visible


def _choose(logits: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator) -> torch.Tensor:
    if cfg.temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(filter_logits(logits / cfg.temperature, cfg.top_k, cfg.top_p), dim=-1)
    # inverse CDF: one uniform number per row instead of one per token (torch.multinomial), which on CPU
    # made random-number generation 70 % of batched sampling over a 20k-token vocabulary. u lies in
    # (0, total], so the first index whose cumulative mass reaches u never has probability zero.
    cdf = probs.double().cumsum(dim=-1)
    u = (1.0 - torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device, dtype=cdf.dtype)) * cdf[:, -1:]
    return torch.searchsorted(cdf, u).squeeze(-1)


def generations_fasta(generations: list[Generation], tok: KmerTokenizer) -> str:
    """Generated sequences as FASTA: bases only, with the prompt, whether a stop token ended the
    sample, and how many tokens it has (non-base tokens included) in each header."""
    records = []
    for i, gen in enumerate(generations):
        pieces = [tok.piece(t) for t in gen.token_ids]
        bases = "".join(p for p in pieces if not p.startswith("<"))
        header = (f"sample{i + 1} prompt={gen.prompt_index + 1} stopped={'yes' if gen.stopped else 'no'} "
                  f"tokens={len(pieces)} non_base_tokens={sum(p.startswith('<') for p in pieces)}")  # fmt: skip
        records.append((header, bases))
    return format_fasta(records)
