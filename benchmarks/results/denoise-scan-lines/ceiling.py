"""What the scan's line displacements cost on the archive benchmark's scenes at 500 e/px, and
what undoing them gives, knowing them: per scene, the local Wiener guide alone (the peer
`local_wiener` at its tuned 0.002 noise-only frequencies a window) and the whole-image one
(cimp's own, 0.05 an image), read on the image as scanned and on the image put straight
with the simulator's own displacements (`cimp.simulate.render.scan_grid`), and with those
`scanlines.read` finds (none: the image as scanned).

    python ceiling.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from denoise import scores, to_target, unbiased_counts

from cimp.denoise import scanlines, twin
from cimp.denoise.electrons import calibrate
from cimp.denoise.wiener import guide, local_guide
from cimp.instrument.profile import default
from cimp.simulate.render import scan_grid

DOSE = 500.0


def true_lines(index: int) -> scanlines.Lines:
    """The simulator's own displacements of case `index` (px; as `twin.twin_case` draws it)."""
    rng = np.random.default_rng([777, index, 7])
    s, scene = twin._source(777, index, 128, "archive", default(), rng)
    s = twin._at_dose(s, DOSE, rng)
    grid = scan_grid(s, scene, np.random.default_rng(scene.seed))
    dy = grid.Y / s.pixel_size - (np.arange(s.size) - s.size / 2)
    return scanlines.Lines(grid.ox / s.pixel_size, dy)


def main() -> None:
    cases = twin.twin_cases(777, 16, 128, "archive", dose=DOSE, ratio=4.0, field="beam_current")
    print(
        "scene | rms move (px) | local guide: as scanned, straight (truth's), straight (read)"
        " | whole-image guide: the same"
    )
    for i, c in enumerate(cases):
        cal = calibrate(c.source)
        e = cal.electrons(c.image.astype(np.float64))
        true, read = true_lines(i), scanlines.read(e, cal)
        row = []
        for estimate, args in ((local_guide, {"spurious": 0.002}), (guide, {})):
            for lines in (None, true, read):
                if lines is None:
                    z = estimate(e, cal, **args)
                else:
                    straight = estimate(lines.straight(e), cal, **args)
                    z = lines.scanned(straight.astype(np.float64))
                out = to_target(unbiased_counts(np.asarray(z, np.float32), cal), c, 4.0)
                row.append(scores(out, c, 4.0)[0])
        move = np.hypot(true.dx - true.dx.mean(), true.dy - true.dy.mean())
        print(
            f"{i:2d} | {np.sqrt(np.mean(move**2)):.2f} | {row[0]:.2f} {row[1]:.2f} "
            f"{row[2]:.2f}{'' if read else ' (none read)'} | {row[3]:.2f} {row[4]:.2f} {row[5]:.2f}"
        )


if __name__ == "__main__":
    main()
