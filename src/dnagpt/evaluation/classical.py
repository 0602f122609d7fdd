"""Classical models that a DNAGPT result must beat: k-mer logistic regression, a linear model on numbers, a small CNN.

They take the same tables as fine-tuning (rows with a ``sequence`` and a label or target) and pick
their one hyper-parameter on the dev rows, so a comparison with a fine-tuned model is like for like.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..seeding import seed_everything
from .metrics import classification_metrics, regression_metrics

_BASE_INDEX = np.full(256, 4, dtype=np.int64)
for _i, _b in enumerate(b"ACGT"):
    _BASE_INDEX[_b] = _i


def base_codes(sequence: str) -> np.ndarray:
    """A=0, C=1, G=2, T=3, anything else 4."""
    return _BASE_INDEX[np.frombuffer(sequence.upper().encode(), dtype=np.uint8)]


def kmer_features(sequences: Sequence[str], ks: Sequence[int] = (1, 2, 3, 4, 5, 6)) -> np.ndarray:
    """Overlapping k-mer frequencies for each k (each block sums to 1; k-mers with N skipped), concatenated."""
    blocks = []
    for k in ks:
        feats = np.zeros((len(sequences), 4**k))
        for row, s in enumerate(sequences):
            x = base_codes(s)
            n = len(x) - k + 1
            if n <= 0:
                continue
            idx = np.zeros(n, dtype=np.int64)
            valid = np.ones(n, dtype=bool)
            for j in range(k):
                part = x[j : j + n]
                valid &= part < 4
                idx = idx * 4 + np.minimum(part, 3)
            counts = np.bincount(idx[valid], minlength=4**k)
            feats[row] = counts / max(counts.sum(), 1)
        blocks.append(feats)
    return np.hstack(blocks)


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean, std = train.mean(0), train.std(0) + 1e-6
    return [(x - mean) / std for x in (train, *others)]


def _with_bias(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))])


def fit_logistic_regression(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 400, lr: float = 0.05) -> np.ndarray:
    """Weights (bias last) of L2-regularised logistic regression, by full-batch Adam."""
    w = np.zeros(x.shape[1] + 1)
    m, v = np.zeros_like(w), np.zeros_like(w)
    xb = _with_bias(x)
    for t in range(1, steps + 1):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0.0]
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return w


def kmer_logistic_regression(train: np.ndarray, dev: np.ndarray, test: np.ndarray, y_train, y_dev, y_test) -> dict:
    """Logistic regression on standardised features; the L2 strength with the best dev accuracy is kept.

    Returns the test metrics (``classification_metrics``) and the chosen ``l2``.
    """
    xs = _standardise(train, dev, test)
    ys = [np.asarray(y, dtype=float) for y in (y_train, y_dev, y_test)]
    best = None
    for l2 in (1e-1, 1e-2, 1e-3, 1e-4):
        w = fit_logistic_regression(xs[0], ys[0], l2)
        accuracy = float(((_with_bias(xs[1]) @ w > 0) == ys[1]).mean())
        if best is None or accuracy > best[0]:
            best = (accuracy, l2, w)
    _, l2, w = best
    scores = _with_bias(xs[2]) @ w
    return classification_metrics(ys[2].astype(int), (scores > 0).astype(int), scores) | {"l2": l2}


def ridge_regression(train: np.ndarray, dev: np.ndarray, test: np.ndarray, y_train, y_dev, y_test) -> dict:
    """Linear least squares with an L2 penalty picked on dev (R2); test ``regression_metrics`` and ``l2``."""
    xs = [_with_bias(x) for x in _standardise(train, dev, test)]
    ys = [np.asarray(y, dtype=float) for y in (y_train, y_dev, y_test)]
    best = None
    for l2 in (0.0, 1e-2, 1e-1, 1.0, 10.0, 100.0):
        penalty = l2 * len(ys[0]) * np.eye(xs[0].shape[1])
        penalty[-1, -1] = 0.0  # the intercept is not shrunk
        w = np.linalg.solve(xs[0].T @ xs[0] + penalty, xs[0].T @ ys[0])
        r2 = regression_metrics(ys[1], xs[1] @ w)["r2"]
        if best is None or r2 > best[0]:
            best = (r2, l2, w)
    _, l2, w = best
    return regression_metrics(ys[2], xs[2] @ w) | {"l2": l2}


class SmallCNN(nn.Module):
    """Three convolution blocks over one-hot DNA, global max pooling, one logit (a DeepGSR-sized model)."""

    def __init__(self, channels: int = 64, kernel: int = 9, dropout: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = []
        width = 4
        for _ in range(3):
            layers += [nn.Conv1d(width, channels, kernel, padding=kernel // 2), nn.ReLU(), nn.MaxPool1d(3)]
            width = channels
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, 1))

    def forward(self, one_hot: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(one_hot).amax(dim=-1)).squeeze(-1)


def one_hot(sequences: Sequence[str]) -> torch.Tensor:
    """``(n, 4, length)`` one-hot of equal-length or right-padded sequences; N and padding are all zero."""
    length = max(len(s) for s in sequences)
    out = np.zeros((len(sequences), 5, length), dtype=np.float32)
    for row, s in enumerate(sequences):
        out[row, base_codes(s), np.arange(len(s))] = 1.0
    return torch.from_numpy(out[:, :4])


def cnn_classifier(train, dev, test, y_train, y_dev, y_test, epochs: int = 30, seed: int = 0) -> dict:
    """Train ``SmallCNN`` with Adam on train sequences; keep the epoch with the best dev accuracy; test metrics."""
    seed_everything(seed)
    xs = [one_hot(list(part)) for part in (train, dev, test)]
    ys = [torch.as_tensor(np.asarray(y, dtype=np.float32)) for y in (y_train, y_dev, y_test)]
    model = SmallCNN()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    generator = torch.Generator().manual_seed(seed)
    best = (-1.0, None, 0)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(ys[0]), generator=generator).split(32):
            loss = nn.functional.binary_cross_entropy_with_logits(model(xs[0][idx]), ys[0][idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            accuracy = float(((model(xs[1]) > 0).float() == ys[1]).float().mean())
        if accuracy > best[0]:
            best = (accuracy, {k: v.clone() for k, v in model.state_dict().items()}, epoch + 1)
    model.load_state_dict(best[1])
    model.eval()
    with torch.no_grad():
        scores = model(xs[2]).numpy()
    metrics = classification_metrics(ys[2].numpy().astype(int), (scores > 0).astype(int), scores)
    return metrics | {"best_epoch": best[2], "parameters": sum(p.numel() for p in model.parameters())}
