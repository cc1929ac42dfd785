#!/usr/bin/env bash
# bench/prune-gen.sh DIR COMMITS FILES CHURN: an archive repo whose ref has COMMITS commits
# of a FILES-file tree (100 dirs), CHURN files rewritten per commit.
set -euo pipefail
dir=$1 n=${2:-200} files=${3:-10000} churn=${4:-50}
rm -rf "$dir"; mkdir -p "$dir/tree"
ostree --repo="$dir/repo" init --mode=archive
python3 - "$dir/tree" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "w") as f:
        f.write(("file %d v0\n" % i) * 20)
PY
for c in $(seq 1 "$n"); do
  python3 - "$dir/tree" "$files" "$churn" "$c" <<'PY'
import os, sys, random
root, n, churn, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = random.Random(c)
for i in r.sample(range(n), churn):
    with open(os.path.join(root, "d%02d" % (i % 100), "f%05d" % i), "w") as f:
        f.write(("file %d v%d\n" % (i, c)) * 20)
PY
  ostree --repo="$dir/repo" commit -b exampleos/x86_64/standard --timestamp="@$((1600000000 + c * 86400))" -s "c$c" --tree=dir="$dir/tree" >/dev/null
done
find "$dir/repo/objects" -type f | wc -l
