#!/usr/bin/env bash
# Benchmark (issue 13): `grove publish` against `aws s3 sync` of the same archive
# repository to S3-compatible servers on loopback, on two real releases of Debian
# packages (bench/debs.sh), in the same run. Two servers: moto (Python, what the tests
# use) and s3s-fs (Rust, `cargo install s3s-fs`), whose own time per request is far
# smaller, so the clients' costs show (install: `cargo install s3s-fs@0.14.1 --features binary
# --locked`, the last release building with rustc 1.95; skipped when absent).
#
#   bench/publish-bench.sh [WORKDIR]      (default: bench-work/publish; needs apt-get download)
#
# For each package set and run: an archive repo at release 1 is published by grove
# to one bucket and synced by `aws s3 sync` to another (initial); then it gets
# release 2 and a FROM->TO static delta (grove static-delta generate) and both run
# again (incremental). The server's request log counts requests by type. Bytes: for
# moto, bench/tcp-count.py sits between the clients and moto and counts the bytes on
# the wire; for s3s-fs (a Python forwarder would be the bottleneck) the sum of the
# requests' Content-Length from its log. At the end a real ostree client pulls
# release 2 from grove's bucket.
# Writes its section of docs/performance.md (between the publish-bench markers).
#
# A third set, `large`, is what "incremental without listing the bucket" is for: a
# generated repository of LARGE_FILES files (default 50000) of 1 KiB, then a commit
# changing one file; `aws s3 sync` lists the whole bucket to find it, grove reads its refs.
#
# Environment: SETS (default "base-system postgresql large"), SERVERS (default "moto s3s-fs";
# s3s-fs is skipped when not installed), RUNS (runs per set and server, each on fresh
# buckets and a fresh repository; default 2), GROVE (the grove binary).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GROVE=${GROVE:-$here/target/release/grove}
work=${1:-$here/bench-work/publish}
SETS=${SETS:-"base-system postgresql large"}
LARGE_FILES=${LARGE_FILES:-50000}
RUNS=${RUNS:-2}
SERVERS=${SERVERS:-"moto s3s-fs"}
mkdir -p "$work" && cd "$work"
[ -x "$GROVE" ] || (cd "$here" && cargo build --release)
command -v aws >/dev/null || python3 -m pip install -q awscli
command -v moto_server >/dev/null || python3 -m pip install -q 'moto[server]'
. "$here/bench/debs.sh"
PKGS[large]="$LARGE_FILES generated files of 1 KiB|one of them changed"

# prepare_large: base-large, an archive repo whose ref bench/large is the generated
# tree with one file changed, and its parent the generated tree.
prepare_large() {
  [ "$(cat base-large/done 2>/dev/null)" = "$LARGE_FILES" ] && return
  rm -rf base-large large-tree && ostree --repo=base-large init --mode=archive
  python3 - large-tree "$LARGE_FILES" <<'PY'
import os, sys, random
root, n = sys.argv[1], int(sys.argv[2])
r = random.Random(1)
for i in range(n):
    d = os.path.join(root, "d%04d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(r.randbytes(1024))
PY
  ostree --repo=base-large commit -b bench/large --timestamp=@1600000000 --tree=dir=large-tree >/dev/null
  head -c 1024 /dev/urandom > large-tree/d0000/f000000
  ostree --repo=base-large commit -b bench/large --timestamp=@1600086400 --tree=dir=large-tree >/dev/null
  rm -rf large-tree
  echo "$LARGE_FILES" > base-large/done
}

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
# start_server KIND: starts it on a fresh port; sets endpoint, srvlog, and for moto
# the counting forwarder in front of it.
start_server() {
  local port; port=$(free_port); srvkind=$1; srvlog=$work/$1.log
  if [ "$1" = moto ]; then
    moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>"$srvlog" & pids+=($!)
    local fwd; fwd=$(free_port)
    python3 "$here/bench/tcp-count.py" "$fwd" "$port" counts & pids+=($!)
    endpoint=http://127.0.0.1:$fwd
  else
    rm -rf s3s-root && mkdir s3s-root
    RUST_LOG=s3s::service=debug s3s-fs --host 127.0.0.1 --port "$port" \
      --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" s3s-root >"$srvlog" 2>&1 & pids+=($!)
    endpoint=http://127.0.0.1:$port
  fi
  for i in $(seq 100); do curl -s -m 5 -o /dev/null "$endpoint/" && break; sleep 0.2; done
  aws=(aws --endpoint-url "$endpoint")
}
stop_server() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; pids=(); }

# requests: "METHOD PATH CONTENT-LENGTH" per request in the server's log, from stdin.
requests() {
  if [ "$srvkind" = moto ]; then
    awk 'match($0, /"[A-Z]+ [^ ]+ HTTP/) { split(substr($0, RSTART + 1, RLENGTH - 6), r, " "); print r[1], r[2], 0 }'
  else
    sed -n 's/.*req: Request { method: \([A-Z]*\), uri: \([^ ,]*\),.*/\1 \2 &/p' |
      awk '{ n = 0; if (match($0, /"content-length": "[0-9]+"/)) n = substr($0, RSTART + 19, RLENGTH - 20); print $1, $2, n }'
  fi
}

