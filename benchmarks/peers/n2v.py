"""Noise2Void (careamics) as a peer: run inside its own virtual environment, see denoise.py.

    python n2v.py IN.npz OUT.npz --epochs 30

IN holds one stack of noisy images per key; N2V is trained on each stack (self-supervised,
as it is meant to be used) and denoises it. OUT holds the denoised stacks and, per key,
the seconds spent training and predicting.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from careamics import CAREamist
from careamics.config import create_n2v_config


def denoise_stack(stack: np.ndarray, epochs: int, work_dir: str) -> tuple[np.ndarray, float, float]:
    config = create_n2v_config(
        experiment_name="cimp-bench",
        data_type="array",
        axes="SYX",
        patch_size=[64, 64],
        batch_size=16,
        num_epochs=epochs,
    )
    model = CAREamist(config, work_dir=work_dir, enable_progress_bar=False)
    start = time.perf_counter()
    model.train(train_data=stack)
    trained = time.perf_counter()
    prediction, _ = model.predict(pred_data=stack, axes="SYX")
    predicted = time.perf_counter()
    out = np.concatenate([np.asarray(p).reshape(-1, *stack.shape[1:]) for p in prediction])
    return out.astype(np.float32), trained - start, predicted - trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("inputs")
    parser.add_argument("outputs")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    found = np.load(args.inputs)
    results = {}
    for key in found.files:
        with tempfile.TemporaryDirectory() as work_dir:
            out, train_s, predict_s = denoise_stack(
                found[key].astype(np.float32), args.epochs, work_dir
            )
        results[key] = out
        results[f"{key}_train_s"] = np.float64(train_s)
        results[f"{key}_predict_s"] = np.float64(predict_s)
        print(f"{key}: trained {train_s:.0f} s, predicted {predict_s:.1f} s", flush=True)
    np.savez(args.outputs, **results)


if __name__ == "__main__":
    main()
