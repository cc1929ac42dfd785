//! fsfloor: the file-system floor of the `bench/scale.sh` steps that stay
//! above 0.3x of ostree's wall time (issue 16). Each mode does only the
//! file-system work its step cannot do without, the fewest syscalls that do
//! it, on `--threads N` threads (default 2) that split the work by directory
//! so no two of them wait on one directory's lock where the step allows it.
//! It does not use grove's library: it is what grove is compared with.
//!
//! Build and run (scale.sh does this with `FLOOR=1`):
//!
//! ```text
//! cargo build --profile ci --bench fsfloor
//! target/ci/deps/fsfloor-HASH MODE ARGS [--threads N] [--json] [OPTIONS]
//! ```
//!
//! (`cargo bench --profile ci --bench fsfloor -- MODE ARGS` runs it too.)
//! It prints one line: the mode, `wall=` seconds of the timed part,
//! `sync=` seconds of it in the final `syncfs`, `plan=` seconds of the
//! untimed listing before the timed part, the thread count, the
//! item count, and how many of each syscall the timed part made
//! (`--json`: the same as one JSON object). Any failure ends it with a line
//! naming the path.
//!
//! Modes, and what is fair about each:
//!
//! - `link REPO CHECKOUT DEST` — checkout of a bare-user repository with
//!   hardlinks (`checkout -U`). CHECKOUT is a hardlink checkout of the same
//!   commit made from REPO beforehand (by any tool; or from a repository
//!   REPO is a `cp -al` copy of: inode numbers are kept), so its files are
//!   REPO's objects; the untimed plan pairs each of its files with its
//!   object by inode number, and the links are made from the objects, not
//!   from CHECKOUT. REPO should hold one commit (scale.sh's `bu`): all its
//!   metadata is read. A real checkout learns the pairs from the dirtrees,
//!   so the timed part reads every dirtree, dirmeta and commit of REPO
//!   (open, read, close; the parse is taken as free), then creates DEST
//!   and each directory (`mkdirat`, one `openat` to link into it) and links
//!   each file from its object (`linkat`), directory level by level, the
//!   directories of a level split over the threads. `--meta` adds what a
//!   bare-user checkout needs to tell a symlink from a file, a `fstatat` and
//!   a `getxattrat(user.ostreemeta)` per object, relative to its
//!   `objects/XX` (`lgetxattr` of its path before Linux 6.13; grove and
//!   ostree do these).
//! - `commit SRC REPO` — commit of a whole tree into a fresh bare-user
//!   repository. Every part of it is timed, the walk too: a real commit must
//!   read the source directories. `mkdirat` of the 256 `objects/XX`, then
//!   per directory `openat` and `getdents64`, per regular file `openat`,
//!   `fstat` (the mode, owner and group are part of the object),
//!   one `read` of the whole file, `close`, the SHA-256 of its bytes (every
//!   tool hashes the content; `--no-hash` names objects from a counter
//!   instead, so both numbers can be shown), `openat(O_TMPFILE)` in
//!   `REPO/tmp`, `write`, `fsetxattr(user.ostreemeta)` with the file's real
//!   uid, gid and mode (12 bytes: a valid value for a file without xattrs),
//!   `linkat` to `objects/XX/SHA256.file`, `close`; per directory one more
//!   object of its names and hashes as its `.dirtree`, and one `.dirmeta`
//!   and one `.commit`; `syncfs` at the end (both tools sync before the ref
//!   moves). Objects are named by the SHA-256 of the bytes alone, not of
//!   ostree's header and bytes: `sha256sum` of the source file gives the
//!   name. `--full` adds the `fchmod` and `futimens` grove does per object.
//! - `unpack SRC REPO [--only BU]` — pull-local from an archive repository
//!   into a bare-user one. Per `.filez` of SRC: `openat`, `read` of the whole
//!   file, `close`, inflate (raw deflate after the framed header), then the
//!   same `O_TMPFILE`, `write`, `fsetxattr` (uid, gid, mode from the
//!   header), `linkat` as `.file`, `close`; dirtree, dirmeta and commit
//!   objects are read (the walk) and hardlinked from SRC as grove and
//!   ostree do; `syncfs` at the end. With `--only BU` only the objects BU
//!   holds are moved (the bare-user repository of the tip, i.e. exactly
//!   what pulling the tip moves); the listing of BU is the untimed plan,
//!   standing in for the dirtree parse. Symlinks are skipped (a symlink's
//!   `.filez` has no body; the scale tree has none); `--full` adds `fchmod`
//!   and `futimens`.
//! - `copy SRC DST [--only BU]` — pull-local between archive repositories
//!   on one filesystem, which grove and ostree both do by hardlinking each
//!   object: `mkdirat` of DST's `objects/XX`, a read of each dirtree,
//!   dirmeta and commit (the walk), one `linkat` per object, `syncfs`.
//! - `unlink REPO` — prune with every ref deleted: per `objects/XX`,
//!   `openat`, `getdents64` and one `unlinkat` per entry. No sync (neither
//!   tool syncs after deleting). `--meta` adds a `fstatat` per entry: the
//!   size both tools add up to report the bytes freed.
//! - `refs REPO` — what `status` (and ostree's `refs`) cannot do without:
//!   list `refs/heads` recursively (`openat` and `getdents64` per
//!   directory, each relative to its parent) and read every ref file
//!   (`openat` relative to its directory, one `read`, `close`), on one
//!   thread. It is timed from the start of `main`; run it under
//!   `perf stat -r N` for the whole process, start included, as the tools
//!   are measured.
//!
//! Work is split by `objects/XX` directory (unpack, copy, unlink) or by
//! source directory (commit, link): a thread takes one whole directory at a
//! time. A commit's objects land in directories named by their hash, so
//! there two threads may link into one `objects/XX` at once, as in any tool.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The syscalls counted, in the order they are printed.
#[derive(Clone, Copy)]
enum Sys {
    Open,
    Getdents,
    Fstat,
    Read,
    Write,
    Close,
    Mkdir,
    Link,
    Unlink,
    Setxattr,
    Getxattr,
    Fchmod,
    Futimens,
    Syncfs,
}

