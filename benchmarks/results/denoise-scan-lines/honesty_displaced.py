"""The dose benchmark's crystal honesty check (`denoise.honesty`: Au [001], 128 px, x4) on
the crystal with its scan's lines displaced (per-line jitter of 0.01 nm rms, 50 Hz mains of
0.02 nm: 0.5 and 1 px), the guides read as scanned and straightened: the crystal's
reflections in the output, those it invents (10x the noise-free image's power within a
bin), the strongest invented one against the output's strongest, and the lines' rms read.

    python honesty_displaced.py DRUN
"""

import sys
from dataclasses import replace

import numpy as np
import torch

from cimp.denoise.apply import Denoiser
from cimp.denoise.spectrum import invented_reflections, lattice_peaks
from cimp.simulate import Settings, acquire
from cimp.simulate.scene import quiet_scene
from cimp.simulate.settings import ELECTRONS_PER_PA_US


def main() -> None:
    torch.set_num_threads(2)
    den = Denoiser(sys.argv[1], "cpu")
    scene = replace(quiet_scene("Au [001]"), line_jitter_nm=0.01, mains_nm=0.02)
    for dose in (5.0, 20.0, 100.0, 500.0):
        s = Settings(0.02, dose / (5.0 * ELECTRONS_PER_PA_US), 25.0, 5.0, 40.0, 2.0, 70.0, 128)
        acq = acquire(scene, s, np.random.default_rng(int(dose)), expected=True)
        row = [
            f"{dose:g} e/px: input invents {len(invented_reflections(acq.image, acq.expected)[0])}"
        ]
        for straighten in (False, True):
            out = den.transfer(
                acq.image, s.metadata(), {"beam_current": "x4"}, straighten=straighten
            )
            invented, strength = invented_reflections(out.image / 4.0, acq.expected)
            strongest = f", strongest {strength.max():.1f} dB" if len(strength) else ""
            row.append(
                f"{'straightened' if straighten else 'as scanned'}: {len(lattice_peaks(out.image))}"
                f" reflections, {len(invented)} invented{strongest}, lines {out.lines:.2f} px"
            )
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
