"""Using a trained model: stored embeddings, search with filters, intervals, audit, report."""

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from cimp import embeddings, probe, recovery
from cimp.audit import audit, corrupt
from cimp.cli import app
from cimp.embeddings import embed_dataset, load
from cimp.errors import CimpError
from cimp.index import VectorIndex, exact_search
from cimp.report import report
from cimp.search import parse_condition, search
from cimp.store import Store


def test_embeddings_are_stored_once_and_a_lost_part_is_recomputed(trained, monkeypatch, tmp_path):
    run, shared, emb = trained
    n = len(Store(shared).table())
    assert len(emb.table) == n and emb.image.shape == (n, 16)
    np.testing.assert_allclose(np.linalg.norm(emb.image, axis=1), 1.0, atol=1e-5)

    monkeypatch.setattr(embeddings, "PART", 16)
    fresh = shutil.ignore_patterns("embeddings")  # a copy with embeddings of its own to make
    dataset = shutil.copytree(shared, tmp_path / "ds", ignore=fresh)
    emb = embed_dataset(run, dataset, "cpu", show_progress=False)
    assert emb.folder != trained[2].folder
    parts = sorted(emb.folder.glob("part-*.npz"))
    assert len(parts) == -(-n // 16)
    embed_dataset(run, dataset, "cpu", show_progress=False)  # nothing left to do
    assert sorted(emb.folder.glob("part-*.npz")) == parts

    parts[0].unlink()  # as if killed before this part was written
    again = embed_dataset(run, dataset, "cpu", show_progress=False)
    assert set(parts[1:]) < set(emb.folder.glob("part-*.npz"))
    assert len(again.table) == n
    order = pd.Series(range(n), index=again.table["image_id"])[emb.table["image_id"]]
    np.testing.assert_allclose(again.image[order.to_numpy()], emb.image, atol=1e-5)


def test_search_by_row_returns_the_exact_nearest_other_image(trained):
    _, _, emb = trained
    for row in (0, 17, 40):
        hits = search(emb, emb.image[row], k=5, exclude_row=row)
        similarity = emb.image @ emb.image[row]
        similarity[row] = -np.inf
        assert hits["row"].iat[0] == int(np.argmax(similarity))
        np.testing.assert_allclose(hits["similarity"], np.sort(similarity)[::-1][:5], atol=1e-5)
        assert row not in set(hits["row"])


def test_filters_are_honoured_with_units_and_missing_values(trained):
    _, _, shared = trained
    median = float(shared.table["dwell_time"].median())
    table = shared.table.copy()
    table.loc[3, "dwell_time"] = np.nan  # a row that does not record the field never passes
    emb = dataclasses.replace(shared, table=table)  # the shared fixture is left as it is
    condition = parse_condition(f"dwell_time>{median * 1000}ns")
    assert condition.value == pytest.approx(median)
    hits = search(emb, emb.image[0], k=48, conditions=[condition])
    expected = np.flatnonzero(table["dwell_time"].to_numpy() > median)
    assert sorted(hits["row"]) == sorted(expected) and 3 not in set(hits["row"])
    assert (hits["dwell_time"] > median).all()


def test_equals_means_within_one_percent_and_a_missing_value_never_passes():
    table = pd.DataFrame({"dwell_time": [2.0, 2.019, 2.021, 1.981, 1.979, np.nan]})
    near = parse_condition("dwell_time=2000ns").mask(table)
    assert near.tolist() == [True, True, False, True, False, False]
    assert parse_condition("dwell_time==2us").mask(table).tolist() == near.tolist()
    apart = parse_condition("dwell_time!=2us").mask(table)
    assert apart.tolist() == [False, False, True, False, True, False]


@pytest.mark.parametrize(
    ("text", "message"),
    [("dwell_time>>5", "not a number"), ("colour=red", "unknown field"), ("detector>3", "text")],
)
def test_a_bad_filter_says_what_is_wrong(text, message):
    with pytest.raises(CimpError, match=message):
        parse_condition(text)


def test_approximate_index_filters_exactly_and_finds_most_true_neighbours():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 32))
    vectors = centres[rng.integers(50, size=4000)] + 0.3 * rng.normal(size=(4000, 32))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex(vectors, exact_below=1000, nprobe=8)
    assert index.approximate
    queries = vectors[:100]
    _, approx = index.search(queries, 10)
    _, exact = exact_search(vectors, queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall > 0.9
    allowed = rng.random(4000) < 0.5
    _, found = index.search(queries, 10, allowed)
    assert allowed[found[found >= 0]].all()


def test_ridge_with_leave_one_out_penalty_recovers_a_linear_law():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 8)) * rng.uniform(0.1, 10, size=8) + 5
    truth = rng.normal(size=8)
    weight, bias = probe.ridge(x, x @ truth + 2.0)
    np.testing.assert_allclose(weight, truth, rtol=1e-3)
    assert bias == pytest.approx(2.0, abs=1e-2)


