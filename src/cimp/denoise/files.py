"""`cimp denoise` on files: read each image, re-render it, write it beside its source.

The output keeps the input's format where cimp can write it (HyperSpy, TIFF), else it is a
`.hspy`; it carries the target settings (read back by cimp like any file), the source's
settings and where each came from, and a record of the transfer. A file that cannot be
read or an image that cannot be transferred is reported and the others go on.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import cimp
from cimp.denoise.apply import Denoiser, Transfer
from cimp.denoise.condition import check_changes
from cimp.denoise.consistency import LIMIT, OUT_OF_DOMAIN
from cimp.denoise.preview import write_preview
from cimp.domain import for_run, out_of_domain
from cimp.errors import CimpError
from cimp.io import UnreadableFile, read
from cimp.io.hspy import DERIVED_ROOT
from cimp.io.record import Record
from cimp.io.write import (
    HSPY_SUFFIXES,
    TIFF_SUFFIXES,
    hspy_signal,
    settings_tree,
    write_hspy,
    write_tiff,
)

FORMATS = ("auto", "hspy", "tiff")


def output_path(source: Path, ratio: float, frame: int, frames: int, *, fmt: str, out_dir) -> Path:
    """<stem>-dose-x<ratio>[-frame<n>].<hspy|tif>, beside the source unless out_dir."""
    if fmt not in FORMATS:
        raise CimpError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = "tiff" if source.suffix.lower() in TIFF_SUFFIXES else "hspy"
    suffix = ".tif" if fmt == "tiff" else HSPY_SUFFIXES[0]
    name = f"{source.stem}-dose-x{ratio:.3g}" + (f"-frame{frame}" if frames > 1 else "")
    return Path(out_dir or source.parent) / (name + suffix)


def write_transfer(path: Path, result: Transfer, record: Record, history: dict) -> None:
    """Write the re-rendered image with target settings, source settings and history."""
    branch = settings_tree(
        result.target,
        source=settings_tree(record.metadata, provenance=record.provenance, file=record.source),
        dose_transfer=history
        | {
            "dose_ratio": result.ratio,
            "black_level": result.black,
            "guide_share": result.guide,
            "structure_kept": result.kept,
            "scan_lines_rms_px": result.lines,
        },
    )
    if path.suffix in TIFF_SUFFIXES:
        write_tiff(path, result.image, DERIVED_ROOT, branch)
    else:
        title = f"{Path(record.source).name} at x{result.ratio:.3g} dose (cimp)"
        write_hspy(
            path, hspy_signal(result.image, result.target, DERIVED_ROOT, branch, title=title)
        )


def denoise_files(
    denoiser: Denoiser,
    paths,
    changes: dict[str, str],
    out_dir: Path | None = None,
    *,
    fmt: str = "auto",
    tile: int = 512,
    show_progress: bool = False,
    preview: bool = False,
) -> list[dict]:
    """Per image: source, frame, output path, dose ratio and notes (out of the domain the
    CIMP run was trained on, a ratio beyond those the denoiser learned), or the error that
    stopped it. Badly written changes stop everything before any file is read."""
    check_changes(changes)
    domain = for_run(denoiser.drun / "cimp")
    results = []
    for path in map(Path, paths):
        try:
            records = read(path)
        except (UnreadableFile, OSError) as err:
            results.append({"source": str(path), "frame": None, "error": str(err)})
            continue
        for record in records:
            entry = {"source": str(path), "frame": record.frame}
            try:
                result, notes = domain_transfer(
                    denoiser, domain, record, changes, tile=tile, show_progress=show_progress
                )
            except CimpError as err:
                results.append(entry | {"error": str(err)})
                continue
            out = output_path(
                path, result.ratio, record.frame, len(records), fmt=fmt, out_dir=out_dir
            )
            history = {
                "denoiser": str(denoiser.drun.resolve()),
                "denoiser_weights": denoiser.weights,
                "cimp_weights": denoiser.config["cimp"]["weights"],
                "frame": record.frame,
                "changes": changes,
                "cimp_version": cimp.__version__,
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            }
            write_transfer(out, result, record, history)
            if preview:
                shown = write_preview(
                    out.with_suffix(".preview.png"),
                    record.image,
                    result.image,
                    result.ratio,
                    cal=result.calibration,
                )
                entry["preview"] = str(shown)
            results.append(
                entry
                | {"output": str(out), "ratio": result.ratio, "error": None}
                | {"notes": notes + held_notes(notes) + result.notes}
            )
    return results


def domain_transfer(
    denoiser: Denoiser,
    domain,
    record: Record,
    changes: dict[str, str],
    *,
    tile: int = 512,
    show_progress: bool = False,
) -> tuple[Transfer, list[str]]:
    """`record`'s transfer, held as tightly as its place in the CIMP run's training `domain`
    (`domain.for_run`) asks (`hold_limit`), and the notes of where it lies outside it."""
    notes = out_of_domain(domain, record, denoiser.encoder.config.intensity_scale)
    result = denoiser.transfer(
        record.image,
        record.metadata,
        changes,
        tile=tile,
        show_progress=show_progress,
        limit=hold_limit(notes),
    )
    return result, notes


def hold_limit(domain_notes: list[str]) -> float:
    """The hold's limit (sigma) for an image with these notes of `domain.out_of_domain`:
    tighter outside the training domain, where the U-Net's output is trusted less."""
    return OUT_OF_DOMAIN if domain_notes else LIMIT


def held_notes(domain_notes: list[str]) -> list[str]:
    """What the tighter hold means, when an image lies outside the training domain (or its
    domain cannot be checked)."""
    if not domain_notes:
        return []
    return [
        f"outside the training domain (or where it cannot be checked) the output is held to "
        f"the input within {OUT_OF_DOMAIN} sigma of its noise, not {LIMIT}"
    ]
