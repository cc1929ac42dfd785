#!/usr/bin/env bash
# Acceptance run of the seed workflow on real Debian packages in two versions:
# build repo (bare-user) → component branches → union checkout → rofiles-fuse +
# ldconfig → commit --link-checkout-speedup → pull-local to archive → static
# delta → summary; then a real `ostree` client pulls both releases over HTTP on
# loopback (the second through the delta) and its checkout must equal the union.
#
#   bench/seed-real.sh [WORKDIR]      (needs apt-get download; run as root)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GROVE=${GROVE:-$here/target/release/grove}
work=${1:-$here/bench-work/seed-real}
rm -rf "$work" && mkdir -p "$work/debs" && cd "$work"
g() { "$GROVE" "$@"; }
# Two releases: the security-pocket and the point-release builds of libc6 and systemd.
V1="libc6=2.36-9+deb12u7 systemd=252.38-1~deb12u1"
V2="libc6=2.36-9+deb12u14 systemd=252.39-1~deb12u2"
COMMON="bash coreutils"

g --repo=build-repo init --mode=bare-user
g --repo=repo init --mode=archive-z2
release() {
  local n=$1 pkgs=$2
  mkdir -p "debs/$n" && (cd "debs/$n" && apt-get download $pkgs $COMMON >/dev/null 2>&1)
  for d in debs/$n/*.deb; do
    local p; p=$(basename "$d" | cut -d_ -f1)
    dpkg-deb --fsys-tarfile "$d" | gzip -1 > "$p-bin.tar.gz"
    g --repo=build-repo commit -b "exampleos/x86_64/$p" --tree=tar="$p-bin.tar.gz" -s "$p" >/dev/null
  done
  rm -rf exampleos-build mnt && mkdir mnt
  for d in debs/$n/*.deb; do
    g --repo=build-repo checkout -U --union "exampleos/x86_64/$(basename "$d" | cut -d_ -f1)" exampleos-build
  done
  g rofiles-fuse exampleos-build mnt
  ldconfig -r mnt
  fusermount3 -u mnt
  g --repo=build-repo commit -b exampleos/x86_64/standard --link-checkout-speedup exampleos-build -s "release $n" \
    --add-metadata-string=version="$n"
  g --repo=repo pull-local build-repo exampleos/x86_64/standard
  if [ "$n" != 1 ]; then g --repo=repo static-delta generate exampleos/x86_64/standard; fi
  g --repo=repo summary -u
  ostree --repo=repo fsck >/dev/null
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -c "import runpy, socketserver, sys; socketserver.TCPServer.request_queue_size = 511; sys.argv[0] = 'http.server'; runpy.run_module('http.server', run_name='__main__')" --bind 127.0.0.1 "$port" --directory repo > http.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 1
ostree --repo=client init --mode=bare-user
ostree --repo=client remote add --no-gpg-verify origin "http://127.0.0.1:$port/"

check() {
  local n=$1
  ostree --repo=client pull origin exampleos/x86_64/standard
  rm -rf client-co
  ostree --repo=client checkout -U origin:exampleos/x86_64/standard client-co
  # ostree's -U checkout and grove's union checkout strip the same bits; compare trees.
  diff -r --no-dereference client-co exampleos-build
  [ "$(cd client-co && find . -printf '%P %m %s %y %l\n' | sort | md5sum)" = \
    "$(cd exampleos-build && find . -printf '%P %m %s %y %l\n' | sort | md5sum)" ]
  ostree --repo=client fsck >/dev/null
  echo "release $n: client checkout equals the union ($(find client-co | wc -l) entries)"
}
release 1 "$V1"; check 1
release 2 "$V2"; check 2
grep -c 'GET /deltas/' http.log | sed 's/^/delta requests served for release 2: /'
grep -q 'GET /deltas/' http.log
echo "seed workflow on real packages: OK"
