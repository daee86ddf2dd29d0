"""Fetch real instrument files for the tests: the `hyperspy==1.7.6` sdist's tests/io folder.

Those files were written by real microscopes (Velox EMD from a Talos and Titans, TIA from a
Tecnai and a Talos, DigiScan DM3/DM4, JEOL Analysis Station, Zeiss TIFF) and by no one here.
pip downloads the sdist (hash checked); its `hyperspy/tests/io/` files and the zips inside
are extracted into the cache, once: later runs find the folder complete and do nothing.

    python tests/fetch_real_files.py          # prints the folder
    CIMP_TEST_DATA=/some/where python ...     # another cache
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

VERSION = "1.7.6"
SHA256 = "6910897f055aa31f5c29f045d879c4310b783ab0377e3cd3fa2f6ebb93a0ed87"
INSIDE = f"hyperspy-{VERSION}/hyperspy/tests/io/"
DONE = ".complete"


def cache_dir() -> Path:
    """Where the files are (or will be): $CIMP_TEST_DATA, else ~/.cache/cimp/test-data."""
    root = os.environ.get("CIMP_TEST_DATA") or Path.home() / ".cache" / "cimp" / "test-data"
    return Path(root) / f"hyperspy-{VERSION}-io"


def fetch(target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", "hyperspy", f"hyperspy=={VERSION}", "--dest", tmp],
            check=True,
        )  # fmt: skip
        sdist = Path(tmp) / f"hyperspy-{VERSION}.tar.gz"
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SHA256:
            raise SystemExit(f"{sdist.name}: sha256 {digest}, expected {SHA256}")
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.startswith(INSIDE):
                    if member.name.endswith(".py"):
                        continue
                    out = staging / member.name[len(INSIDE) :]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst)
    for archive in sorted(staging.rglob("*.zip")):
        with zipfile.ZipFile(archive) as z:
            z.extractall(archive.parent)
    (staging / DONE).write_text(f"hyperspy=={VERSION} sdist, sha256 {SHA256}\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def main() -> None:
    target = cache_dir()
    if not (target / DONE).exists():
        print(f"fetching real instrument files (hyperspy=={VERSION} sdist) into {target}")
        fetch(target)
    print(target)


if __name__ == "__main__":
    main()
