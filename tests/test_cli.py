"""The `cimp` command as a user meets it."""

import dataclasses
import re

import numpy as np
import pytest
from conftest import text_of
from typer.testing import CliRunner

from cimp import __version__
from cimp.cli import app
from cimp.cli.app import WORKFLOW

runner = CliRunner()
PATTERN = r"added (\d+) images from (\d+) files.* (\d+) files skipped"


def test_help_lists_every_command_and_explains_itself():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = ("simulate", "inspect", "ingest", "summary", "train", "evaluate", "embed",
                "search", "predict", "audit", "report")  # fmt: skip
    for command in commands:
        assert command in result.output
    phrases = [("simulate", "dose"), ("ingest", "skipped.csv"), ("summary", "range"),
               ("search", "--where"), ("predict", "interval"), ("audit", "90 %"),
               ("report", "HTML"), ("embed", "resumes")]  # fmt: skip
    for command, phrase in phrases:
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and phrase in " ".join(sub.output.split()), command


def test_simulate_ingest_summary_from_the_command_line(tmp_path):
    raw, ds = tmp_path / "raw", tmp_path / "ds"
    result = runner.invoke(app, ["simulate", str(raw), "--n", "5", "--size", "32", "--pairs"])
    assert result.exit_code == 0, result.output
    assert len(list(raw.glob("*.hspy"))) == 10
    result = runner.invoke(app, ["ingest", str(raw), "--out", str(ds)])
    assert result.exit_code == 0, result.output
    added, read, skipped = map(int, re.search(PATTERN, text_of(result)).groups())
    assert added == read and read + skipped == 10 and skipped <= 2  # blank frames are skipped
    result = runner.invoke(app, ["summary", str(ds)])
    assert result.exit_code == 0, result.output
    assert f"{added} images" in result.output and "dwell_time" in result.output


def test_an_interrupted_simulation_completes_when_started_again(tmp_path, monkeypatch):
    from cimp import io
    from cimp.simulator import files

    command = ["simulate", str(tmp_path / "cut"), "--n", "6", "--size", "32", "--workers", "1"]
    real_write, written = files.write, []

    def write_then_die(path, *args):
        if len(written) == 4:
            raise KeyboardInterrupt  # Ctrl-C, or the machine went down, after four files
        written.append(path.name)
        real_write(path, *args)

    monkeypatch.setattr(files, "write", write_then_die)
    assert runner.invoke(app, command).exit_code != 0
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == sorted(written)  # no partial
    monkeypatch.setattr(files, "write", real_write)
    resumed = runner.invoke(app, command)
    assert resumed.exit_code == 0 and "6 images" in resumed.output
    assert "(2 files written now)" in text_of(resumed)
    whole = runner.invoke(app, ["simulate", str(tmp_path / "whole"), *command[2:]])
    assert whole.exit_code == 0 and "(6 files written now)" in text_of(whole)
    names = sorted(p.name for p in (tmp_path / "whole").iterdir())
    assert sorted(p.name for p in (tmp_path / "cut").iterdir()) == names
    for name in names:  # the same images and settings as a run never stopped
        (a,), (b,) = io.read(tmp_path / "cut" / name), io.read(tmp_path / "whole" / name)
        np.testing.assert_array_equal(a.image, b.image)
        assert a.metadata == b.metadata


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "/no/such/folder", "--out", "{tmp}/ds"], "no such file or folder"),
        (["ingest", "{tmp}", "--out", "{tmp}/ds", "--val", "0.6", "--test", "0.5"], "fractions"),
        (["summary", "{tmp}"], "not a cimp dataset"),
        (["simulate", "{tmp}/x", "--n", "0"], "at least 1"),
    ],
)
def test_mistakes_get_a_clear_message_and_exit_code_2(tmp_path, args, message):
    result = runner.invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2
    assert message in text_of(result)