const NAMES: [&str; 14] = [
    "openat",
    "getdents64",
    "fstat",
    "read",
    "write",
    "close",
    "mkdirat",
    "linkat",
    "unlinkat",
    "fsetxattr",
    "lgetxattr",
    "fchmod",
    "futimens",
    "syncfs",
];

const OSTREEMETA: &CStr = c"user.ostreemeta";

/// Prints what failed and where, and exits: a bench tool has no caller to
/// hand an error to.
fn die(what: &str, path: &dyn std::fmt::Display, err: io::Error) -> ! {
    eprintln!("fsfloor: {what} {path}: {err}");
    std::process::exit(1)
}

fn cstr(s: &[u8]) -> CString {
    CString::new(s).expect("paths hold no NUL")
}

fn check(r: libc::c_int, what: &str, path: &dyn std::fmt::Display) -> libc::c_int {
    if r < 0 {
        die(what, path, io::Error::last_os_error());
    }
    r
}

/// One directory entry from `getdents64`.
struct Entry {
    name: CString,
    kind: u8,
    ino: u64,
}

/// Whether `linkat(fd, "", …, AT_EMPTY_PATH)` is refused (it needs
/// CAP_DAC_READ_SEARCH); then temp files are linked through `/proc/self/fd`.
static LINK_VIA_PROC: AtomicBool = AtomicBool::new(false);

/// One thread's syscalls, each counted as it is made.
#[derive(Default)]
struct Sc {
    n: [u64; 14],
    buf: Vec<u8>,
}

impl Sc {
    fn count(&mut self, s: Sys) {
        self.n[s as usize] += 1;
    }

