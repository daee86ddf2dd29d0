"""Training data: crops without resizing, fixed intensity scale, dropout, reproducible order."""

import numpy as np
import pandas as pd
import pytest

from cimp.data import CropDataset, StepSampler, crop_image, drop_fields, intensity_scale
from cimp.schema import Normalizer
from cimp.store import Store


def test_crops_are_windows_of_the_original_pixels():
    image = np.arange(100 * 80, dtype=np.uint16).reshape(100, 80)
    window = crop_image(image, 32, np.random.default_rng(0))
    top, left = divmod(int(window[0, 0]), 80)
    np.testing.assert_array_equal(window, image[top : top + 32, left : left + 32])
    np.testing.assert_array_equal(crop_image(image, 32, None), image[34:66, 24:56])


def test_intensity_scale_is_one_factor_per_run_never_per_image(tiny_dataset):
    store = Store(tiny_dataset)
    table = store.table()
    scale = intensity_scale(store, table)
    assert scale == 1 / 65535  # every image is uint16: the detector's ADC range
    data = CropDataset(store, table, Normalizer.fit(table), crop=48, scale=scale)
    for row in range(3):
        image = data[row][0][0].numpy()
        raw = data.image(row).astype(np.float64)
        np.testing.assert_allclose(image, raw / 65535, rtol=1e-6)


def test_intensity_scale_of_wide_integer_data_follows_what_the_data_hold(tmp_path):
    from cimp.io import Record

    store = Store(tmp_path / "ds", create=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):  # a uint32 DigiScan-like image: counts around 3e6
        image = rng.normal(3e6, 1e5, (32, 32)).astype(np.uint32)
        record = Record(image, {}, {}, f"f{i}.dm3")
        rows.append(store.row(record, store.put_image(image), f"h{i}"))
    store.append(rows, [])
    scale = intensity_scale(store, store.table())
    assert 1 / scale == pytest.approx(3.3e6, rel=0.05)  # not 1 / (2**32 - 1)


def test_field_dropout_hides_fields_but_never_all():
    rng = np.random.default_rng(0)
    present = np.array([True, True, False, True])
    drops = np.array([drop_fields(present, 0.5, rng) for _ in range(2000)])
    assert not drops[:, 2].any() and drops.any(axis=1).all()
    # each kept with 1/2, plus a third of the 1/8 chance that all three were dropped
    assert drops[:, [0, 1, 3]].mean() == pytest.approx(0.5 + (1 / 8) / 3, abs=0.03)


def test_sampler_is_reproducible_resumable_and_splits_batches_across_ranks():
    full = list(StepSampler(50, 8, total=20, seed=3))
    assert full == list(StepSampler(50, 8, total=20, seed=3))
    assert list(StepSampler(50, 8, total=20, seed=3, start=7)) == full[7:]
    halves = [list(StepSampler(50, 8, 20, 3, rank=r, world=2)) for r in (0, 1)]
    assert [a + b for a, b in zip(*halves, strict=True)] == full
    epoch = [row for batch in full[:6] for row, _ in batch]  # 6 batches of 8 per epoch of 50
    assert len(set(epoch)) == 48


def test_images_smaller_than_the_crop_are_left_out(tiny_dataset):
    store = Store(tiny_dataset)
    table = store.table()
    data = CropDataset(store, table, Normalizer.fit(table), crop=64)
    assert len(data) == 0 and data.skipped_small == len(table)
    assert isinstance(data.table, pd.DataFrame)


def test_large_splits_are_read_from_disk_with_the_same_crops(tiny_dataset):
    store = Store(tiny_dataset)
    table = store.table()
    norm = Normalizer.fit(table)
    in_memory = CropDataset(store, table, norm, crop=32, train=True)
    on_disk = CropDataset(store, table, norm, crop=32, train=True, cache_bytes=0)
    assert in_memory._images is not None and on_disk._images is None
    for item in [(0, 7), (5, 8)]:
        np.testing.assert_array_equal(in_memory[item][0].numpy(), on_disk[item][0].numpy())