def test_conformal_intervals_hold_the_stated_share_on_new_images():
    """Embeddings that carry a field with noise: 90 % intervals hold 85-95 % of new values."""
    rng = np.random.default_rng(2)
    n = 3000
    log_dwell = rng.uniform(-0.5, 1.5, n)
    x = np.c_[log_dwell + rng.standard_t(4, n) * 0.2, rng.normal(size=(n, 7))]
    split = np.array(["train", "val", "test"])[rng.choice(3, n, p=[0.6, 0.2, 0.2])]
    table = pd.DataFrame({"dwell_time": 10**log_dwell, "split": split})
    table["session"] = [f"s{i}" for i in range(n)]
    emb = _embeddings(table, x)
    model = recovery.fit(emb.subset(split != "test"))
    assert list(model.fields) == ["dwell_time"]
    cover = recovery.coverage(model, emb.subset(split == "test"), levels=(0.5, 0.9))
    assert 0.85 <= cover["dwell_time"]["levels"]["0.9"]["coverage"] <= 0.95
    assert 0.45 <= cover["dwell_time"]["levels"]["0.5"]["coverage"] <= 0.55


def test_audit_ranks_a_corrupted_record_first_and_names_the_field(trained):
    _, _, emb = trained
    predictor = recovery.fit(emb)
    table = emb.table.copy()
    row = 5
    table.loc[row, "detector_gain"] *= 10
    scored = audit(predictor, _embeddings(table, emb.image), ["detector_gain", "dwell_time"])
    assert scored.index[0] == row
    assert scored["suspects"].iat[0].startswith("detector_gain")
    clean = audit(predictor, emb, ["detector_gain", "dwell_time"])
    assert clean.loc[row, "score"] < scored.loc[row, "score"]


def test_corruption_touches_the_asked_share_of_rows_and_one_field_each():
    rng = np.random.default_rng(3)
    table = pd.DataFrame({"dwell_time": rng.uniform(1, 10, 200), "beam_current": 5.0})
    corrupted, truth = corrupt(table, ["dwell_time", "beam_current"], 0.05, rng)
    assert truth.notna().sum() == 10
    changed = (corrupted != table).sum(axis=1)
    assert (changed[truth.notna()] == 1).all() and (changed[truth.isna()] == 0).all()


def test_predict_command_on_a_png_export_gives_intervals_and_a_warning(trained, tmp_path):
    run, dataset, emb = trained
    image = Store(dataset).image(emb.table["image_id"].iat[0])
    scaled = (255 * (image - image.min()) / np.ptp(image)).astype(np.uint8)
    Image.fromarray(np.stack([scaled] * 3, axis=-1)).save(tmp_path / "export.png")
    result = CliRunner().invoke(
        app, ["predict", str(run), str(tmp_path / "export.png"), "--dataset", str(dataset)]
    )
    assert result.exit_code == 0, result.output
    assert "dwell_time" in result.output and "90 % interval" in result.output
    assert "8-bit" in result.output


