"""Evaluation metrics on constructed cases with known answers, and the whole evaluation."""

import json

import numpy as np
import pytest
from conftest import tiny_train_config

from cimp.embeddings import embed_dataset
from cimp.evaluate import evaluate, field_scores, r2, smape
from cimp.retrieval import retrieval, retrieval_by_gallery
from cimp.train import train


def test_r2_and_smape_on_known_cases():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2(y, y) == 1.0
    assert r2(y, np.full(4, 2.5)) == pytest.approx(0.0)
    assert r2(y, y + 1) == pytest.approx(1 - 4 / 5)
    assert smape(np.array([100.0]), np.array([50.0])) == pytest.approx(100 * 50 / 75)


def test_field_scores_report_mae_in_physical_units():
    # log10 pixel size: recorded 0.1 and 1 nm, predicted 0.2 and 1 nm
    scores = field_scores("pixel_size", np.log10([0.1, 1.0]), np.log10([0.2, 1.0]))
    assert scores["mae"] == pytest.approx(0.05) and scores["unit"] == "nm"


def test_retrieval_on_perfect_random_and_swapped_embeddings():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((300, 16))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    perfect = retrieval(e, e, gallery=200)
    assert perfect["gallery"] == 200 and perfect["chance_top1"] == 1 / 200
    assert perfect["image_to_meta_top1"] == 1.0 and perfect["meta_to_image_top5"] == 1.0
    shuffled = retrieval(e, e[rng.permutation(300)], gallery=300)
    assert shuffled["image_to_meta_top1"] < 0.03
    swapped = e.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # two answers exchanged: exactly two misses
    result = retrieval(e, swapped, gallery=300)
    assert result["image_to_meta_top1"] == pytest.approx(298 / 300)


def test_evaluation_writes_results_table_and_figures(tiny_dataset, tmp_path):
    run = train(tiny_train_config(tiny_dataset, tmp_path / "run", steps=4), show_progress=False)
    results = evaluate(run, tiny_dataset, tmp_path / "eval", show_progress=False)
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())
    test = embed_dataset(run, tiny_dataset, "cpu", show_progress=False)
    test = test.subset(test.table["split"].to_numpy() == "test")
    similarity = test.image @ test.meta.T  # each image's own record the best of the test split?
    top1 = np.mean(np.argmax(similarity, axis=1) == np.arange(len(similarity)))
    assert saved["retrieval"]["gallery"] == len(similarity) > 5
    assert saved["retrieval"]["image_to_meta_top1"] == pytest.approx(top1, abs=1e-6)
    assert results["retrieval"] == saved["retrieval"]
    assert set(saved["fields"]) == {"probe", "knn", "handcrafted", "supervised"}
    assert len(saved["fields"]["probe"]) == 7
    table = (tmp_path / "eval" / "results.md").read_text()
    assert "| detector_offset |" in table and "chance" in table
    for figure in ("predicted_vs_recorded.png", "embedding_map.png"):
        assert (tmp_path / "eval" / figure).stat().st_size > 10_000


def test_a_retrieved_item_with_the_querys_settings_counts_as_a_same_settings_hit():
    rng = np.random.default_rng(0)
    meta = rng.normal(size=(40, 8))
    meta /= np.linalg.norm(meta, axis=1, keepdims=True)
    image = meta[np.r_[1, 0, 2:40]]  # images 0 and 1 swapped: their settings are the same
    settings = rng.normal(size=(40, 7))
    settings[1] = settings[0]
    r = retrieval(image, meta, settings=settings)
    assert r["image_to_meta_top1"] == pytest.approx(38 / 40)
    assert r["image_to_meta_top1_same_settings"] == 1.0
    assert "image_to_meta_top1_same_settings" not in retrieval(image, meta)


def test_top1_falls_with_gallery_size_for_a_fixed_confusion():
    rng = np.random.default_rng(1)
    meta = rng.normal(size=(600, 16))
    meta /= np.linalg.norm(meta, axis=1, keepdims=True)
    noisy = meta + rng.normal(scale=0.25, size=meta.shape)  # every image a little off
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    settings = np.arange(600.0)[:, None]  # all settings distinct: same-settings = exact
    curve = retrieval_by_gallery(noisy, meta, settings)
    assert list(curve) == [100, 250, 500, 600]
    top1 = [r["image_to_meta_top1"] for r in curve.values()]
    assert top1[0] > top1[1] > top1[3] and top1[0] < 1.0
    direct = np.mean(np.argmax(noisy @ meta.T, axis=1) == np.arange(600))  # the whole gallery
    assert curve[600]["image_to_meta_top1"] == pytest.approx(direct)
    assert all(r["image_to_meta_top1_same_settings"] == r["image_to_meta_top1"]
               for r in curve.values())  # fmt: skip
