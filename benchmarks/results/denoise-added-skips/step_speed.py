"""Training-step time of the recipe's U-Net (four inputs, batch 16, 96 px crops, float32)
with the way down's features added on the way up against concatenated, and of other
widths, in one process, alternating, median of 5 rounds of 3 steps after 2 warm-up steps.

    python step_speed.py
"""

import time

import torch

from cimp.denoise.loss import transfer_loss
from cimp.denoise.render import Noise
from cimp.denoise.unet import FiLMUNet, UNetConfig

BATCH, CROP, COND = 16, 96, 260  # COND: the physics run's conditioning width
VARIANTS = {
    "cat 32,64,128,128": ("cat", [32, 64, 128, 128]),
    "add 32,64,128,128": ("add", [32, 64, 128, 128]),
    "cat 24,48,96,96": ("cat", [24, 48, 96, 96]),
    "add 40,80,160,160": ("add", [40, 80, 160, 160]),
}


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    e = (torch.rand(BATCH, 4, CROP, CROP) * 50).contiguous(memory_format=torch.channels_last)
    target = torch.rand(BATCH, 1, CROP, CROP) * 50
    cond = torch.randn(BATCH, COND)
    noise = Noise(torch.ones(BATCH), torch.full((BATCH,), 0.5), *2 * [torch.ones(BATCH, 3)])
    level, top = torch.full((BATCH,), 10.0), torch.full((BATCH,), 1e4)
    nets = {}
    for name, (skips, widths) in VARIANTS.items():
        config = UNetConfig(cond_dim=COND, widths=widths, inputs=4, skips=skips)
        net = FiLMUNet(config).to(memory_format=torch.channels_last)
        nets[name] = (net, torch.optim.AdamW(net.parameters(), lr=1e-4))

    def step(net, optimizer):
        loss = transfer_loss(net, e, target, cond, level, noise, top)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    times = {name: [] for name in nets}
    for rounds in range(6):
        for name, pair in nets.items():
            for _ in range(2 if rounds == 0 else 0):
                step(*pair)
            started = time.perf_counter()
            for _ in range(3):
                step(*pair)
            times[name].append((time.perf_counter() - started) / 3)
    base = sorted(times["cat 32,64,128,128"][1:])[2]
    for name, each in times.items():
        median = sorted(each[1:])[2]
        params = sum(p.numel() for p in nets[name][0].parameters()) / 1e6
        print(f"{name:20s} {median:.3f} s a step, {base / median:.2f}x, {params:.2f} M weights")


if __name__ == "__main__":
    main()
