"""What a model makes of a sequence: one embedding per sequence, and attention maps.

``mean`` pooling averages the hidden states of the sequence's tokens; ``last``
takes the last token's (what a causal model has read the whole sequence by).
Sequences longer than the context raise an error, unless ``windows=True``: then
they are cut into context-sized windows whose embeddings are averaged.
Attention maps are the causal attention of every layer, averaged over heads
(paper Fig. 3e, S1).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm.auto import tqdm

from .data.alignment import Alignment, read_maf
from .data.batching import length_sorted_batches
from .data.tables import read_rows
from .device import precision_context, resolve_device
from .errors import ConfigError, DataError, InvalidSequenceError
from .evaluation.plots import attention_png
from .io import atomic_write
from .models import DNAGPT, PretrainedModel, load_model
from .tokenizers import normalise_bases


@torch.no_grad()
def embed_sequences(
    model: PretrainedModel,
    sequences: Sequence[str],
    species: str | None = None,
    pooling: str = "mean",
    batch_size: int = 16,
    windows: bool = False,
    names: Sequence[str] | None = None,
    precision: str = "fp32",
    progress: bool = False,
) -> np.ndarray:
    """``[len(sequences), d_model]`` float32 embeddings of plain DNA sequences (``progress``: a
    progress bar over the batches).

    ``precision="bf16"`` runs the model in bfloat16 (faster where the processor supports it; see
    the README for how far its embeddings lie from fp32's); ``auto`` picks it where supported."""
    if pooling not in ("mean", "last"):
        raise ValueError(f"pooling must be 'mean' or 'last', got {pooling!r}")
    tok = model.tokenizer()
    prefix = [tok.species_id(species)] if species else []
    room = model.config.context_length - len(prefix) - tok.wrap_length
    pieces: list[list[int]] = []  # token ids of each window
    owner: list[int] = []
    for i, seq in enumerate(sequences):
        label = names[i] if names else f"sequence {i + 1}"
        try:
            ids = tok.encode_bases(normalise_bases("".join(seq.split()))).tolist()
        except InvalidSequenceError as e:
            raise InvalidSequenceError(f"{label}: {e}", e.position) from None
        if not ids:
            raise InvalidSequenceError(f"{label}: empty sequence")
        if len(ids) > room and not windows:
            raise InvalidSequenceError(
                f"{label}: {len(ids)} tokens ({len(seq)} bp) exceed the context of {room} tokens; "
                "pass windows=True (--windows) to average over context-sized windows"
            )
        for start in range(0, len(ids), room):
            pieces.append(tok.wrap(prefix + ids[start : start + room]))
            owner.append(i)
    device = next(model.parameters()).device
    model.eval()
    vectors, order = [], []
    batches = length_sorted_batches([len(p) for p in pieces], batch_size)
    for indices in tqdm(batches, desc="embed", unit="batch", disable=not progress, dynamic_ncols=True):
        chunk = [pieces[i] for i in indices]
        order += indices
        lengths = torch.tensor([len(p) for p in chunk], device=device)
        ids = torch.full((len(chunk), int(lengths.max())), tok.pad_id, dtype=torch.long, device=device)
        for row, p in enumerate(chunk):
            ids[row, : len(p)] = torch.tensor(p, device=device)
        with precision_context(precision, device):
            hidden = model.padded_hidden_states(ids, lengths).float()
        if pooling == "last":
            vectors.append(hidden[torch.arange(len(chunk), device=device), lengths - 1])
        else:
            positions = torch.arange(ids.shape[1], device=device)[None, :]
            keep = (positions < lengths[:, None]) & (positions >= len(prefix))
            vectors.append((hidden * keep[..., None]).sum(1) / keep.sum(1, keepdim=True))
    sorted_vectors = torch.cat(vectors).cpu().numpy()
    per_window = np.empty_like(sorted_vectors)
    per_window[order] = sorted_vectors  # back in input order
    owners = np.array(owner)
    return np.stack([per_window[owners == i].mean(0) for i in range(len(sequences))]).astype(np.float32)


@torch.no_grad()
def embed_aligned(
    model: PretrainedModel,
    alignment: Alignment,
    regions: Sequence[tuple[str, int, int, str]],
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """``[len(regions), d_model]`` float32 embeddings of a GPN-MSA model: each region
    ``(chromosome, start, end, strand)`` (0-based, end exclusive) read from ``alignment`` (the
    reference's bases and the other species' aligned bases), in windows of the model's context, the
    final hidden states averaged over every base."""
    alignment.check_species(model.aligned_species)
    device, room = next(model.parameters()).device, model.max_input_tokens or 1 << 30
    model.eval()
    vectors = []
    for i, (chrom, start, end, strand) in enumerate(regions):
        try:
            bases, columns = alignment.window(chrom, start, end, strand)
        except DataError as e:
            raise DataError(f"{names[i] if names else f'region {i + 1}'}: {e}") from None
        total = torch.zeros(model.config.d_model, device=device)
        for at in range(0, len(bases), room):
            ids = torch.tensor([model.config.encode_bases(bases[at : at + room])], device=device)
            aux = torch.from_numpy(columns[at : at + room][None]).to(device)
            total += model(ids, aux_features=aux, compute_heads=False).hidden_states[0].float().sum(0)
        vectors.append((total / len(bases)).cpu().numpy())
    return np.stack(vectors).astype(np.float32)


def read_bed(path: str | Path) -> tuple[list[tuple[str, int, int, str]], list[str]]:
    """The regions of a BED file (0-based starts, ends exclusive; strand from column 6, + if absent)
    and their names (column 4, else CHROM:START-END, 1-based). A malformed line is an error naming it."""
    regions, names = [], []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        try:
            chrom, start, end = fields[0], int(fields[1]), int(fields[2])
        except (IndexError, ValueError):
            raise DataError(f"{path}, line {number}: expected CHROM START END (tab-separated)") from None
        strand = fields[5] if len(fields) > 5 else "+"
        if not 0 <= start < end or strand not in "+-.":
            raise DataError(f"{path}, line {number}: need 0 <= START < END and strand + or -")
        regions.append((chrom, start, end, "-" if strand == "-" else "+"))
        names.append(fields[3] if len(fields) > 3 else f"{chrom}:{start + 1}-{end}")
    if not regions:
        raise DataError(f"{path}: no regions")
    return regions, names


def embed_file(
    model_path: str | Path,
    source: str | Path,
    out: str | Path,
    column: str = "sequence",
    species: str | None = None,
    pooling: str = "mean",
    batch_size: int = 16,
    windows: bool = False,
    precision: str = "fp32",
    device: str = "cpu",
    alignment: str | Path | None = None,
    progress: bool = False,
) -> tuple[int, int]:
    """Embed every sequence of a FASTA file or table ``source``; write ``out`` as ``.npy`` (a matrix,
    rows in input order) or ``.parquet`` (name, embedding), running the model on ``device``. Returns
    the matrix's shape. A GPN-MSA model reads regions instead: ``source`` is a BED file and
    ``alignment`` the MAF they are read from (:func:`embed_aligned`)."""
    source, out = Path(source), Path(out)
    if out.suffix not in (".npy", ".parquet"):
        raise ConfigError(f"{out}: the output must end in .npy or .parquet")
    model = load_model(model_path, map_location=resolve_device(device))
    if model.aligned_species:
        if not alignment or source.suffix != ".bed":
            raise ConfigError(f"{model_path} is a GPN-MSA model: it reads regions of an alignment; give a BED "
                              "file of regions and --alignment MAF")  # fmt: skip
        regions, names = read_bed(source)
        vectors = embed_aligned(model, read_maf(alignment), regions, names)
    else:
        if alignment:
            raise ConfigError(f"--alignment {alignment}: this model reads no alignment (only GPN-MSA models do)")
        rows = read_rows(source, column)
        if rows and column not in rows[0]:
            raise DataError(f"{source}: no column {column!r}; found {', '.join(rows[0])}")
        if not rows:
            raise DataError(f"{source}: no sequences")
        sequences = [str(r[column]) for r in rows]
        names = [str(r.get("name") or f"{source.name}, row {i}") for i, r in enumerate(rows, start=1)]
        vectors = embed_sequences(model, sequences, species, pooling, batch_size, windows, names, precision, progress)
    if out.suffix == ".npy":

        def write_npy(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, vectors)

        atomic_write(out, write_npy)
    else:
        table = pa.table({"name": list(names), "embedding": list(vectors)})
        atomic_write(out, lambda tmp: pq.write_table(table, tmp))
    return vectors.shape


def attention_figure(
    model_path: str | Path, sequence: str, out: str | Path, species: str | None = None, name: str = "sequence"
) -> tuple[int, int]:
    """Draw the attention maps of one sequence (one heat map per layer) into the PNG ``out``;
    returns (layers, tokens)."""
    model = DNAGPT.from_pretrained(model_path)
    ids = model.tokenizer().encode_sequence(sequence, species=species)
    if len(ids) > model.config.context_length:
        raise InvalidSequenceError(f"{name}: {len(ids)} tokens exceed the context of {model.config.context_length}")
    maps = model.attention_maps(torch.tensor([ids])).float().numpy()
    attention_png(maps, out, title=f"{name}: {len(ids)} tokens")
    return maps.shape[0], maps.shape[1]
