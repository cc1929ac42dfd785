#!/usr/bin/env bash
# Runs ostree's own installed tests (Debian package ostree-tests) with grove in
# ostree's place, through a PATH shim that sends the subcommands grove
# implements to grove and everything else to the real ostree.
#
#   tests/ostree-suite/run.sh [--grove=PATH] [--oracle] [--jobs=N] [TEST...]
#
# TEST defaults to every test named in expected.txt. For each test it prints
# the expected count (ostree's, from expected.txt), grove's count, and the plan;
# --oracle also runs the test with the real ostree and prints its count.
# Exits non-zero when a listed test's grove count is below its floor in
# expected.txt (third column; ostree's count when absent).
#
# Deliberate differences (docs/compat.md): a check of ostree's suite that
# tests what grove deliberately does differently is taken out of grove's run
# by a sed script deliberate/FILE.sed, applied to a copy of the suite's FILE;
# everything else in that test still runs, and the floor counts what is left.
# Logs: $OSTREE_SUITE_LOGS (default: a temporary directory, printed at the end).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
suite=/usr/libexec/installed-tests/libostree
grove=${GROVE_BIN:-$here/../../target/release/grove}
oracle=0
jobs=2
tests=()
for a in "$@"; do
  case "$a" in
    --grove=*) grove=${a#--grove=} ;;
    --oracle) oracle=1 ;;
    --jobs=*) jobs=${a#--jobs=} ;;
    -*) echo "unknown option $a" >&2; exit 2 ;;
    *) tests+=("${a%.sh}.sh") ;;
  esac
done
[ -d "$suite" ] || { echo "ostree's installed tests are missing: install the Debian package ostree-tests" >&2; exit 2; }
[ -x "$grove" ] || { echo "no grove binary at $grove (build it, or pass --grove=PATH)" >&2; exit 2; }
grove=$(cd "$(dirname "$grove")" && pwd)/$(basename "$grove")
real_ostree=$(command -v ostree) || { echo "the real ostree is missing" >&2; exit 2; }
case "$real_ostree" in */ostree-suite-shim/*) real_ostree=/usr/bin/ostree ;; esac

declare -A expect=() floor=()
while read -r name count min _; do
  case "$name" in ''|'#'*) continue ;; esac
  expect[$name]=$count
  floor[$name]=${min:-$count}
done < "$here/expected.txt"
if [ ${#tests[@]} -eq 0 ]; then
  while read -r name _; do
    case "$name" in ''|'#'*) continue ;; esac
    tests+=("$name")
  done < "$here/expected.txt"
fi

logs=${OSTREE_SUITE_LOGS:-$(mktemp -d /tmp/ostree-suite.XXXXXX)}
mkdir -p "$logs"
shim=$(mktemp -d /tmp/ostree-suite-shim.XXXXXX)
trap 'rm -rf "$shim"' EXIT

# The shim: the first non-option argument is the subcommand.
cat > "$shim/ostree" <<SHIM
#!/bin/bash
# ostree writes --version one line per write(); test-libarchive reads it with
# 'grep -q' under pipefail, so a SIGPIPE after the match skips the whole test
# at random. Handing the text over in one write takes the race away.
if [ "\$#" -eq 1 ] && [ "\$1" = --version ]; then
  out=\$("$real_ostree" --version) || exit
  exec cat <<<"\$out"
fi
for a in "\$@"; do
  case "\$a" in
    -*) continue ;;
    init|commit|checkout|refs|rev-parse|reset|log|show|ls|cat|diff|checksum|config|fsck|prune|static-delta|summary|gpg-sign|gpg-verify|remote|pull|pull-local)
      exec "$grove" "\$@" ;;
    *) break ;;
  esac
done
exec "$real_ostree" "\$@"
SHIM
printf '#!/bin/sh\nexec "%s" rofiles-fuse "$@"\n' "$grove" > "$shim/rofiles-fuse"
chmod +x "$shim/ostree" "$shim/rofiles-fuse"
mkdir -p "$shim/oracle"

# grove runs a copy of the suite with the deliberate differences taken out.
grove_suite=$suite
if compgen -G "$here/deliberate/*.sed" >/dev/null; then
  # Same depth as the original, so the suite's ../../libostree (trivial-httpd) resolves.
  grove_suite=$shim/root/installed-tests/libostree
  mkdir -p "$grove_suite"
  ln -s "$(cd "$suite/../.." && pwd)/libostree" "$shim/root/libostree"
  cp -a "$suite/." "$grove_suite/"
  for f in "$here"/deliberate/*.sed; do
    target=$grove_suite/$(basename "$f" .sed)
    [ -f "$target" ] || { echo "deliberate/$(basename "$f"): no $(basename "$f" .sed) in the suite" >&2; exit 2; }
    before=$(sha256sum < "$target")
    sed -i -f "$f" "$target"
    [ "$before" != "$(sha256sum < "$target")" ] || { echo "deliberate/$(basename "$f") changed nothing" >&2; exit 2; }
  done
fi

# run_one TOOL TEST: runs TEST in an empty directory, prints "OK PLAN" (counts).
run_one() {
  local tool=$1 t=$2 dir path src=$suite
  dir=$(mktemp -d /tmp/ostree-suite-run.XXXXXX)
  path=$PATH
  [ "$tool" = grove ] && { path=$shim:$PATH; src=$grove_suite; }
  (cd "$dir" && env PATH="$path" G_TEST_SRCDIR=$src G_TEST_BUILDDIR=$src \
     timeout 600 "$src/$t" </dev/null >"$logs/$t.$tool.log" 2>&1)
  echo "exit $?" >> "$logs/$t.$tool.log"
  # tests may leave fuse mounts behind
  grep -qs " $dir" /proc/mounts && awk -v d="$dir" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r | xargs -r -n1 fusermount3 -u -z 2>/dev/null
  rm -rf "$dir" 2>/dev/null
  local ok plan
  ok=$(grep -cE '^ok( |$)' "$logs/$t.$tool.log")
  plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$logs/$t.$tool.log" | cut -d. -f3)
  echo "$ok ${plan:-?}"
}
export -f run_one
export shim logs suite grove_suite

results=$(mktemp)
printf '%s\n' "${tests[@]}" | xargs -P "$jobs" -I{} bash -c '
  t={}; g=$(run_one grove "$t"); o="-"
  [ '"$oracle"' = 1 ] && o=$(run_one ostree "$t" | cut -d" " -f1)
  echo "$t $g $o"' > "$results"

fail=0; total_e=0; total_g=0
printf '%-34s %8s %8s %6s %8s\n' test expected grove plan ostree
while read -r t g plan o; do
  e=${expect[$t]:-?}
  mark=""
  if [ "$e" != "?" ]; then
    total_e=$((total_e + e)); total_g=$((total_g + g))
    [ "$g" -lt "$e" ] && mark="  <-- below ostree"
    [ "$g" -lt "${floor[$t]}" ] && { mark="  <-- below the floor (${floor[$t]})"; fail=1; }
  fi
  printf '%-34s %8s %8s %6s %8s%s\n' "$t" "$e" "$g" "$plan" "$o" "$mark"
done < <(sort "$results")
printf '%-34s %8s %8s\n' total "$total_e" "$total_g"
echo "logs: $logs"
rm -f "$results"
exit $fail
