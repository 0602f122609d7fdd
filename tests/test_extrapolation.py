"""Length extrapolation: loss against position past the training context."""

import math

import numpy as np
import pytest
import torch

from dnagpt import DNAGPT, ConfigError, get_config
from dnagpt.data.corpus import Corpus, read_manifest
from dnagpt.evaluation.extrapolation import extrapolation_figure, loss_by_position
from dnagpt.resources import BUNDLED_MANIFEST


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return Corpus(read_manifest(BUNDLED_MANIFEST), tmp_path_factory.mktemp("cache"), window_bp=3072, valid_fraction=0.1)


def test_positional_schemes_without_weights_read_four_times_their_context(corpus, tmp_path):
    torch.manual_seed(0)
    curves = {}
    for positions in ("rope", "alibi"):
        model = DNAGPT(get_config("dnagpt-tiny", positions=positions))  # context 128 tokens
        curve = loss_by_position(model, corpus, n_tokens=512, windows=4)
        assert curve.shape == (512,) and np.isfinite(curve).all()
        assert abs(curve.mean() - math.log(model.config.vocab_size)) < 1.0  # untrained: about uniform
        curves[positions] = curve
    assert extrapolation_figure(curves, 128, tmp_path / "x.png").stat().st_size > 1000


def test_learned_positions_refuse_what_they_never_saw(corpus):
    with pytest.raises(ConfigError, match="beyond the model's context of 128"):
        loss_by_position(DNAGPT(get_config("dnagpt-tiny")), corpus, n_tokens=256, windows=2)
