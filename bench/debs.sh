# bench/debs.sh: sourced by the benchmarks that need two real releases of Debian
# packages and a logging HTTP server (delta-bench.sh, mirror-bench.sh).
#
# Expects: $here (the repository root), and runs in the benchmark's work directory.
# Provides:
#   PKGS[SET]          "release-1 packages|release-2 packages"
#   prepare SET        base-SET: an archive repo whose ref bench/SET is release 2,
#                      its parent release 1 (committed by ostree, owner 0:0);
#                      tree-SET-1 and tree-SET-2 are the unpacked trees
#   serve DIR LOG      starts bench/delta-http.py on a free loopback port for DIR,
#                      logging to LOG; sets $port and $server (the pid)
#   http_totals LOG    "total delta-bytes delta-parts loose-objects loose-bytes" of LOG's 200s
#   doc_section NAME FILE  puts FILE into docs/performance.md between the markers of
#                      bench/NAME's output (replacing what was there), or at its end

declare -A PKGS=(
  [libc6-systemd]="libc6=2.36-9+deb12u7 systemd=252.38-1~deb12u1|libc6=2.36-9+deb12u14 systemd=252.39-1~deb12u2"
  [postgresql]="postgresql-15=15.18-0+deb12u1|postgresql-15=15.20-0+deb12u1"
  # A base system whose point release updates libc6 and systemd only.
  [base-system]="bash coreutils util-linux perl-base libc6=2.36-9+deb12u7 systemd=252.38-1~deb12u1|bash coreutils util-linux perl-base libc6=2.36-9+deb12u14 systemd=252.39-1~deb12u2"
)

prepare() {
  local set=$1 spec=${PKGS[$1]} n pkgs
  [ -f "base-$set/done" ] && return
  rm -rf "base-$set" && ostree --repo="base-$set" init --mode=archive
  for n in 1 2; do
    if [ $n = 1 ]; then pkgs=${spec%%|*}; else pkgs=${spec##*|}; fi
    mkdir -p "debs/$set/$n" && (cd "debs/$set/$n" && ls ./*.deb >/dev/null 2>&1 || apt-get download $pkgs >/dev/null)
    rm -rf "tree-$set-$n" && mkdir "tree-$set-$n"
    for d in "debs/$set/$n"/*.deb; do dpkg-deb -x "$d" "tree-$set-$n"; done
    ostree --repo="base-$set" commit -b "bench/$set" --owner-uid=0 --owner-gid=0 \
      --timestamp="2024-01-0$n" -s "release $n" --tree=dir="tree-$set-$n" >/dev/null
  done
  touch "base-$set/done"
}

serve() {
  local dir=$1 log=$2 i
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  : > "$log"
  python3 "$here/bench/delta-http.py" "$dir" "$port" "$log" & server=$!
  for i in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/config" && break; sleep 0.1; done
}

http_totals() {
  awk '$3 == 200 { total += $4 }
       $3 == 200 && $2 ~ /^\/deltas\// { delta += $4; if ($2 !~ /superblock$/) parts++ }
       $3 == 200 && $2 ~ /^\/objects\// && $2 !~ /commitmeta$/ { loose++; lbytes += $4 }
       END { printf "%d %d %d %d %d\n", total, delta, parts, loose, lbytes }' "$1"
}

doc_section() {
  local name=$1 file=$2 doc=$here/docs/performance.md
  if grep -q "^<!-- begin bench/$name output -->" "$doc"; then
    awk -v f="$file" -v b="<!-- begin bench/$name output -->" -v e="<!-- end bench/$name output -->" '
      $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
      $0 == e { skip = 0; next }
      !skip' "$doc" > "$doc.new"
  else
    { cat "$doc"; echo; cat "$file"; } > "$doc.new"
  fi
  mv "$doc.new" "$doc"
}
