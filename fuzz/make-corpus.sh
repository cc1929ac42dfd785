#!/bin/sh
# Regenerates the seed corpora of the static-delta fuzz targets from real
# deltas: a tiny two-commit repository, deltas made by grove and by ostree
# (FROM->TO with external parts, --inline, --empty --inline), and each
# external xz part also rewritten as an uncompressed ('0') part.
#
#   fuzz/seeds/superblock/*   superblock files
#   fuzz/seeds/part/*         u32-LE superblock length, superblock, part 0
#   fuzz/sources/CHECKSUM      the FROM commit's regular files (read sources)
#   fuzz/seeds/delta_pull/*   delta_pull inputs (grove::delta::fuzz::PullInput):
#                             flags byte, then u32-LE-length-prefixed superblock
#                             and part files
#   fuzz/pull-repo/           the archive repository (config, objects, ref m at
#                             TO, whose parent is FROM) delta_pull pulls from
#
# Usage: fuzz/make-corpus.sh [GROVE]   (default: target/release/grove)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
grove=${1:-$here/../target/release/grove}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
repo=$tmp/repo
ostree --repo="$repo" init --mode=archive

# Deterministic bytes: $1 = seed, $2 = length.
noise() { python3 -c "import random,sys; r=random.Random($1); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range($2)))"; }
mkdir -p "$tmp/tree/d"
noise 7 3000 > "$tmp/tree/d/bin"
printf 'hello\n' > "$tmp/tree/a.txt"
noise 8 600 > "$tmp/tree/same"
ln -s a.txt "$tmp/tree/link"
c1=$(ostree --repo="$repo" commit -b m --timestamp=2020-01-01 --owner-uid=0 --owner-gid=0 "$tmp/tree")
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[100:120]=b'\x01'*20; b+=b'tail'; open(p,'wb').write(b)" "$tmp/tree/d/bin"
printf 'hello again\n' > "$tmp/tree/a.txt"
printf 'new\n' > "$tmp/tree/new"
chmod 600 "$tmp/tree/same"
setfattr -n user.x -v 1 "$tmp/tree/new" 2>/dev/null || true
c2=$(ostree --repo="$repo" commit -b m --timestamp=2020-01-02 --owner-uid=0 --owner-gid=0 "$tmp/tree")

rm -rf "$here/seeds/superblock" "$here/seeds/part" "$here/sources" "$here/seeds/delta_pull" "$here/pull-repo"
mkdir -p "$here/seeds/superblock" "$here/seeds/part" "$here/sources" "$here/seeds/delta_pull" "$here/pull-repo/refs/heads"
cp -r "$repo/config" "$repo/objects" "$here/pull-repo/"
cp "$repo/refs/heads/m" "$here/pull-repo/refs/heads/"
ostree --repo="$repo" ls -R -C "$c1" | while read -r mode _ _ _ sum path; do
    case $mode in -*) ostree --repo="$repo" cat "$c1" "$path" > "$here/sources/$sum" ;; esac
done

# A delta_pull input: $1 = flags, $2 = superblock, then the part files.
pull_input() {
    python3 -c "import sys,struct; fl=int(sys.argv[1]); fs=[open(f,'rb').read() for f in sys.argv[2:]]; sys.stdout.buffer.write(bytes([fl])+b''.join(struct.pack('<I',len(b))+b for b in fs))" "$@"
}

# $1 = seed name, $2 = superblock, $3 = part 0 file (may be empty)
seed() {
    cp "$2" "$here/seeds/superblock/$1"
    pull_input 0 "$2" ${3:+"$3"} > "$here/seeds/delta_pull/$1"
    python3 -c "import sys,struct; sb=open(sys.argv[1],'rb').read(); p=open(sys.argv[2],'rb').read() if sys.argv[2] else b''; sys.stdout.buffer.write(struct.pack('<I',len(sb))+sb+p)" "$2" "${3:-}" > "$here/seeds/part/$1"
    if [ -n "${3:-}" ] && [ "$(head -c1 "$3")" = x ]; then
        { printf '\0'; tail -c +2 "$3" | xz -dc; } > "$tmp/raw0"
        python3 -c "import sys,struct; sb=open(sys.argv[1],'rb').read(); p=open(sys.argv[2],'rb').read(); sys.stdout.buffer.write(struct.pack('<I',len(sb))+sb+p)" "$2" "$tmp/raw0" > "$here/seeds/part/$1-uncompressed"
        # flag 1: served with the part header fixed to the rewritten part
        pull_input 1 "$2" "$tmp/raw0" > "$here/seeds/delta_pull/$1-uncompressed"
    fi
}
for tool in grove ostree; do
    if [ $tool = grove ]; then gen() { "$grove" --repo="$repo" static-delta generate "$@"; }; else gen() { ostree --repo="$repo" static-delta generate "$@" 2>/dev/null; }; fi
    mkdir -p "$tmp/$tool-ext" "$tmp/$tool-inline" "$tmp/$tool-scratch"
    # grove inlines small deltas by default; --no-inline gives ostree's layout (external parts)
    ext=; [ $tool = grove ] && ext=--no-inline
    gen --from="$c1" --to="$c2" $ext --filename="$tmp/$tool-ext/superblock" >/dev/null
    seed $tool-from-to "$tmp/$tool-ext/superblock" "$tmp/$tool-ext/0"
    gen --from="$c1" --to="$c2" --inline --filename="$tmp/$tool-inline/superblock" >/dev/null
    seed $tool-from-to-inline "$tmp/$tool-inline/superblock" ""
    gen --empty --to="$c2" --inline --filename="$tmp/$tool-scratch/superblock" >/dev/null
    seed $tool-scratch-inline "$tmp/$tool-scratch/superblock" ""
done

# Seeds of the targets for what else a server sends (grove::fuzz): objects of
# the same repository, a summary listing the delta, a signed commit's detached
# metadata, and its content as .filez.
for t in summary commit dirtree dirmeta commitmeta filez; do rm -rf "$here/seeds/$t"; mkdir -p "$here/seeds/$t"; done
ostree --repo="$repo" summary -u
cp "$repo/summary" "$here/seeds/summary/ostree"
"$grove" --repo="$repo" summary -u
cp "$repo/summary" "$here/seeds/summary/grove"
export GNUPGHOME="$tmp/gnupg"; mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'fuzz <fuzz@example.com>' rsa2048 sign never 2>/dev/null
ostree --repo="$repo" gpg-sign --gpg-homedir="$GNUPGHOME" "$c2" "$(gpg --batch --with-colons --list-keys | awk -F: '/^fpr/ {print $10; exit}')"
for f in "$repo"/objects/*/*; do
    name=$(basename "$(dirname "$f")")$(basename "$f")
    case $f in
        *.commit) cp "$f" "$here/seeds/commit/${name%.commit}" ;;
        *.dirtree) cp "$f" "$here/seeds/dirtree/${name%.dirtree}" ;;
        *.dirmeta) cp "$f" "$here/seeds/dirmeta/${name%.dirmeta}" ;;
        *.commitmeta) cp "$f" "$here/seeds/commitmeta/${name%.commitmeta}" ;;
        *.filez) cp "$f" "$here/seeds/filez/${name%.filez}" ;;
    esac
done
du -cb "$here/seeds" | tail -1
