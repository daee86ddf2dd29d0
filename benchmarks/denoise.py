"""Dose transfer against real peers on held-out simulated scenes, with a clean ground truth.

Run after training a denoiser (`make demo` trains one; the committed numbers come from the
command in results/denoise/results.json):

    .venv/bin/python benchmarks/denoise.py [DRUN] [--n 16] [--doses 5,20,100,500] [--tag NAME]

Held-out digital-twin cases (cimp.denoise.twin, seed 777, never in training) of both
samplings (the archive's sessions and menus; today's uniform draws) are imaged at each
input dose (electrons per pixel) with the operator's gain; the task is the image at
--ratio times that dose by beam current (dwell kept, so scan response and drift are
unchanged; the probe grows a little with the current). Ground truth: the noise-free
detector output of the same scene at the target settings.

Every method reads the same calibration: black level and counts per electron from the
instrument profile and the file's gain and offset. Peers denoise the input and their
result is taken to the target level: identity, Gaussian filter, non-local means
(scikit-image) and BM3D (bm3d), the last two in electrons through the generalised
Anscombe transform of the detector's noise, each with its parameter chosen per dose on
separate tuning scenes (seed 778); the two Fourier Wiener filters cimp's U-Net reads
beside the image, of the whole image and in windows of 32 px (their noise-only
frequencies tuned); and Noise2Void (careamics, trained
on each dose's own noisy images, as it is meant to be used) in its own virtual
environment, made on first use (careamics pins torch<2.14; --skip-n2v leaves it out).
Scores: PSNR and SSIM against the ground truth (data range of the truth), PSNR against the
source's clean image at the target level (noise removal alone), the share of 4x4 blocks
the output changed beyond 3 sigma of the input's noise, the cosine between the output's
CIMP image embedding and the target settings' metadata embedding, and megapixels per
second of inference here (cimp's: the median of 3 passes); and how far the U-Net looks
(`unet.reach`).
Writes results/denoise/{results.json,results.md,examples.png} (denoise-NAME with --tag).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from denoise_ceilings import CEILINGS

from cimp.denoise.wiener import guide, local_guide
from cimp.instrument.detector import UINT16_MAX
from cimp.schema import field

RESULTS = Path(__file__).parent / "results" / "denoise"
FLAT = "cimp's mean, flat"  # a reference row: cimp's output flattened to its own mean level
N2V_VENV = Path(__file__).parent / ".venv-careamics"
N2V_REQUIREMENT = "careamics==0.3.5"
CURRENT, DWELL = field("beam_current").typical, field("dwell_time").typical


def scenes(seed: int, n: int, dose: float, size: int, ratio: float, sampling: str):
    """n held-out twin cases at `dose` electrons per pixel, asked for `ratio` times the dose
    by beam current (dwell kept), with the noise-free truth at the target settings."""
    from cimp.denoise.twin import twin_cases

    return twin_cases(seed, n, size, sampling, dose=dose, ratio=ratio, field="beam_current")


def electrons(case) -> tuple[float, float]:
    """(black level, counts per electron) of a case: the calibration both cimp and the peers
    read from the instrument profile and the file's gain and offset."""
    from cimp.denoise.electrons import calibrate

    cal = calibrate(case.source)
    return cal.black, cal.gain


def in_electrons(method):
    """Run `method(stabilised image, param)` on the image in electrons under the generalised
    Anscombe transform of its noise (the detector's Poisson-Gaussian noise, as cimp reads
    it), back through the asymptotically unbiased inverse."""

    def run(case, param):
        import torch

        from cimp.denoise.electrons import calibrate, stabilise

        cal = calibrate(case.source)
        e = torch.from_numpy(cal.electrons(case.image.astype(np.float64)))
        return unbiased_counts(method(stabilise(e, cal.slope, cal.floor).numpy(), param), cal)

    return run


def unbiased_counts(z, cal) -> np.ndarray:
    """A stabilised estimate in counts, through the asymptotically unbiased inverse."""
    a, b = cal.slope, cal.floor
    return cal.counts(np.maximum(((a * z / 2) ** 2 - a * a / 8 - b) / a, 0.0))


def gaussian(case, sigma):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(case.image.astype(np.float64), sigma)


