"""docs/formats.md is generated from the readers' mapping tables and kept up to date."""

import runpy
from pathlib import Path

DOCS = Path(__file__).parents[1] / "docs"


def test_format_table_matches_the_mapping_tables():
    script = runpy.run_path(str(DOCS / "make_format_table.py"))
    written = (DOCS / "formats.md").read_text()
    assert written == script["render"](), "run: python docs/make_format_table.py"
    assert "`Scan.DwellTime` (s)" in written and "`DigiScan.Sample Time` (us)" in written
