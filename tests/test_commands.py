"""The commands that use a trained run, on their success paths, as a user types them:
embed (and a grown dataset), report, audit --top/--csv, predict --level/--json, train --resume.

Each test works on its own copy of the session's run and dataset."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import text_of
from safetensors.torch import load_file
from typer.testing import CliRunner

from cimp.cli import app
from cimp.ingest import ingest
from cimp.report import SECTIONS
from cimp.run import Run
from cimp.simulator.files import write_run
from cimp.store import Store

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


@pytest.fixture
def copied(trained, tmp_path):
    """A copy of the session's run, and of its dataset without embeddings."""
    run, dataset, _ = trained
    run = shutil.copytree(run, tmp_path / "run")
    fresh = shutil.ignore_patterns("embeddings")
    return run, shutil.copytree(dataset, tmp_path / "ds", ignore=fresh)


def test_embed_stores_every_image_and_a_grown_dataset_embeds_only_its_new_ones(
    copied, tmp_path, monkeypatch
):
    run, dataset = copied
    first = runner.invoke(app, ["embed", str(run), str(dataset)], env=WIDE)
    assert first.exit_code == 0, first.output
    n = len(Store(dataset).table())
    assert f"{n} images embedded in" in text_of(first)
    folder = next((dataset / "embeddings").iterdir())
    before = {p.name: p.read_bytes() for p in folder.glob("part-*.npz")}

    write_run(tmp_path / "more", 6, size=48, seed=12, sampling="uniform", show_progress=False)
    ingest([tmp_path / "more"], dataset, show_progress=False)
    table = Store(dataset).table()
    new = set(table["image_id"]) - set(np.concatenate([np.load(folder / p)["image_id"]
                                                      for p in before]))  # fmt: skip
    assert len(table) == n + len(new) and len(new) >= 5
    grown = runner.invoke(app, ["embed", str(run), str(dataset)], env=WIDE)
    assert grown.exit_code == 0 and f"{len(table)} images embedded" in text_of(grown)
    after = {p.name: p.read_bytes() for p in folder.glob("part-*.npz")}
    assert {k: after[k] for k in before} == before  # the old parts untouched
    (added,) = set(after) - set(before)
    assert set(np.load(folder / added)["image_id"]) == new  # the new images alone

    def no_weights(*_):
        raise AssertionError("nothing to embed: the weights are not even loaded")

    monkeypatch.setattr(Run, "load_model", no_weights)
    again = runner.invoke(app, ["embed", str(run), str(dataset)], env=WIDE)
    assert again.exit_code == 0 and f"{len(table)} images embedded" in text_of(again)


def test_report_writes_one_html_file_with_every_section(copied, tmp_path):
    run, dataset = copied
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(run), str(dataset), "--out", str(out)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert f"report: {out}" in text_of(result)
    html = out.read_text()
    assert all(f"<h2>{title}</h2>" in html for title in SECTIONS)
    assert len(re.findall(r"<img src='data:image/png;base64,", html)) >= 5  # every picture inline
    assert "http" not in html.replace("<!doctype html>", "")  # nothing fetched from elsewhere


def test_audit_lists_the_worst_and_writes_every_images_scores(copied, tmp_path):
    run, dataset = copied
    csv = tmp_path / "scores.csv"
    args = ["audit", str(run), str(dataset), "--top", "3", "--csv", str(csv)]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(csv)
    assert len(scores) == len(Store(dataset).table()) and scores["score"].is_monotonic_decreasing
    listed = re.findall(r"│ (\d) │ ([\d.]+) +│ (\S+) ", result.output)
    assert [int(n) for n, _, _ in listed] == [1, 2, 3]
    np.testing.assert_allclose([float(s) for _, s, _ in listed], scores["score"][:3], atol=0.006)
    assert [f for _, _, f in listed] == [Path(p).name for p in scores["source"][:3]]
    errors = scores.filter(like="error_")
    outside, known = int((errors > 1).to_numpy().sum()), int(errors.notna().to_numpy().sum())
    assert f"{outside} of {known} recorded values" in text_of(result) and known > 100


def test_predict_json_gives_nested_intervals_at_two_levels_and_the_recorded_values(copied):
    run, dataset = copied
    row = Store(dataset).table().iloc[0]
    answers = {}
    for level in ("0.5", "0.9"):
        result = runner.invoke(app, ["predict", str(run), row["source"], "--json",
                                     "--level", level, "--dataset", str(dataset)])  # fmt: skip
        assert result.exit_code == 0, result.output
        (entry,) = json.loads(result.output)
        assert entry["error"] is None and len(entry["images"]) == 1
        answers[level] = entry["images"][0]["fields"]
    assert set(answers["0.5"]) == set(answers["0.9"]) >= set(Run(run).config.model.fields)
    for name, wide in answers["0.9"].items():
        narrow = answers["0.5"][name]
        assert wide["recorded"] == pytest.approx(row[name]), name
        if wide["recoverable"] and narrow["recoverable"]:
            assert narrow["value"] == pytest.approx(wide["value"])
            assert wide["low"] <= narrow["low"] <= narrow["value"] <= narrow["high"] <= wide["high"]
    text = runner.invoke(app, ["predict", str(run), row["source"], "--level", "0.8"], env=WIDE)
    assert text.exit_code == 0 and "80 % interval" in text.output
    assert "Intervals hold for 80 % of images" in text_of(text)


def test_train_resume_from_the_command_line_gives_the_uninterrupted_weights(
    tiny_dataset, tmp_path, monkeypatch
):
    import cimp.train

    args = "--steps 4 --batch-size 8 --crop 32 --widths 8,16 --val-every 2 --device cpu".split()
    whole = runner.invoke(
        app, ["train", str(tiny_dataset), "--out", str(tmp_path / "whole"), *args]
    )
    assert whole.exit_code == 0, whole.output
    cut = ["train", str(tiny_dataset), "--out", str(tmp_path / "cut"), *args]
    real = cimp.train.train
    with monkeypatch.context() as m:  # killed after the step-2 checkpoint
        m.setattr(cimp.train, "train", lambda config, **kw: real(config, stop_after=2, **kw))
        assert runner.invoke(app, cut).exit_code == 0
    resumed = runner.invoke(app, [*cut, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    a, b = (load_file(tmp_path / r / "model.safetensors") for r in ("whole", "cut"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(x) for x in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [2, 4]
