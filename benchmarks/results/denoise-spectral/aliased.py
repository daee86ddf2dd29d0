"""Where a DRUN's invented reflections on the dose benchmark's Au [001] crystal (128 px,
x4, `denoise.honesty`) lie: each one's power in the input, in the output and in the
noise-free image at its bin, how far the nearest reflection of the crystal (the noise-free
image's, `lattice_peaks`) lies, and the crystal's strongest reflections.

    python aliased.py DRUN [DOSE]     (DOSE: 100 e/px by default)
"""

import sys

import numpy as np
import torch

from cimp.denoise.apply import Denoiser
from cimp.denoise.spectrum import invented_reflections, lattice_peaks, power_spectrum
from cimp.simulate import Settings, acquire
from cimp.simulate.scene import quiet_scene
from cimp.simulate.settings import ELECTRONS_PER_PA_US


def main() -> None:
    torch.set_num_threads(2)
    den = Denoiser(sys.argv[1], "cpu")
    dose = float(sys.argv[2]) if len(sys.argv) > 2 else 100.0
    s = Settings(0.02, dose / (5.0 * ELECTRONS_PER_PA_US), 25.0, 5.0, 40.0, 2.0, 70.0, 128)
    acq = acquire(quiet_scene("Au [001]"), s, np.random.default_rng(int(dose)), expected=True)
    out = den.transfer(acq.image, s.metadata(), {"beam_current": "x4"}).image / 4.0
    invented, strength = invented_reflections(out, acq.expected)
    crystal = lattice_peaks(acq.expected)
    print(f"the crystal's reflections: {len(crystal)}, strongest:", crystal[:12].tolist())
    power = [power_spectrum(x) for x in (acq.image, out, acq.expected)]
    for (row, col), db in zip(invented, strength, strict=True):
        p_in, p_out, p_truth = (p[row + 64, col + 64] for p in power)
        near = np.abs(crystal - [row, col]).max(axis=1).min()
        print(
            f"({row}, {col}) {db:.1f} dB: input / truth {p_in / p_truth:.1f}, output / truth "
            f"{p_out / p_truth:.1f}, output / input {p_out / p_in:.2f}; the crystal's nearest "
            f"reflection {near} bins away"
        )


if __name__ == "__main__":
    main()
