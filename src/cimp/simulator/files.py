"""Writing simulated images as HyperSpy `.hspy` files (read back by `cimp.io.simulated`).

`write_run` simulates n images (or dose pairs) in parallel processes into a folder; image i
depends only on (seed, i), so any worker count gives the same files and a stopped run
completes when started again.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import cimp
from cimp.instrument.profile import Profile
from cimp.instrument.profile import default as default_profile
from cimp.io.simulated import ROOT
from cimp.io.write import hspy_signal, settings_tree, write_hspy
from cimp.simulator.crystals import library
from cimp.simulator.generate import archive_image, simulate, simulate_pair
from cimp.simulator.image import Acquisition
from cimp.workers import mapped


def write(path: str | Path, acq: Acquisition, scene_id: str, generator: dict) -> None:
    """Write one simulated acquisition as a .hspy file."""
    s = acq.settings
    scene = acq.scene
    branch = settings_tree(
        s.metadata(),
        scene={
            "id": scene_id,
            "kind": scene.kind,
            "matrix": library()[scene.matrix.crystal].label if scene.matrix else "none",
            "particles": len(scene.particles),
            "support_nm": scene.support_nm,
        },
        generator={"name": "cimp.simulate", "version": cimp.__version__, **generator},
    )
    signal = hspy_signal(
        acq.image,
        s.metadata() | {"beam_energy": s.beam_energy},
        ROOT,
        branch,
        title=f"simulated HAADF {scene_id}",
    )
    write_hspy(path, signal)


def file_names(seed: int, index: int, pairs: bool) -> list[str]:
    stem = f"sim-s{seed}-{index:06d}"
    return [f"{stem}-low.hspy", f"{stem}-high.hspy"] if pairs else [f"{stem}.hspy"]


def write_one(
    out: Path,
    seed: int,
    index: int,
    size: int,
    *,
    pairs: bool,
    sampling: str = "archive",
    profile: Profile | None = None,
) -> int:
    """Simulate and write image (or dose pair) `index`; files already there are kept.
    Archive images share their session's id (their split), and name any mistake."""
    names = file_names(seed, index, pairs)
    if all((out / name).exists() for name in names):
        return 0
    scene_id, about = f"s{seed}-{index:06d}", {"sampling": sampling}
    if pairs:
        acquisitions = simulate_pair(seed, index, size, expected=False)
        members = ("low", "high")
    elif sampling == "archive":
        acquisition, drawn = archive_image(seed, index, size, profile or default_profile())
        acquisitions = (acquisition,)
        members = ("single",)
        scene_id = f"s{seed}-session{drawn.session:06d}"
        about |= {"session": drawn.session, "mistake": drawn.mistake}
    else:
        acquisitions = (simulate(seed, index, size, sampling=sampling, profile=profile),)
        members = ("single",)
    for name, acq, member in zip(names, acquisitions, members, strict=True):
        generator = {"seed": seed, "index": index, "size": size, "member": member} | about
        write(out / name, acq, scene_id, generator)
    return len(names)


def write_run(
    out: str | Path,
    n: int,
    size: int = 256,
    seed: int = 0,
    *,
    workers: int | None = 1,
    show_progress: bool = True,
    sampling: str = "archive",
    profile: Profile | None = None,
) -> int:
    """Write n simulated images to `out` (`sampling` "pairs": n dose pairs, drawn as
    "uniform" draws them); returns files written.

    Image i depends only on (seed, i): any worker count gives the same files, and a run that
    was stopped completes when started again. `workers` None: one per core, each on one
    thread (`cimp.workers`).
    """
    pairs = sampling == "pairs"
    sampling = "uniform" if pairs else sampling
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    job = partial(write_one, out, seed, size=size, pairs=pairs, sampling=sampling, profile=profile)
    return sum(mapped(job, n, workers, "simulate", show_progress=show_progress))