    fn openat(&mut self, dir: RawFd, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> RawFd {
        self.count(Sys::Open);
        // SAFETY: a NUL-terminated name; the kernel checks the descriptor.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, mode) };
        check(fd, "open", &name.to_string_lossy())
    }

    fn open_dir(&mut self, dir: RawFd, name: &CStr) -> RawFd {
        self.openat(dir, name, libc::O_RDONLY | libc::O_DIRECTORY, 0)
    }

    fn close(&mut self, fd: RawFd) {
        self.count(Sys::Close);
        // SAFETY: fd is one this program opened and closes once.
        unsafe { libc::close(fd) };
    }

    fn mkdirat(&mut self, dir: RawFd, name: &CStr, exist_ok: bool) {
        self.count(Sys::Mkdir);
        // SAFETY: a NUL-terminated name.
        let r = unsafe { libc::mkdirat(dir, name.as_ptr(), 0o755) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if !(exist_ok && e.raw_os_error() == Some(libc::EEXIST)) {
                die("mkdir", &name.to_string_lossy(), e);
            }
        }
    }

    /// Every entry of the directory open at `fd`, `.` and `..` left out.
    fn list(&mut self, fd: RawFd, what: &str) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.count(Sys::Getdents);
            // SAFETY: buf is writable for its length.
            let n = unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) };
            if n < 0 {
                die("getdents64", &what, io::Error::last_os_error());
            }
            if n == 0 {
                return out;
            }
            let mut off = 0usize;
            while off < n as usize {
                let rec = &buf[off..];
                let ino = u64::from_ne_bytes(rec[..8].try_into().expect("8 bytes"));
                let reclen = u16::from_ne_bytes(rec[16..18].try_into().expect("2 bytes")) as usize;
                let kind = rec[18];
                let name = CStr::from_bytes_until_nul(&rec[19..reclen]).expect("NUL-terminated");
                if name != c"." && name != c".." {
                    out.push(Entry {
                        name: name.to_owned(),
                        kind,
                        ino,
                    });
                }
                off += reclen;
            }
        }
    }

    fn fstat(&mut self, fd: RawFd, what: &CStr) -> libc::stat {
        self.count(Sys::Fstat);
        // SAFETY: st is written by the kernel before it is read.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        check(
            unsafe { libc::fstat(fd, &mut st) },
            "fstat",
            &what.to_string_lossy(),
        );
        st
    }

    fn fstatat(&mut self, dir: RawFd, name: &CStr) -> libc::stat {
        self.count(Sys::Fstat);
        // SAFETY: as in fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        check(r, "fstatat", &name.to_string_lossy());
        st
    }

    /// Reads the whole file open at `fd` into `self.buf`, `hint` bytes
    /// expected: one `read` when the hint is right (a short read of a
    /// regular file is its end).
    fn read_all(&mut self, fd: RawFd, hint: usize, what: &CStr) {
        self.buf.clear();
        self.buf.reserve(hint + 1);
        loop {
            let spare = self.buf.capacity() - self.buf.len();
            self.count(Sys::Read);
            // SAFETY: the spare capacity is writable; len grows only by what was read.
            let n =
                unsafe { libc::read(fd, self.buf.as_mut_ptr().add(self.buf.len()).cast(), spare) };
            if n < 0 {
                die("read", &what.to_string_lossy(), io::Error::last_os_error());
            }
            // SAFETY: the kernel wrote n bytes there.
            unsafe { self.buf.set_len(self.buf.len() + n as usize) };
            if (n as usize) < spare {
                return;
            }
            self.buf.reserve(self.buf.capacity());
        }
    }

    fn write_all(&mut self, fd: RawFd, mut data: &[u8]) {
        while !data.is_empty() {
            self.count(Sys::Write);
            // SAFETY: data is readable for its length.
            let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
            if n < 0 {
                die("write", &"a temporary object", io::Error::last_os_error());
            }
            data = &data[n as usize..];
        }
    }

    fn tmpfile(&mut self, tmp: RawFd) -> RawFd {
        self.openat(tmp, c".", libc::O_TMPFILE | libc::O_WRONLY, 0o644)
    }

    fn setxattr(&mut self, fd: RawFd, value: &[u8]) {
        self.count(Sys::Setxattr);
        // SAFETY: name and value are valid for the call.
        let r = unsafe {
            libc::fsetxattr(
                fd,
                OSTREEMETA.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        check(r, "fsetxattr", &"a temporary object");
    }

    /// The mode and mtime grove gives a bare-user object (`--full`).
    fn chmod_and_zero_mtime(&mut self, fd: RawFd, mode: u32) {
        self.count(Sys::Fchmod);
        // SAFETY: plain calls on an open descriptor.
        check(
            unsafe { libc::fchmod(fd, (mode & 0o775) | 0o400) },
            "fchmod",
            &"a temporary object",
        );
        self.count(Sys::Futimens);
        let times = [
            libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            },
            libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
        ];
        check(
            unsafe { libc::futimens(fd, times.as_ptr()) },
            "futimens",
            &"a temporary object",
        );
    }

    /// Links the finished temporary file `fd` as `name` in `dir`; a name
    /// there already is success (the same object).
    fn link_tmp(&mut self, fd: RawFd, dir: RawFd, name: &CStr) {
        self.count(Sys::Link);
        let r = if LINK_VIA_PROC.load(Ordering::Relaxed) {
            let proc = cstr(format!("/proc/self/fd/{fd}").as_bytes());
            // SAFETY: NUL-terminated paths.
            unsafe {
                libc::linkat(
                    libc::AT_FDCWD,
                    proc.as_ptr(),
                    dir,
                    name.as_ptr(),
                    libc::AT_SYMLINK_FOLLOW,
                )
            }
        } else {
            // SAFETY: as above; "" with AT_EMPTY_PATH names fd itself.
            unsafe { libc::linkat(fd, c"".as_ptr(), dir, name.as_ptr(), libc::AT_EMPTY_PATH) }
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EEXIST) => {}
                Some(libc::EPERM) | Some(libc::ENOENT)
                    if !LINK_VIA_PROC.load(Ordering::Relaxed) =>
                {
                    LINK_VIA_PROC.store(true, Ordering::Relaxed);
                    self.n[Sys::Link as usize] -= 1;
                    self.link_tmp(fd, dir, name)
                }
                _ => die("linkat", &name.to_string_lossy(), e),
            }
        }
    }

    fn linkat(&mut self, from_dir: RawFd, from: &CStr, to_dir: RawFd, to: &CStr) {
        self.count(Sys::Link);
        // SAFETY: NUL-terminated names.
        let r = unsafe { libc::linkat(from_dir, from.as_ptr(), to_dir, to.as_ptr(), 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                die("linkat", &from.to_string_lossy(), e);
            }
        }
    }

    fn unlinkat(&mut self, dir: RawFd, name: &CStr) {
        self.count(Sys::Unlink);
        // SAFETY: a NUL-terminated name.
        check(
            unsafe { libc::unlinkat(dir, name.as_ptr(), 0) },
            "unlink",
            &name.to_string_lossy(),
        );
    }

    /// `user.ostreemeta` of `name` under `dir` with `getxattrat` (Linux
    /// 6.13: one name looked up, as grove does), else of `path` with
    /// `lgetxattr`.
    fn getxattrat(&mut self, dir: RawFd, name: &CStr, path: impl FnOnce() -> CString) {
        #[repr(C)]
        struct XattrArgs {
            value: u64,
            size: u32,
            flags: u32,
        }
        static ENOSYS: AtomicBool = AtomicBool::new(false);
        if !ENOSYS.load(Ordering::Relaxed) {
            let mut v = [0u8; 256];
            let mut args = XattrArgs {
                value: v.as_mut_ptr() as u64,
                size: v.len() as u32,
                flags: 0,
            };
            // SAFETY: getxattrat(2) with a NUL-terminated name and path and
            // args describing v, which is writable for its length.
            let r = unsafe {
                libc::syscall(
                    464,
                    dir,
                    name.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                    OSTREEMETA.as_ptr(),
                    &mut args as *mut XattrArgs,
                    std::mem::size_of::<XattrArgs>(),
                )
            };
            if r >= 0 {
                self.count(Sys::Getxattr);
                return;
            }
            let e = io::Error::last_os_error();
            // As grove: ENOSYS before Linux 6.13, EPERM from a seccomp filter.
            if !matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
                die("getxattrat", &name.to_string_lossy(), e);
            }
            ENOSYS.store(true, Ordering::Relaxed);
        }
        self.getxattr(&path());
    }

    fn getxattr(&mut self, path: &CStr) {
        self.count(Sys::Getxattr);
        let mut v = [0u8; 256];
        // SAFETY: v is writable for its length.
        let r = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                OSTREEMETA.as_ptr(),
                v.as_mut_ptr().cast(),
                v.len(),
            )
        };
        if r < 0 {
            die(
                "lgetxattr",
                &path.to_string_lossy(),
                io::Error::last_os_error(),
            );
        }
    }

    /// Syncs the filesystem of `fd`; returns how long that took.
    fn syncfs(&mut self, fd: RawFd) -> Duration {
        self.count(Sys::Syncfs);
        let t = Instant::now();
        // SAFETY: a plain call on an open descriptor.
        check(unsafe { libc::syncfs(fd) }, "syncfs", &"the repository");
        t.elapsed()
    }

    /// Opens, reads and closes `name` in `dir` (a metadata object the walk
    /// must read); the bytes are left in `self.buf`.
    fn read_object(&mut self, dir: RawFd, name: &CStr) {
        let fd = self.openat(dir, name, libc::O_RDONLY, 0);
        self.read_all(fd, 64 * 1024, name);
        self.close(fd);
    }
}