# measure CMD...: runs CMD; prints "wall up-bytes down-bytes PUT GET HEAD LIST POST DELETE"
# (requests from the server's log; bytes from the counting forwarder for moto, from
# Content-Length for s3s-fs, where down-bytes is not known and printed as 0).
measure() {
  local l0 u0=0 d0=0 u1=0 d1=0 t0 t1
  l0=$(wc -l < "$srvlog"); [ "$srvkind" = moto ] && read -r u0 d0 < counts
  t0=$(date +%s.%N)
  "$@" >cmd.out 2>cmd.err || { cat cmd.err >&2; return 1; }
  t1=$(date +%s.%N)
  sleep 0.3 # the forwarder writes its counts every 50 ms; s3s-fs logs as it answers
  [ "$srvkind" = moto ] && read -r u1 d1 < counts
  printf '%.2f ' "$(echo "$t1 - $t0" | bc)"
  tail -n +$((l0 + 1)) "$srvlog" | requests | awk -v up=$((u1 - u0)) -v down=$((d1 - d0)) '
    { m = $1; p = $2; body += $3
      if (m == "GET" && (p ~ /[?&]list-type=/ || p ~ /^\/[^\/]+\/?(\?|$)/)) m = "LIST"
      n[m]++ }
    END { if (up == 0) up = body
          printf "%d %d %d %d %d %d %d %d\n", up, down, n["PUT"], n["GET"], n["HEAD"], n["LIST"], n["POST"], n["DELETE"] }'
}

# source SET N: src-SET, an archive repo with release N (release 1 alone, or
# release 1 and 2 with a FROM->TO delta) and its summary.
source_at() {
  local set=$1 n=$2 src="src-$set"
  if [ "$n" = 1 ]; then
    rm -rf "$src" && ostree --repo="$src" init --mode=archive
    ostree --repo="$src" pull-local "base-$set" "$r1"
    ostree --repo="$src" refs --create="bench/$set" "$r1"
  else
    ostree --repo="$src" pull-local "base-$set" "$r2"
    ostree --repo="$src" reset "bench/$set" "$r2"
    "$GROVE" --repo="$src" static-delta generate --from="$r1" --to="$r2" >/dev/null
  fi
  ostree --repo="$src" summary -u
}

