"""The encoders: shapes, normalisation, missing fields, batch independence at inference."""

import pytest
import torch

from cimp.model import CIMP, ModelConfig
from cimp.schema import CORE_NAMES


@pytest.fixture(params=["cnn", "vit"])
def model(request):
    torch.manual_seed(0)
    config = ModelConfig(
        fields=list(CORE_NAMES),
        categorical=[3],
        backbone=request.param,
        widths=[8, 16, 32],
        embed_dim=24,
        crop=32,
        vit_patch=8,
        vit_depth=2,
    )
    return CIMP(config).eval()


def test_embeddings_are_unit_vectors_of_the_configured_size(model):
    image = model.encode_image(torch.rand(5, 1, 32, 32))
    meta = model.encode_meta(
        torch.randn(5, 7),
        torch.ones(5, 7, dtype=torch.bool),
        torch.tensor([[1], [2], [0], [3], [1]]),
    )
    assert image.shape == meta.shape == (5, 24)
    torch.testing.assert_close(image.norm(dim=1), torch.ones(5))
    torch.testing.assert_close(meta.norm(dim=1), torch.ones(5))


def test_a_missing_field_ignores_whatever_value_it_carries(model):
    values = torch.randn(2, 7)
    present = torch.ones(2, 7, dtype=torch.bool)
    present[:, 3] = False
    changed = values.clone()
    changed[:, 3] = 1000.0
    torch.testing.assert_close(
        model.encode_meta(values, present), model.encode_meta(changed, present)
    )
    present[:, 3] = True
    assert not torch.allclose(
        model.encode_meta(values, present), model.encode_meta(changed, present)
    )


def test_an_image_embeds_the_same_alone_or_in_a_batch(model):
    images = torch.rand(4, 1, 32, 32)
    together = model.encode_image(images)
    alone = torch.cat([model.encode_image(images[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_brighter_image_is_a_different_image(model):
    """No per-image normalisation: scaling the counts must move the embedding."""
    image = torch.rand(1, 1, 32, 32) * 0.1
    similarity = (model.encode_image(image) * model.encode_image(image * 3)).sum()
    assert similarity < 0.9999
