#!/usr/bin/env bash
# bench/prune-bench.sh REPO GROVE: prune copies of REPO with ostree and grove, same flags;
# prints wall time and peak RSS (/usr/bin/time -v) and checks both left the same objects.
set -euo pipefail
src=$1 GROVE=$2 work=$(dirname "$src")/runs
cases=("" "--refs-only --depth=10" "--refs-only --keep-younger-than=@1609000000" "--no-prune --refs-only --depth=0")
for c in "${cases[@]}"; do
  for tool in ostree grove; do
    bin=$([ $tool = grove ] && echo "$GROVE" || echo ostree)
    rm -rf "$work/$tool"; mkdir -p "$work"; cp -a "$src" "$work/$tool"; sync
    /usr/bin/time -v $bin --repo="$work/$tool" prune $c > "$work/$tool.out" 2> "$work/$tool.time"
    t=$(grep 'Elapsed (wall' "$work/$tool.time" | awk '{print $NF}')
    rss=$(grep 'Maximum resident' "$work/$tool.time" | awk '{print $NF}')
    printf '%-48s %-6s %8s s %7d KiB   %s\n' "prune ${c:-(no flags)}" $tool "$t" "$rss" "$(tr '\n' ' ' < "$work/$tool.out")"
  done
  diff <(cd "$work/ostree" && find objects deltas -type f 2>/dev/null | sort) <(cd "$work/grove" && find objects deltas -type f 2>/dev/null | sort) >/dev/null && echo "  same objects left" || echo "  OBJECTS DIFFER"
done
