"""How close artificial haplotypes are to real ones: the paper's measures (section 6.1) and a privacy check.

Every function takes allele matrices (haplotypes x SNPs, 0/1) over the same SNPs. ``real`` is a
held-out set of real haplotypes that no model saw; ``train`` is what the models were fitted on.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance
from sklearn.decomposition import PCA

from ..evaluation.metrics import pearson

N_COMPONENTS = 6  # principal components compared, as in the paper
LD_BINS = 50  # SNP-distance bins of the LD decay curve


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's distance between two samples of numbers (area between their distribution functions)."""
    return float(wasserstein_distance(np.asarray(a, float), np.asarray(b, float)))


def pca_fit(reference: np.ndarray, k: int = N_COMPONENTS) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the first ``k`` principal axes of ``reference`` (exact SVD; fewer axes when it has
    fewer rows or columns). The sign of each axis is arbitrary: compare coordinates within one fit."""
    k = min(k, *reference.shape)
    pca = PCA(n_components=k, svd_solver="full").fit(reference)
    return pca.mean_, pca.components_


def pca_distances(real: np.ndarray, generated: np.ndarray, k: int = N_COMPONENTS) -> list[float]:
    """Wasserstein distance between real and generated coordinates on each of the first ``k`` components
    of a PCA fitted on both sets together (as the paper's joint PCA plots)."""
    both = np.vstack([real, generated]).astype(float)
    pca = PCA(n_components=min(k, *both.shape), svd_solver="full").fit(both)
    pr, pg = pca.transform(real.astype(float)), pca.transform(generated.astype(float))
    return [wasserstein_1d(pr[:, i], pg[:, i]) for i in range(pca.n_components_)]


def allele_frequency_correlation(real: np.ndarray, generated: np.ndarray, below: float | None = None) -> float:
    """Pearson r2 of per-SNP alternative allele frequencies; ``below``: only SNPs whose real AF is lower."""
    fr, fg = real.mean(axis=0), generated.mean(axis=0)
    keep = np.ones(len(fr), bool) if below is None else fr < below
    return pearson(fr[keep], fg[keep]) ** 2


def ld_matrix(alleles: np.ndarray) -> np.ndarray:
    """r2 between every pair of SNPs (0 where a SNP does not vary)."""
    x = alleles.astype(float)
    x = x - x.mean(axis=0)
    sd = np.sqrt((x**2).mean(axis=0))
    z = np.divide(x, sd, out=np.zeros_like(x), where=sd > 0)
    return ((z.T @ z) / len(x)) ** 2


def ld_comparison(real: np.ndarray, generated: np.ndarray) -> dict:
    """Mean |r2 difference| over SNP pairs, and the correlation of the pairs' r2 values (upper triangle).

    Pairs involving a SNP fixed in either set are left out.
    """
    varies = (real.std(axis=0) > 0) & (generated.std(axis=0) > 0)
    lr, lg = ld_matrix(real[:, varies]), ld_matrix(generated[:, varies])
    upper = np.triu_indices(int(varies.sum()), k=1)
    return {
        "ld_mean_abs_difference": float(np.abs(lr - lg)[upper].mean()),
        "ld_correlation": pearson(lr[upper], lg[upper]),
    }


def ld_decay(alleles: np.ndarray, positions: np.ndarray, bins: int = LD_BINS, keep=None) -> tuple:
    """Mean r2 of SNP pairs in ``bins`` equal bins of their distance in bp: (bin centres, mean r2).

    ``keep`` selects the SNPs used (default: those that vary)."""
    keep = alleles.std(axis=0) > 0 if keep is None else keep
    ld = ld_matrix(alleles[:, keep])
    pos = positions[keep]
    i, j = np.triu_indices(len(pos), k=1)
    dist = np.abs(pos[j] - pos[i])
    edges = np.linspace(0, dist.max() + 1, bins + 1)
    which = np.clip(np.digitize(dist, edges) - 1, 0, bins - 1)
    sums = np.bincount(which, weights=ld[i, j], minlength=bins)
    counts = np.bincount(which, minlength=bins)
    return (edges[:-1] + edges[1:]) / 2, np.divide(sums, counts, out=np.full(bins, np.nan), where=counts > 0)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of differing alleles between every row of ``a`` and every row of ``b``."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    return (a @ (1 - b).T + (1 - a) @ b.T).round().astype(np.int64)


def _within(x: np.ndarray) -> np.ndarray:
    d = hamming(x, x)
    return d[np.triu_indices(len(x), k=1)]


def haplotype_distances(real: np.ndarray, generated: np.ndarray) -> dict:
    """Pairwise distance distributions: within the real set, within the generated set, and between them;
    Wasserstein distances of the latter two to the first."""
    within_real, within_gen = _within(real), _within(generated)
    between = hamming(generated, real).ravel()
    return {
        "within_real": within_real,
        "within_generated": within_gen,
        "between": between,
        "wasserstein_within": wasserstein_1d(within_real, within_gen),
        "wasserstein_between": wasserstein_1d(within_real, between),
    }


def nearest_training_distance(haplotypes: np.ndarray, train: np.ndarray) -> np.ndarray:
    """For each haplotype, the Hamming distance to its nearest training haplotype (memorisation check)."""
    out = np.empty(len(haplotypes), dtype=np.int64)
    for start in range(0, len(haplotypes), 256):
        out[start : start + 256] = hamming(haplotypes[start : start + 256], train).min(axis=1)
    return out


def evaluate(real: np.ndarray, generated: np.ndarray, train: np.ndarray) -> dict:
    """All summary figures of one generated set against held-out real haplotypes."""
    nearest_gen = nearest_training_distance(generated, train)
    nearest_real = nearest_training_distance(real, train)
    pcs = pca_distances(real, generated)
    dist = haplotype_distances(real, generated)
    return {
        "haplotypes": len(generated),
        "pca_wasserstein": pcs,
        "pca_wasserstein_mean": float(np.mean(pcs)),
        "af_r2": allele_frequency_correlation(real, generated),
        "af_r2_below_0.2": allele_frequency_correlation(real, generated, below=0.2),
        **ld_comparison(real, generated),
        "distance_wasserstein_within": dist["wasserstein_within"],
        "distance_wasserstein_between": dist["wasserstein_between"],
        "nearest_train_median": float(np.median(nearest_gen)),
        "nearest_train_median_heldout_real": float(np.median(nearest_real)),
        "exact_copies_of_training": float(np.mean(nearest_gen == 0)),
        "exact_copies_heldout_real": float(np.mean(nearest_real == 0)),
    }
