"""Share of 4x4 blocks beyond 3 sigma between a real file and its `cimp denoise` output.

cimp denoise DRUN FILE --dwell-time x4 --out-dir OUT
python real_fixture.py FILE OUT/NAME-dose-x4.hspy 4
"""

import sys

from cimp.denoise.consistency import outside
from cimp.denoise.electrons import calibrate
from cimp.io import read


def main() -> None:
    source, output, ratio = sys.argv[1], sys.argv[2], float(sys.argv[3])
    before, after = read(source)[0], read(output)[0]
    cal = calibrate(before.metadata, before.image)
    share = outside(before.image, after.image, ratio, cal)
    print(f"{output}: {100 * share:.2f} % of 4x4 blocks beyond 3 sigma (noise alone 0.27 %)")


if __name__ == "__main__":
    main()