def test_search_command_writes_a_contact_sheet(trained, tmp_path):
    run, dataset, _ = trained
    sheet = tmp_path / "sheet.png"
    args = ["search", str(run), str(dataset), "--set", "dwell_time=2us", "--where",
            "beam_current>1pA", "-k", "4", "--sheet", str(sheet)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert Image.open(sheet).size[0] > 300
    bad = CliRunner().invoke(app, ["search", str(run), str(dataset), "--row", "0", "--set", "a=1"])
    assert bad.exit_code == 2 and "give one query" in bad.output


def _embeddings(table, x):
    from cimp.embeddings import Embeddings

    return Embeddings(table.reset_index(drop=True), np.asarray(x), np.asarray(x), None)


def test_load_without_embedding_first_says_what_to_run(tiny_dataset, trained):
    run, _, _ = trained
    with pytest.raises(CimpError, match="cimp embed"):
        load(run, tiny_dataset)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "dwell_time=-2us"], "dwell_time is a positive quantity"),
        (["--set", "dwell_time"], "a setting is field=value, e.g. --set dwell_time=2us"),
        (["--row", "0", "-k", "0"], "-k 0: ask for at least one image"),
        ([], "say what to find"),
    ],
)
def test_search_mistakes_are_one_line_that_names_the_problem(trained, args, message):
    run, dataset, _ = trained
    result = CliRunner().invoke(app, ["search", str(run), str(dataset), *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_search_filters_that_match_nothing_list_nothing(trained, tmp_path):
    run, dataset, _ = trained
    for where in (["dwell_time>1e6us"], ["dwell_time>5us", "dwell_time<1us"]):
        args = ["search", str(run), str(dataset), "--row", "0"]
        result = CliRunner().invoke(app, [*args, *(f"--where={w}" for w in where)])
        assert result.exit_code == 0 and "no image passes the filters" in result.output


def test_search_where_alone_lists_what_matches_and_sheet_folders_are_made(trained, tmp_path):
    run, dataset, _ = trained
    sheet = tmp_path / "new" / "folder" / "sheet.png"
    args = ["search", str(run), str(dataset), "--where", "dwell_time>5us", "-k", "100"]
    result = CliRunner().invoke(app, [*args, "--sheet", str(sheet)])
    assert result.exit_code == 0, result.output
    expected = int((Store(dataset).table()["dwell_time"] > 5).sum())
    assert f"{expected} in all, {expected} shown" in " ".join(result.output.split())
    assert sheet.exists()


def test_search_by_image_ranks_by_a_similarity_that_discriminates(trained, tmp_path):
    run, dataset, emb = trained
    hits = search(emb, emb.image[3], k=5, exclude_row=3)
    assert hits["closer_than"].is_monotonic_decreasing
    assert hits["closer_than"].iat[0] > 0.9  # the best hit beats nearly every other image
    sheet = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        app,
        ["search", str(run), str(dataset), "--image", emb.table["source"].iat[3], "-k", "3",
         "--sheet", str(sheet)],
    )  # fmt: skip
    assert result.exit_code == 0 and "closer than" in result.output


def test_report_on_two_foreign_images_says_too_few_and_names_the_training_set(
    trained, tmp_path, monkeypatch
):
    from cimp.ingest import ingest

    run, dataset, emb = trained
    sources = list(emb.table["source"].iloc[:2])
    small = tmp_path / "small"
    ingest(sources, small, show_progress=False)
    monkeypatch.chdir(tmp_path)  # the training set's path must not depend on where we are
    text = report(run, small, tmp_path / "r.html", "cpu", show_progress=False).read_text()
    assert "Too few images (2; at least 10)" in text and "<th>R2</th>" not in text
    assert str(Path(dataset).resolve()) in text
    assert "trained on simulated images only" in text


def test_a_query_that_matches_everything_equally_is_said_not_to_discriminate():
    from cimp.search import spread

    x = np.random.default_rng(0).normal(size=(200, 16))
    x[:, 8:] = 0
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    emb = _embeddings(pd.DataFrame({"image_id": [str(i) for i in range(200)]}), x)
    query = np.zeros(16)
    query[15] = 1.0  # as far from every image as from any other
    gap, typical = spread(emb, query)
    assert gap == pytest.approx(0.0, abs=1e-6) and typical > 0.3
    assert spread(emb, x[0])[0] == pytest.approx(typical, rel=0.5)


def test_search_questions_are_checked_before_anything_is_computed_and_answered_in_the_library(
    trained,
):
    from cimp.run import Run
    from cimp.search import ask, find

    with pytest.raises(CimpError, match="give one query"):
        ask(image="a.tif", row="3")
    with pytest.raises(CimpError, match="say what to find"):
        ask()
    run, dataset, emb = trained
    found = find(Run(run), emb, dataset, ask(settings=["dwell_time=2us"], k=3))
    assert len(found.hits) == 3 and found.columns == ["dwell_time"]
    assert found.what.startswith("images acquired at about dwell_time=2")
    assert len(found.hits_outside) == 3 and found.query_image is None
    listed = find(Run(run), emb, dataset, ask(where=["dwell_time>0.1us"], k=2))
    assert len(listed.hits) == 2 and listed.hits["similarity"].isna().all()