/// Runs `f` on `threads` threads over `items`, each thread taking the next
/// item as it finishes one; returns the summed syscall counts.
fn parallel<T: Sync>(threads: usize, items: &[T], f: impl Fn(&mut Sc, &T) + Sync) -> [u64; 14] {
    let next = AtomicUsize::new(0);
    let total = Mutex::new([0u64; 14]);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut sc = Sc::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    f(&mut sc, item);
                }
                add(
                    &mut total.lock().expect("no thread panics holding it"),
                    &sc.n,
                );
            });
        }
    });
    total.into_inner().expect("no thread panicked")
}

fn add(to: &mut [u64; 14], from: &[u64; 14]) {
    for (t, f) in to.iter_mut().zip(from) {
        *t += f;
    }
}

fn open_path(p: &str) -> RawFd {
    let c = cstr(p.as_bytes());
    // SAFETY: a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    check(fd, "open", &p)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 64-hex-digit name from a counter (`--no-hash`), spread over the 256
/// `objects/XX` directories as hashes are.
fn counter_name(n: u64) -> String {
    let mut x = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.push_str(&format!("{:016x}", z ^ (z >> 31)));
    }
    out
}

/// The `objects/XX` directory of a hex name (its index 0..256).
fn prefix(name: &str) -> usize {
    usize::from_str_radix(&name[..2], 16).expect("hex name")
}

fn xx_names() -> Vec<CString> {
    (0..256)
        .map(|i| cstr(format!("{i:02x}").as_bytes()))
        .collect()
}

/// Creates (if missing) and opens `REPO/objects/XX` for every XX.
fn object_dirs(sc: &mut Sc, repo: RawFd) -> Vec<RawFd> {
    sc.mkdirat(repo, c"objects", true);
    let objects = sc.open_dir(repo, c"objects");
    let dirs = xx_names()
        .iter()
        .map(|xx| {
            sc.mkdirat(objects, xx, true);
            sc.open_dir(objects, xx)
        })
        .collect();
    sc.close(objects);
    dirs
}

