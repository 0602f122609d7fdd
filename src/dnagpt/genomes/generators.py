"""Classical generative models of haplotypes that DNAGPT's artificial genomes are compared with.

Each is fitted on training haplotypes and draws new allele matrices:
  ``independent``  each SNP on its own, with its allele frequency (no linkage at all);
  ``markov``       each allele given the previous ``order`` alleles (short-range linkage);
  ``li-stephens``  the haplotype-copying model: a mosaic of training haplotypes, switching
                   template at each SNP with probability ``switch`` and miscopying with ``miscopy``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


class IndependentSites:
    """Alleles drawn independently at each SNP from the training allele frequencies."""

    def fit(self, alleles: np.ndarray) -> IndependentSites:
        """Learn each SNP's alternative allele frequency from training alleles (haplotypes x SNPs)."""
        self.freq = alleles.mean(axis=0)
        return self

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` new haplotypes (n x SNPs, 0/1)."""
        return (rng.random((n, len(self.freq))) < self.freq).astype(np.uint8)


class MarkovChain:
    """P(allele at SNP s | alleles at the ``order`` SNPs before it), counted with add-one smoothing."""

    def __init__(self, order: int = 3):
        self.order = order

    def fit(self, alleles: np.ndarray) -> MarkovChain:
        """Count each SNP's alternative allele after every context of the ``order`` alleles before it."""
        m = alleles.shape[1]
        k = self.order
        ones = np.ones((m, 2**k))  # add-one: counts of ALT after each context
        totals = np.full((m, 2**k), 2.0)
        for s in range(m):
            ctx = self._context(alleles, s)
            np.add.at(ones[s], ctx, alleles[:, s])
            np.add.at(totals[s], ctx, 1)
        self.p_alt = ones / totals
        return self

    def _context(self, alleles: np.ndarray, s: int) -> np.ndarray:
        ctx = np.zeros(len(alleles), dtype=np.int64)
        for j in range(max(0, s - self.order), s):
            ctx = ctx * 2 + alleles[:, j]
        return ctx

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` new haplotypes, drawn SNP by SNP along the chain."""
        m = self.p_alt.shape[0]
        out = np.zeros((n, m), dtype=np.uint8)
        for s in range(m):
            out[:, s] = rng.random(n) < self.p_alt[s, self._context(out, s)]
        return out


class LiStephens:
    """Copy a training haplotype, jump to a random other one with probability ``switch`` per SNP,
    and flip the copied allele with probability ``miscopy`` (Li and Stephens 2003, as a sampler)."""

    def __init__(self, switch: float = 0.01, miscopy: float = 0.001):
        if not (0 <= switch <= 1 and 0 <= miscopy <= 1):
            raise ConfigError("switch and miscopy are probabilities")
        self.switch, self.miscopy = switch, miscopy

    def fit(self, alleles: np.ndarray) -> LiStephens:
        """Keep the training haplotypes as the panel to copy from."""
        self.panel = alleles.copy()
        return self

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` new haplotypes, each a mosaic of panel haplotypes with occasional miscopied alleles."""
        panel_size, m = self.panel.shape
        template = rng.integers(0, panel_size, n)
        out = np.zeros((n, m), dtype=np.uint8)
        for s in range(m):
            jump = rng.random(n) < self.switch
            template = np.where(jump, rng.integers(0, panel_size, n), template)
            out[:, s] = self.panel[template, s] ^ (rng.random(n) < self.miscopy)
        return out


# name -> factory
GENERATORS = {"independent": IndependentSites, "markov": MarkovChain, "li-stephens": LiStephens}
