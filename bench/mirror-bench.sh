#!/usr/bin/env bash
# Benchmark (issue 14): mirrors that carry static deltas, and updates through them,
# on two real releases of Debian packages (bench/debs.sh), over loopback HTTP with
# every response logged (bench/delta-http.py).
#
#   bench/mirror-bench.sh [WORKDIR]      (default: bench-work/mirror; needs apt-get download)
#
# For each package set:
#  1. upstream: an archive repo with release 1 and a scratch delta to it, then
#     release 2 with a FROM->TO delta (made by DELTA_TOOL, default grove) and a
#     scratch delta to it; summary -u each time.
#  2. mirror sync: `ostree pull --mirror`, `grove pull --mirror --no-static-deltas`
#     and `grove pull --mirror` into an empty archive repo at release 1, then again
#     after release 2: wall time and bytes fetched.
#  3. a real ostree bare-user client holding release 1 updates to release 2 from the
#     upstream, from grove's mirror and from ostree's mirror: bytes and requests.
#  4. `grove pull` vs `ostree pull` of the same update into a bare-user and an
#     archive repo holding release 1, same upstream and delta: wall time and bytes.
# Writes its section of docs/performance.md (between the mirror-bench markers).
#
# Environment: SETS (default "libc6-systemd postgresql"), RUNS (timed runs, best
# kept; default 3), DELTA_TOOL (grove|ostree), GROVE (the grove binary).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GROVE=${GROVE:-$here/target/release/grove}
work=${1:-$here/bench-work/mirror}
SETS=${SETS:-"libc6-systemd postgresql"}
RUNS=${RUNS:-3}
DELTA_TOOL=${DELTA_TOOL:-grove}
mkdir -p "$work" && cd "$work"
[ -x "$GROVE" ] || (cd "$here" && cargo build --release)
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
. "$here/bench/debs.sh"
T() { case $1 in grove*) echo "$GROVE" ;; *) echo ostree ;; esac; }
dt=$(T "$DELTA_TOOL")

# stop_server: ends the server `serve` started.
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; }

# upstream SET N: up-SET at release N (1 or 2) with its deltas and summary.
upstream() {
  local set=$1 n=$2 up="up-$set"
  if [ "$n" = 1 ]; then
    rm -rf "$up" && cp -a "base-$set" "$up" && rm -rf "$up/deltas" "$up/done"
    ostree --repo="$up" reset "bench/$set" "$r1"
    "$dt" --repo="$up" static-delta generate --empty --to="$r1" >/dev/null
  else
    ostree --repo="$up" reset "bench/$set" "$r2"
    "$dt" --repo="$up" static-delta generate --from="$r1" --to="$r2" >/dev/null
    "$dt" --repo="$up" static-delta generate --empty --to="$r2" >/dev/null
  fi
  ostree --repo="$up" summary -u
  # python's server answers If-Modified-Since at one-second resolution: a client
  # that cached the previous summary must not take the new one for it.
  touch -d "@$(($(date +%s) + 10 * n))" "$up/summary"
}

# timed LOG CMD...: runs CMD with the server log emptied; prints "wall bytes requests".
timed() {
  local log=$1 t; shift
  : > "$log"
  /usr/bin/time -o time.out -f '%e' "$@" >/dev/null 2>cmd.err || { cat cmd.err >&2; return 1; }
  t=$(tail -1 time.out)
  echo "$t $(awk '$3 == 200 { b += $4 } END { printf "%d", b }' "$log") $(wc -l < "$log")"
}

# best LINES: the line with the smallest first field, of RUNS lines on stdin.
best() { sort -n -k1,1 | head -1; }

