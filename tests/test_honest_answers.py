"""A trained model asked about images unlike its training data says so; it reads whole
images, the same counts in any dtype give the same answer, and reading writes nothing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile
from conftest import text_of
from typer.testing import CliRunner

from cimp import views
from cimp.cli import app
from cimp.embeddings import embed_image
from cimp.recovery import FieldModel, for_run, predict_files
from cimp.run import Run
from cimp.store import Store

runner = CliRunner()


def _stored_image(trained) -> np.ndarray:
    _, dataset, emb = trained
    return Store(dataset).image(emb.table["image_id"].iat[0])


def test_the_same_counts_in_any_dtype_give_the_same_predictions(trained, tmp_path):
    run, dataset, _ = trained
    image = _stored_image(trained)
    paths = []
    for dtype in ("uint16", "uint32", "int32", "float32"):
        paths.append(tmp_path / f"{dtype}.tif")
        tifffile.imwrite(paths[-1], image.astype(dtype))
    predictor = for_run(run, dataset, "cpu", show_progress=False)
    results = predict_files(run, paths, predictor, device="cpu")
    values = [[f["value"] for f in entry["images"][0]["fields"].values()] for entry in results]
    np.testing.assert_allclose(values, values[:1] * 4, rtol=1e-5)


def test_a_uint32_image_of_millions_of_counts_is_out_of_domain_not_black(trained, tmp_path):
    run, dataset, _ = trained
    bright = _stored_image(trained).astype(np.uint32) * 50 + 3_000_000
    tifffile.imwrite(tmp_path / "digiscan.tif", bright)
    predictor = for_run(run, dataset, "cpu", show_progress=False)
    (entry,) = predict_files(run, [tmp_path / "digiscan.tif"], predictor, device="cpu")
    notes = " ".join(entry["images"][0]["out_of_domain"])
    assert "stored as uint32" in notes and "brightest level" in notes
    assert "a real image; the run was trained on simulated images only" in notes


def test_predict_names_each_way_a_file_is_out_of_domain(trained, tmp_path):
    run, dataset, emb = trained
    image = _stored_image(trained)
    tifffile.imwrite(tmp_path / "big.tif", np.tile(image, (3, 3)))
    result = runner.invoke(
        app, ["predict", str(run), str(tmp_path / "big.tif"), "--dataset", str(dataset)]
    )
    text = text_of(result)
    assert result.exit_code == 0, result.output
    assert "out of domain" in text and "144x144 px frame; the run saw frames of 48-48 px" in text
    # a simulated image like the training ones is not flagged
    source = emb.table.loc[emb.table["split"] == "train", "source"].iat[0]
    same = runner.invoke(app, ["predict", str(run), source, "--dataset", str(dataset)])
    assert same.exit_code == 0 and "out of domain (" not in text_of(same)


def test_an_interval_spanning_most_of_the_training_range_is_not_a_prediction():
    informative = FieldModel("dwell_time", [0.0], 1.0, [0.1] * 50, "test", (0.0, 2.0))
    useless = FieldModel("dwell_time", [0.0], 1.0, [0.8] * 50, "test", (0.0, 2.0))
    assert informative.recoverable(0.9) and informative.span_share(0.9) == pytest.approx(0.1)
    assert not useless.recoverable(0.9) and useless.span_share(0.9) == pytest.approx(0.8)


def test_predict_prints_not_recoverable_instead_of_a_useless_interval(trained, tmp_path):
    run, dataset, emb = trained
    predictor = for_run(run, dataset, "cpu", show_progress=False)
    for m in predictor.fields.values():  # as wide as the whole training range
        m.scores = [m.train_range[1] - m.train_range[0]] * len(m.scores)
    useless = shutil.copytree(run, tmp_path / "run")  # the shared run keeps its predictor
    predictor.save(useless / "predictor.json")
    wide = {"COLUMNS": "300"}
    result = runner.invoke(app, ["predict", str(useless), emb.table["source"].iat[0]], env=wide)
    assert result.exit_code == 0, result.output
    assert text_of(result).count("not recoverable by this run") == len(predictor.fields) > 3


def test_the_whole_image_is_read_not_only_its_centre(trained):
    run, _, _ = trained
    model = Run(run).load_model()
    assert list(views.origins(2048, 96)) == [round(i * 1952 / 15) for i in range(16)]
    assert list(views.origins(48, 32)) == [0, 16] and list(views.origins(40, 40)) == [0]
    image = np.tile(_stored_image(trained), (2, 2))
    corner = image.copy()
    corner[:20, :20] = 0  # the centre crop never sees this corner
    assert not np.allclose(embed_image(model, image), embed_image(model, corner))


def test_read_only_commands_leave_a_mistyped_path_untouched(trained, tmp_path):
    run, _, _ = trained
    typo = tmp_path / "datset"
    for command in ("audit", "search", "report", "embed"):
        extra = ["--row", "0"] if command == "search" else []
        result = runner.invoke(app, [command, str(run), str(typo), *extra])
        assert result.exit_code == 2 and "not a cimp dataset" in text_of(result), command
        assert not typo.exists(), command
    result = runner.invoke(app, ["predict", str(run), "x.tif", "--dataset", str(typo)])
    assert result.exit_code == 2 and not typo.exists()


def test_a_search_rewrites_nothing(trained):
    run, dataset, emb = trained
    stamp = (emb.folder / "run.json").stat().st_mtime_ns
    assert runner.invoke(app, ["search", str(run), str(dataset), "--row", "0"]).exit_code == 0
    assert (emb.folder / "run.json").stat().st_mtime_ns == stamp


def test_a_read_only_dataset_is_searchable_its_embeddings_kept_in_the_users_cache(
    trained, tmp_path
):
    """A dataset folder the user cannot write (chmod'ed). No permission stops root, so as
    root the command runs as an ordinary user, in a user namespace (`unshare`)."""
    import os
    import subprocess
    import sys

    run, dataset, _ = trained
    mounted = shutil.copytree(dataset, tmp_path / "ds", ignore=shutil.ignore_patterns("embeddings"))
    folders = [mounted, *(p for p in mounted.rglob("*") if p.is_dir())]
    for folder in folders:
        folder.chmod(0o555)  # read and enter, never write
    home = tmp_path / "home"
    home.mkdir()
    as_user = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
    cimp = [sys.executable, "-m", "cimp.cli", "search", str(run), str(mounted), "--row", "0"]
    env = {**os.environ, "HOME": str(home), "CIMP_CACHE": str(home / "cache"), "COLUMNS": "250"}
    try:
        command = [*as_user, *cimp] if os.geteuid() == 0 else cimp
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stdout.split())
    assert f"{mounted} is read-only: its embeddings are kept in {home / 'cache'}" in said
    assert not (mounted / "embeddings").exists()
    assert list((home / "cache" / "embeddings").rglob("part-*.npz"))


def test_audit_names_the_images_that_lie_outside_the_training_domain(trained, tmp_path):
    from cimp.ingest import ingest

    run, _, emb = trained
    tifffile.imwrite(tmp_path / "real.tif", _stored_image(trained))
    ds = tmp_path / "ds"
    simulated = emb.table.loc[emb.table["split"] == "train", "source"].iat[0]
    ingest([tmp_path / "real.tif", simulated], ds, show_progress=False)
    result = runner.invoke(app, ["audit", str(run), str(ds)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = text_of(result)
    assert "1 of 2 images lie outside what the run was trained on" in text
    assert "a real image; the run was trained on simulated images only" in text


def test_search_by_a_foreign_image_says_it_is_out_of_domain(trained, tmp_path):
    run, dataset, _ = trained
    tifffile.imwrite(tmp_path / "real.tif", _stored_image(trained))
    args = ["search", str(run), str(dataset), "--image", str(tmp_path / "real.tif")]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "out of domain" in result.output and "a real image" in text_of(result)


def test_search_hits_outside_the_training_domain_are_marked(trained, tmp_path):
    from cimp.ingest import ingest

    run, _, emb = trained
    tifffile.imwrite(tmp_path / "real.tif", _stored_image(trained))
    simulated = emb.table.loc[emb.table["split"] == "train", "source"].iat[0]
    ds = tmp_path / "ds"
    ingest([tmp_path / "real.tif", simulated], ds, show_progress=False)
    args = ["search", str(run), str(ds), "--where", "frame_width>1px"]
    result = runner.invoke(app, args, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    text = text_of(result)
    assert "out of domain (by)" in text and text.count("│ origin") == 1
