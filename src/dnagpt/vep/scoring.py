"""Zero-shot variant scores from a language model, without labels.

* Causal models (DNAGPT): the log-likelihood of the alternative window minus that of the
  reference window, ``log P(alt) - log P(ref)``, each summed over the window's tokens after
  the species token. The tokens before the variant are the same in both windows, so they are
  run once and their key/value cache is shared by the two continuations.
* Masked models (DNABERT-2 style, GPN style): the tokens that cover the variant are masked, and
  the score is ``log p(ALT tokens) - log p(REF tokens)`` at those positions, each read in its
  own window (for a substitution the two masked windows are the same and are run once, and the
  substitutions at one position share their windows).
* Every model: the Euclidean distance between the mean hidden states of the two windows.

Every score is averaged over both strands and, for k-mer tokens, over the k positions the
variant can take inside its token, so that it does not depend on where the variant falls.
Negative scores mean the model finds the alternative allele less likely.

A model of the ``gpn`` package (``variant_scoring = "gpn"``) is scored by GPN's own procedure
instead (:func:`gpn_scores`), so that its scores equal those its authors publish.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch

from ..data.alignment import Alignment, reverse_complement_columns
from ..errors import ConfigError
from ..models import PretrainedModel
from ..tokenizers import KmerTokenizer
from .variants import InvalidVariant, Reference, Variant, WindowPair, reverse_complement, variant_windows

LOGIT_ROWS = 1024  # positions whose full-vocabulary logits are held at once


def score_column(model: PretrainedModel) -> str:
    """Name of the likelihood score a model gives: ``llr`` (causal) or ``masked_llr`` (masked)."""
    return "llr" if model.causal else "masked_llr"


def default_window(model: PretrainedModel, wanted: int | None = None) -> int:
    """The window in bases: ``wanted`` (default 512), at most what fits in the context after the
    species token, and a whole number of k-mer tokens. GPN's procedure reads no species token, and
    its convolutional models any length."""
    if model.variant_scoring == "gpn":
        return min(wanted or 512, model.max_input_tokens or 1 << 30)
    k = model.reading_frames  # positions inside a token the variant is moved through
    room = (model.config.context_length - 1) * k
    width = min(wanted or 512, room)
    return max(k, width - width % k)


def score_variants(
    model: PretrainedModel,
    reference: Reference,
    variants: Sequence[Variant],
    width: int,
    species: str | None = None,
    alignment: Alignment | None = None,
) -> dict[str, np.ndarray]:
    """Scores of ``variants`` (one batch): the likelihood score and ``embedding_distance``, each
    averaged over both strands and every frame (GPN's models: GPN's own score, :func:`gpn_scores`;
    a GPN-MSA model reads ``alignment``). The model runs in whatever precision the caller's autocast
    sets (``dnagpt vep --precision``); log-probabilities and distances are taken in float32."""
    return prepare_batch(model, reference, variants, width, species, alignment)()


def prepare_batch(
    model: PretrainedModel,
    reference: Reference,
    variants: Sequence[Variant],
    width: int,
    species: str | None = None,
    alignment: Alignment | None = None,
) -> Callable[[], dict[str, np.ndarray]]:
    """The part of :func:`score_variants` that needs no model: read the windows of ``variants`` from
    the genome and encode them. Returns the rest: a call that runs the model and gives the scores.
    Split so that a batch can be prepared on one thread while the model runs the last on another
    (``dnagpt vep --prefetch``); the scores are the same either way."""
    if model.variant_scoring == "gpn":
        return functools.partial(_gpn_forward, model, _gpn_inputs(model, reference, variants, width, alignment))
    k = model.reading_frames  # positions inside a token the variant is moved through
    centre = width // 2 - (width // 2) % k
    views = [(reverse, centre + f) for reverse in (False, True) for f in range(k)]
    encoded = [_encode_pairs(model, [variant_windows(reference, v, width, offset, reverse) for v in variants], species)
               for reverse, offset in views]  # fmt: skip
    return functools.partial(_scores_over_views, model, encoded, species)


@torch.no_grad()
def _scores_over_views(model: PretrainedModel, views: list[EncodedPairs], species: str | None) -> dict[str, np.ndarray]:
    """The mean of each score over every strand and frame."""
    model.eval()
    totals: dict[str, np.ndarray] = {}
    for pairs in views:
        scored = (_causal_scores if model.causal else _masked_scores)(model, pairs, species)
        for name, values in scored.items():
            totals[name] = totals.get(name, 0.0) + values / len(views)
    return totals


def _encode(model: PretrainedModel, windows: Sequence[str], species: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids ``[B, T]`` (species token first when given; inside the tokens a foreign
    vocabulary puts around every sequence) and each row's length."""
    tok = model.tokenizer()
    prefix = [tok.species_id(species)] if species else []
    rows = [np.array(tok.wrap([*prefix, *tok.encode_bases(w).tolist()]), dtype=np.int64) for w in windows]
    lengths = torch.tensor([len(r) for r in rows])
    ids = torch.full((len(rows), int(lengths.max())), tok.pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.from_numpy(r)
    device = next(model.parameters()).device
    return ids.to(device), lengths.to(device)


class EncodedPairs(NamedTuple):
    """A batch of window pairs as the model reads them: REF and ALT token ids (right-padded to one
    width) and each row's length."""

    pairs: Sequence[WindowPair]
    ref: torch.Tensor
    ref_len: torch.Tensor
    alt: torch.Tensor
    alt_len: torch.Tensor


def _encode_pairs(model: PretrainedModel, pairs: Sequence[WindowPair], species: str | None) -> EncodedPairs:
    ref, ref_len = _encode(model, [p.ref for p in pairs], species)
    alt, alt_len = _encode(model, [p.alt for p in pairs], species)
    width = max(ref.shape[1], alt.shape[1])
    return EncodedPairs(pairs, _pad_to(ref, width, model), ref_len, _pad_to(alt, width, model), alt_len)


def token_log_probs(model: PretrainedModel, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log p(targets)`` under the token head at each position of ``hidden`` ``[..., d]``."""
    flat_h, flat_t = hidden.reshape(-1, hidden.shape[-1]), targets.reshape(-1)
    out = torch.empty(flat_t.shape, dtype=torch.float32, device=hidden.device)
    for i in range(0, len(flat_t), LOGIT_ROWS):
        logits = model.token_logits(flat_h[i : i + LOGIT_ROWS]).float()
        out[i : i + LOGIT_ROWS] = logits.gather(-1, flat_t[i : i + LOGIT_ROWS, None])[:, 0] - logits.logsumexp(-1)
    return out.reshape(targets.shape)


def _mean_hidden(hidden: torch.Tensor, lengths: torch.Tensor, first: int) -> torch.Tensor:
    """Mean hidden state over positions ``first .. length - 1`` of each row, in float32 (under bf16
    autocast the states are bf16, whose 8-bit mantissa would blur a distance between two means)."""
    hidden = hidden.float()
    positions = torch.arange(hidden.shape[1], device=hidden.device)[None, :]
    keep = ((positions >= first) & (positions < lengths[:, None])).to(hidden.dtype)
    return (hidden * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1)


def _causal_scores(model: PretrainedModel, encoded: EncodedPairs, species: str | None) -> dict[str, np.ndarray]:
    pairs, ref, ref_len, alt, alt_len = encoded
    width = ref.shape[1]
    same = torch.cumprod((ref == alt).long(), dim=1).sum(1)  # length of the shared prefix of each pair
    if int(same.min()) == 0:  # a pair differs at its first token (no species token): nothing to share
        return _causal_scores_unshared(model, ref, ref_len, alt, alt_len, species)
    shared = int(same.min().clamp(max=width - 1))  # one pass over what every pair shares
    b = len(pairs)
    prefix = model(ref[:, :shared], use_cache=True, compute_heads=False)
    cache = [(torch.cat([key, key]), torch.cat([value, value])) for key, value in prefix.past_key_values]
    rest = model(torch.cat([ref[:, shared:], alt[:, shared:]]), past_key_values=cache, compute_heads=False)
    last = prefix.hidden_states[:, -1:]
    hidden_ref = torch.cat([prefix.hidden_states, rest.hidden_states[:b]], dim=1)
    hidden_alt = torch.cat([prefix.hidden_states, rest.hidden_states[b:]], dim=1)
    # the hidden state at position t predicts token t + 1; tokens before `shared` are the same in both
    predict_ref = torch.cat([last, rest.hidden_states[:b, :-1]], dim=1)
    predict_alt = torch.cat([last, rest.hidden_states[b:, :-1]], dim=1)
    positions = torch.arange(shared, width, device=ref.device)[None, :]
    log_ref = token_log_probs(model, predict_ref, ref[:, shared:]) * (positions < ref_len[:, None])
    log_alt = token_log_probs(model, predict_alt, alt[:, shared:]) * (positions < alt_len[:, None])
    first = _first_base_token(model, species)
    distance = (_mean_hidden(hidden_alt, alt_len, first) - _mean_hidden(hidden_ref, ref_len, first)).norm(dim=-1)
    return {"llr": (log_alt.sum(1) - log_ref.sum(1)).cpu().numpy(), "embedding_distance": distance.cpu().numpy()}


def _causal_scores_unshared(model, ref, ref_len, alt, alt_len, species) -> dict[str, np.ndarray]:
    """Whole windows, no shared prefix: the first token is scored from nothing, so it adds nothing."""
    b = ref.shape[0]
    hidden = model(torch.cat([ref, alt]), compute_heads=False).hidden_states
    width = ref.shape[1]
    positions = torch.arange(1, width, device=ref.device)[None, :]
    log_ref = token_log_probs(model, hidden[:b, :-1], ref[:, 1:]) * (positions < ref_len[:, None])
    log_alt = token_log_probs(model, hidden[b:, :-1], alt[:, 1:]) * (positions < alt_len[:, None])
    first = _first_base_token(model, species)
    distance = (_mean_hidden(hidden[b:], alt_len, first) - _mean_hidden(hidden[:b], ref_len, first)).norm(dim=-1)
    return {"llr": (log_alt.sum(1) - log_ref.sum(1)).cpu().numpy(), "embedding_distance": distance.cpu().numpy()}


def _first_base_token(model: PretrainedModel, species: str | None) -> int:
    """Where a window's base tokens start: after the species token and a foreign vocabulary's [CLS]."""
    return (1 if species else 0) + model.tokenizer().wrap_before


def _pad_to(ids: torch.Tensor, width: int, model: PretrainedModel) -> torch.Tensor:
    if ids.shape[1] == width:
        return ids
    pad = torch.full((ids.shape[0], width - ids.shape[1]), model.tokenizer().pad_id, dtype=ids.dtype)
    return torch.cat([ids, pad.to(ids.device)], dim=1)


def _token_span(model: PretrainedModel, ids: torch.Tensor, length: int, first: int, start: int, end: int) -> range:
    """Token positions (in a row starting with ``first`` prefix tokens) covering bases ``[start, end)``."""
    tok = model.tokenizer()
    length -= tok.wrap_length - tok.wrap_before  # a foreign vocabulary's [SEP] holds no bases
    if isinstance(tok, KmerTokenizer):
        sizes = [tok.k] * (length - first)
    else:
        sizes = [len(tok.piece(i)) for i in ids[first:length].tolist()]  # one copy off the GPU
    bounds = np.cumsum([0, *sizes])
    lo = int(np.searchsorted(bounds, start, side="right")) - 1
    hi = int(np.searchsorted(bounds, max(end, start + 1), side="left"))
    return range(first + max(lo, 0), first + min(max(hi, lo + 1), length - first))


def _masked_scores(model: PretrainedModel, encoded: EncodedPairs, species: str | None) -> dict[str, np.ndarray]:
    pairs, ref, ref_len, alt, alt_len = encoded
    width = ref.shape[1]
    first = _first_base_token(model, species)
    mask_id = model.tokenizer().mask_id
    masked_ref, masked_alt = ref.clone(), alt.clone()
    ref_spans, alt_spans = [], []
    for i, p in enumerate(pairs):
        ref_spans.append(list(_token_span(model, ref[i], int(ref_len[i]), first, p.at, p.at + p.ref_bases)))
        alt_spans.append(list(_token_span(model, alt[i], int(alt_len[i]), first, p.at, p.at + p.alt_bases)))
        masked_ref[i, ref_spans[i]] = mask_id
        masked_alt[i, alt_spans[i]] = mask_id
    positions = torch.arange(width, device=ref.device)[None, :]
    real_ref, real_alt = positions < ref_len[:, None], positions < alt_len[:, None]
    hidden_ref = _hidden_of_distinct_rows(model, masked_ref, real_ref)
    hidden_alt = hidden_ref.clone()
    differ = (masked_ref != masked_alt).any(1)  # a substitution masks to the same window: run it once
    if bool(differ.any()):
        hidden_alt[differ] = model(
            masked_alt[differ], attention_mask=real_alt[differ], compute_heads=False
        ).hidden_states
    scores = np.zeros(len(pairs))
    for i, (r, a) in enumerate(zip(ref_spans, alt_spans, strict=True)):
        log_alt = token_log_probs(model, hidden_alt[i, a], alt[i, a]).sum()
        log_ref = token_log_probs(model, hidden_ref[i, r], ref[i, r]).sum()
        scores[i] = float(log_alt - log_ref)
    plain_ref = _hidden_of_distinct_rows(model, ref, real_ref)
    plain_alt = model(alt, attention_mask=real_alt, compute_heads=False).hidden_states
    distance = (_mean_hidden(plain_alt, alt_len, first) - _mean_hidden(plain_ref, ref_len, first)).norm(dim=-1)
    return {"masked_llr": scores, "embedding_distance": distance.cpu().numpy()}


def _hidden_of_distinct_rows(model: PretrainedModel, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden states of every row of ``ids``, each distinct row run once: the substitutions at one
    position share their reference window (and, masked, their masked window)."""
    distinct, inverse = torch.unique(ids, dim=0, return_inverse=True)
    if len(distinct) == len(ids):
        return model(ids, attention_mask=attention_mask, compute_heads=False).hidden_states
    first = torch.empty(len(distinct), dtype=torch.long, device=ids.device)
    first.scatter_(0, inverse, torch.arange(len(ids), device=ids.device))  # a row of each kind (all alike)
    return model(distinct, attention_mask=attention_mask[first], compute_heads=False).hidden_states[inverse]


def gpn_scores(model: PretrainedModel, reference: Reference, variants: Sequence[Variant], width: int,
               alignment: Alignment | None = None) -> dict:  # fmt: skip
    """GPN's variant score (``gpn.ss.run_vep``): the window of ``width`` bases from ``pos - width // 2``
    (N beyond a chromosome's ends), its centre masked, ``logit(ALT) - logit(REF)`` there, averaged
    with the same on the reverse complement of the window (masked at ``width // 2 - 1`` for an even
    width). SNVs only, as GPN's procedure; other variants get NaN. A GPN-MSA model also reads the
    other species' aligned bases over the window from ``alignment`` (reversed and complemented on
    the reverse strand); a variant whose window the alignment does not reach gets NaN."""
    return _gpn_forward(model, _gpn_inputs(model, reference, variants, width, alignment))


class GpnInputs(NamedTuple):
    """The masked windows of a batch for GPN's procedure, and which logits score which variant."""

    count: int  # variants in the batch
    rows: list[np.ndarray]  # masked windows, forward and reverse complement of each position
    aligned: list[np.ndarray]  # their aligned bases (GPN-MSA), else empty
    scored: list[int]  # the variants that get a score
    picks: list[tuple[int, int, int, int]]  # (row, masked position, REF id, ALT id), two per scored variant


def _gpn_inputs(model: PretrainedModel, reference: Reference, variants: Sequence[Variant], width: int,
                alignment: Alignment | None) -> GpnInputs:  # fmt: skip
    config = model.config
    rows, aligned, scored, centre = [], [], [], width // 2
    back = centre - 1 if width % 2 == 0 else centre
    snvs = [i for i, v in enumerate(variants) if len(v.ref) == 1 and len(v.alt) == 1]
    window_of: dict[tuple[str, int], int | None] = {}  # the substitutions at a position share one window
    picks = []  # forward then reverse strand
    for i in snvs:
        v = variants[i]
        if (v.chrom, v.pos) not in window_of:
            window_of[(v.chrom, v.pos)] = _gpn_windows(model, reference, alignment, v, width, rows, aligned)
        row = window_of[(v.chrom, v.pos)]
        if row is None:  # no block of the alignment reaches the variant: no score
            continue
        scored.append(i)
        picks.append((row, centre, config.encode_bases(v.ref)[0], config.encode_bases(v.alt)[0]))
        rc_ref, rc_alt = reverse_complement(v.ref.encode()), reverse_complement(v.alt.encode())
        picks.append((row + 1, back, config.encode_bases(rc_ref)[0], config.encode_bases(rc_alt)[0]))
    return GpnInputs(len(variants), rows, aligned, scored, picks)


@torch.no_grad()
def _gpn_forward(model: PretrainedModel, inputs: GpnInputs) -> dict:
    model.eval()
    scores = np.full(inputs.count, np.nan)
    if inputs.rows:
        device = next(model.parameters()).device
        aux = torch.from_numpy(np.stack(inputs.aligned)).to(device) if inputs.aligned else None
        logits = model(torch.tensor(np.stack(inputs.rows), device=device), aux_features=aux).logits.float()
        row, at, ref_ids, alt_ids = (torch.tensor(x, device=device) for x in zip(*inputs.picks, strict=True))
        picked = logits[row, at]
        llr = picked.gather(1, alt_ids[:, None])[:, 0] - picked.gather(1, ref_ids[:, None])[:, 0]
        scores[inputs.scored] = llr.view(-1, 2).mean(1).cpu().numpy()
    return {"masked_llr": scores}


def _gpn_windows(model: PretrainedModel, reference: Reference, alignment: Alignment | None, variant: Variant,
                 width: int, rows: list, aligned: list) -> int | None:  # fmt: skip
    """Append the masked forward and reverse-complement windows at ``variant``'s position to ``rows``
    (and their aligned bases to ``aligned``); return the forward one's row, or None where the
    alignment reaches no base of the window."""
    config, centre = model.config, width // 2
    record = reference.record(variant.chrom)
    if record is None:
        raise InvalidVariant(f"chromosome {variant.chrom!r} is not in the genome FASTA")
    start = variant.pos - 1 - centre
    bases = reference.bases(record, start, start + width)
    if model.aligned_species:
        columns = alignment_columns(model, alignment, variant.chrom, start, start + width)
        if columns is None:
            return None
        aligned += [columns, reverse_complement_columns(columns)]
    forward, backward = config.encode_bases(bases.decode()), config.encode_bases(reverse_complement(bases))
    forward[centre] = config.mask_id
    backward[centre - 1 if width % 2 == 0 else centre] = config.mask_id
    rows += [forward, backward]
    return len(rows) - 2


def alignment_columns(model: PretrainedModel, alignment: Alignment | None, chrom: str, start: int,
                      end: int) -> np.ndarray | None:  # fmt: skip
    """The aligned bases a GPN-MSA model reads over reference positions ``start .. end - 1`` (None
    where the alignment covers none of them); an error when there is no alignment, or it holds
    another number of species than the model reads."""
    if alignment is None:
        raise ConfigError(f"{model.config.name}: a GPN-MSA model reads the aligned bases of "
                          f"{model.aligned_species} other species at every position: give the alignment "
                          "(--alignment MAF)")  # fmt: skip
    alignment.check_species(model.aligned_species)
    if not alignment.covered(chrom, start, end):
        return None
    return alignment.columns(chrom, start, end)
