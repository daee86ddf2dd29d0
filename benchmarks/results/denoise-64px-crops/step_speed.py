"""Training-step time of the recipe's U-Net (four inputs, concatenated skips, float32) at
each training crop side and batch, in one process, alternating, median of 5 rounds of 3
steps after 2 warm-up steps; and the pixels a second against 96 px crops of 16.

    python step_speed.py
"""

import time

import torch

from cimp.denoise.loss import transfer_loss
from cimp.denoise.render import Noise
from cimp.denoise.unet import FiLMUNet, UNetConfig

COND = 260  # the physics run's conditioning width
VARIANTS = {  # name: (crop side, crops a step)
    "96 px, 16": (96, 16),
    "64 px, 16": (64, 16),
    "64 px, 32": (64, 32),
    "48 px, 16": (48, 16),
}


def batch(crop: int, size: int) -> tuple:
    """`transfer_loss`'s arguments for a random batch of `size` crops."""
    e = (torch.rand(size, 4, crop, crop) * 50).contiguous(memory_format=torch.channels_last)
    noise = Noise(torch.ones(size), torch.full((size,), 0.5), *2 * [torch.ones(size, 3)])
    target, cond = torch.rand(size, 1, crop, crop) * 50, torch.randn(size, COND)
    return e, target, cond, torch.full((size,), 10.0), noise, torch.full((size,), 1e4)


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    net = FiLMUNet(UNetConfig(cond_dim=COND, widths=[32, 64, 128, 128], inputs=4))
    net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-5)
    batches = {name: batch(*v) for name, v in VARIANTS.items()}

    def step(args) -> None:
        loss = transfer_loss(net, *args)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    times = {name: [] for name in VARIANTS}
    for rounds in range(6):
        for name, args in batches.items():
            for _ in range(2 if rounds == 0 else 0):
                step(args)
            started = time.perf_counter()
            for _ in range(3):
                step(args)
            times[name].append((time.perf_counter() - started) / 3)
    base = sorted(times["96 px, 16"][1:])[2]
    for name, each in times.items():
        median, (crop, size) = sorted(each[1:])[2], VARIANTS[name]
        pixels = base / median * size * crop**2 / (16 * 96**2)
        speed = f"{base / median:.2f}x the steps, {pixels:.2f}x the pixels"
        print(f"{name:10s} {median:.3f} s a step, {speed}")


if __name__ == "__main__":
    main()