# mirror_sync SET TOOL N: syncs mirror-SET-TOOL from the upstream at release N.
mirror_sync() {
  local set=$1 tool=$2 n=$3 m="mirror-$set-$2" i args=(--mirror)
  [ "$tool" = grove-nodeltas ] && args+=(--no-static-deltas)
  for i in $(seq "$RUNS"); do
    rm -rf "$m.run" && if [ "$n" = 1 ]; then
      "$(T "$tool")" --repo="$m.run" init --mode=archive
      "$(T "$tool")" --repo="$m.run" remote add --no-gpg-verify origin "http://127.0.0.1:$port/"
    else cp -a "$m" "$m.run"; fi
    timed "up-$set.log" "$(T "$tool")" --repo="$m.run" pull "${args[@]}" origin "bench/$set"
    [ "$(ostree --repo="$m.run" rev-parse "bench/$set")" = "$([ "$n" = 1 ] && echo "$r1" || echo "$r2")" ]
    [ "$i" = "$RUNS" ] || continue
    rm -rf "$m" && mv "$m.run" "$m"
  done | best
}

# client_update SET SOURCE-DIR: a real ostree bare-user client at release 1 pulls
# release 2 from SOURCE-DIR. Prints http_totals and the number of requests.
client_update() {
  local set=$1 src=$2
  serve "$src" "client-$set.log"
  rm -rf "client-$set" && cp -a "client-$set-r1" "client-$set" && rm -rf "client-$set/tmp/cache"
  ostree --repo="client-$set" remote delete origin
  ostree --repo="client-$set" remote add --no-gpg-verify origin "http://127.0.0.1:$port/"
  : > "client-$set.log"
  ostree --repo="client-$set" pull origin "bench/$set" >/dev/null
  [ "$(ostree --repo="client-$set" rev-parse "origin:bench/$set")" = "$r2" ]
  ostree --repo="client-$set" fsck >/dev/null
  echo "$(http_totals "client-$set.log") $(wc -l < "client-$set.log")"
  stop_server
}

# pull_update SET TOOL MODE: TOOL pulls release 2 from the upstream into a MODE
# repo at release 1; best of RUNS "wall bytes requests".
pull_update() {
  local set=$1 tool=$2 mode=$3 i c="pull-$set-$mode"
  for i in $(seq "$RUNS"); do
    rm -rf "$c.run" && cp -a "$c" "$c.run"
    timed "up-$set.log" "$(T "$tool")" --repo="$c.run" pull origin "bench/$set"
    [ "$(ostree --repo="$c.run" rev-parse "origin:bench/$set")" = "$r2" ]
  done | best
}

declare -A R
for set in $SETS; do
  echo "== $set" >&2
  prepare "$set"
  r1=$(ostree --repo="base-$set" rev-parse "bench/$set^"); r2=$(ostree --repo="base-$set" rev-parse "bench/$set")
  upstream "$set" 1
  serve "up-$set" "up-$set.log"
  for tool in ostree grove-nodeltas grove; do
    R[$set,$tool,sync1]=$(mirror_sync "$set" "$tool" 1)
  done
  # The clients (step 3) and the pulling repos (step 4) start at release 1.
  rm -rf "client-$set-r1" && ostree --repo="client-$set-r1" init --mode=bare-user
  ostree --repo="client-$set-r1" remote add --no-gpg-verify origin "http://127.0.0.1:$port/"
  ostree --repo="client-$set-r1" pull origin "bench/$set" >/dev/null
  for mode in bare-user archive; do
    rm -rf "pull-$set-$mode" && ostree --repo="pull-$set-$mode" init --mode=$mode
    ostree --repo="pull-$set-$mode" remote add --no-gpg-verify origin "http://127.0.0.1:$port/"
    ostree --repo="pull-$set-$mode" pull --disable-static-deltas origin "bench/$set" >/dev/null
  done
  upstream "$set" 2
  for tool in ostree grove-nodeltas grove; do
    R[$set,$tool,sync2]=$(mirror_sync "$set" "$tool" 2)
    echo "$tool mirror sync (wall bytes requests): release 1 ${R[$set,$tool,sync1]}; release 2 ${R[$set,$tool,sync2]}" >&2
  done
  for mode in bare-user archive; do
    for tool in ostree grove; do
      R[$set,$tool,$mode]=$(pull_update "$set" "$tool" "$mode")
      echo "$tool pull update into $mode (wall bytes requests): ${R[$set,$tool,$mode]}" >&2
    done
  done
  stop_server
  "$GROVE" --repo="mirror-$set-grove" summary -u >/dev/null
  ostree --repo="mirror-$set-ostree" summary -u
  for src in up grove ostree; do
    dir=$([ $src = up ] && echo "up-$set" || echo "mirror-$set-$src")
    R[$set,client,$src]=$(client_update "$set" "$dir")
    echo "client update from $src (total delta parts loose loose-bytes requests): ${R[$set,client,$src]}" >&2
  done
