#!/bin/sh
# The cimp of a commit as a package of its own, `cimp_old`, so that one process can time and
# score it beside the working tree (the ratios here are measured that way: the machine's
# speed drifts by 10-30 % between processes).
#     sh old_package.sh a5d7daa /tmp/cimp-old   then   PYTHONPATH=/tmp/cimp-old python ab_speed.py DRUN
set -e
rev=$1
out=$2
rm -rf "$out/cimp_old"
mkdir -p "$out"
git archive "$rev" src/cimp | tar -x -C "$out"
mv "$out/src/cimp" "$out/cimp_old"
rm -rf "$out/src"
find "$out/cimp_old" -name '*.py' -exec sed -i -E \
    's/\bfrom cimp\./from cimp_old./g; s/\bimport cimp\./import cimp_old./g; s/\bfrom cimp import/from cimp_old import/g; s/^import cimp$/import cimp_old/' {} +