/// Opens `REPO/objects/XX` for every XX that exists (-1 where none).
fn existing_object_dirs(sc: &mut Sc, repo: RawFd) -> Vec<RawFd> {
    let objects = sc.open_dir(repo, c"objects");
    let dirs = xx_names()
        .iter()
        .map(|xx| {
            sc.count(Sys::Open);
            // SAFETY: a NUL-terminated name.
            unsafe {
                libc::openat(
                    objects,
                    xx.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            }
        })
        .collect();
    sc.close(objects);
    dirs
}

fn is_metadata(name: &[u8]) -> bool {
    name.ends_with(b".dirtree") || name.ends_with(b".dirmeta") || name.ends_with(b".commit")
}

struct Opts {
    threads: usize,
    json: bool,
    hash: bool,
    full: bool,
    meta: bool,
    only: Option<String>,
    args: Vec<String>,
}

fn parse_args() -> (String, Opts) {
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    let usage = "usage: fsfloor link|commit|unpack|copy|unlink|refs ARGS [--threads N] [--json] \
                 [--no-hash] [--full] [--meta] [--only BU_REPO]";
    let Some(mode) = it.next() else {
        eprintln!("{usage}");
        std::process::exit(2)
    };
    let mut o = Opts {
        threads: 2,
        json: false,
        hash: true,
        full: false,
        meta: false,
        only: None,
        args: Vec::new(),
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--threads" => {
                o.threads = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| {
                        eprintln!("--threads needs a positive number");
                        std::process::exit(2)
                    })
            }
            "--json" => o.json = true,
            "--no-hash" => o.hash = false,
            "--full" => o.full = true,
            "--meta" => o.meta = true,
            "--only" => o.only = it.next(),
            _ if a.starts_with("--") => {
                eprintln!("unknown option {a}\n{usage}");
                std::process::exit(2)
            }
            _ => o.args.push(a),
        }
    }
    let want = match mode.as_str() {
        "link" => 3,
        "commit" | "unpack" | "copy" => 2,
        "unlink" | "refs" => 1,
        _ => 0,
    };
    if want == 0 || o.args.len() != want {
        eprintln!("{usage}");
        std::process::exit(2)
    }
    (mode, o)
}

/// What one mode measured.
struct Report {
    plan: Duration,
    wall: Duration,
    /// Of `wall`, the time in the final `syncfs`.
    sync: Duration,
    items: u64,
    counts: [u64; 14],
}

fn main() {
    let (mode, o) = parse_args();
    let r = match mode.as_str() {
        "link" => link(&o),
        "commit" => commit(&o),
        "unpack" | "copy" => pull(&o, mode == "unpack"),
        "refs" => refs(&o),
        _ => unlink(&o),
    };
    let counts: Vec<(&str, u64)> = NAMES
        .iter()
        .copied()
        .zip(r.counts)
        .filter(|&(_, n)| n > 0)
        .collect();
    let mut fields: Vec<(&str, String)> = vec![
        ("wall", format!("{:.3}", r.wall.as_secs_f64())),
        ("sync", format!("{:.3}", r.sync.as_secs_f64())),
        ("plan", format!("{:.3}", r.plan.as_secs_f64())),
        ("threads", o.threads.to_string()),
        ("items", r.items.to_string()),
    ];
    if o.json {
        let sys: Vec<String> = counts
            .iter()
            .map(|(k, n)| format!("\"{k}\": {n}"))
            .collect();
        fields.push(("syscalls", format!("{{{}}}", sys.join(", "))));
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("\"{k}\": {v}"))
            .collect();
        println!("{{\"mode\": \"{mode}\", {}}}", body.join(", "));
    } else {
        fields.extend(counts.iter().map(|(k, n)| (*k, n.to_string())));
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("fsfloor {mode} {}", body.join(" "));
    }
}

/// A directory of the checkout to make, and its files: (object directory
/// index, object name, file name).
struct LinkDir {
    rel: CString,
    files: Vec<(usize, CString, CString)>,
}

