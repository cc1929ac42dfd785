#!/usr/bin/env bash
# Benchmark: the seed's build-server pipeline through `ostree` and `grove`, step
# by step, on real Debian packages. Writes docs/performance.md.
#
#   bench/bench.sh [WORKDIR]        (default: bench-work; needs network for apt-get download)
#
# Environment: RUNS (default 5) runs per step and tool; GROVE (default
# target/release/grove); STEPS, a subset of "commit union speedup pull recommit"
# (default all; with a subset the table goes to WORKDIR/performance.md only);
# DEFER (seconds, e.g. 361): a run's old outputs are moved to WORKDIR/trash
# instead of deleted, and deleted at the end, after one wait of DEFER seconds
# before the first run (see bench/scale.sh: ext4 without a journal walks past
# recently deleted inodes when it makes new ones).
#
# Each step runs on fresh, identical inputs for both tools; within a run the
# two tools take turns, so both see the same machine. Times are wall clock:
# best, median and spread (min-max) of RUNS; peak RSS from /usr/bin/time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GROVE=${GROVE:-$here/target/release/grove}
RUNS=${RUNS:-5}
STEPS=${STEPS:-commit union speedup pull recommit}
work=${1:-$here/bench-work}
PKGS=${PKGS:-"libc6 coreutils perl-modules-5.36 python3.11-minimal libpython3.11-stdlib systemd bash util-linux"}
mkdir -p "$work/debs" "$work/tars"
cd "$work"
[ -x "$GROVE" ] || (cd "$here" && cargo build --release)
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