def test_train_then_evaluate_from_the_command_line(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    args = "--steps 2 --batch-size 8 --crop 32 --widths 8,16 --val-every 2".split()
    result = runner.invoke(app, ["train", str(tiny_dataset), "--out", str(run), *args])
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, ["train", str(tiny_dataset), "--out", str(run), *args])
    assert again.exit_code == 2 and "--resume" in text_of(again)
    result = runner.invoke(
        app, ["evaluate", str(run), str(tiny_dataset), "--supervised-steps", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "image -> metadata" in result.output and (run / "evaluation" / "results.md").exists()


@pytest.fixture
def terminal(monkeypatch):
    """The environment of a terminal `columns` wide. typer reads TERMINAL_WIDTH once, when
    it is first imported: the width is set on its module, so no earlier test decides it."""
    from typer import rich_utils

    def of_width(columns: int) -> dict:
        monkeypatch.setattr(rich_utils, "MAX_WIDTH", columns)
        return {"COLUMNS": str(columns)}

    return of_width


def test_version_short_help_and_workflow_order(terminal):
    assert runner.invoke(app, ["--version"]).output.strip() == f"cimp {__version__}"
    short = runner.invoke(app, ["-h"], env=terminal(160))
    assert short.exit_code == 0 and "Usage" in short.output
    listed = re.findall(r"│ ([a-z][a-z-]+) {2,}", short.output)
    assert listed == list(WORKFLOW)
    for line in short.output.splitlines():
        if re.match(r"│ [a-z][a-z-]+ {2,}\S", line):  # one line per command, ending a sentence
            assert line.rstrip(" │").endswith("."), line


@pytest.mark.parametrize("command", [[], ["denoise"], ["train-denoiser"], ["calibrate"]])
def test_help_paragraphs_wrap_at_the_terminal_not_at_the_docstring(command, terminal):
    result = runner.invoke(app, [*command, "--help"], env=terminal(1000))  # no longer paragraph
    assert result.exit_code == 0
    prose = [
        line.strip() for line in result.output.splitlines() if not line.startswith(("│", "╭", "╰"))
    ]
    paragraphs = [line for line in prose if line and not line.startswith("Usage")]
    assert len(paragraphs) >= 2 and all(line.endswith((".", ")")) for line in paragraphs), prose


def test_a_user_error_is_one_line_and_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    result = runner.invoke(app, ["summary", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("cimp.store.Store.table", broken)
    (tmp_path / "ds").mkdir()
    from cimp.store import Store

    Store(tmp_path / "ds", create=True)
    result = runner.invoke(app, ["summary", str(tmp_path / "ds")])
    assert isinstance(result.exception, ZeroDivisionError)


def test_ingest_onto_a_file_or_from_nowhere_is_one_line_and_makes_nothing(tmp_path):
    from cimp.errors import CimpError
    from cimp.ingest import ingest

    target = tmp_path / "notes.txt"
    target.write_text("not a dataset")
    result = runner.invoke(app, ["ingest", str(tmp_path), "--out", str(target)])
    assert result.exit_code == 2 and "is a file" in text_of(result)
    with pytest.raises(CimpError, match="no such file or folder"):
        ingest([tmp_path / "nowhere"], tmp_path / "ds", show_progress=False)
    assert not (tmp_path / "ds").exists()


def test_training_options_are_the_config_fields_with_their_defaults_and_help(tmp_path):
    import typer

    from cimp.config import DenoiserConfig, SearchConfig, TrainConfig, TransferConfig

    commands = typer.main.get_command(app).commands
    configs = [("train", TrainConfig), ("train-denoiser", DenoiserConfig)]
    for command, kind in [*configs, ("denoise", TransferConfig), ("search", SearchConfig)]:
        offered = {f.name: f for f in dataclasses.fields(kind) if "help" in f.metadata}
        params = {p.name: p for p in commands[command].params}
        assert len(offered) >= 7 and set(offered) <= set(params)
        for name, spec in offered.items():
            expected = (
                spec.default
                if spec.default_factory is dataclasses.MISSING
                else (",".join(map(str, spec.default_factory())))
            )
            if spec.metadata.get("repeat"):
                expected = None  # a repeated option: none given
            assert params[name].default == expected, (command, name)
            assert params[name].help == spec.metadata["help"], (command, name)
    bad = runner.invoke(
        app, ["train", str(tmp_path), "--out", str(tmp_path / "r"), "--widths", "8,x"]
    )
    assert bad.exit_code == 2 and "'8,x': ints, comma separated" in text_of(bad)
    assert not (tmp_path / "r").exists()
