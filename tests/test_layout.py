"""Who imports whom: reading files and using a trained run need no simulator."""

import json
import subprocess
import sys


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_reading_files_imports_no_simulator():
    loaded = _loaded_after("import cimp.io")
    assert "ase" not in loaded
    assert not {m for m in loaded if m.startswith("cimp.simulator")}


def test_using_a_trained_run_imports_no_training_code_and_no_simulator():
    loaded = _loaded_after(
        "import cimp.recovery, cimp.embeddings, cimp.evaluate, cimp.report, cimp.search, "
        "cimp.audit, cimp.denoise.apply, cimp.denoise.files, cimp.run, cimp.serve.app, "
        "cimp.calibrate"
    )
    assert "cimp.train" not in loaded and "cimp.denoise.train" not in loaded
    assert "ase" not in loaded  # the detector and profiles come from cimp.instrument
    assert not {m for m in loaded if m.startswith("cimp.simulator")}
    assert "cimp.instrument.detector" in loaded
