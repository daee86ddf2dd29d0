"""Training-step time of the recipe's U-Net (64 px crops, 16 a step, four inputs, float32)
without and with the spectral gate (`unet.Spectral`), in one process, alternating, median
of 5 rounds of 3 steps after 2 warm-up steps.

    python step_speed.py
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "denoise-64px-crops"))
from step_speed import COND, batch

from cimp.denoise.loss import transfer_loss
from cimp.denoise.unet import FiLMUNet, UNetConfig


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    args = batch(64, 16)
    steps = {}
    for spectral in (False, True):
        config = UNetConfig(cond_dim=COND, widths=[32, 64, 128, 128], inputs=4, spectral=spectral)
        net = FiLMUNet(config).to(memory_format=torch.channels_last)
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-5)

        def step(net=net, optimizer=optimizer) -> None:
            loss = transfer_loss(net, *args)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        steps["spectral" if spectral else "plain"] = step
    times = {name: [] for name in steps}
    for rounds in range(6):
        for name, step in steps.items():
            for _ in range(2 if rounds == 0 else 0):
                step()
            started = time.perf_counter()
            for _ in range(3):
                step()
            times[name].append((time.perf_counter() - started) / 3)
    medians = {name: sorted(each[1:])[2] for name, each in times.items()}
    for name, median in medians.items():
        print(f"{name:9s} {median:.3f} s a step, {medians['plain'] / median:.2f}x the steps")


if __name__ == "__main__":
    main()
