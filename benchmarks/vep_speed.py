"""Variant scoring throughput: `dnagpt vep`'s scorer against two independent full windows per variant.

The peer runs, for every variant and every view (2 strands x k frames), the whole reference
window and the whole alternative window through the model, batched like ours but without the
shared prefix; a second peer does the same one variant at a time (how a simple script scores).
All three are timed in the same run on the same SNVs (1000 Genomes chr22 sites), and their
scores must agree.

    python benchmarks/vep_speed.py [--model dnagpt-small-multispecies] [--variants 96] [--window 512]

Writes benchmarks/results/vep_speed.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from dnagpt.bench.harness import write_results
from dnagpt.data.datasets.genomes import hg19_chr22
from dnagpt.data.fasta import open_fasta
from dnagpt.data.sources import SOURCES, cache_root, fetch
from dnagpt.device import describe_machine
from dnagpt.models import load_model
from dnagpt.vep.scoring import default_window, score_variants, token_log_probs
from dnagpt.vep.variants import Reference, read_variants, variant_windows

HERE = Path(__file__).resolve().parent


@torch.no_grad()
def full_windows(model, reference, variants, width, species, batch_size) -> np.ndarray:
    """The peer: log P(alt) - log P(ref), each window run whole, averaged over the same views."""
    tok = model.tokenizer()
    k = tok.reading_frames
    centre = width // 2 - (width // 2) % k
    views = [(reverse, centre + f) for reverse in (False, True) for f in range(k)]
    scores = np.zeros(len(variants))
    for i in range(0, len(variants), batch_size):
        batch = variants[i : i + batch_size]
        for reverse, offset in views:
            pairs = [variant_windows(reference, v, width, offset, reverse) for v in batch]
            for side, sign in (("ref", -1), ("alt", 1)):
                ids = torch.tensor(np.array([[tok.species_id(species), *tok.encode_bases(getattr(p, side))]
                                             for p in pairs]))  # fmt: skip
                hidden = model(ids, compute_heads=False).hidden_states
                logp = token_log_probs(model, hidden[:, :-1], ids[:, 1:]).sum(1).numpy()
                scores[i : i + len(batch)] += sign * logp / len(views)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="dnagpt-small-multispecies")
    parser.add_argument("--variants", type=int, default=96)
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "vep_speed.json")
    args = parser.parse_args()

    from vep_chr22 import genome_fasta, variant_sites, write_vcf

    fetch(SOURCES["chr22-variants"])
    work = cache_root() / "vep"
    chrom = hg19_chr22().seq  # N where the alignment has no human base: keep sites whose REF matches
    sites = [s for s in variant_sites() if len(s["ref"]) == len(s["alt"]) == 1 and chrom[s["pos"] - 1] == s["ref"]]
    sites = sites[: args.variants]
    write_vcf(sites, work / "speed.vcf")
    reference = Reference(open_fasta(genome_fasta(), cache_root()))
    variants, _ = read_variants(work / "speed.vcf", reference)
    model = load_model(args.model).eval()
    width = default_window(model, args.window)

    def timed(fn):
        start = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - start

    ours, t_ours = timed(lambda: np.concatenate([
        score_variants(model, reference, variants[i : i + args.batch_size], width, "human")["llr"]
        for i in range(0, len(variants), args.batch_size)]))  # fmt: skip
    peer, t_peer = timed(lambda: full_windows(model, reference, variants, width, "human", args.batch_size))
    single, t_single = timed(lambda: full_windows(model, reference, variants[:16], width, "human", 1))
    result = dict(
        model=args.model, window_bases=width, views=2 * model.tokenizer().reading_frames, variants=len(variants),
        batch_size=args.batch_size, threads=torch.get_num_threads(), machine=describe_machine(),
        ours_variants_per_s=len(variants) / t_ours, two_full_windows_variants_per_s=len(variants) / t_peer,
        two_full_windows_one_at_a_time_variants_per_s=16 / t_single,
        speedup_vs_two_full_windows=t_peer / t_ours,
        speedup_vs_one_at_a_time=(t_single / 16) / (t_ours / len(variants)),
        max_abs_difference=float(np.abs(ours - peer).max()),
        one_at_a_time_max_abs_difference=float(np.abs(ours[:16] - single).max()),
    )  # fmt: skip
    write_results(result, args.out)


if __name__ == "__main__":
    main()
