"""Training runs, checkpoints, and resumes exactly."""

import itertools
import json
import subprocess
import sys

import pytest
import torch
from conftest import tiny_train_config
from safetensors.torch import load_file
from typer.testing import CliRunner

from cimp import device
from cimp.cli import app
from cimp.errors import CimpError
from cimp.model import CIMP, ModelConfig
from cimp.optim import TimeBudget, lr_factor
from cimp.train import train


def test_resume_after_a_kill_gives_the_uninterrupted_weights(tiny_dataset, tmp_path):
    whole = train(tiny_train_config(tiny_dataset, tmp_path / "whole"), show_progress=False)
    cut = tiny_train_config(tiny_dataset, tmp_path / "cut")
    train(cut, show_progress=False, stop_after=3)  # killed after the step-3 checkpoint
    train(cut, resume=True, show_progress=False)
    a, b = load_file(whole / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # and training did move the weights away from their initial values
    torch.manual_seed(5)
    config = json.loads((whole / "config.json").read_text())["model"]
    initial = CIMP(ModelConfig(**config)).state_dict()
    assert not torch.equal(a["image.head.weight"], initial["image.head.weight"])


def test_run_folder_holds_config_normaliser_and_validation_log(tiny_dataset, tmp_path):
    run = train(
        tiny_train_config(tiny_dataset, tmp_path / "run", loss="siglip"), show_progress=False
    )
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["fields"][0] == "pixel_size" and config["train"]["loss"] == "siglip"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [3, 6]
    assert 0 <= log[-1]["image_to_meta_top1"] <= 1 and log[-1]["gallery"] > 1
    assert log[-1]["images_per_s"] > 0 and log[-1]["model_images_per_s"] > 0
    with pytest.raises(CimpError, match="already holds a run"):
        train(tiny_train_config(tiny_dataset, run), show_progress=False)


def test_throughput_leaves_out_validation_and_the_model_alone_leaves_out_waiting():
    from cimp.train import _Clock

    now = [100.0]
    clock = _Clock(lambda: now[0])
    with clock.waiting():
        now[0] += 2.0  # the data loader
    now[0] += 5.0  # the model's steps
    with clock.paused():
        now[0] += 3.0  # validation and a checkpoint
    clock.seen = 140
    assert clock.rate() == pytest.approx(140 / 7.0)
    assert clock.rate(model_only=True) == pytest.approx(140 / 5.0)


def test_learning_rate_warms_up_then_decays_to_zero():
    factors = [lr_factor(s, 10, 110) for s in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[60] == pytest.approx(0.5, abs=0.02) and factors[-1] < 0.001
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))


def test_a_time_budget_plans_the_steps_that_fit_from_the_pace_so_far():
    now = [40.0]
    budget = TimeBudget(100.0, start=0.0, clock=lambda: now[0])
    # 100 steps in 30 s after 10 s of simulation: 0.3 s a step, 60 s left
    assert budget.total(100, loop_start=10.0) == 300
    assert budget.total(100, loop_start=10.0, reserve=6.0) == 280
    assert [budget.due(s, warmup=100) for s in (99, 100, 149, 150)] == [False, True, False, True]
    now[0] = 101.0  # spent: plan at once, and no step more
    assert budget.due(7, warmup=100) and budget.total(7, loop_start=10.0) == 7


def test_bf16_autocast_runs_in_bfloat16_only_where_the_device_has_it(monkeypatch):
    layer, x, cpu = torch.nn.Linear(4, 4), torch.randn(2, 4), torch.device("cpu")
    for native in (False, True):
        monkeypatch.setattr(device, "bf16_native", lambda _, native=native: native)
        with device.bf16_autocast(cpu):
            assert layer(x).dtype == (torch.bfloat16 if native else torch.float32)
        with device.bf16_autocast(cpu, wanted=False):
            assert layer(x).dtype == torch.float32


@pytest.mark.slow
def test_torchrun_with_two_cpu_processes_trains_one_model(tiny_dataset, tmp_path):
    """The DistributedDataParallel path, with gloo on the CPU."""
    run = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "-m",
        "cimp.cli",
        "train",
        str(tiny_dataset),
        "--out",
        str(run),
    ]
    command += "--steps 4 --batch-size 8 --crop 32 --widths 8,16 --val-every 2".split()
    done = subprocess.run(
        [*command, "--device", "cpu"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [2, 4]
    assert (run / "model.safetensors").exists()


def test_a_mistyped_setting_fails_before_a_run_folder_is_written(tiny_dataset, tmp_path):
    with pytest.raises(CimpError, match="loss 'infonse'"):
        tiny_train_config(tiny_dataset, tmp_path / "run", loss="infonse")
    with pytest.raises(CimpError, match="field_dropout"):
        tiny_train_config(tiny_dataset, tmp_path / "run", field_dropout=1.5)
    result = CliRunner().invoke(
        app, ["train", str(tiny_dataset), "--out", str(tmp_path / "cli"), "--loss", "infonse"]
    )
    assert result.exit_code == 2 and "infonse" in result.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "cli").exists()
