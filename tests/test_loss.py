"""The contrastive losses against hand-computed numbers."""

import math

import pytest
import torch

from cimp.loss import info_nce, siglip

E = math.e


def _unit_pairs():
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    meta = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    return image, meta


def test_info_nce_matches_a_hand_computation():
    image, meta = _unit_pairs()
    # scale 1: image->meta logits [[1, .6], [0, .8]]; meta->image logits [[1, 0], [.6, .8]]
    row = [
        -math.log(E**1 / (E**1 + E**0.6)),
        -math.log(E**0.8 / (E**0 + E**0.8)),
        -math.log(E**1 / (E**1 + E**0)),
        -math.log(E**0.8 / (E**0.6 + E**0.8)),
    ]
    loss = info_nce(image, meta, torch.tensor(0.0))
    assert loss.item() == pytest.approx(sum(row) / 4, rel=1e-6)


def test_close_metadata_count_as_positives():
    image, meta = _unit_pairs()
    values = torch.tensor([[0.0, 0.0], [0.05, 0.0]])  # both pairs: nearly the same settings
    loss = info_nce(image, meta, torch.tensor(0.0), values, positive_radius=0.1)
    # each row's target is 1/2 on both columns
    log_p = [
        [1 - math.log(E + E**0.6), 0.6 - math.log(E + E**0.6)],
        [0 - math.log(1 + E**0.8), 0.8 - math.log(1 + E**0.8)],
        [1 - math.log(E + 1), 0 - math.log(E + 1)],
        [0.6 - math.log(E**0.6 + E**0.8), 0.8 - math.log(E**0.6 + E**0.8)],
    ]
    expected = -sum(0.5 * a + 0.5 * b for a, b in log_p) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    far = info_nce(image, meta, torch.tensor(0.0), values, positive_radius=0.01)
    assert far.item() == pytest.approx(info_nce(image, meta, torch.tensor(0.0)).item())


def test_siglip_matches_a_hand_computation():
    image, meta = _unit_pairs()
    scale, bias = torch.tensor(math.log(2.0)), torch.tensor(-1.0)

    # logits 2 * [[1, .6], [0, .8]] - 1 = [[1, .2], [-1, .6]]; labels +1 on the diagonal
    def softplus(x):
        return math.log1p(math.exp(x))

    expected = (softplus(-1.0) + softplus(0.2) + softplus(-1.0) + softplus(-0.6)) / 2
    assert siglip(image, meta, scale, bias).item() == pytest.approx(expected, rel=1e-6)


def test_temperature_sharpens_the_loss_for_aligned_pairs():
    image = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
    low, high = (info_nce(image, image, torch.tensor(math.log(t))) for t in (1.0, 50.0))
    assert high < 0.05 < low
