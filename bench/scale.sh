#!/usr/bin/env bash
# bench/scale.sh: a large generated repository, and ostree and grove timed side
# by side on it (issue 16: Fedora-scale repositories).
#
#   bench/scale.sh [WORKDIR]
#
# Parameters (environment), deterministic from SEED:
#   FILES=100000   files in the tree (in FILES/100 directories of 100 files)
#   COMMITS=30     commits on the main ref, each rewriting REWRITE of the files
#   REWRITE=0.02   fraction of files rewritten per commit
#   REFS=5000      extra refs, pointing round-robin at the commits
#   SEED=1         the random seed for paths rewritten and file sizes
#   RUNS=1         runs per step (the best wall time is kept)
#   GROVE=target/release/grove
#   STEPS=REGEX    run only the steps whose name matches (grep -E), e.g. STEPS=prune
#   FLOOR=         1: also run the file-system floor (bench/fsfloor.rs, built here
#                  with `cargo build --profile ci --bench fsfloor`) of the steps
#                  that have one; or the path of an fsfloor binary
#   FLOOR_THREADS=2  and FLOOR_ARGS= (e.g. --full, --no-hash, --meta) for it
#   DEFER=         seconds, e.g. DEFER=361: each run's output is moved aside,
#                  not deleted, and all are deleted at the end; before the
#                  first run, leftovers are deleted and the bench waits DEFER
#                  seconds. ext4 without a journal (this machine's) will not
#                  reuse an inode within 60 s of its deletion, 6 min while its
#                  inode table block is dirty, which it is once a new inode is
#                  made beside it: it looks up and passes over each such inode
#                  when allocating (`recently_deleted`, a third of the samples
#                  of a 100k pull-local into bare-user right after a delete).
#                  Without DEFER, each run deletes the last run's tree first,
#                  and a step that creates files is timed partly on that walk.
#                  Needs room for every run's output (about 25 GB at 1M).
#
# FILES=100000 gives about 164k objects; FILES=600000 about 1M.
# Every step runs each tool on its own copy of the same input (a hardlink
# copy: no step rewrites an object file in place). Prints a table of wall
# time, CPU (user+sys) and peak RSS per tool, and grove/ostree; then, for the
# prune steps, how long grove held the exclusive lock (`prune --json`'s
# lock_held_ms) against ostree, which holds it for its whole run.
# With FLOOR, the checkout, commit, pull-local and prune-everything steps also
# run the floor program on the same input, prepared the same way (fresh copy,
# `sync`, `/usr/bin/time`), and a last table compares it with both tools. The
# floor wall is the program's timed part (`wall=`): for checkout and pull-local
# its untimed plan (which objects, and for checkout a hardlink checkout made
# beforehand to pair files with objects) is left out, see bench/fsfloor.rs.
# The checkout and prune floors run with --meta: the stat and xattr read per
# object a bare-user checkout needs to tell a symlink from a file, and the
# stat per object a prune needs to report the bytes it freed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GROVE=${GROVE:-$here/target/release/grove}
FILES=${FILES:-100000} COMMITS=${COMMITS:-30} REWRITE=${REWRITE:-0.02} REFS=${REFS:-5000} SEED=${SEED:-1} RUNS=${RUNS:-1}
work=${1:-$here/bench-work/scale-$FILES}
REF=exampleos/x86_64/standard
[ -x "$GROVE" ] || (cd "$here" && cargo build --release)
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
FLOOR_BIN=""
if [ "${FLOOR:-}" = 1 ]; then
  FLOOR_BIN=$(cd "$here" && cargo build --profile ci --bench fsfloor --message-format=json |
    sed -n 's/.*"executable":"\([^"]*fsfloor[^"]*\)".*/\1/p' | tail -1)
  [ -x "$FLOOR_BIN" ] || { echo "fsfloor did not build" >&2; exit 1; }
elif [ -n "${FLOOR:-}" ]; then
  FLOOR_BIN=$(realpath "$FLOOR")
