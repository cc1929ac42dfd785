#!/usr/bin/env bash
# Benchmark: `ostree static-delta generate` against `grove static-delta generate`
# on two real versions of Debian packages, then a real `ostree` client (bare-user)
# holding release 1 pulls release 2 over loopback HTTP through each tool's delta.
# Writes its section of docs/performance.md (between the delta-bench markers,
# below bench.sh's marker, so bench.sh keeps it).
#
#   bench/delta-bench.sh [WORKDIR]       (default: bench-work/delta; needs apt-get download)
#
# Environment: SETS (default "libc6-systemd postgresql"), RUNS (timed generations
# per tool and kind, best is kept; default 3), PULLS (client updates per tool;
# default 3), GROVE (the grove binary).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GROVE=${GROVE:-$here/target/release/grove}
work=${1:-$here/bench-work/delta}
SETS=${SETS:-"libc6-systemd postgresql"}
RUNS=${RUNS:-3}
PULLS=${PULLS:-3}
mkdir -p "$work" && cd "$work"
[ -x "$GROVE" ] || (cd "$here" && cargo build --release)
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

. "$here/bench/debs.sh"
T() { if [ "$1" = grove ]; then echo "$GROVE"; else echo ostree; fi; }

# Best wall time (s) and peak RSS (MiB) of RUNS generations; leaves the delta in REPO.
# gen TOOL REPO ARGS...
gen() {
  local tool=$1 repo=$2 best="" rss=0 cpu="" i; shift 2
  for i in $(seq "$RUNS"); do
    rm -rf "$repo/deltas"
    /usr/bin/time -o time.out -f '%e %M %U %S' "$(T "$tool")" --repo="$repo" static-delta generate "$@" >/dev/null 2>gen.err ||
      { cat gen.err >&2; return 1; }
    read -r t m u s < <(tail -1 time.out)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; cpu=$(echo "$u + $s" | bc); fi
    [ "$m" -gt "$rss" ] && rss=$m
  done
  echo "$best $((rss / 1024)) $cpu"
}

# Parts, bytes (superblock + part files + fallback objects), fallback objects and
# their bytes, and whether the parts are inline, of the only delta in REPO.
# (grove's show: ostree 2022.7's cannot read inline parts.)
delta_size() {
  local repo=$1 d parts=0 bytes f show nfb fbb
  d=$(dirname "$(find "$repo/deltas" -name superblock | head -1)")
  bytes=$(stat -c %s "$d/superblock")
  for f in "$d"/[0-9]*; do [ -e "$f" ] && bytes=$((bytes + $(stat -c %s "$f"))); done
  show=$("$GROVE" --repo="$repo" static-delta show "$(ostree --repo="$repo" static-delta list | head -1)")
  parts=$(echo "$show" | sed -n 's/^Number of parts: *//p')
  nfb=$(echo "$show" | sed -n 's/^Number of fallback entries: *//p')
  fbb=$(echo "$show" | sed -n 's/^Total Fallback Size: *\([0-9]*\).*/\1/p' | head -1); [ -n "$fbb" ] || fbb=0
  echo "$parts $((bytes + fbb)) $nfb $fbb $(ls "$d" | grep -q '^0$' && echo files || echo inline)"
}

# A real ostree bare-user client holding release 1 updates to release 2 through
# TOOL's FROM->TO delta, PULLS times from a fresh copy of the client.
# Prints: total-bytes delta-bytes part-requests loose-objects loose-bytes (one line per pull).
client() {
  local set=$1 tool=$2 srv="srv-$set-$tool" r1 r2 i
  r1=$(ostree --repo="base-$set" rev-parse "bench/$set^"); r2=$(ostree --repo="base-$set" rev-parse "bench/$set")
  rm -rf "$srv" "client-$set-r1" && cp -a "base-$set" "$srv" && rm -rf "$srv/deltas"
  ostree --repo="$srv" reset "bench/$set" "$r1" && ostree --repo="$srv" summary -u
  serve "$srv" "http-$set-$tool.log"
  ostree --repo="client-$set-r1" init --mode=bare-user
  ostree --repo="client-$set-r1" remote add --no-gpg-verify origin "http://127.0.0.1:$port/"
  ostree --repo="client-$set-r1" pull origin "bench/$set" >/dev/null
  ostree --repo="$srv" reset "bench/$set" "$r2"
  "$(T "$tool")" --repo="$srv" static-delta generate --from="$r1" --to="$r2" >/dev/null
  ostree --repo="$srv" summary -u
  # python's server answers If-Modified-Since at one-second resolution: make sure
  # the client cannot take the new summary for the one it cached in the first pull.
  touch -d "@$(($(date +%s) + 10))" "$srv/summary"
  for i in $(seq "$PULLS"); do
    rm -rf "client-$set" && cp -a "client-$set-r1" "client-$set"
    : > "http-$set-$tool.log"
    ostree --repo="client-$set" pull origin "bench/$set" >/dev/null
    [ "$(ostree --repo="client-$set" rev-parse "origin:bench/$set")" = "$r2" ]
    http_totals "http-$set-$tool.log"
  done
  ostree --repo="client-$set" fsck >/dev/null
  kill "$server"; wait "$server" 2>/dev/null || true
}