fn link(o: &Opts) -> Report {
    let (repo, co, dest) = (&o.args[0], &o.args[1], &o.args[2]);
    let t0 = Instant::now();
    let mut sc = Sc::default();
    // Plan (untimed): each object's inode, then the checkout's tree by levels.
    let repo_fd = open_path(repo);
    let objdirs = existing_object_dirs(&mut sc, repo_fd);
    let mut by_ino = std::collections::HashMap::new();
    let mut metadata: Vec<(usize, CString)> = Vec::new();
    for (i, &fd) in objdirs.iter().enumerate() {
        if fd < 0 {
            continue;
        }
        for e in sc.list(fd, repo) {
            let b = e.name.as_bytes();
            if b.ends_with(b".file") {
                by_ino.insert(e.ino, (i, e.name));
            } else if is_metadata(b) {
                metadata.push((i, e.name));
            }
        }
    }
    let co_fd = open_path(co);
    let mut levels: Vec<Vec<LinkDir>> = Vec::new();
    let mut frontier = vec![cstr(b".")];
    let mut skipped = 0u64;
    while !frontier.is_empty() {
        let mut level = Vec::new();
        let mut below = Vec::new();
        for rel in frontier {
            let fd = sc.open_dir(co_fd, &rel);
            let mut files = Vec::new();
            for e in sc.list(fd, co) {
                let kind = if e.kind == libc::DT_UNKNOWN {
                    sc.fstatat(fd, &e.name).st_mode & libc::S_IFMT
                } else {
                    u32::from(e.kind) << 12
                };
                let path = [rel.as_bytes(), b"/", e.name.as_bytes()].concat();
                match kind {
                    libc::S_IFDIR => below.push(cstr(&path)),
                    libc::S_IFREG => {
                        let Some((xx, obj)) = by_ino.get(&e.ino) else {
                            die(
                                "no object in the repository is",
                                &String::from_utf8_lossy(&path),
                                io::Error::other(
                                    "CHECKOUT must be a hardlink checkout (-U) from REPO",
                                ),
                            )
                        };
                        files.push((*xx, obj.clone(), e.name));
                    }
                    _ => skipped += 1,
                }
            }
            sc.close(fd);
            level.push(LinkDir { rel, files });
        }
        levels.push(level);
        frontier = below;
    }
    if skipped > 0 {
        eprintln!("fsfloor: {skipped} entries that are neither files nor directories skipped");
    }
    let items = levels.iter().flatten().map(|d| d.files.len() as u64).sum();
    let plan = t0.elapsed();

    // Timed: read the tree's metadata, then make each level and link its files.
    let t1 = Instant::now();
    let mut counts = parallel(o.threads, &metadata, |sc, (xx, name)| {
        sc.read_object(objdirs[*xx], name)
    });
    let objdir_paths: Vec<String> = xx_names()
        .iter()
        .map(|xx| format!("{repo}/objects/{}", xx.to_string_lossy()))
        .collect();
    let mut sc = Sc::default();
    sc.mkdirat(libc::AT_FDCWD, &cstr(dest.as_bytes()), false);
    let dest_fd = sc.open_dir(libc::AT_FDCWD, &cstr(dest.as_bytes()));
    add(&mut counts, &sc.n);
    for (depth, level) in levels.iter().enumerate() {
        let c = parallel(o.threads, level, |sc, d| {
            let fd = if depth == 0 {
                dest_fd
            } else {
                sc.mkdirat(dest_fd, &d.rel, false);
                sc.open_dir(dest_fd, &d.rel)
            };
            for (xx, obj, name) in &d.files {
                if o.meta {
                    sc.fstatat(objdirs[*xx], obj);
                    sc.getxattrat(objdirs[*xx], obj, || {
                        cstr(&[objdir_paths[*xx].as_bytes(), b"/", obj.as_bytes()].concat())
                    });
                }
                sc.linkat(objdirs[*xx], obj, fd, name);
            }
            if depth > 0 {
                sc.close(fd);
            }
        });
        add(&mut counts, &c);
    }
    Report {
        plan,
        wall: t1.elapsed(),
        sync: Duration::ZERO,
        items,
        counts,
    }
}

/// A source directory waiting to be read by `commit`'s walk.
struct Walk {
    queue: Mutex<Vec<CString>>,
    pending: AtomicUsize,
}