done

kib() { echo $((($1 + 512) / 1024)); }
fmt() { printf "%'d" "$1"; }
{
  echo "<!-- begin bench/mirror-bench.sh output -->"
  echo "## Mirrors with static deltas, and updates through them"
  echo
  echo "Generated by \`bench/mirror-bench.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, load average"
  echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end; ostree $(ostree --version | sed -n "s/ *Version: '\(.*\)'/\1/p"), $($GROVE --version))."
  echo "Package sets as in the delta section. The upstream is an archive repo served over loopback HTTP"
  echo "(\`bench/delta-http.py\` logs every response): release 1 with a scratch delta, then release 2 with a"
  echo "FROM→TO and a scratch delta, all made by $DELTA_TOOL. Times are the best of $RUNS runs."
  echo
  echo "Mirror sync into an empty archive repo at release 1, then the update to release 2 (wall time, bytes fetched, requests):"
  echo
  echo "| set | mirror | release 1 | release 2 (update) |"
  echo "|---|---|---:|---:|"
  for set in $SETS; do
    for tool in ostree grove-nodeltas grove; do
      read -r t1 b1 q1 <<<"${R[$set,$tool,sync1]}"; read -r t2 b2 q2 <<<"${R[$set,$tool,sync2]}"
      name=$(case $tool in ostree) echo "\`ostree pull --mirror\` (copies no deltas)" ;; grove-nodeltas) echo "\`grove pull --mirror --no-static-deltas\`" ;; *) echo "\`grove pull --mirror\` (deltas too)" ;; esac)
      echo "| $([ $tool = ostree ] && echo "$set") | $name | $t1 s, $(fmt "$(kib "$b1")") KiB, $q1 req | $t2 s, $(fmt "$(kib "$b2")") KiB, $q2 req |"
    done
  done
  echo
  echo "A real \`ostree\` bare-user client holding release 1 updates to release 2 from each server:"
  echo
  echo "| set | served by | transfer (KiB) | of which delta (KiB) | objects fetched loose | requests |"
  echo "|---|---|---:|---:|---:|---:|"
  for set in $SETS; do
    for src in up grove ostree; do
      read -r tot dl parts loose lb req <<<"${R[$set,client,$src]}"
      name=$(case $src in up) echo "the upstream" ;; grove) echo "grove's mirror" ;; *) echo "ostree's mirror" ;; esac)
      echo "| $([ $src = up ] && echo "$set") | $name | $(fmt "$(kib "$tot")") | $(fmt "$(kib "$dl")") | $loose | $req |"
    done
  done
  echo
  echo "\`grove pull\` against \`ostree pull\` of the same update (release 1 → 2, the upstream's FROM→TO delta):"
  echo
  echo "| set | into | ostree | grove | grove/ostree | bytes ostree / grove (KiB) |"
  echo "|---|---|---:|---:|---:|---:|"
  for set in $SETS; do
    for mode in bare-user archive; do
      read -r to bo _ <<<"${R[$set,ostree,$mode]}"; read -r tg bg _ <<<"${R[$set,grove,$mode]}"
      echo "| $([ $mode = bare-user ] && echo "$set") | $mode | $to s | $tg s | $(echo "scale=2; $tg / $to" | bc) | $(fmt "$(kib "$bo")") / $(fmt "$(kib "$bg")") |"
    done
  done
  echo
  echo "<!-- end bench/mirror-bench.sh output -->"
} > section.md
cat section.md
doc_section mirror-bench.sh section.md