# one_run SET I: both tools, initial and incremental, on fresh buckets.
one_run() {
  local set=$1 i=$2 gb="grove-$set-$i" sb="sync-$set-$i"
  local b
  for b in "$gb" "$sb"; do
    "${aws[@]}" s3 mb "s3://$b" >/dev/null
    # Anyone may GET, as from a public bucket behind a CDN (the client pulls).
    [ "$srvkind" = moto ] && "${aws[@]}" s3api put-bucket-policy --bucket "$b" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::$b/*\"}]}"
  done
  source_at "$set" 1
  "$GROVE" --repo="src-$set" publish add cdn "s3://$gb/repo" --set=endpoint="$endpoint" \
    --set=region=us-east-1 --set=allow-http=true --set=path-style=true
  local n
  for n in 1 2; do
    [ "$n" = 1 ] || source_at "$set" 2
    R[$srvkind,$set,$i,grove,$n]=$(measure "$GROVE" --repo="src-$set" publish cdn)
    R[$srvkind,$set,$i,sync,$n]=$(measure "${aws[@]}" s3 sync --no-progress --exclude 'tmp/*' --exclude .lock "src-$set" "s3://$sb/repo")
    echo "$srvkind run $i release $n: grove ${R[$srvkind,$set,$i,grove,$n]}; aws s3 sync ${R[$srvkind,$set,$i,sync,$n]}" >&2
  done
}

declare -A R
for set in $SETS; do
  echo "== $set" >&2
  if [ "$set" = large ]; then prepare_large; else prepare "$set"; fi
  r1=$(ostree --repo="base-$set" rev-parse "bench/$set^"); r2=$(ostree --repo="base-$set" rev-parse "bench/$set")
  R[$set,files]=$(ostree --repo="base-$set" ls -R "$r2" | grep -c '^-')
done
servers=()
for srv in $SERVERS; do
  if [ "$srv" = s3s-fs ] && ! command -v s3s-fs >/dev/null; then
    echo "s3s-fs not installed (cargo install s3s-fs): skipped" >&2; continue
  fi
  servers+=("$srv")
  start_server "$srv"
  for set in $SETS; do
    r1=$(ostree --repo="base-$set" rev-parse "bench/$set^"); r2=$(ostree --repo="base-$set" rev-parse "bench/$set")
    for i in $(seq "$RUNS"); do one_run "$set" "$i"; done
    R[$set,objects]=$(find "src-$set" -path "src-$set/tmp" -prune -o -type f -print | wc -l)
    R[$set,size]=$(du -sb --exclude=tmp "src-$set" | cut -f1)
    # A real client pulls release 2 from grove's bucket of the last run: through
    # moto's endpoint, or for s3s-fs (which answers signed requests only) from its
    # storage directory over plain HTTP, where it keeps each key as a file.
    url=$endpoint/grove-$set-$RUNS/repo
    if [ "$srv" = s3s-fs ]; then
      port=$(free_port); python3 -m http.server -b 127.0.0.1 -d s3s-root "$port" >/dev/null 2>&1 & web=$!
      for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
      url=http://127.0.0.1:$port/grove-$set-$RUNS/repo
    fi
    rm -rf "client-$set" && ostree --repo="client-$set" init --mode=bare-user
    ostree --repo="client-$set" remote add --no-gpg-verify cdn "$url"
    ostree --repo="client-$set" pull cdn "bench/$set" >/dev/null
    [ "$srv" = s3s-fs ] && kill $web
    [ "$(ostree --repo="client-$set" rev-parse "cdn:bench/$set")" = "$r2" ]
    ostree --repo="client-$set" fsck >/dev/null
  done
  stop_server
done

mib() { echo "scale=1; $1 / 1048576" | bc; }
# cell MEASURE-RESULT: "wall s, N req (PUT/GET/HEAD/LIST/POST), X MiB" (sent)
cell() {
  local t up down put get head list post del
  read -r t up down put get head list post del <<<"$1"
  echo "$t s, $((put + get + head + list + post + del)) req ($put/$get/$head/$list/$post), $(mib "$up") MiB"
}
ratio() { local r; r=$(echo "scale=3; $1 / $2" | bc | sed 's/^\./0./'); case $r in 0.00*) echo "$r" ;; *) printf "%.2f\n" "$r" ;; esac; }
reqs() { local a; read -ra a <<<"$1"; echo $((a[3] + a[4] + a[5] + a[6] + a[7] + a[8])); }
{
  echo "<!-- begin bench/publish-bench.sh output -->"
  echo "## Publishing to S3: \`grove publish\` against \`aws s3 sync\`"
  echo
  echo "Generated by \`bench/publish-bench.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $($GROVE --version), $(aws --version 2>&1 | cut -d' ' -f1),"
  echo "moto $(python3 -c 'import moto; print(moto.__version__)'), $(s3s-fs --version 2>/dev/null || echo 's3s-fs not installed'))."
  echo "Each run publishes an archive repo holding release 1"
  echo "(\`grove publish\` to one bucket, \`aws s3 sync\` of the same directory to another, \`tmp/\` left out),"
  echo "then the repo gets release 2 with a FROM→TO static delta and both run again. Two servers on loopback:"
  echo "moto (Python; the tests' server) and s3s-fs (Rust), whose own cost per request is far smaller."
  echo "Requests are counted from the server's log (PUT/GET/HEAD/LIST/POST; POST is multipart). MiB sent:"
  echo "for moto, bytes on the wire client → server (requests with their bodies), counted by"
  echo "\`bench/tcp-count.py\` in front of moto; for s3s-fs, the requests' Content-Length. Unsigned summary, grove's default 16 uploads in flight,"
  echo "aws's default 10. A real \`ostree\` client pulls release 2 from grove's bucket after the last run."
  echo
  echo "Package sets (bench/debs.sh), release 1 → release 2:"
  echo
  for set in $SETS; do
    echo "- $set: ${PKGS[$set]//|/ → } (${R[$set,files]} files in release 2; the archive repo then holds ${R[$set,objects]} files, $(mib "${R[$set,size]}") MiB)"
  done
  echo
  echo "Cells: wall time, requests (PUT/GET/HEAD/LIST/POST), MiB sent."
  echo
  echo "| server | set | run | publish | \`grove publish\` | \`aws s3 sync\` | grove/sync time | grove/sync requests |"
  echo "|---|---|---|---|---|---|---:|---:|"
  for srv in "${servers[@]}"; do
    for set in $SETS; do
      for i in $(seq "$RUNS"); do
        for n in 1 2; do
          g=${R[$srv,$set,$i,grove,$n]}; s=${R[$srv,$set,$i,sync,$n]}
          label=""; srvlabel=""; [ "$i$n" = 11 ] && label=$set && srvlabel=$srv
          echo "| $srvlabel | $label | $i | $([ $n = 1 ] && echo initial || echo incremental) | $(cell "$g") | $(cell "$s") | $(ratio "${g%% *}" "${s%% *}") | $(ratio "$(reqs "$g")" "$(reqs "$s")") |"
        done
      done
    done
  done
  echo
  echo "<!-- end bench/publish-bench.sh output -->"
} > section.md
cat section.md
doc_section publish-bench.sh section.md