fi
FLOOR_THREADS=${FLOOR_THREADS:-2} FLOOR_ARGS=${FLOOR_ARGS:-}
mkdir -p "$work"
cd "$work"

# ---- generation: base tree, then each commit overlays only the rewritten files
gen() {
  rm -rf src tree overlay
  ostree --repo=src init --mode=archive
  python3 - tree "$FILES" "$SEED" <<'PY'
import os, sys, random
root, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
for i in range(n):
    d = os.path.join(root, "d%05d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    size = int(r.lognormvariate(7.5, 1.2)) % 262144
    with open(os.path.join(d, "f%07d" % i), "wb") as f:
        f.write(r.randbytes(size // 4) * 4)
PY
  ostree --repo=src commit -b $REF --timestamp=@1600000000 -s c1 --tree=dir=tree >/dev/null
  for c in $(seq 2 "$COMMITS"); do
    rm -rf overlay
    python3 - overlay "$FILES" "$REWRITE" "$SEED" "$c" <<'PY'
import os, sys, random
root, n, frac, seed, c = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r = random.Random(seed * 1000003 + c)
for i in r.sample(range(n), int(n * frac)):
    d = os.path.join(root, "d%05d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    size = int(r.lognormvariate(7.5, 1.2)) % 262144
    with open(os.path.join(d, "f%07d" % i), "wb") as f:
        f.write(r.randbytes(size // 4) * 4)
PY
    ostree --repo=src commit -b $REF --timestamp=@$((1600000000 + c * 86400)) -s "c$c" \
      --tree=ref=$REF --tree=dir=overlay >/dev/null
  done
  # Extra refs, written as ref files (what `ostree refs --create` writes).
  ostree --repo=src log $REF | awk '/^commit /{print $2}' > commits
  python3 - src/refs/heads "$REFS" commits <<'PY'
import os, sys
heads, n, commits = sys.argv[1], int(sys.argv[2]), open(sys.argv[3]).read().split()
for i in range(n):
    d = os.path.join(heads, "branch", "g%02d" % (i % 50))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "r%05d" % i), "w") as f:
        f.write(commits[i % len(commits)] + "\n")
PY
  # A bare-user copy of the tip, for checkout and the whole-tree commit.
  ostree --repo=bu init --mode=bare-user
  ostree --repo=bu pull-local src $REF >/dev/null
  rm -rf co; ostree --repo=bu checkout $REF co
  echo "$FILES $COMMITS $REWRITE $REFS $SEED" > params
}
want="$FILES $COMMITS $REWRITE $REFS $SEED"
if [ "$(cat params 2>/dev/null)" != "$want" ]; then
  echo "== generating ($want)" >&2
  t0=$(date +%s); gen; echo "   $(( $(date +%s) - t0 )) s" >&2
fi
objects=$(find src/objects -type f | wc -l)
echo "== $objects objects, $(du -sh src | cut -f1), $(find src/refs/heads -type f | wc -l) refs" >&2

T() { if [ "$1" = grove ]; then echo "$GROVE"; else echo ostree; fi; }
copy() { rm -rf "$2"; cp -al "$1" "$2"; }
# fresh DIR: an empty DIR; the old one deleted, or with DEFER moved to trash/.
fresh() {
  if [ -n "${DEFER:-}" ] && [ -e "$1" ]; then mv "$1" "$work/trash/$(date +%s%N)"; else rm -rf "$1"; fi
  mkdir -p "$1"
}
if [ -n "${DEFER:-}" ]; then
  rm -rf "$work/trash" "$work/run-ostree" "$work/run-grove" "$work/run-floor"
  mkdir -p "$work/trash"; sync
  echo "== waiting ${DEFER} s after deleting the last runs' trees" >&2
  sleep "$DEFER"
fi
rows=() locks=() splits=() floors=() failures=()
# step NAME SETUP RUN [FLOOR_RUN [FLOOR_SETUP]]: SETUP and RUN are shell
# snippets with $B (the tool), $W (its directory) and $J (--json for grove,
# empty for ostree); FLOOR_RUN runs the floor ($F) after SETUP and FLOOR_SETUP.
step() {
  local name=$1 setup=$2 run=$3 line="" ratio_t="" ratio_m=""
  echo "$name" | grep -Eq "${STEPS:-.}" || return 0
  declare -A wall cpu rss split
  for tool in ostree grove; do
    local best="" bcpu="" bsplit="" mrss=0
    for _ in $(seq "$RUNS"); do
      local W="$work/run-$tool" B J=""; B=$(T $tool); [ $tool = grove ] && J=--json
      fresh "$W"
      (cd "$W" && B=$B W=$W bash -c "$setup") >/dev/null 2>&1
      sync
      (cd "$W" && /usr/bin/time -o "$work/time" -f '%e %U %S %M' env B="$B" W="$W" J="$J" bash -c "$run") >"$work/out-$tool" 2>"$work/err" \
        || { echo "$name: $tool failed: $(tail -3 "$work/err")" >&2; failures+=("$name ($tool)"); }
      read -r e u s m < <(tail -1 "$work/time")
      if [ -z "$best" ] || [ "$(echo "$e < $best" | bc)" = 1 ]; then
        best=$e; bcpu=$(echo "$u + $s" | bc)
        # CPU per wall second: about 2 is both cores busy, under 1 is waiting (I/O, locks).
        bsplit="$u s | $s s | $(echo "scale=2; ($u + $s) / ($e + 0.005)" | bc)"
      fi
      [ "$m" -gt "$mrss" ] && mrss=$m
    done
    wall[$tool]=$best cpu[$tool]=$(printf "%.2f" "$bcpu") rss[$tool]=$mrss split[$tool]=$bsplit
  done
  ratio_t=$(echo "scale=2; ${wall[grove]} / ${wall[ostree]}" | bc 2>/dev/null || echo -)
  ratio_m=$(echo "scale=2; ${rss[grove]} / ${rss[ostree]}" | bc 2>/dev/null || echo -)
  line=$(printf '| %s | %s s | %s s | %s s | %s s | %d | %d | %s | %s |' "$name" \
    "${wall[ostree]}" "${wall[grove]}" "${cpu[ostree]}" "${cpu[grove]}" \
    $((rss[ostree] / 1024)) $((rss[grove] / 1024)) "$ratio_t" "$ratio_m")
  echo "$line"
  rows+=("$line")
  for tool in ostree grove; do splits+=("| $name | $tool | ${wall[$tool]} s | ${split[$tool]} |"); done
  local held; held=$(sed -n 's/.*"lock_held_ms": *\([0-9]*\).*/\1/p' "$work/out-grove")
  [ -n "$held" ] && locks+=("| $name | ${wall[ostree]} s | ${wall[grove]} s | $held ms |")
  [ -n "$FLOOR_BIN" ] && [ -n "${4:-}" ] && floor_step "$name" "$setup${5:+ && $5}" "$4" "${wall[grove]}" "${wall[ostree]}"
  return 0
}
# floor_step NAME SETUP RUN GROVE_WALL OSTREE_WALL: the floor, best of RUNS.
floor_step() {
  local name=$1 setup=$2 run=$3 best="" W="$work/run-floor"
  for _ in $(seq "$RUNS"); do
    fresh "$W"
    (cd "$W" && B=$GROVE W=$W bash -c "$setup") >/dev/null 2>&1
    sync
    (cd "$W" && /usr/bin/time -o "$work/time" -f '%e %U %S %M' env F="$FLOOR_BIN" W="$W" \
      bash -c "$run --threads $FLOOR_THREADS $FLOOR_ARGS") >"$work/out-floor" 2>"$work/err" \
      || { echo "$name: floor failed: $(tail -3 "$work/err")" >&2; failures+=("$name (floor)"); return 0; }
    echo "   $(cat "$work/out-floor") (process: $(tail -1 "$work/time"))" >&2
    local e; e=$(sed -n 's/.* wall=\([0-9.]*\) .*/\1/p' "$work/out-floor")
    if [ -z "$best" ] || [ "$(echo "$e < $best" | bc)" = 1 ]; then best=$e; fi
  done
  floors+=("$(printf '| %s | %s s | %s s | %s | %s s | %s |' "$name" "$best" "$4" \
    "$(echo "scale=2; $4 / $best" | bc 2>/dev/null || echo -)" "$5" \
    "$(echo "scale=2; $best / $5" | bc 2>/dev/null || echo -)")")
}
S=$work/src
export S REF
echo "| step | ostree wall | grove wall | ostree CPU | grove CPU | ostree MiB | grove MiB | time × | RSS × |"
echo "|---|---|---|---|---|---|---|---|---|"
step "summary -u" "cp -al $S repo" '$B --repo=repo summary -u'
step "fsck" "cp -al $S repo" '$B --repo=repo fsck'
step "log" "cp -al $S repo" '$B --repo=repo log $REF'
step "static-delta generate" "cp -al $S repo" '$B --repo=repo static-delta generate --from=$REF^ --to=$REF'
step "prune (nothing to prune)" "cp -al $S repo" '$B --repo=repo prune $J'
step "prune --refs-only --depth=5" "cp -al $S repo" '$B --repo=repo prune --refs-only --depth=5 $J'
step "prune, every ref deleted" "cp -al $S repo && rm -rf repo/refs/heads/*" '$B --repo=repo prune --refs-only $J' \
  '$F unlink repo --meta'
# The floor's pull-local moves exactly the objects of bu, the tip's bare-user repository.
step "pull-local archive→archive" "ostree --repo=dst init --mode=archive" '$B --repo=dst pull-local $S $REF' \
  '$F copy $S dst --only '"$work/bu"
step "pull-local archive→bare-user" "ostree --repo=dst init --mode=bare-user" '$B --repo=dst pull-local $S $REF' \
  '$F unpack $S dst --only '"$work/bu"
step "checkout (bare-user, hardlinks)" "cp -al $work/bu repo" '$B --repo=repo checkout -U $REF out' \
  '$F link repo plan out --meta' '$B --repo=repo checkout -U $REF plan'
step "commit of the whole tree" "ostree --repo=repo init --mode=bare-user" '$B --repo=repo commit -b x --timestamp=@1600000000 --tree=dir='"$work/co" \
  '$F commit '"$work/co"' repo'
step "status (ostree: refs + summary --view)" "cp -al $S repo && ostree --repo=repo summary -u" \
  'if [ "$(basename $B)" = ostree ]; then $B --repo=repo refs >/dev/null && $B --repo=repo summary --view >/dev/null; else $B --repo=repo status >/dev/null; fi'
if [ ${#splits[@]} -gt 0 ]; then
  echo
  echo "Where the time goes (the best run): user and system CPU, and CPU seconds per wall second"
  echo "(2 cores: about 2 is both busy, under 1 is waiting for I/O or a lock)."
  echo
  echo "| step | tool | wall | user | system | CPU/wall |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${splits[@]}"
fi
if [ ${#locks[@]} -gt 0 ]; then
  echo
  echo "| prune step | ostree wall = exclusive lock held | grove wall | grove exclusive lock held |"
  echo "|---|---|---|---|"
  printf '%s\n' "${locks[@]}"
fi
if [ ${#floors[@]} -gt 0 ]; then
  echo
  echo "| step | floor wall | grove wall | grove/floor | ostree wall | floor/ostree |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${floors[@]}"
fi
rm -rf "$work/run-ostree" "$work/run-grove" "$work/run-floor" "$work/trash"
# A step that failed makes the whole run fail (CI runs this at 100k).
if [ ${#failures[@]} -gt 0 ]; then
  echo "failed: ${failures[*]}" >&2
  exit 1
fi
