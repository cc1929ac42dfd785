#!/usr/bin/env bash
# Benchmark (issue 13): `grove publish` against `aws s3 sync` of the same archive
# repository to an S3-compatible server on loopback (moto), on two real releases of
# Debian packages (bench/debs.sh), in the same run.
#
#   bench/publish-bench.sh [WORKDIR]      (default: bench-work/publish; needs apt-get download)
#
# For each package set and run: an archive repo at release 1 is published by grove
# to one bucket and synced by `aws s3 sync` to another (initial); then it gets
# release 2 and a FROM->TO static delta (grove static-delta generate) and both run
# again (incremental). moto's request log counts requests by type; bench/tcp-count.py
# sits between the clients and moto and counts the bytes on the wire each way. At
# the end a real ostree client pulls release 2 from grove's bucket.
# Writes its section of docs/performance.md (between the publish-bench markers).
#
# Environment: SETS (default "base-system postgresql"), RUNS (runs per set, each
# on fresh buckets and a fresh repository; default 2), GROVE (the grove binary).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GROVE=${GROVE:-$here/target/release/grove}
work=${1:-$here/bench-work/publish}
SETS=${SETS:-"base-system postgresql"}
RUNS=${RUNS:-2}
mkdir -p "$work" && cd "$work"
[ -x "$GROVE" ] || (cd "$here" && cargo build --release)
command -v aws >/dev/null || python3 -m pip install -q awscli
command -v moto_server >/dev/null || python3 -m pip install -q 'moto[server]'
. "$here/bench/debs.sh"

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
moto_port=$(free_port); s3_port=$(free_port)
moto_server -H 127.0.0.1 -p "$moto_port" >/dev/null 2>moto.log & moto=$!
python3 "$here/bench/tcp-count.py" "$s3_port" "$moto_port" counts & counter=$!
trap 'kill $moto $counter 2>/dev/null || true' EXIT
endpoint=http://127.0.0.1:$s3_port
for i in $(seq 100); do curl -s -m 5 -o /dev/null "$endpoint/" && break; sleep 0.2; done
aws=(aws --endpoint-url "$endpoint")

# measure CMD...: runs CMD; prints "wall up-bytes down-bytes PUT GET HEAD LIST POST DELETE"
# (requests from moto's log, bytes from the counting forwarder).
measure() {
  local l0 u0 d0 u1 d1 t0 t1
  l0=$(wc -l < moto.log); read -r u0 d0 < counts
  t0=$(date +%s.%N)
  "$@" >cmd.out 2>cmd.err || { cat cmd.err >&2; return 1; }
  t1=$(date +%s.%N)
  sleep 0.3 # the forwarder writes its counts every 50 ms
  read -r u1 d1 < counts
  printf '%.2f %d %d ' "$(echo "$t1 - $t0" | bc)" $((u1 - u0)) $((d1 - d0))
  tail -n +$((l0 + 1)) moto.log | awk '
    match($0, /"[A-Z]+ [^ ]+ HTTP/) {
      split(substr($0, RSTART + 1, RLENGTH - 6), r, " "); m = r[1]; p = r[2]
      if (m == "GET" && (p ~ /[?&]list-type=/ || p ~ /^\/[^\/]+\/?(\?|$)/)) m = "LIST"
      n[m]++
    }
    END { printf "%d %d %d %d %d %d\n", n["PUT"], n["GET"], n["HEAD"], n["LIST"], n["POST"], n["DELETE"] }'
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
    "${aws[@]}" s3api put-bucket-policy --bucket "$b" --policy "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::$b/*\"}]}"
  done
  source_at "$set" 1
  "$GROVE" --repo="src-$set" publish add cdn "s3://$gb/repo" --set=endpoint="$endpoint" \
    --set=region=us-east-1 --set=allow-http=true --set=path-style=true
  local n
  for n in 1 2; do
    [ "$n" = 1 ] || source_at "$set" 2
    R[$set,$i,grove,$n]=$(measure "$GROVE" --repo="src-$set" publish cdn)
    R[$set,$i,sync,$n]=$(measure "${aws[@]}" s3 sync --no-progress --exclude 'tmp/*' --exclude .lock "src-$set" "s3://$sb/repo")
    echo "run $i release $n: grove ${R[$set,$i,grove,$n]}; aws s3 sync ${R[$set,$i,sync,$n]}" >&2
  done
}