fn commit(o: &Opts) -> Report {
    let (src, repo) = (&o.args[0], &o.args[1]);
    let t0 = Instant::now();
    let mut sc = Sc::default();
    let src_fd = open_path(src);
    let repo_fd = open_path(repo);
    let tmp = sc.open_dir(repo_fd, c"tmp");
    let objdirs = object_dirs(&mut sc, repo_fd);
    let counter = AtomicU64::new(0);
    let files = AtomicU64::new(0);
    let name_of = |data: &[u8]| -> String {
        if o.hash {
            hex(&Sha256::digest(data))
        } else {
            counter_name(counter.fetch_add(1, Ordering::Relaxed))
        }
    };
    // One small metadata object: O_TMPFILE, write, linkat.
    let put_meta = |sc: &mut Sc, bytes: &[u8], ext: &str| {
        let name = name_of(bytes);
        let fd = sc.tmpfile(tmp);
        sc.write_all(fd, bytes);
        sc.link_tmp(
            fd,
            objdirs[prefix(&name)],
            &cstr(format!("{}.{ext}", &name[2..]).as_bytes()),
        );
        sc.close(fd);
        name
    };
    let dirmeta = put_meta(&mut sc, &[0u8; 12], "dirmeta");
    let walk = Walk {
        queue: Mutex::new(vec![cstr(b".")]),
        pending: AtomicUsize::new(1),
    };
    let total = Mutex::new(sc.n);
    std::thread::scope(|s| {
        for _ in 0..o.threads {
            s.spawn(|| {
                let mut sc = Sc::default();
                let mut data = Vec::new();
                loop {
                    let next = walk.queue.lock().expect("no panic holding it").pop();
                    let Some(rel) = next else {
                        if walk.pending.load(Ordering::Acquire) == 0 {
                            break;
                        }
                        std::thread::sleep(Duration::from_micros(50));
                        continue;
                    };
                    let dfd = sc.open_dir(src_fd, &rel);
                    let mut tree = Vec::new();
                    for e in sc.list(dfd, src) {
                        let mut kind = u32::from(e.kind) << 12;
                        if e.kind == libc::DT_UNKNOWN {
                            kind = sc.fstatat(dfd, &e.name).st_mode & libc::S_IFMT;
                        }
                        if kind == libc::S_IFDIR {
                            let path = cstr(&[rel.as_bytes(), b"/", e.name.as_bytes()].concat());
                            walk.pending.fetch_add(1, Ordering::AcqRel);
                            walk.queue.lock().expect("no panic holding it").push(path);
                            tree.extend_from_slice(e.name.as_bytes());
                            tree.push(0);
                            continue;
                        }
                        if kind != libc::S_IFREG {
                            continue;
                        }
                        let fd = sc.openat(dfd, &e.name, libc::O_RDONLY | libc::O_NOFOLLOW, 0);
                        let st = sc.fstat(fd, &e.name);
                        sc.read_all(fd, st.st_size as usize, &e.name);
                        sc.close(fd);
                        std::mem::swap(&mut data, &mut sc.buf);
                        let name = name_of(&data);
                        let out = sc.tmpfile(tmp);
                        sc.write_all(out, &data);
                        let meta: Vec<u8> = [st.st_uid, st.st_gid, st.st_mode]
                            .iter()
                            .flat_map(|v| v.to_be_bytes())
                            .collect();
                        sc.setxattr(out, &meta);
                        if o.full {
                            sc.chmod_and_zero_mtime(out, st.st_mode);
                        }
                        sc.link_tmp(
                            out,
                            objdirs[prefix(&name)],
                            &cstr(format!("{}.file", &name[2..]).as_bytes()),
                        );
                        sc.close(out);
                        files.fetch_add(1, Ordering::Relaxed);
                        tree.extend_from_slice(e.name.as_bytes());
                        tree.push(0);
                        tree.extend_from_slice(name.as_bytes());
                    }
                    sc.close(dfd);
                    tree.extend_from_slice(dirmeta.as_bytes());
                    put_meta(&mut sc, &tree, "dirtree");
                    walk.pending.fetch_sub(1, Ordering::AcqRel);
                }
                add(&mut total.lock().expect("no panic holding it"), &sc.n);
            });
        }
    });
    let mut sc = Sc::default();
    put_meta(&mut sc, b"the commit object of this floor run", "commit");
    let sync = sc.syncfs(repo_fd);
    let mut counts = total.into_inner().expect("no thread panicked");
    add(&mut counts, &sc.n);
    Report {
        plan: Duration::ZERO,
        wall: t0.elapsed(),
        sync,
        items: files.into_inner(),
        counts,
    }
}

/// The objects of one `objects/XX` directory to move.
struct Group {
    xx: usize,
    names: Vec<CString>,
}

