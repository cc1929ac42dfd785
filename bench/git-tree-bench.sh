#!/usr/bin/env bash
# Benchmark: `grove commit --tree=git=SRC` against `git archive | grove commit --tree=tar=-`,
# and `ostree commit` of a clean checkout for scale, on a real repository of a few thousand
# files: a Debian source package (default python3.11 of bookworm, 4.7k files) imported into
# git as a packaging repository holds it — the upstream tarball as the first commit (tag
# v1), the unpacked source package (debian/ and its patches applied) as the second — then
# packed with `git gc` as a real clone would be.
#
#   bench/git-tree-bench.sh [WORKDIR]     (default: bench-work/git; the first run needs the network)
#
# The source package comes with `apt-get source --download-only` through a private apt
# configuration in WORKDIR/apt (a deb-src line for SUITE on MIRROR; the system's apt
# sources are not touched). SRCPKG, SUITE (bookworm), MIRROR (http://deb.debian.org/debian)
# choose it.
# GROVE=path/to/grove picks the binary (default target/release/grove, else target/ci/grove,
# else target/debug/grove); OSTREE the ostree binary; RUNS=N (default 5) runs per way;
# MODES (default "archive bare-user"; empty: only prepare WORKDIR) the repository modes.
# Each run commits into a fresh repository (fsync on, as by default). Prints a markdown
# table per mode: median and range (min–max) of wall clock and of CPU time (user + system
# of every process of the way), and peak RSS, after checking that all three ways give
# the same content checksum.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GROVE=${GROVE:-$here/target/release/grove}
[ -x "$GROVE" ] || GROVE=$here/target/ci/grove
[ -x "$GROVE" ] || GROVE=$here/target/debug/grove
OSTREE=${OSTREE:-ostree}
RUNS=${RUNS:-5}
SRCPKG=${SRCPKG:-python3.11}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
work=${1:-$here/bench-work/git}
mkdir -p "$work"
cd "$work"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
TS=2026-01-01T00:00:00Z

if [ ! -d src/.git ]; then
  apt=(-q -o "Dir::Etc::SourceList=$work/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
       -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache")
  mkdir -p apt/lists/partial apt/cache dl
  echo "deb-src $MIRROR $SUITE main" > apt/sources.list
  apt-get "${apt[@]}" update >/dev/null
  (cd dl && ls ./*.dsc >/dev/null 2>&1 || apt-get "${apt[@]}" source --download-only "$SRCPKG" >/dev/null 2>&1)
  rm -rf unpacked upstream src
  dpkg-source -x dl/*.dsc unpacked >/dev/null 2>&1
  rm -f ./*.orig.tar.* # dpkg-source leaves a copy next to the unpacked tree
  rm -rf unpacked/.pc # quilt's state, which a packaging repository does not hold
  mkdir upstream
  tar -xf dl/*.orig.tar.* -C upstream --strip-components=1
  git init -q -b main src
  cp -a upstream/. src/
  git -C src add -A
  git -C src commit -q -m "import upstream $SRCPKG"
  git -C src tag -a -m upstream v1
  find src -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
  cp -a unpacked/. src/
  git -C src add -A
  git -C src commit -q -m "import $(basename dl/*.dsc .dsc)"
  git -C src gc -q
  rm -rf upstream unpacked
fi
files=$(git -C src ls-tree -r HEAD | wc -l)
size=$(git -C src archive HEAD | wc -c)
# The clean checkout ostree commits: the tree as `git archive` gives it (0644/0755).
if [ ! -d checkout ]; then
  mkdir checkout.tmp
  git -C src -c tar.umask=0022 archive HEAD | tar -x -C checkout.tmp
  mv checkout.tmp checkout
fi

# median and range of numbers on stdin: "MEDIAN MIN MAX"
stats() { sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.2f %.2f %.2f\n", m, v[1], v[NR]}'; }

# run WAY MODE: RUNS runs of one way into a fresh repository of MODE;
# prints "wall-median min max cpu-median min max rss-MiB"
run() {
  local way=$1 mode=$2 repo=repo-$1-$2 rss=0 walls="" cpus=""
  for _ in $(seq "$RUNS"); do
    rm -rf "$repo"
    if [ "$way" = ostree ]; then "$OSTREE" --repo="$repo" init --mode="$mode"; else "$GROVE" --repo="$repo" init --mode="$mode" >/dev/null; fi
    local t0 t1 r u s
    t0=$(date +%s.%N)
    case $way in
      git) /usr/bin/time -o rusage -f '%M %U %S' "$GROVE" --repo="$repo" commit -b b --timestamp=$TS --tree=git=src >/dev/null ;;
      tar) /usr/bin/time -o rusage -f '%M %U %S' bash -c "git -C src -c tar.umask=0022 archive --prefix=./ HEAD | '$GROVE' --repo='$repo' commit -b b --timestamp=$TS --tree=tar=- >/dev/null" ;;
      ostree) /usr/bin/time -o rusage -f '%M %U %S' "$OSTREE" --repo="$repo" commit -b b --timestamp=$TS --owner-uid=0 --owner-gid=0 --tree=dir=checkout >/dev/null ;;
    esac
    t1=$(date +%s.%N)
    read -r r u s < <(tail -1 rusage)
    walls+="$(echo "$t1 - $t0" | bc)"$'\n'
    cpus+="$(echo "$u + $s" | bc)"$'\n'
    [ "$r" -gt "$rss" ] && rss=$r
  done
  "$GROVE" --repo="$repo" show --json b | sed -n 's/.*"content_checksum": "\(.*\)".*/\1/p' > "content-$way-$mode"
  echo "$(printf %s "$walls" | stats) $(printf %s "$cpus" | stats) $((rss / 1024))"
}

echo "Generated by \`bench/git-tree-bench.sh\` on $(date -u +%F): $("$GROVE" --version 2>/dev/null || echo grove) ($GROVE), $("$OSTREE" --version | sed -n "s/ *Version: '\(.*\)'/ostree \1/p"), $RUNS runs per way;"
echo "$(basename dl/*.dsc .dsc) in git (2 commits, packed): $files files, $((size / 1024 / 1024)) MiB as \`git archive\`; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start."
echo
echo "| mode | way | wall median | wall range | CPU median | CPU range | peak RSS |"
echo "|---|---|---:|---:|---:|---:|---:|"
for mode in ${MODES-archive bare-user}; do
  for way in git tar ostree; do
    read -r wm wlo whi cm clo chi rss < <(run $way "$mode")
    case $way in
      git) label='`--tree=git=src`' ;;
      tar) label='`git archive \| --tree=tar=-`' ;;
      ostree) label='`ostree commit` of a checkout' ;;
    esac
    echo "| $mode | $label | $wm s | $wlo–$whi | $cm s | $clo–$chi | $rss MiB |"
  done
  for way in tar ostree; do
    cmp -s "content-git-$mode" "content-$way-$mode" || { echo "$mode: $way gives another content checksum than --tree=git=" >&2; exit 1; }
  done
done