declare -A R
for set in $SETS; do
  echo "== $set" >&2
  prepare "$set"
  r1=$(ostree --repo="base-$set" rev-parse "bench/$set^"); r2=$(ostree --repo="base-$set" rev-parse "bench/$set")
  R[$set,files]=$(ostree --repo="base-$set" ls -R "$r2" | grep -c '^-')
  for i in $(seq "$RUNS"); do one_run "$set" "$i"; done
  R[$set,objects]=$(find "src-$set" -path "src-$set/tmp" -prune -o -type f -print | wc -l)
  R[$set,size]=$(du -sb --exclude=tmp "src-$set" | cut -f1)
  # A real client pulls release 2 from grove's bucket of the last run.
  rm -rf "client-$set" && ostree --repo="client-$set" init --mode=bare-user
  ostree --repo="client-$set" remote add --no-gpg-verify cdn "$endpoint/grove-$set-$RUNS/repo"
  ostree --repo="client-$set" pull cdn "bench/$set" >/dev/null
  [ "$(ostree --repo="client-$set" rev-parse "cdn:bench/$set")" = "$r2" ]
  ostree --repo="client-$set" fsck >/dev/null
done

mib() { echo "scale=1; $1 / 1048576" | bc; }
# cell MEASURE-RESULT: "wall s, N req (PUT/GET/HEAD/LIST/POST), X MiB" (sent)
cell() {
  local t up down put get head list post del
  read -r t up down put get head list post del <<<"$1"
  echo "$t s, $((put + get + head + list + post + del)) req ($put/$get/$head/$list/$post), $(mib "$up") MiB"
}
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }
reqs() { local a; read -ra a <<<"$1"; echo $((a[3] + a[4] + a[5] + a[6] + a[7] + a[8])); }
{
  echo "<!-- begin bench/publish-bench.sh output -->"
  echo "## Publishing to S3: \`grove publish\` against \`aws s3 sync\`"
  echo
  echo "Generated by \`bench/publish-bench.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $($GROVE --version), $(aws --version 2>&1 | cut -d' ' -f1),"
  echo "moto $(python3 -c 'import moto; print(moto.__version__)'))."
  echo "Each run publishes an archive repo holding release 1"
  echo "(\`grove publish\` to one bucket, \`aws s3 sync\` of the same directory to another, \`tmp/\` left out),"
  echo "then the repo gets release 2 with a FROM→TO static delta and both run again. The server is moto's"
  echo "S3 server on loopback; requests are counted from its log (PUT/GET/HEAD/LIST/POST; POST is multipart),"
  echo "bytes are what the client sent on the wire (requests with their bodies), counted by"
  echo "\`bench/tcp-count.py\` in front of moto. Unsigned summary, grove's default 16 uploads in flight,"
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
  echo "| set | run | publish | \`grove publish\` | \`aws s3 sync\` | grove/sync time | grove/sync requests |"
  echo "|---|---|---|---|---|---:|---:|"
  for set in $SETS; do
    for i in $(seq "$RUNS"); do
      for n in 1 2; do
        g=${R[$set,$i,grove,$n]}; s=${R[$set,$i,sync,$n]}
        label=""; [ "$i$n" = 11 ] && label=$set
        echo "| $label | $i | $([ $n = 1 ] && echo initial || echo incremental) | $(cell "$g") | $(cell "$s") | $(ratio "${g%% *}" "${s%% *}") | $(ratio "$(reqs "$g")" "$(reqs "$s")") |"
      done
    done
  done
  echo
  echo "<!-- end bench/publish-bench.sh output -->"
} > section.md
cat section.md
doc_section publish-bench.sh section.md