/// `unpack` (archive to bare-user) and `copy` (archive to archive).
fn pull(o: &Opts, unpack: bool) -> Report {
    let (src, dst) = (&o.args[0], &o.args[1]);
    let t0 = Instant::now();
    let mut sc = Sc::default();
    // Plan (untimed): which objects, by directory.
    let list_from = o.only.as_deref().unwrap_or(src);
    let list_fd = open_path(list_from);
    let list_dirs = existing_object_dirs(&mut sc, list_fd);
    let mut groups = Vec::new();
    for (xx, &fd) in list_dirs.iter().enumerate() {
        if fd < 0 {
            continue;
        }
        let names: Vec<CString> = sc
            .list(fd, list_from)
            .into_iter()
            .filter_map(|e| {
                let b = e.name.as_bytes();
                if let Some(stem) = b.strip_suffix(b".file") {
                    Some(cstr(&[stem, b".filez"].concat()))
                } else if b.ends_with(b".filez") || is_metadata(b) {
                    Some(e.name)
                } else {
                    None
                }
            })
            .collect();
        groups.push(Group { xx, names });
    }
    let items = groups.iter().map(|g| g.names.len() as u64).sum();
    let plan = t0.elapsed();

    let t1 = Instant::now();
    let mut sc = Sc::default();
    let src_fd = open_path(src);
    let dst_fd = open_path(dst);
    let src_dirs = existing_object_dirs(&mut sc, src_fd);
    let dst_dirs = object_dirs(&mut sc, dst_fd);
    let tmp = sc.open_dir(dst_fd, c"tmp");
    let mut counts = parallel(o.threads, &groups, |sc, g| {
        let (from, to) = (src_dirs[g.xx], dst_dirs[g.xx]);
        let mut out = Vec::new();
        let mut filez = Vec::new();
        let mut inflate = flate2::Decompress::new(false);
        for name in &g.names {
            let b = name.as_bytes();
            if is_metadata(b) {
                sc.read_object(from, name);
                sc.linkat(from, name, to, name);
            } else if !unpack {
                sc.linkat(from, name, to, name);
            } else {
                let fd = sc.openat(from, name, libc::O_RDONLY, 0);
                sc.read_all(fd, 256 * 1024, name);
                sc.close(fd);
                std::mem::swap(&mut filez, &mut sc.buf);
                let bad = |why: &str| -> ! {
                    die(
                        "unpack",
                        &name.to_string_lossy(),
                        io::Error::other(why.to_string()),
                    )
                };
                if filez.len() < 8 {
                    bad("shorter than its frame");
                }
                let hlen = u32::from_be_bytes(filez[..4].try_into().expect("4 bytes")) as usize;
                let header = filez
                    .get(8..8 + hlen)
                    .unwrap_or_else(|| bad("header past the end"));
                if header.len() < 20 {
                    bad("header too short");
                }
                let size = u64::from_be_bytes(header[..8].try_into().expect("8 bytes")) as usize;
                let mode = u32::from_be_bytes(header[16..20].try_into().expect("4 bytes"));
                if mode & libc::S_IFMT != libc::S_IFREG {
                    continue; // a symlink: no body (none in the scale tree)
                }
                let meta = header[8..20].to_vec();
                out.clear();
                out.reserve(size);
                inflate.reset(false);
                inflate
                    .decompress_vec(
                        &filez[8 + hlen..],
                        &mut out,
                        flate2::FlushDecompress::Finish,
                    )
                    .unwrap_or_else(|e| bad(&e.to_string()));
                if out.len() != size {
                    bad("inflated size differs from the header's");
                }
                let fd = sc.tmpfile(tmp);
                sc.write_all(fd, &out);
                sc.setxattr(fd, &meta);
                if o.full {
                    sc.chmod_and_zero_mtime(fd, mode);
                }
                let stem = &b[..b.len() - 1]; // NAME.filez -> NAME.file
                sc.link_tmp(fd, to, &cstr(stem));
                sc.close(fd);
            }
        }
    });
    let sync = sc.syncfs(dst_fd);
    add(&mut counts, &sc.n);
    Report {
        plan,
        wall: t1.elapsed(),
        sync,
        items,
        counts,
    }
}

fn unlink(o: &Opts) -> Report {
    let repo = &o.args[0];
    let t0 = Instant::now();
    let mut sc = Sc::default();
    let repo_fd = open_path(repo);
    let dirs: Vec<RawFd> = existing_object_dirs(&mut sc, repo_fd)
        .into_iter()
        .filter(|&fd| fd >= 0)
        .collect();
    let items = AtomicU64::new(0);
    let mut counts = parallel(o.threads, &dirs, |sc, &fd| {
        for e in sc.list(fd, repo) {
            if o.meta {
                sc.fstatat(fd, &e.name);
            }
            sc.unlinkat(fd, &e.name);
            items.fetch_add(1, Ordering::Relaxed);
        }
    });
    add(&mut counts, &sc.n);
    Report {
        plan: Duration::ZERO,
        wall: t0.elapsed(),
        sync: Duration::ZERO,
        items: items.into_inner(),
        counts,
    }
}

fn refs(o: &Opts) -> Report {
    let t0 = Instant::now();
    let mut sc = Sc::default();
    let repo_fd = open_path(&o.args[0]);
    let heads = sc.open_dir(repo_fd, c"refs/heads");
    let mut items = 0;
    read_refs(&mut sc, heads, &mut items);
    Report {
        plan: Duration::ZERO,
        wall: t0.elapsed(),
        sync: Duration::ZERO,
        items,
        counts: sc.n,
    }
}

/// Reads every ref file under the directory open at `fd`, and closes it.
fn read_refs(sc: &mut Sc, fd: RawFd, items: &mut u64) {
    for e in sc.list(fd, "refs") {
        if e.kind == libc::DT_DIR {
            let sub = sc.open_dir(fd, &e.name);
            read_refs(sc, sub, items);
        } else {
            let f = sc.openat(fd, &e.name, libc::O_RDONLY, 0);
            sc.read_all(f, 65, &e.name);
            sc.close(f);
            *items += 1;
        }
    }
    sc.close(fd);
}