def nl_means(vst, h):
    from skimage.restoration import denoise_nl_means

    return denoise_nl_means(vst, h=h, sigma=1.0, fast_mode=True, patch_size=5, patch_distance=6)


def wiener_peer(estimate):
    """A peer that is one of cimp's Wiener guides alone (`cimp.denoise.wiener`): `estimate`
    (electrons, calibration, noise-only frequencies kept) of the case, back to counts."""

    def run(case, spurious):
        from cimp.denoise.electrons import calibrate

        cal = calibrate(case.source)
        e = cal.electrons(case.image.astype(np.float64))
        return unbiased_counts(estimate(e, cal, spurious=spurious), cal)

    return run


def bm3d_filter(vst, sigma):
    import bm3d

    return bm3d.bm3d(vst, sigma_psd=sigma)


PEERS = {  # name -> (function of (case, parameter), parameters tried)
    "identity": (lambda case, _: case.image.astype(np.float64), [None]),
    "gaussian": (gaussian, [0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0]),
    "nl_means": (in_electrons(nl_means), [0.6, 0.8, 1.0, 1.3, 1.8, 2.5, 3.5]),
    "bm3d": (in_electrons(bm3d_filter), [0.8, 1.0, 1.2, 1.5, 2.0, 3.0, 4.0]),
    # the whole image's spectrum against the detector's noise spectrum (noise-only
    # frequencies per image), and the same in windows of 32 px (per window)
    "fourier_wiener": (wiener_peer(guide), [0.05, 0.5, 5.0, 50.0]),
    "local_wiener": (wiener_peer(local_guide), [0.002, 0.01, 0.05, 0.5]),
}


def to_target(image, case, ratio):
    """A source-dose estimate taken to `ratio` times the dose, with the profile's black level."""
    black, _ = electrons(case)
    return black + ratio * (image - black)


