"""Classical models that a DNAGPT result must beat: the majority class, k-mer logistic regression,
ridge regression (on k-mers and numbers), a small CNN (scikit-learn for the linear models).

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


def _standardised(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    from sklearn.preprocessing import StandardScaler  # slow to import (~1 s); every CLI start imports this module

    scaler = StandardScaler().fit(train)
    return [scaler.transform(x) for x in (train, *others)]


def _scores(probabilities: np.ndarray) -> np.ndarray:
    """What AUROC reads: the probability of class 1 for two classes, all probabilities otherwise."""
    return probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities


def majority_class(y_train, y_test) -> dict:
    """Always answer the most frequent training class: the floor every classifier must clear."""
    y_train, y_test = np.asarray(y_train, dtype=int), np.asarray(y_test, dtype=int)
    answer = int(np.bincount(y_train).argmax())
    n_classes = max(int(y_train.max()), int(y_test.max())) + 1
    probabilities = np.zeros((len(y_test), max(n_classes, 2)))
    probabilities[:, answer] = 1.0
    return classification_metrics(y_test, np.full(len(y_test), answer), _scores(probabilities))


def kmer_logistic_regression(train: np.ndarray, dev: np.ndarray, test: np.ndarray, y_train, y_dev, y_test) -> dict:
    """Logistic regression (multinomial for more than two classes) on standardised features; the
    inverse L2 strength ``C`` with the best dev MCC is kept. Test ``classification_metrics`` and ``C``."""
    from sklearn.linear_model import LogisticRegression  # slow to import (~1 s); every CLI start imports this module

    xs = _standardised(train, dev, test)
    ys = [np.asarray(y, dtype=int) for y in (y_train, y_dev, y_test)]
    best = None
    for c in (1e-3, 1e-2, 1e-1, 1.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(xs[0], ys[0])
        mcc = classification_metrics(ys[1], model.predict(xs[1]))["mcc"]
        if best is None or mcc > best[0]:
            best = (mcc, c, model)
    _, c, model = best
    return classification_metrics(ys[2], model.predict(xs[2]), _scores(model.predict_proba(xs[2]))) | {"C": c}


def ridge_regression(train: np.ndarray, dev: np.ndarray, test: np.ndarray, y_train, y_dev, y_test) -> dict:
    """Linear least squares with an L2 penalty picked on dev (R2); test ``regression_metrics`` and ``alpha``."""
    from sklearn.linear_model import Ridge  # slow to import (~1 s); every CLI start imports this module

    xs = _standardised(train, dev, test)
    ys = [np.asarray(y, dtype=float) for y in (y_train, y_dev, y_test)]
    best = None
    for alpha in (1e-3, 1e-1, 1.0, 10.0, 100.0, 1000.0):
        model = Ridge(alpha=alpha).fit(xs[0], ys[0])
        r2 = regression_metrics(ys[1], model.predict(xs[1]))["r2"]
        if best is None or r2 > best[0]:
            best = (r2, alpha, model)
    _, alpha, model = best
    return regression_metrics(ys[2], model.predict(xs[2])) | {"alpha": alpha}


class SmallCNN(nn.Module):
    """Three convolution blocks over one-hot DNA, global max pooling, one logit per class (DeepGSR-sized)."""

    def __init__(self, n_classes: int = 2, channels: int = 64, kernel: int = 9, dropout: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = []
        width = 4
        for _ in range(3):
            layers += [nn.Conv1d(width, channels, kernel, padding=kernel // 2), nn.ReLU(), nn.MaxPool1d(3)]
            width = channels
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, n_classes))

    def forward(self, one_hot: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(one_hot).amax(dim=-1))


def one_hot(sequences: Sequence[str]) -> torch.Tensor:
    """``(n, 4, length)`` one-hot of equal-length or right-padded sequences; N and padding are all zero."""
    length = max(len(s) for s in sequences)
    out = np.zeros((len(sequences), 5, length), dtype=np.float32)
    for row, s in enumerate(sequences):
        out[row, base_codes(s), np.arange(len(s))] = 1.0
    return torch.from_numpy(out[:, :4])


def cnn_classifier(train, dev, test, y_train, y_dev, y_test, epochs: int = 30, seed: int = 0,
                   lrs: Sequence[float] = (1e-3, 3e-4), patience: int | None = None) -> dict:  # fmt: skip
    """Train ``SmallCNN`` with AdamW at each learning rate of ``lrs``; keep the (learning rate, epoch)
    with the best dev MCC; its test ``classification_metrics``, ``lr``, ``best_epoch``, the epochs
    trained and size. With ``patience``, a learning rate's run stops after that many epochs
    without a better dev MCC than its own best (the kept epoch is the best of those trained)."""
    xs = [one_hot(list(part)) for part in (train, dev, test)]
    ys = [torch.as_tensor(np.asarray(y, dtype=np.int64)) for y in (y_train, y_dev, y_test)]
    n_classes = max(2, int(max(y.max() for y in ys)) + 1)
    best = (-2.0, None, 0, 0.0)
    trained = 0
    for lr in lrs:
        seed_everything(seed)
        model = SmallCNN(n_classes)
        optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
        generator = torch.Generator().manual_seed(seed)
        own_best, own_epoch = -2.0, 0
        for epoch in range(epochs):
            model.train()
            for idx in torch.randperm(len(ys[0]), generator=generator).split(32):
                loss = nn.functional.cross_entropy(model(xs[0][idx]), ys[0][idx])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            trained += 1
            model.eval()
            with torch.no_grad():
                mcc = classification_metrics(ys[1].numpy(), model(xs[1]).argmax(-1).numpy())["mcc"]
            if mcc > best[0]:
                best = (mcc, {k: v.clone() for k, v in model.state_dict().items()}, epoch + 1, lr)
            if mcc > own_best:
                own_best, own_epoch = mcc, epoch
            elif patience is not None and epoch - own_epoch >= patience:
                break
    model = SmallCNN(n_classes)
    model.load_state_dict(best[1])
    model.eval()
    with torch.no_grad():
        probabilities = torch.softmax(model(xs[2]), dim=-1).numpy()
    metrics = classification_metrics(ys[2].numpy(), probabilities.argmax(-1), _scores(probabilities))
    return metrics | {"lr": best[3], "best_epoch": best[2], "epochs_trained": trained,
                      "parameters": sum(p.numel() for p in model.parameters())}  # fmt: skip
