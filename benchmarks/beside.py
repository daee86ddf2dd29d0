"""Print an evaluation's per-field R2 and top-1 beside the committed benchmark's.

Run: `python benchmarks/beside.py RESULTS.json` (`make demo` runs it on the demo's model).
The benchmark is `results/contrastive/` (6,000 archive images, 1,500 steps) and the
ceiling estimator on that benchmark's own images (`results/ceiling/same-images.json`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
BENCHMARK = RESULTS / "contrastive" / "results.json"
CEILING = RESULTS / "ceiling" / "same-images.json"


def table(mine: dict, benchmark: dict, ceiling: dict) -> str:
    probe, theirs = mine["fields"]["probe"], benchmark["fields"]["probe"]
    lines = [
        f"| field | this run ({mine['test_images']} test images) | benchmark "
        f"({benchmark['test_images']}) | ceiling estimator, benchmark images |",
        "|---|---|---|---|",
    ]
    for name, entry in probe.items():
        other = theirs.get(name, {}).get("r2")
        bound = ceiling["r2"].get(name)
        cells = [f"{entry['r2']:.2f}", "-" if other is None else f"{other:.2f}",
                 "-" if bound is None else f"{bound:.2f}"]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    a = mine["retrieval"]
    curve = {int(k): v for k, v in benchmark["retrieval_by_gallery"].items()}
    size = min(curve, key=lambda g: abs(g - a["gallery"]))  # a larger gallery is harder
    lines += [
        "",
        f"top-1 image -> metadata: {100 * a['image_to_meta_top1']:.1f} % in a gallery of "
        f"{a['gallery']}; the benchmark's model {100 * curve[size]['image_to_meta_top1']:.1f} % "
        f"in galleries of {size}.",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__.splitlines()[2])
    mine = json.loads(Path(sys.argv[1]).read_text())
    benchmark, ceiling = (json.loads(p.read_text()) for p in (BENCHMARK, CEILING))
    print("Probe R2 of each field, beside the benchmark's and its ceiling:\n")
    print(table(mine, benchmark, ceiling))


if __name__ == "__main__":
    main()