def scores(estimate, case, ratio) -> tuple[float, float, float, float]:
    """PSNR and SSIM against the target's clean image (all clipped to the detector's range,
    as it would record them); PSNR against the source's clean image taken to the target
    level (denoising alone, the detail of the source kept); the
    share of 4x4 blocks that disagree with the input beyond 3 sigma of its noise."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from cimp.denoise.consistency import outside
    from cimp.denoise.electrons import calibrate

    truth = np.minimum(case.truth, UINT16_MAX)  # what the detector would record
    estimate = np.minimum(estimate, UINT16_MAX)
    span = float(truth.max() - truth.min())
    if span <= 0:  # saturated all over at the target: nothing to score
        return np.nan, np.nan, np.nan, np.nan
    psnr = peak_signal_noise_ratio(truth, estimate, data_range=span)
    ssim = structural_similarity(truth, estimate, data_range=span)
    clean = np.minimum(to_target(case.clean.astype(np.float64), case, ratio), UINT16_MAX)
    changed = outside(case.image, estimate, ratio, calibrate(case.source))
    return psnr, ssim, peak_signal_noise_ratio(clean, estimate, data_range=span), changed


def tune(name, tuning, ratio):
    """The parameter with the best mean PSNR on the tuning scenes."""
    method, params = PEERS[name]
    if len(params) == 1:
        return params[0]
    mean_psnr = [
        np.nanmean([scores(to_target(method(c, p), c, ratio), c, ratio)[0] for c in tuning])
        for p in params
    ]
    return params[int(np.argmax(mean_psnr))]


def cosine(denoiser, outputs, cases) -> float:
    """Mean cosine between each output's CIMP image embedding and the target's metadata one."""
    from cimp.embeddings import embed_image, embed_metadata

    images = [embed_image(denoiser.encoder, out.astype(np.float32)) for out in outputs]
    targets = pd.DataFrame([case.target for case in cases])
    meta = embed_metadata(denoiser.encoder, denoiser.normalizer, targets)
    return float(np.mean(np.sum(np.stack(images) * meta, axis=1)))


def run_cimp(denoiser, cases, passes: int = 1, **options):
    """cimp's outputs (`options`: of `Denoiser.transfer`), the median seconds of `passes`
    passes over the cases (one pass over 16 scenes of 128 px takes about a second, where a
    hiccup of the machine shows; a peer's pass takes 10-20 s and averages it out), and the
    local guide's mean share in the outputs (`cimp.denoise.sure`)."""
    seconds = []
    for _ in range(passes):
        start = time.perf_counter()
        outputs = [denoiser.transfer(c.image, c.source, c.changes, **options) for c in cases]
        seconds.append(time.perf_counter() - start)
    share = f"guide share {np.mean([o.guide for o in outputs]):.2f}"
    return [o.image.astype(np.float64) for o in outputs], float(np.median(seconds)), share


def run_peer(name, param, cases, ratio):
    method, _ = PEERS[name]
    start = time.perf_counter()
    outputs = [method(c, param) for c in cases]
    seconds = time.perf_counter() - start
    return [to_target(o, c, ratio) for o, c in zip(outputs, cases, strict=True)], seconds


def large_image_speed(denoiser, ratio: float, size: int = 512) -> dict:
    """Megapixels per second of cimp and BM3D on one archive scene of `size` px at 100 e/px,
    same process: a microscope's images are this size or larger, and there the U-Net's tile
    halo (48 px a side, 3x the work of a 128 px image) costs 1.4x."""
    case = scenes(779, 1, 100.0, size, ratio, "archive")[0]
    run_cimp(denoiser, [case])  # warm-up at this size
    cimp_s = run_cimp(denoiser, [case], passes=3)[1]
    bm3d_s = run_peer("bm3d", 1.0, [case], ratio)[1]
    megapixels = case.image.size / 1e6
    return {
        "size": size,
        "cimp_megapixels_per_s": round(megapixels / cimp_s, 3),
        "bm3d_megapixels_per_s": round(megapixels / bm3d_s, 4),
        "cimp_faster": round(bm3d_s / cimp_s, 1),
    }


def honesty(denoiser, doses, ratio, size: int) -> list[dict]:
    """Per dose: the largest lattice contrast of cimp's output on vacuum (noise only), and on
    a crystal the reflections of the input and of the output with 10x the power the
    noise-free image has there (`invented_reflections`), the output's strongest of them
    against its strongest reflection."""
    from cimp.denoise.spectrum import invented_reflections, lattice_contrast, lattice_peaks
    from cimp.simulator import Settings, acquire
    from cimp.simulator.scene import quiet_scene
    from cimp.simulator.settings import ELECTRONS_PER_PA_US

    rows = []
    for dose in doses:
        current = 5.0
        dwell = dose / (current * ELECTRONS_PER_PA_US)
        s = Settings(0.02, dwell, 25.0, current, 40.0, 2.0, 70.0, size)
        out = {"dose": dose}
        for crystal in (None, "Au [001]"):
            acq = acquire(quiet_scene(crystal), s, np.random.default_rng(int(dose)), expected=True)
            result = denoiser.transfer(acq.image, s.metadata(), {"beam_current": f"x{ratio}"})
            if crystal is None:
                out["vacuum_contrast_in"] = round(lattice_contrast(acq.image), 1)
                out["vacuum_contrast_out"] = round(lattice_contrast(result.image), 1)
                continue
            noisy = invented_reflections(acq.image, acq.expected)[0]
            invented, strength = invented_reflections(result.image / ratio, acq.expected)
            out["crystal_reflections_out"] = len(lattice_peaks(result.image))
            out["crystal_invented_in"] = len(noisy)
            out["crystal_invented_out"] = len(invented)
            out["crystal_invented_strongest_db"] = (
                round(float(strength.max()), 1) if len(strength) else None
            )
        rows.append(out)
    return rows


REAL_HAADF = ["emd_files/fei_emd_image.emd"]  # Talos HAADF of the test corpus (make test-data)


def real_files(denoiser, ratio: float, out: Path) -> list[dict]:
    """cimp on the real HAADF fixtures of the test corpus, if fetched: the share of 4x4
    blocks changed beyond 3 sigma, of pixels held to the input, the range of the output
    against the black level, the notes; a preview PNG of each in `out`."""
    from cimp.denoise.consistency import outside
    from cimp.denoise.files import domain_transfer, hold_limit
    from cimp.denoise.preview import write_preview
    from cimp.domain import for_run
    from cimp.io import read

    root = Path(os.environ.get("CIMP_TEST_DATA") or Path.home() / ".cache" / "cimp" / "test-data")
    domain = for_run(denoiser.drun / "cimp")
    rows = []
    for name in REAL_HAADF:
        path = next(root.glob(f"hyperspy-*-io/{name}"), None)
        if path is None:
            continue
        record = read(path)[0]
        asked = {"dwell_time": f"x{ratio:g}"}
        result, outside_domain = domain_transfer(denoiser, domain, record, asked)  # as cimp denoise
        cal = result.calibration
        write_preview(
            out / f"real-{path.stem}.preview.png", record.image, result.image, ratio, cal=cal
        )
        rows.append(
            {
                "file": name,
                "blocks_outside_3sigma": round(outside(record.image, result.image, ratio, cal), 5),
                "pixels_held": round(result.held, 4),
                "hold_limit": hold_limit(outside_domain),
                "black_level": round(cal.black, 1),
                "counts_per_electron": round(cal.gain, 3),
                "output_min_minus_black": round(float(result.image.min()) - cal.black, 1),
                "output_max": round(float(result.image.max()), 1),
                "notes": result.notes,
            }
        )
    return rows


def n2v_python() -> Path:
    """The careamics virtual environment's python, made on first use (about 5 GB)."""
    python = N2V_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {N2V_VENV} with {N2V_REQUIREMENT} (first run only) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(N2V_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", N2V_REQUIREMENT], check=True)
    return python


def run_n2v(stacks: dict[str, list], epochs: int, work: Path) -> dict:
    """N2V on every dose's stack in one subprocess: outputs and seconds per dose."""
    inputs, outputs = work / "n2v-in.npz", work / "n2v-out.npz"
    np.savez(
        inputs,
        **{k: np.stack([c.image for c in v]).astype(np.float32) for k, v in stacks.items()},
    )
    env = os.environ | {"PYTHONWARNINGS": "ignore"}
    script = Path(__file__).parent / "peers" / "n2v.py"
    subprocess.run(
        [str(n2v_python()), str(script), str(inputs), str(outputs), "--epochs", str(epochs)],
        check=True,
        env=env,
    )
    found = np.load(outputs)
    return {
        k: (
            found[k].astype(np.float64),
            float(found[f"{k}_train_s"]),
            float(found[f"{k}_predict_s"]),
        )
        for k in stacks
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drun", nargs="?", default="demo-output/denoiser")
    parser.add_argument("--n", type=int, default=16, help="test scenes per dose")
    parser.add_argument("--tune", type=int, default=4, help="tuning scenes per dose")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--doses", default="5,20,100,500")
    parser.add_argument("--ratio", type=float, default=4.0)
    parser.add_argument("--n2v-epochs", type=int, default=50)
    parser.add_argument("--samplings", default="archive,uniform", help="twin settings")
    parser.add_argument("--skip-n2v", action="store_true")
    parser.add_argument("--tag", default="", help="results folder suffix (an ablation)")
    args = parser.parse_args()
    out = RESULTS.with_name(f"{RESULTS.name}-{args.tag}") if args.tag else RESULTS

    import torch

    from cimp.denoise.apply import Denoiser

    torch.set_num_threads(os.cpu_count() or 1)
    denoiser = Denoiser(args.drun, "cpu")
    doses = [float(d) for d in args.doses.split(",")]
    rows, examples = [], {}
    for sampling in args.samplings.split(","):
        test = {d: scenes(777, args.n, d, args.size, args.ratio, sampling) for d in doses}
        tuning = {d: scenes(778, args.tune, d, args.size, args.ratio, sampling) for d in doses}
        run_cimp(denoiser, tuning[doses[0]][:2])  # warm-up: the first call builds the kernels
        n2v = (
            {}
            if args.skip_n2v
            else run_n2v({f"d{d:g}": v for d, v in test.items()}, args.n2v_epochs, Path("/tmp"))
        )
        for dose, cases in test.items():
            methods = compare(denoiser, cases, tuning[dose], args.ratio)
            if f"d{dose:g}" in n2v:
                stack, train_s, predict_s = n2v[f"d{dose:g}"]
                outs = [to_target(o, c, args.ratio) for o, c in zip(stack, cases, strict=True)]
                methods["noise2void"] = (outs, predict_s, f"trained {train_s:.0f} s")
            megapixels = sum(c.image.size for c in cases) / 1e6
            for name, (outs, secs, param) in methods.items():
                each = [scores(o, c, args.ratio) for o, c in zip(outs, cases, strict=True)]
                psnr, ssim, psnr_denoise, changed = np.nanmean(each, axis=0)
                if name == "cimp":  # the first of `compare`'s methods
                    cimp_psnr = np.asarray(each)[:, 0]
                rows.append(
                    {
                        "sampling": sampling,
                        "dose": dose,
                        "scored": int(np.isfinite(np.asarray(each)[:, 0]).sum()),
                        "method": name,
                        "psnr": round(float(psnr), 2),
                        "ssim": round(float(ssim), 4),
                        "psnr_denoise": round(float(psnr_denoise), 2),
                        "blocks_outside_3sigma": round(float(changed), 5),
                        "scenes_above_cimp": int(np.sum(np.asarray(each)[:, 0] > cimp_psnr)),
                        "cimp_cosine": round(cosine(denoiser, outs, cases), 4),
                        "megapixels_per_s": round(megapixels / secs, 3),
                        "parameter": param,
                    }
                )
                print(rows[-1], flush=True)
            examples[f"{sampling} {dose:g}"] = {
                "input": cases[0].image,
                "truth": cases[0].truth,
            } | {
                name: m[0][0]
                for name, m in methods.items()
                if not name.startswith("ceiling") and name != FLAT
            }
    results = {
        "command": " ".join(["python", *sys.argv]),
        "drun": args.drun,
        "denoiser": {
            k: json.loads((Path(args.drun) / "config.json").read_text())[k]
            for k in ("train", "examples", "seconds", "steps_done")
        },
        "scenes_per_dose": args.n,
        "size": args.size,
        "ratio": args.ratio,
        "unet_reach_px": unet_reach(denoiser),
        "rows": rows,
        "honesty": honesty(denoiser, doses, args.ratio, args.size),
        "large_image_speed": large_image_speed(denoiser, args.ratio),
    }
    out.mkdir(parents=True, exist_ok=True)
    results["real"] = real_files(denoiser, args.ratio, out)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out / "results.md").write_text(markdown(results))
    figure(examples, out / "examples.png")
    print(markdown(results))


def unet_reach(denoiser) -> int:
    """Radius (px) holding 99.9 % of an output pixel's sensitivity, at a 128 px scene's
    conditioning (archive, 100 e/px, x4 dose)."""
    from cimp.denoise.unet import reach

    case = scenes(777, 1, 100.0, 128, 4.0, "archive")[0]
    return reach(denoiser.unet, denoiser.conditioning(case.image, case.source, case.changes)[-1])


def compare(denoiser, cases, tuning, ratio) -> dict:
    """name -> (outputs at the target dose, seconds, parameter) for cimp and every peer."""
    methods = {"cimp": run_cimp(denoiser, cases, passes=3)}
    outputs, seconds, _ = methods["cimp"]
    methods[FLAT] = ([np.full_like(o, o.mean()) for o in outputs], seconds, "reference")
    methods["cimp, no guide"] = (*run_cimp(denoiser, cases, leave_out=("guided",))[:2], "ablation")
    methods["cimp, no hold"] = (*run_cimp(denoiser, cases, leave_out=("hold",))[:2], "ablation")
    methods["cimp, lines as scanned"] = (
        *run_cimp(denoiser, cases, leave_out=("straighten",))[:2],
        "ablation",
    )
    for name in PEERS:
        param = tune(name, tuning, ratio)
        methods[name] = (*run_peer(name, param, cases, ratio), param)
    for name, ceiling in CEILINGS.items():
        start = time.perf_counter()
        outs = [to_target(ceiling(c), c, ratio) for c in cases]
        methods[f"ceiling: {name}"] = (outs, time.perf_counter() - start, "reads the truth")
    return methods


def markdown(results: dict) -> str:
    table = pd.DataFrame(results["rows"])
    lines = [
        f"Dose transfer to x{results['ratio']:g} dose by beam current, "
        f"{results['scenes_per_dose']} held-out scenes of {results['size']} px per input dose "
        "and sampling (those saturated all over at the target dose are not scored).",
        "",
        "PSNR and SSIM against the clean image at the target settings; PSNR (denoise) against",
        "the source's clean image at the target level (noise removal alone); changed: share of",
        "4x4 blocks whose mean differs from the input's beyond 3 sigma of its noise (noise alone",
        "0.27 %); lead: PSNR over the best peer's; above cimp: the scenes where a row's PSNR",
        "is above cimp's. MP/s: inference on this machine.",
        "cimp blends in the local guide by the share SURE reads per image (`sure`; parameter:",
        "its mean); ablations: no guide, the U-Net's estimate held alone; no hold, neither;",
        "lines as scanned, the guides read without undoing the scan's line displacements",
        "(`scanlines`).",
        "Ceilings read the truth (`denoise_ceilings.py`): perfect, the source's clean image; the",
        "oracle Wiener filters, the best linear filter of their kind for each image (whole, and",
        "in the local guide's 32 px windows): not peers, and no lead is taken over them.",
        f"{FLAT}: cimp's output replaced by its own mean level, a reference; where it scores",
        "above cimp, what cimp draws beyond its level is worth less than nothing (at 5 e/px:",
        "clouds the specimen lacks; benchmarks/FINDINGS.md).",
        f"The U-Net's reach: {results['unet_reach_px']} px around a pixel hold 99.9 % of what "
        "its output reads of the image.",
        "Speed on one {size} px image (100 e/px): cimp {cimp_megapixels_per_s} MP/s, BM3D "
        "{bm3d_megapixels_per_s} MP/s: cimp {cimp_faster}x faster.".format(
            **results["large_image_speed"]
        ),
    ]
    for sampling, part in table.groupby("sampling", sort=False):
        lines += [
            "",
            f"### {sampling} sampling",
            "",
            "| dose (e/px) | method | PSNR (dB) | lead (dB) | above cimp | SSIM "
            "| PSNR denoise (dB) | changed | CIMP cosine | MP/s | parameter |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for dose, rows in part.groupby("dose", sort=False):
            peer = ~rows["method"].str.startswith(("cimp", "ceiling")) & (
                rows["method"] != "identity"
            )
            best = rows.loc[peer, "psnr"].max()
            for r in rows.itertuples():
                lead = f"{r.psnr - best:+.2f}" if r.method.startswith("cimp") else ""
                above = "" if r.method == "cimp" else f"{r.scenes_above_cimp} / {r.scored}"
                lines.append(
                    f"| {dose:g} | {r.method} | {r.psnr:.2f} | {lead} | {above} | {r.ssim:.3f} | "
                    f"{r.psnr_denoise:.2f} | {100 * r.blocks_outside_3sigma:.2f} % | "
                    f"{r.cimp_cosine:.3f} | {r.megapixels_per_s:.3g} | "
                    f"{'' if r.parameter is None else r.parameter} |"
                )
    lines += [
        "",
        "Honesty of cimp's output on quiet scenes (vacuum; Au [001]; invented: a",
        "reflection with 10x the power the noise-free image has within one bin):",
        "",
    ]
    lines += ["| dose | " + " | ".join(k for k in results["honesty"][0] if k != "dose") + " |"]
    lines += ["|---" * len(results["honesty"][0]) + "|"]
    for h in results["honesty"]:
        lines.append("| " + " | ".join("-" if v is None else str(v) for v in h.values()) + " |")
    lines += ["", "Real HAADF files of the test corpus (x4 dwell time):", ""]
    for r in results.get("real", []):
        lines.append(
            f"- {r['file']}: {100 * r['blocks_outside_3sigma']:.2f} % of 4x4 blocks beyond 3 "
            f"sigma, {100 * r['pixels_held']:.1f} % of pixels held to the input, output from "
            f"black {r['output_min_minus_black']:+.0f} counts to {r['output_max']:.0f}; "
            + "; ".join(r["notes"])
        )
    return "\n".join(lines) + "\n"


def figure(examples: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(next(iter(examples.values())))
    columns = ["input", *[c for c in columns if c not in ("input", "truth")], "truth"]
    fig, axes = plt.subplots(
        len(examples), len(columns), figsize=(2 * len(columns), 2 * len(examples))
    )
    for row, (key, images) in zip(np.atleast_2d(axes), examples.items(), strict=True):
        lo, hi = np.percentile(images["truth"], [0.5, 99.5])
        for ax, name in zip(row, columns, strict=True):
            image = images[name]
            if name == "input":
                ax.imshow(image, cmap="gray")
            else:
                ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if key == next(iter(examples)):
                ax.set_title(name, fontsize=9)
        row[0].set_ylabel(f"{key} e/px", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
