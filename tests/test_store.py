"""Dataset store and ingest: round trip, idempotence, resume, bad files, splits."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from cimp import io
from cimp.errors import CimpError
from cimp.ingest import ingest
from cimp.simulator import files as simulated
from cimp.simulator import simulate
from cimp.store import Store, split_of


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """Eight small simulated files (four of them two dose pairs)."""
    out = tmp_path_factory.mktemp("raw")
    simulated.write_run(out, 4, size=48, seed=3, show_progress=False)
    simulated.write_run(out / "pairs", 2, size=48, seed=5, sampling="pairs", show_progress=False)
    return out


def test_ingest_round_trips_images_and_canonical_metadata(raw, tmp_path):
    report = ingest([raw], tmp_path / "ds", show_progress=False)
    assert (report.files_read, report.images_added, report.skipped) == (8, 8, [])
    store = Store(tmp_path / "ds")
    table = store.table()
    assert len(table) == 8 and table["image_id"].is_unique
    row = table[table["source"].str.endswith("sim-s3-000002.hspy")].iloc[0]
    truth = simulate(3, 2, size=48)
    np.testing.assert_array_equal(store.image(row["image_id"]), truth.image)
    for name, value in truth.settings.metadata().items():
        assert row[name] == (pytest.approx(value) if isinstance(value, float) else value), name
    assert "axes[x].scale" in row["provenance"]
    assert row["session"] == "s3-session000000" and row["split"] in {"train", "val", "test"}


def test_dose_pairs_share_a_session_and_so_a_split(raw, tmp_path):
    ingest([raw / "pairs"], tmp_path / "ds", show_progress=False)
    table = Store(tmp_path / "ds").table()
    assert table.groupby("session")["split"].nunique().max() == 1
    assert sorted(table.groupby("session").size()) == [2, 2]


def test_reingest_adds_nothing(raw, tmp_path):
    ingest([raw], tmp_path / "ds", show_progress=False)
    before = Store(tmp_path / "ds").table()
    again = ingest([raw], tmp_path / "ds", show_progress=False)
    assert (again.images_added, again.files_read, again.files_known) == (0, 0, 8)
    after = Store(tmp_path / "ds").table()
    assert after.equals(before)


def test_interrupted_ingest_resumes_without_loss_or_duplicates(raw, tmp_path, monkeypatch):
    real_read, calls = io.read, []

    def dying_read(path):
        calls.append(path)
        if len(calls) == 6:
            raise KeyboardInterrupt  # the user pressed Ctrl-C, or the machine went down
        return real_read(path)

    monkeypatch.setattr(io, "read", dying_read)
    stopped = ingest([raw], tmp_path / "ds", batch_size=2, show_progress=False)
    assert stopped.interrupted and stopped.images_added == 5
    partial = Store(tmp_path / "ds").table()
    assert len(partial) == 5  # every file read before the stop was kept
    monkeypatch.setattr(io, "read", real_read)
    report = ingest([raw], tmp_path / "ds", batch_size=2, show_progress=False)
    assert report.files_known == 5 and report.images_added == 3 and not report.interrupted
    table = Store(tmp_path / "ds").table()
    assert len(table) == 8 and table["image_id"].is_unique and table["source"].is_unique


def test_changed_file_is_read_again(raw, tmp_path):
    ingest([raw], tmp_path / "ds", show_progress=False)
    target = tmp_path / "copy.hspy"
    simulated.write(target, simulate(9, 0, size=48), "s9-a", {"seed": 9, "index": 0})
    assert ingest([target], tmp_path / "ds", show_progress=False).images_added == 1
    simulated.write(target, simulate(9, 1, size=48), "s9-b", {"seed": 9, "index": 1})
    assert ingest([target], tmp_path / "ds", show_progress=False).images_added == 1
    assert len(Store(tmp_path / "ds").table()) == 10


def test_bad_files_are_skipped_with_reasons_and_the_rest_ingested(raw, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.hspy").write_bytes(b"")
    (bad / "noise.hspy").write_bytes(np.random.default_rng(0).bytes(5000))
    (bad / "notes.txt").write_text("sample: SrTiO3")
    report = ingest([raw, bad], tmp_path / "ds", show_progress=False)
    assert report.images_added == 8
    reasons = dict(report.skipped)
    assert set(reasons) == {str(bad / n) for n in ("empty.hspy", "noise.hspy", "notes.txt")}
    assert "not a readable HyperSpy file" in reasons[str(bad / "noise.hspy")]
    assert "no reader for .txt" in reasons[str(bad / "notes.txt")]
    log = (tmp_path / "ds" / "skipped.csv").read_text().splitlines()
    assert log[0] == "path,reason" and len(log) == 4


def test_same_image_in_two_files_is_stored_once(raw, tmp_path):
    copy = tmp_path / "copies"
    copy.mkdir()
    source = raw / "sim-s3-000000.hspy"
    (copy / "a.hspy").write_bytes(source.read_bytes())
    report = ingest([raw, copy], tmp_path / "ds", show_progress=False)
    assert report.images_added == 8 and report.duplicates == 0 and report.files_known == 1
    assert len(Store(tmp_path / "ds").table()) == 8


def test_splits_are_by_session_deterministic_and_near_their_fractions():
    splits = {"train": 0.8, "val": 0.1, "test": 0.1}
    names = [split_of(f"session-{i}", splits) for i in range(20000)]
    assert names == [split_of(f"session-{i}", splits) for i in range(20000)]
    shares = {k: names.count(k) / len(names) for k in splits}
    assert shares == pytest.approx(splits, abs=0.01)


def test_store_refuses_foreign_folders_missing_datasets_and_changed_splits(tmp_path):
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("...")
    with pytest.raises(CimpError, match="not a cimp dataset"):
        Store(tmp_path / "thesis", create=True)
    with pytest.raises(CimpError, match="make one with `cimp ingest`"):
        Store(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()  # reading never creates a folder
    Store(tmp_path / "ds", create=True)
    with pytest.raises(CimpError, match="created with splits"):
        Store(tmp_path / "ds", {"train": 0.5, "val": 0.25, "test": 0.25})


def test_parallel_reading_gives_the_same_dataset(raw, tmp_path):
    ingest([raw], tmp_path / "serial", show_progress=False)
    report = ingest([raw], tmp_path / "parallel", workers=2, show_progress=False)
    assert report.images_added == 8
    serial, parallel = (Store(tmp_path / n).table() for n in ("serial", "parallel"))
    columns = ["image_id", "source", "session", "split", "dwell_time", "pixel_size"]
    assert serial[columns].equals(parallel[columns])


def test_ctrl_c_in_a_parallel_ingest_keeps_what_was_stored_and_the_command_resumes(
    raw, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from cimp import ingest as ingesting
    from cimp.cli import app

    real_take, taken = ingesting._Writer.take, []

    def take_then_ctrl_c(self, *args, **kwargs):
        if len(taken) == 5:
            raise KeyboardInterrupt  # Ctrl-C while two workers are reading
        taken.append(args[0])
        return real_take(self, *args, **kwargs)

    monkeypatch.setattr(ingesting._Writer, "take", take_then_ctrl_c)
    command = ["ingest", str(raw), "--out", str(tmp_path / "ds"), "--workers", "2"]
    stopped = CliRunner().invoke(app, command, env={"COLUMNS": "200"})
    assert stopped.exit_code == 130, stopped.output
    assert "interrupted: kept 5 images from 5 files" in stopped.output
    assert sorted(Store(tmp_path / "ds").table()["source"]) == sorted(map(str, taken))

    monkeypatch.setattr(ingesting._Writer, "take", real_take)
    resumed = CliRunner().invoke(app, command, env={"COLUMNS": "200"})
    assert resumed.exit_code == 0, resumed.output
    assert "added 3 images from 3 files; 5 files were already in the dataset" in resumed.output
    assert len(Store(tmp_path / "ds").table()) == 8


# The child reads the first 100 files; the others wait, so the Ctrl-C always comes mid-run.
GATED_CIMP = """
import sys, time
from cimp import io
read = io.read
io.read = lambda path, part=0: (path.name >= "f0100" and time.sleep(600)) or read(path, part)
from cimp.cli import app
app(prog_name="cimp")
"""


@pytest.mark.slow
def test_a_real_ctrl_c_stops_ingest_within_a_second_and_the_command_resumes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import tifffile

    raw, ds, files = tmp_path / "raw", tmp_path / "ds", 200
    raw.mkdir()
    rng = np.random.default_rng(0)
    for i in range(files):
        tifffile.imwrite(raw / f"f{i:04d}.tif", rng.integers(0, 60000, (64, 64), np.uint16))
    args = ["ingest", str(raw), "--out", str(ds), "--workers", "2"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "stdout.txt"
    with open(log, "w") as out:
        proc = subprocess.Popen(  # Ctrl-C heard even where this runs as a background job
            [sys.executable, "-c", GATED_CIMP, *args],  # (which starts with SIGINT ignored)
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline = time.monotonic() + 120
        while not list((ds / "records").glob("part-*.parquet")):  # the first 32 are in
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no part stored in 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        proc.wait(timeout=30)
        stopped_in = time.monotonic() - start
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, log.read_text()
    assert stopped_in < 1.0, f"stopped {stopped_in:.2f} s after Ctrl-C"
    assert "interrupted: kept" in " ".join(log.read_text().split())
    assert 32 <= len(Store(ds).table()) <= 100  # the first part at least, no waiting file
    cimp = [sys.executable, "-m", "cimp.cli", *args]
    done = subprocess.run(cimp, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(Store(ds).table()) == files


def test_a_write_that_fails_leaves_the_old_file_and_no_partial(tmp_path):
    from cimp.atomic import atomic_write

    target = tmp_path / "table.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.json"]
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_every_file_is_read_skipped_or_known_and_copies_of_a_bad_file_are_all_skipped(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("a.tif", "copy-of-a.tif"):
        (raw / name).write_bytes(b"not a tiff at all")
    simulated.write_run(raw / "good", 2, size=48, seed=3, show_progress=False)
    shutil.copy(raw / "good" / "sim-s3-000000.hspy", raw / "good-copy.hspy")
    report = ingest([raw], tmp_path / "ds", show_progress=False)
    assert sorted(Path(p).name for p, _ in report.skipped) == ["a.tif", "copy-of-a.tif"]
    assert (report.files_read, report.files_known, report.images_added) == (2, 1, 2)