echo "== inputs"
(cd debs && for p in $PKGS; do ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p" >/dev/null 2>&1; done)
for d in debs/*.deb; do
  n=$(basename "$d" .deb | cut -d_ -f1)
  [ -f "tars/$n.tar.gz" ] || dpkg-deb --fsys-tarfile "$d" | gzip -1 > "tars/$n.tar.gz"
done
names=$(for f in tars/*.tar.gz; do basename "$f" .tar.gz; done)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

results=()
# stats V...: "best median max" of the values (median: mean of the middle two for an even count)
stats() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.3f %.3f %.3f", v[1], m, v[NR]}'
}
# measure STEP SETUP_FN RUN_FN: RUNS runs, ostree and grove in turn within each;
# per tool the best, median and max wall time and the peak RSS.
measure() {
  local step=$1 setup=$2 run=$3 i tool
  local -A times=() cpus=() rss=([ostree]=0 [grove]=0)
  for ((i = 1; i <= RUNS; i++)); do
    for tool in ostree grove; do
      $setup "$tool" >/dev/null 2>&1
      local t0 t1 out dt
      t0=$(date +%s.%N)
      /usr/bin/time -o "$work/rss" -f '%M %U %S' bash -c "$(declare -f $run); $run $tool" >/dev/null 2>&1
      t1=$(date +%s.%N)
      read -r out u sy < <(tail -1 "$work/rss")
      dt=$(echo "$t1 - $t0" | bc)
      times[$tool]+="$dt "
      cpus[$tool]+="$(echo "$u + $sy" | bc) "
      [ "$out" -gt "${rss[$tool]}" ] 2>/dev/null && rss[$tool]=$out
    done
  done
  for tool in ostree grove; do
    # shellcheck disable=SC2086
    local s c; s=$(stats ${times[$tool]}); c=$(stats ${cpus[$tool]} | cut -d' ' -f2)
    printf '%-32s %-7s best/median/max %s s, median CPU %s s, %8d KiB   runs: %s\n' "$step" "$tool" "$s" "$c" "${rss[$tool]}" "${times[$tool]}"
    results+=("$step|$tool|$s|${rss[$tool]}|$c")
  done
}
T() { if [ "$1" = grove ]; then echo "$GROVE"; else echo ostree; fi; }
export GROVE names work
export -f T

discard() {
  if [ -n "${DEFER:-}" ] && [ -e "$1" ]; then mv "$1" "$work/trash/$(date +%s%N)"; else rm -rf "$1"; fi
}
setup_empty() { discard "$1-build"; ostree --repo="$1-build" init --mode=bare-user; }
run_commit_components() { for n in $names; do $(T $1) --repo=$1-build commit -b exampleos/x86_64/$n --tree=tar=tars/$n.tar.gz --timestamp=2024-01-01; done; }
setup_components() { setup_empty "$1"; run_commit_components "$1"; discard "$1-union"; }
run_union() { for n in $names; do $(T $1) --repo=$1-build checkout -U --union exampleos/x86_64/$n $1-union; done; }
setup_union() { setup_components "$1"; run_union "$1"; }
run_speedup() { $(T $1) --repo=$1-build commit -b exampleos/x86_64/standard --link-checkout-speedup --timestamp=2024-01-01 $1-union; }
setup_standard() { setup_union "$1"; run_speedup "$1"; discard "$1-repo"; ostree --repo="$1-repo" init --mode=archive; }
run_pull() { $(T $1) --repo=$1-repo pull-local $1-build exampleos/x86_64/standard; }
setup_pulled() { setup_standard "$1"; run_pull "$1"; }
# A plain checkout of the exported commit: every file is already in the archive repo.
setup_export() { setup_pulled "$1"; discard "$1-export"; ostree --repo="$1-repo" checkout exampleos/x86_64/standard "$1-export"; }
run_recommit() { $(T $1) --repo=$1-repo commit -b exampleos/x86_64/again --timestamp=2024-01-01 --tree=dir=$1-export; }
export -f discard setup_empty run_commit_components setup_components run_union setup_union run_speedup setup_standard run_pull setup_pulled setup_export run_recommit

declare -A step_name=(
  [commit]="commit components (tar.gz)" [union]="checkout -U --union"
  [speedup]="commit --link-checkout-speedup" [pull]="pull-local bare-user -> archive"
  [recommit]="re-commit tree into archive")
declare -A step_fns=(
  [commit]="setup_empty run_commit_components" [union]="setup_components run_union"
  [speedup]="setup_union run_speedup" [pull]="setup_standard run_pull"
  [recommit]="setup_export run_recommit")
all_steps="commit union speedup pull recommit"
steps=""
for k in $all_steps; do case " $STEPS " in *" $k "*) steps+="$k ";; esac; done
if [ -n "${DEFER:-}" ]; then
  rm -rf trash {ostree,grove}-{build,union,repo,export}; mkdir -p trash; sync
  echo "== waiting $DEFER s after deleting the last runs' outputs"
  sleep "$DEFER"
fi
for k in $steps; do
  # shellcheck disable=SC2086
  measure "${step_name[$k]}" ${step_fns[$k]}
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf trash

# Both tools must have produced the same commit.
if o=$(ostree --repo=ostree-build rev-parse exampleos/x86_64/standard 2>/dev/null) &&
   g=$(ostree --repo=grove-build rev-parse exampleos/x86_64/standard 2>/dev/null); then
  same=$([ "$o" = "$g" ] && echo "identical ($o)" || echo "DIFFERENT: ostree $o grove $g")
else
  same="not made (STEPS=$steps)"
fi

{
  echo "# Performance"
  echo
  echo "Generated by \`bench/bench.sh\` on $(date -u +%Y-%m-%d)."
  echo
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "- ostree: $(ostree --version | sed -n "s/ *Version: '\(.*\)'/\1/p")"
  echo "- grove: $($GROVE --version)"
  echo "- input: $(echo $names | wc -w) Debian packages as gzip tarballs ($(du -sh tars | cut -f1)): $(echo $names)"
  echo "- standard commit from both tools: $same"
  echo "- load average: $load_start at the start, $load_end at the end"
  echo
  echo "$RUNS runs of each step; within a run ostree and grove take turns. Wall-clock times as"
  echo "best / median and spread (fastest–slowest); grove/ostree is the ratio of the medians (lower is"
  echo "better). CPU is the median over the runs of user + system time of every process of the step."
  echo "Peak RSS is the largest of any single process in the step."
  echo "\"re-commit\" commits a plain checkout of the exported commit back into the archive repo,"
  echo "so all content is already there: grove hashes it and compresses nothing."
  echo
  echo "| step | ostree best / median | ostree spread | grove best / median | grove spread | grove/ostree | ostree CPU | grove CPU | ostree RSS | grove RSS |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for k in $steps; do
    step=${step_name[$k]}
    for r in "${results[@]}"; do
      IFS='|' read -r s t v m c <<<"$r"
      [ "$s" = "$step" ] || continue
      read -r b med mx <<<"$v"
      if [ "$t" = ostree ]; then ob=$b; om=$med; ox=$mx; orss=$m; oc=$c; else gb=$b; gm=$med; gx=$mx; grss=$m; gc=$c; fi
    done
    printf '| %s | %.3f / %.3f s | %.3f–%.3f s | %.3f / %.3f s | %.3f–%.3f s | %.2f× | %.2f s | %.2f s | %d MiB | %d MiB |\n' \
      "$step" "$ob" "$om" "$ob" "$ox" "$gb" "$gm" "$gb" "$gx" "$(echo "$gm / $om" | bc -l)" "$oc" "$gc" $((orss/1024)) $((grss/1024))
  done
  echo
  echo "<!-- end of bench/bench.sh output; hand-written notes below are kept -->"
  sed -n '/^<!-- end of bench\/bench.sh output/,$p' "$here/docs/performance.md" 2>/dev/null | tail -n +2
} > "$work/performance.md"
if [ "$steps" = "$all_steps " ]; then
  mv "$work/performance.md" "$here/docs/performance.md"
  sed -n '1,/^<!-- end of bench/p' "$here/docs/performance.md"
else
  sed -n '1,/^<!-- end of bench/p' "$work/performance.md"
fi
