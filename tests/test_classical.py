"""The baselines that DNAGPT results are compared with must themselves work."""

import numpy as np
import pytest

from dnagpt.evaluation.classical import (
    cnn_classifier,
    kmer_features,
    kmer_logistic_regression,
    majority_class,
    one_hot,
    ridge_regression,
)


def test_kmer_features_by_hand():
    feats = kmer_features(["ACGTA", "AANAA"], ks=(1, 2))
    np.testing.assert_allclose(feats[0, :4], [0.4, 0.2, 0.2, 0.2])
    ac, cg, gt, ta = 1, 6, 11, 12  # index = 4 * first + second
    np.testing.assert_allclose(feats[0, 4 + np.array([ac, cg, gt, ta])], 0.25)
    assert feats[1, 4 + 0] == 1.0  # AA twice; the pairs with N are skipped
    assert feats[1, :4].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_one_hot_pads_and_leaves_n_empty():
    x = one_hot(["ACGTN", "AC"])
    assert x.shape == (2, 4, 5)
    assert x[0, :, 4].sum() == 0 and x[1, :, 2:].sum() == 0
    assert x[0].argmax(0)[:4].tolist() == [0, 1, 2, 3]


def _planted_motif(n: int, rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Random 120 bp sequences; label 1 carries TATAAT at a random place (label 0 may carry it by chance)."""
    seqs, labels = [], []
    for i in range(n):
        s = list(rng.choice(list("ACGT"), size=120))
        if i % 2:
            p = int(rng.integers(0, 114))
            s[p : p + 6] = "TATAAT"
        seqs.append("".join(s))
        labels.append(i % 2)
    return seqs, labels


@pytest.mark.parametrize("method", ["kmer", "cnn"])
def test_classifiers_find_a_planted_motif_on_held_out_sequences(method):
    rng = np.random.default_rng(0)
    (tr, ytr), (dv, ydv), (te, yte) = (_planted_motif(n, rng) for n in (600, 100, 200))
    if method == "kmer":
        m = kmer_logistic_regression(*(kmer_features(s) for s in (tr, dv, te)), ytr, ydv, yte)
    else:
        m = cnn_classifier(tr, dv, te, ytr, ydv, yte, epochs=15)
    assert m["accuracy"] > 0.7 and m["auroc"] > 0.8  # chance is 0.5


def test_three_classes_and_the_majority_floor():
    """Three classes told apart by which motif they carry; the majority answer scores MCC 0."""
    rng = np.random.default_rng(2)
    motifs = ["TATAAT", "GGGCCC", "CACGTG"]

    def draw(n):
        seqs, labels = [], []
        for i in range(n):
            s = list(rng.choice(list("ACGT"), size=60))
            p = int(rng.integers(0, 54))
            s[p : p + 6] = motifs[i % 3]
            seqs.append("".join(s))
            labels.append(i % 3)
        return seqs, labels

    (tr, ytr), (dv, ydv), (te, yte) = draw(600), draw(150), draw(300)
    m = kmer_logistic_regression(*(kmer_features(s) for s in (tr, dv, te)), ytr, ydv, yte)
    assert m["accuracy"] > 0.7 and m["mcc"] > 0.5 and m["auroc"] > 0.8  # chance: 1/3, 0, 0.5
    m = cnn_classifier(tr, dv, te, ytr, ydv, yte, epochs=12, lrs=(1e-3,))
    assert m["accuracy"] > 0.6 and m["mcc"] > 0.4 and m["auroc"] > 0.75
    assert m["epochs_trained"] == 12
    early = cnn_classifier(tr, dv, te, ytr, ydv, yte, epochs=12, lrs=(1e-3,), patience=1)
    assert early["best_epoch"] <= early["epochs_trained"] <= 12
    if early["epochs_trained"] < 12:  # stopped: the epoch after its best did no better
        assert early["epochs_trained"] - early["best_epoch"] == 1
    if early["best_epoch"] == m["best_epoch"]:  # same seed, same epochs up to the stop
        assert early["mcc"] == m["mcc"]
    floor = majority_class(ytr, yte)
    assert floor["mcc"] == 0.0 and abs(floor["accuracy"] - 1 / 3) < 0.01 and floor["auroc"] == 0.5


def test_ridge_regression_recovers_a_linear_signal():
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(n, 3)) for n in (200, 50, 100)]
    ys = [x @ np.array([1.0, -2.0, 0.0]) + 0.5 + 0.1 * rng.normal(size=len(x)) for x in xs]
    m = ridge_regression(*xs, *ys)
    assert m["r2"] > 0.99
    noise = ridge_regression(*xs, *(rng.normal(size=len(x)) for x in xs))
    assert noise["r2"] < 0.1