declare -A R
for set in $SETS; do
  echo "== $set" >&2
  prepare "$set"
  base="base-$set"
  r1=$(ostree --repo="$base" rev-parse "bench/$set^"); r2=$(ostree --repo="$base" rev-parse "bench/$set")
  R[$set,files]=$(ostree --repo="$base" ls -R "$r2" | grep -c '^-')
  R[$set,usize]=$(du -sb "tree-$set-2" | cut -f1)
  for tool in ostree grove; do
    [ -n "${CLIENT_ONLY:-}" ] && continue
    rm -rf "gen-$set-$tool" && cp -a "$base" "gen-$set-$tool"
    for kind in from scratch; do
      if [ $kind = from ]; then args=(--from="$r1" --to="$r2"); else args=(--empty --to="$r2"); fi
      R[$set,$tool,$kind,gen]=$(gen "$tool" "gen-$set-$tool" "${args[@]}")
      R[$set,$tool,$kind,size]=$(delta_size "gen-$set-$tool")
      echo "$tool $kind: time/rss/cpu ${R[$set,$tool,$kind,gen]}; parts/bytes/fallbacks/fallback-bytes/where ${R[$set,$tool,$kind,size]}" >&2
    done
  done
  for tool in ostree grove; do
    R[$set,$tool,pull]=$(client "$set" "$tool")
    echo "$tool client (total delta parts loose loose-bytes):" ${R[$set,$tool,pull]} >&2
  done
done

[ -n "${CLIENT_ONLY:-}" ] && exit 0  # debugging: client updates only, docs untouched

kib() { echo $((($1 + 512) / 1024)); }
fmt() { printf "%'d" "$1"; }
{
  echo "<!-- begin bench/delta-bench.sh output -->"
  echo "## Static deltas: generation and a real client's update"
  echo
  echo "Generated by \`bench/delta-bench.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, load average"
  echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end; ostree $(ostree --version | sed -n "s/ *Version: '\(.*\)'/\1/p"), $($GROVE --version))."
  echo "Each package set is unpacked (\`dpkg-deb -x\`) and committed as two commits of an archive repo with"
  echo "\`ostree commit --owner-uid=0 --owner-gid=0\`. Generation: best wall time of $RUNS runs, each tool"
  echo "in its own copy of the repo, peak RSS of any run, CPU time of the fastest run. Size: superblock,"
  echo "part files and fallback objects (what a client may fetch for the delta). Client: a real \`ostree\` bare-user repo holding release 1 pulls release 2 from the"
  echo "tool's archive repo over loopback HTTP (\`bench/delta-http.py\` logs the bytes of every response);"
  echo "the repo holds only that tool's FROM→TO delta and a summary from \`ostree summary -u\`; each update"
  echo "is repeated $PULLS times from a fresh copy of the client and every run is listed."
  echo
  echo "| set (release 1 → 2) | delta | tool | wall time | CPU (user+sys) | max RSS | parts | size |"
  echo "|---|---|---|---:|---:|---:|---:|---:|"
  for set in $SETS; do
    for kind in from scratch; do
      for tool in ostree grove; do
        read -r t m cpu <<<"${R[$set,$tool,$kind,gen]}"
        read -r np bytes nfb fbb where <<<"${R[$set,$tool,$kind,size]}"
        label=""; [ $tool = ostree ] && [ $kind = from ] && label="$set: ${PKGS[$set]//|/ → } (${R[$set,files]} files, $(( ${R[$set,usize]} / 1000000 )) MB)"
        k=$([ $kind = from ] && echo "FROM→TO" || echo scratch)
        fb=""; [ "$nfb" != 0 ] && fb=" (incl. $nfb fallback, $(fmt "$fbb") B)"
        echo "| $label | $k | $tool | $t s | $cpu s | $m MiB | $np ($where) | $(fmt "$bytes") B$fb |"
      done
    done
  done
  echo
  echo "| set | delta made by | client transfer (KiB) | of which delta (KiB) | parts fetched | objects fetched loose |"
  echo "|---|---|---|---|---|---|"
  for set in $SETS; do
    for tool in ostree grove; do
      tot=""; dl=""; pp=""; lo=""
      while read -r a b c d e; do
        tot+="${tot:+ / }$(fmt "$(kib "$a")")"; dl+="${dl:+ / }$(fmt "$(kib "$b")")"; pp+="${pp:+ / }$c"; lo+="${lo:+ / }$d"
      done <<<"${R[$set,$tool,pull]}"
      echo "| $([ $tool = ostree ] && echo "$set") | $tool | $tot | $dl | $pp | $lo |"
    done
  done
  echo
  echo "<!-- end bench/delta-bench.sh output -->"
} > section.md
cat section.md
doc_section delta-bench.sh section.md
