"""The artificial-genome report: figures in the manner of the paper's Fig. 4-5 and one markdown table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..evaluation.plots import pyplot
from ..io import atomic_path, atomic_write_text
from .evaluate import evaluate, haplotype_distances, ld_decay, ld_matrix, pca_fit
from .haplotypes import Haplotypes

ROWS = [  # (key in the evaluation, column title, better when)
    ("pca_wasserstein_mean", "PCA W1 (PC1-6 mean)", "lower"),
    ("af_r2", "AF r2", "higher"),
    ("af_r2_below_0.2", "AF r2, AF<0.2", "higher"),
    ("ld_correlation", "LD corr.", "higher"),
    ("ld_mean_abs_difference", "mean abs LD diff.", "lower"),
    ("distance_wasserstein_within", "W1 within-set distances", "lower"),
    ("distance_wasserstein_between", "W1 between-set distances", "lower"),
    ("nearest_train_median", "median distance to nearest training hap.", "near held-out real"),
    ("exact_copies_of_training", "exact copies of training", "near held-out real"),
]


def evaluate_all(work: Path, train: Haplotypes, heldout: Haplotypes) -> dict:
    """Evaluate every generated set in WORK/generated against the held-out real haplotypes."""
    results = {}
    sets = {"training haplotypes (reference)": train.alleles}
    for path in sorted((work / "generated").glob("*.npz")):
        sets[path.stem] = Haplotypes.load(path).alleles
    for name, alleles in sets.items():
        results[name] = evaluate(heldout.alleles, alleles, train.alleles)
        counts = work / "generated" / f"{name}.json"
        if counts.is_file():
            results[name]["generation"] = json.loads(counts.read_text())
    atomic_write_text(work / "evaluation.json", json.dumps(results, indent=2) + "\n")
    return results


def _savefig(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def figures(work: Path, train: Haplotypes, heldout: Haplotypes) -> list[str]:
    """PCA, allele-frequency, LD and distance figures; returns their file names under WORK/figures."""
    plt = pyplot()

    sets = {p.stem: Haplotypes.load(p).alleles for p in sorted((work / "generated").glob("*.npz"))}
    real = heldout.alleles
    out = work / "figures"
    out.mkdir(parents=True, exist_ok=True)
    n = len(sets)
    names = []

    # Fig. 4a: PC1 vs PC2 of real and generated, PCA fitted on real + generated
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, (name, gen) in zip(axes[0], sets.items(), strict=True):
        mean, pcs = pca_fit(np.vstack([real, gen]).astype(float), 2)
        for x, colour, label in ((gen, "tab:blue", name), (real, "black", "held-out real")):
            p = (x - mean) @ pcs.T  # real drawn last, so that it is not hidden under the larger generated set
            ax.scatter(p[:, 0], p[:, 1], s=3, alpha=0.35, color=colour, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("PC1")
    axes[0, 0].set_ylabel("PC2")
    axes[0, 0].legend(fontsize=7, markerscale=3)
    _savefig(fig, out / "pca.png")
    plt.close(fig)
    names.append("pca.png")

    # Fig. 4b-c: allele frequencies, generated against real
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    fr = real.mean(axis=0)
    for ax, (name, gen) in zip(axes[0], sets.items(), strict=True):
        ax.scatter(fr, gen.mean(axis=0), s=3, alpha=0.5)
        ax.plot([0, 1], [0, 1], color="black", lw=0.5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("AF, held-out real")
    axes[0, 0].set_ylabel("AF, generated")
    _savefig(fig, out / "allele_frequency.png")
    plt.close(fig)
    names.append("allele_frequency.png")

    # Fig. 5a: LD (r2) of generated minus real, over the first 200 SNPs
    m = min(200, real.shape[1])
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    lr = ld_matrix(real[:, :m])
    for ax, (name, gen) in zip(axes[0], sets.items(), strict=True):
        image = ax.imshow(ld_matrix(gen[:, :m]) - lr, cmap="RdBu_r", vmin=-0.5, vmax=0.5)
        ax.set_title(name, fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="r2 generated - r2 real")
    _savefig(fig, out / "ld_difference.png")
    plt.close(fig)
    names.append("ld_difference.png")

    # Fig. 6g: LD decay with distance, SNPs that vary in every set
    keep = real.std(axis=0) > 0
    for gen in sets.values():
        keep &= gen.std(axis=0) > 0
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, x in {"held-out real": real, **sets}.items():
        centres, r2 = ld_decay(x, heldout.positions, keep=keep)
        ax.plot(centres / 1000, r2, label=name, lw=2 if name == "held-out real" else 1)
    ax.set_xlabel("SNP distance (kb)")
    ax.set_ylabel("mean r2")
    ax.legend(fontsize=7)
    _savefig(fig, out / "ld_decay.png")
    plt.close(fig)
    names.append("ld_decay.png")

    # Fig. 5c: pairwise haplotype distances within and between sets
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, (name, gen) in zip(axes[0], sets.items(), strict=True):
        d = haplotype_distances(real, gen)
        bins = np.linspace(0, max(d["within_real"].max(), d["within_generated"].max(), d["between"].max()), 40)
        for key, label in (("within_real", "real-real"), ("within_generated", "gen-gen"), ("between", "gen-real")):
            ax.hist(d[key], bins=bins, density=True, histtype="step", label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("differing alleles")
    axes[0, 0].legend(fontsize=7)
    _savefig(fig, out / "haplotype_distances.png")
    plt.close(fig)
    names.append("haplotype_distances.png")
    return names


def write_report(work: Path, train: Haplotypes, heldout: Haplotypes, results: dict) -> Path:
    """WORK/report.md: the data, one table comparing every model, and the figures."""
    summary = json.loads((work / "data" / "summary.json").read_text())
    config = json.loads((work / "config.json").read_text()) if (work / "config.json").is_file() else {}
    names = figures(work, train, heldout)
    lines = [
        "# Artificial human genomes: DNAGPT against classical generators",
        "",
        f"Data: {summary['snps']} biallelic SNPs (MAF >= {config.get('min_maf', '?')}) at "
        f"{summary['first_position']:,}-{summary['last_position']:,} bp from {summary['source']}; "
        f"{summary['train_haplotypes']} training and {summary['heldout_haplotypes']} held-out haplotypes "
        "(whole samples held out). Every figure compares a generated set with the held-out real haplotypes.",
        "",
        "| measure (better) | " + " | ".join(results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    for key, title, better in ROWS:
        digits = 0 if key.startswith("nearest") else 3
        lines.append(f"| {title} ({better}) | " + " | ".join(f"{r[key]:.{digits}f}" for r in results.values()) + " |")
    dropped = [f"{r['generation']['dropped']} / {r['generation']['drawn']}" if "generation" in r else "–"
               for r in results.values()]  # fmt: skip
    lines.append("| dropped / drawn (stop symbol missing or misplaced) | " + " | ".join(dropped) + " |")
    for counts in sorted((work / "generated").glob("*.json")):
        if not counts.with_suffix(".npz").is_file():  # every sample of this set was dropped
            c = json.loads(counts.read_text())
            lines.append(
                f"\n{counts.stem}: no haplotype kept of {c['drawn']} drawn ({c['no_stop']} without a stop symbol, "
                f"{c['wrong_length']} of the wrong length, {c['wrong_allele']} with a wrong allele)."
            )
    real_row = results.get("training haplotypes (reference)")
    if real_row:
        lines += [
            "",
            f"Held-out real haplotypes themselves: median distance to the nearest training haplotype "
            f"{real_row['nearest_train_median_heldout_real']:.1f}, exact copies "
            f"{real_row['exact_copies_heldout_real']:.3f}. A generator that copies its training data shows a "
            "smaller distance and more copies than that (privacy risk); one that does not learn linkage shows "
            "a larger distance.",
        ]
    lines += [
        "",
        "Measures: W1 = Wasserstein distance; PCA on real + generated together; LD = r2 between SNP pairs, "
        "pairs with a SNP fixed in either set left out; within-set distances compare generated-generated with "
        "real-real pairs, between-set distances generated-real with real-real.",
        "The first column scores the training haplotypes as if they were generated: what copying them gives.",
        "",
    ]
    lines += [f"![{n}](figures/{n})" for n in names]
    path = work / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
