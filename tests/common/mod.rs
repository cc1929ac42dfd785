//! Shared helpers for the integration tests: temporary directories, running
//! the real `ostree` (the oracle) and `grove` as processes, asserting
//! success with the child's stderr shown on failure, and building the
//! standard fixture tree.
//!
//! A missing `ostree` binary fails the test with a clear message: interop
//! tests never skip.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod gpg;
#[allow(unused_imports)]
pub use gpg::Gpg;
mod s3;
#[allow(unused_imports)]
pub use s3::{S3Request, S3Server, Trap};

/// The repository modes `ostree init --mode=` accepts.
pub const MODES: &[&str] = &[
    "archive",
    "archive-z2",
    "bare",
    "bare-user",
    "bare-user-only",
];

pub fn grove_bin() -> &'static str {
    env!("CARGO_BIN_EXE_grove")
}

/// Path of the real `ostree` binary; panics (fails the test) when absent.
pub fn ostree_bin() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("ostree"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for c in candidates
        .into_iter()
        .chain([PathBuf::from("/usr/bin/ostree")])
    {
        if c.is_file() {
            return c;
        }
    }
    panic!(
        "the real `ostree` binary was not found in PATH or /usr/bin: the interop tests need it as the oracle \
         (install the Debian package `ostree`; .ci/run does this). Refusing to skip."
    );
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("grove-test-")
        .tempdir()
        .expect("creating a temporary directory")
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&shell_quote(a));
    }
    s
}

fn shell_quote(a: &OsStr) -> String {
    let s = a.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:@,+".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Runs `cmd`, returning its output whatever the exit status.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", describe(cmd)))
}

/// Runs `cmd` and panics (showing stdout and stderr) unless it exits 0. Returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    if !out.status.success() {
        panic!(
            "command failed ({}): {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            describe(cmd),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs `cmd` and panics unless it exits non-zero. Returns stderr.
pub fn run_fail(cmd: &mut Command) -> String {
    let out = output(cmd);
    if out.status.success() {
        panic!(
            "command unexpectedly succeeded: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            describe(cmd),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn ostree_cmd(repo: &Path) -> Command {
    let mut c = Command::new(ostree_bin());
    c.arg(format!("--repo={}", repo.display()));
    c
}

/// `grove --repo=REPO`, with the grove under test first in PATH: hooks (the
/// installed samples among them) call `grove` by name.
pub fn grove_cmd(repo: &Path) -> Command {
    let mut c = Command::new(grove_bin());
    c.arg(format!("--repo={}", repo.display()));
    let dir = Path::new(grove_bin()).parent().expect("grove's directory");
    c.env(
        "PATH",
        format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    c
}

/// Runs the real ostree on `repo`, whatever the exit status.
pub fn ostree_output<S: AsRef<OsStr>>(repo: &Path, args: &[S]) -> Output {
    output(ostree_cmd(repo).args(args))
}

/// Runs grove on `repo`, whatever the exit status.
pub fn grove_output<S: AsRef<OsStr>>(repo: &Path, args: &[S]) -> Output {
    output(grove_cmd(repo).args(args))
}

pub fn ostree<S: AsRef<OsStr>>(repo: &Path, args: &[S]) -> String {
    run_ok(ostree_cmd(repo).args(args))
}

pub fn grove<S: AsRef<OsStr>>(repo: &Path, args: &[S]) -> String {
    run_ok(grove_cmd(repo).args(args))
}

/// Runs grove expecting failure; asserts the error is exactly one line
/// starting with `error: ` on stderr, and returns that line.
pub fn grove_fail<S: AsRef<OsStr>>(repo: &Path, args: &[S]) -> String {
    let stderr = run_fail(grove_cmd(repo).args(args));
    assert_one_line_error(&stderr);
    stderr.trim_end().to_string()
}

pub fn assert_one_line_error(stderr: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("error: ") && lines[0].len() > "error: ".len(),
        "expected exactly one line `error: ...` on stderr, got:\n{stderr}"
    );
}

/// Installs an executable hook `NAME` with `body` in REPO/hooks.
pub fn install_hook(repo: &Path, name: &str, body: &str) {
    write(&repo.join("hooks").join(name), body.as_bytes(), 0o755);
}

pub fn init_repo(path: &Path, mode: &str) {
    run_ok(
        Command::new(ostree_bin())
            .arg(format!("--repo={}", path.display()))
            .arg("init")
            .arg(format!("--mode={mode}")),
    );
}

pub fn fsck(repo: &Path) {
    let out = ostree(repo, &["fsck"]);
    assert!(
        out.contains("no errors found"),
        "ostree fsck of {} did not report success:\n{out}",
        repo.display()
    );
}

/// The single checksum a commit command printed.
pub fn checksum_of(stdout: &str) -> String {
    let s = stdout.trim();
    assert!(
        s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "expected one checksum on stdout, got {stdout:?}"
    );
    s.to_string()
}

/// Reads a ref file directly (refs/heads/NAME), None if absent.
pub fn read_ref(repo: &Path, name: &str) -> Option<String> {
    fs::read_to_string(repo.join("refs/heads").join(name))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Deterministic pseudo-random bytes (xorshift64*), no /dev/urandom needed.
pub fn prng_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

pub fn write(path: &Path, data: &[u8], mode: u32) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).expect("mkdir -p");
    }
    fs::write(path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    chmod(path, mode);
}

pub fn mkdir(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    chmod(path, mode);
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

pub fn ln_s(target: &str, link: &Path) {
    symlink(target, link).unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
}

pub fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    grove::tree::xattr::set_path(path, name.as_bytes(), value)
        .unwrap_or_else(|e| panic!("setting xattr {name} on {}: {e}", path.display()));
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The one policy for root-only checks: CI runs as root, so a test that
/// needs root fails with this message when it is not, never passes silently.
pub fn require_root(what: &str) {
    assert!(
        is_root(),
        "{what} needs root: run the test suite as root (CI does)"
    );
}

/// Builds the standard fixture at `root` (which must not exist): executables,
/// 0600 files, empty files and dirs, relative/absolute/dangling symlinks,
/// hardlinks, non-ASCII and space-containing names, a long name, xattrs
/// (`user.*`), a setuid file, a setgid dir, a sticky dir, and (as root) files
/// owned by other uids. `big` adds a multi-MB pseudo-random binary.
pub fn build_fixture(root: &Path, big: bool) {
    mkdir(root, 0o755);
    write(&root.join("README"), b"the fixture tree\n", 0o644);
    write(&root.join("bin/tool"), b"#!/bin/sh\necho tool\n", 0o755);
    write(
        &root.join("bin/suid-tool"),
        b"#!/bin/sh\necho suid\n",
        0o4755,
    );
    write(
        &root.join("bin/sgid-tool"),
        b"#!/bin/sh\necho sgid\n",
        0o2711,
    );
    chmod(&root.join("bin"), 0o755);
    write(&root.join("etc/secret"), b"password=hunter2\n", 0o600);
    write(&root.join("etc/empty.conf"), b"", 0o644);
    write(&root.join("etc/readonly"), b"ro\n", 0o444);
    chmod(&root.join("etc"), 0o750);
    mkdir(&root.join("empty-dir"), 0o755);
    mkdir(&root.join("deep/a/b/c/empty"), 0o700);
    for d in ["deep", "deep/a", "deep/a/b", "deep/a/b/c"] {
        chmod(&root.join(d), 0o755);
    }
    write(&root.join("deep/a/b/c/file"), b"deep\n", 0o644);
    mkdir(&root.join("shared"), 0o2775);
    mkdir(&root.join("tmp"), 0o1777);
    write(&root.join("tmp/.hidden"), b"dot file\n", 0o664);

    // Symlinks: relative, absolute, dangling, to a directory, chained.
    mkdir(&root.join("links"), 0o755);
    ln_s("../etc/secret", &root.join("links/relative"));
    ln_s("/etc/passwd", &root.join("links/absolute"));
    ln_s("does/not/exist", &root.join("links/dangling"));
    ln_s("../deep/a", &root.join("links/to-dir"));
    ln_s("relative", &root.join("links/chain"));

    // Hardlinks (three names for one inode, across directories).
    write(
        &root.join("data/original.txt"),
        b"hardlinked content\n",
        0o644,
    );
    fs::hard_link(
        root.join("data/original.txt"),
        root.join("data/second-name.txt"),
    )
    .expect("hard link");
    fs::hard_link(root.join("data/original.txt"), root.join("bin/third-name")).expect("hard link");
    chmod(&root.join("data"), 0o755);

    // Names: non-ASCII, spaces, a long one (> 100 bytes, needs GNU longname / pax in tar).
    write(
        &root.join("names/ünïcødé-файл-日本語.txt"),
        "ÿ€\n".as_bytes(),
        0o644,
    );
    write(
        &root.join("names/with space/and more spaces.txt"),
        b"spaces\n",
        0o644,
    );
    chmod(&root.join("names/with space"), 0o755);
    let long = format!("names/{}.txt", "long-name-".repeat(12));
    write(&root.join(long), b"long\n", 0o644);
    chmod(&root.join("names"), 0o755);

    // Extended attributes on files and directories (user namespace only;
    // symlinks cannot carry user.* xattrs on Linux).
    set_xattr(&root.join("etc/secret"), "user.comment", b"top secret");
    set_xattr(
        &root.join("etc/secret"),
        "user.binary",
        &[0, 1, 2, 0xff, 0xfe, b'\n'],
    );
    set_xattr(&root.join("bin/tool"), "user.a", b"1");
    set_xattr(&root.join("data"), "user.dir-attr", b"on a directory");
    set_xattr(
        &root.join("data/original.txt"),
        "user.on-hardlink",
        b"shared",
    );

    if big {
        write(
            &root.join("blob/random.bin"),
            &prng_bytes(42, 2 * 1024 * 1024 + 17),
            0o644,
        );
        chmod(&root.join("blob"), 0o755);
    }

    // Other owners (root only; CI runs as root).
    if is_root() {
        mkdir(&root.join("owned"), 0o755);
        write(&root.join("owned/by-1234"), b"owned\n", 0o640);
        ln_s("by-1234", &root.join("owned/link"));
        chown(&root.join("owned/by-1234"), 1234, 5678);
        chown(&root.join("owned/link"), 1111, 2222);
        chown(&root.join("owned"), 4321, 8765);
        // chown clears setuid; restore it on a file owned by someone else.
        write(&root.join("owned/suid-other"), b"suid other\n", 0o755);
        chown(&root.join("owned/suid-other"), 1000, 1000);
        chmod(&root.join("owned/suid-other"), 0o4755);
    }
}

pub fn chown(path: &Path, uid: u32, gid: u32) {
    lchown(path, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// Sorted `find DIR -printf '%P %m %s %y %l'` listing (directory sizes
/// blanked: they depend on the filesystem's allocation history). With
/// `owners`, `%U %G` are appended.
pub fn listing(dir: &Path, owners: bool) -> Vec<String> {
    let fmt = if owners {
        "%P|%m|%s|%y|%l|%U|%G\\n"
    } else {
        "%P|%m|%s|%y|%l\\n"
    };
    let out = run_ok(Command::new("find").arg(dir).arg("-printf").arg(fmt));
    let mut lines: Vec<String> = out
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split('|').collect();
            if f.get(3) == Some(&"d") {
                f[2] = "-";
            }
            f.join(" ")
        })
        .collect();
    lines.sort();
    lines
}

/// `user.*` xattrs of every non-symlink entry under `dir`, sorted.
pub fn xattr_listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("dirent").path())
            .collect();
        entries.sort();
        for p in entries {
            let st = fs::symlink_metadata(&p).expect("lstat");
            if st.file_type().is_symlink() {
                continue;
            }
            let rel = p
                .strip_prefix(base)
                .expect("under base")
                .display()
                .to_string();
            let x = grove::tree::xattr::read_path(&p).expect("reading xattrs");
            for (name, value) in x.iter() {
                if name.starts_with(b"user.") {
                    out.push(format!(
                        "{rel} {} {}",
                        String::from_utf8_lossy(name),
                        hex::encode(value)
                    ));
                }
            }
            if st.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

pub fn assert_lines_eq(what: &str, expected: &[String], actual: &[String]) {
    if expected != actual {
        let mut msg = format!("{what} differs\n");
        for l in expected.iter().filter(|l| !actual.contains(l)) {
            msg.push_str(&format!("- {l}\n"));
        }
        for l in actual.iter().filter(|l| !expected.contains(l)) {
            msg.push_str(&format!("+ {l}\n"));
        }
        panic!("{msg}");
    }
}

/// The trees `a` and `b` hold the same names with the same content: regular
/// files byte for byte, symlinks by target, devices by type and number
/// (`diff -r` is not used: it calls two equal device nodes different when
/// their mtimes differ).
pub fn assert_same_content(a: &Path, b: &Path) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let names = |d: &Path| -> Vec<std::ffi::OsString> {
        let mut v: Vec<_> = fs::read_dir(d)
            .unwrap_or_else(|e| panic!("reading {}: {e}", d.display()))
            .map(|e| e.expect("dirent").file_name())
            .collect();
        v.sort();
        v
    };
    let (na, nb) = (names(a), names(b));
    assert_eq!(
        na,
        nb,
        "{} and {} list different names",
        a.display(),
        b.display()
    );
    for n in na {
        let (pa, pb) = (a.join(&n), b.join(&n));
        let (ma, mb) = (
            fs::symlink_metadata(&pa).unwrap(),
            fs::symlink_metadata(&pb).unwrap(),
        );
        let (ta, tb) = (ma.file_type(), mb.file_type());
        let same = if ta.is_dir() && tb.is_dir() {
            assert_same_content(&pa, &pb);
            true
        } else if ta.is_file() && tb.is_file() {
            fs::read(&pa).unwrap() == fs::read(&pb).unwrap()
        } else if ta.is_symlink() && tb.is_symlink() {
            fs::read_link(&pa).unwrap() == fs::read_link(&pb).unwrap()
        } else if (ta.is_char_device() && tb.is_char_device())
            || (ta.is_block_device() && tb.is_block_device())
        {
            ma.rdev() == mb.rdev()
        } else {
            (ta.is_fifo() && tb.is_fifo()) || (ta.is_socket() && tb.is_socket())
        };
        assert!(same, "{} and {} differ", pa.display(), pb.display());
    }
}

/// Whether a checkout of a `mode` repository is done with `-U`.
pub fn user_mode_checkout(mode: &str) -> bool {
    mode != "bare"
}

/// `ostree checkout [-U] REV DEST` from `repo`.
pub fn checkout(repo: &Path, mode: &str, rev: &str, dest: &Path) {
    let mut c = ostree_cmd(repo);
    c.arg("checkout");
    if user_mode_checkout(mode) {
        c.arg("-U");
    }
    c.arg(rev).arg(dest);
    run_ok(&mut c);
}

/// Checks a grove-written commit with the oracle: `ostree fsck` passes on
/// the grove repository, and an `ostree checkout` of the commit from it
/// equals the checkout of the same commit from the ostree-written repository
/// (listing with owners and xattrs for bare), and equals `source` in content.
/// With `strict_source` (bare mode, no ownership/permission filters) the
/// checkout listing must equal the source listing including uid/gid.
pub fn verify_grove_commit(
    work: &Path,
    ostree_repo: &Path,
    grove_repo: &Path,
    mode: &str,
    csum: &str,
    source: Option<&Path>,
    strict_source: bool,
) {
    fsck(grove_repo);
    let n = fs::read_dir(work).map(|d| d.count()).unwrap_or(0);
    let co_g = work.join(format!("co-grove-{n}"));
    let co_o = work.join(format!("co-ostree-{n}"));
    checkout(grove_repo, mode, csum, &co_g);
    checkout(ostree_repo, mode, csum, &co_o);
    let owners = mode == "bare" && is_root();
    assert_lines_eq(
        &format!("checkout listing of {csum} ({mode}) grove repo vs ostree repo"),
        &listing(&co_o, owners),
        &listing(&co_g, owners),
    );
    assert_same_content(&co_o, &co_g);
    if owners {
        assert_lines_eq(
            &format!("xattrs of checkout of {csum} ({mode})"),
            &xattr_listing(&co_o),
            &xattr_listing(&co_g),
        );
    }
    if let Some(src) = source {
        assert_same_content(src, &co_g);
        if strict_source && owners {
            assert_lines_eq(
                &format!("checkout of {csum} vs source {}", src.display()),
                &listing(src, true),
                &listing(&co_g, true),
            );
            assert_lines_eq(
                &format!("xattrs of checkout of {csum} vs source"),
                &xattr_listing(src),
                &xattr_listing(&co_g),
            );
        }
    }
    let _ = fs::remove_dir_all(&co_g);
    let _ = fs::remove_dir_all(&co_o);
}

/// Snapshot of everything under `dir` (paths, types, sizes), to prove that
/// nothing was created or changed.
pub fn snapshot(dir: &Path) -> Vec<String> {
    listing(dir, false)
}

/// Every file under `base/sub` (recursively), as paths relative to `base`, sorted.
pub fn files_under(base: &Path, sub: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![base.join(sub)];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd {
            let p = e.expect("dirent").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(base)
                        .expect("under base")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    out.sort();
    out
}

/// All refs under refs/heads (name, checksum).
pub fn heads(repo: &Path) -> Vec<(String, String)> {
    let heads = repo.join("refs/heads");
    files_under(&heads, "")
        .into_iter()
        .map(|name| {
            let c = fs::read_to_string(heads.join(&name))
                .expect("ref")
                .trim()
                .to_string();
            (name, c)
        })
        .collect()
}

/// A small tree ROOT/NAME: `a.txt` holding `content` and `sub/b`.
pub fn small_tree(root: &Path, name: &str, content: &str) -> PathBuf {
    let t = root.join(name);
    fs::create_dir_all(t.join("sub")).expect("mkdir");
    fs::write(t.join("a.txt"), content).expect("write");
    fs::write(t.join("sub/b"), "bee\n").expect("write");
    t
}

/// Where an archive or bare repository keeps the `.commit` object of `commit`.
pub fn commit_object_path(repo: &Path, commit: &str) -> PathBuf {
    repo.join("objects")
        .join(&commit[..2])
        .join(format!("{}.commit", &commit[2..]))
}

/// Where a repository keeps the detached metadata (signatures) of `commit`.
pub fn commitmeta_path(repo: &Path, commit: &str) -> PathBuf {
    repo.join("objects")
        .join(&commit[..2])
        .join(format!("{}.commitmeta", &commit[2..]))
}

/// Flips a byte inside the first signature's MPI (well past packet headers).
pub fn tamper(path: &Path, at_from_start: usize) {
    let mut b = fs::read(path).expect("read");
    let i = at_from_start.min(b.len() / 2);
    b[i] ^= 0x55;
    fs::write(path, b).expect("write");
}

/// Moves `path`'s mtime 5 s ahead. `HttpServer` (python's http.server)
/// answers If-Modified-Since at one-second resolution, so a file changed
/// within the second of a client's last fetch could get a 304 and the
/// client keep its cached copy.
pub fn bump_mtime(path: &Path) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| {
            f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        })
        .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", path.display()));
}

/// `python3 -m http.server` (backlog 511) serving a directory on loopback (a static web
/// server, as ostree clients meet one), killed on drop.
pub struct HttpServer {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    root: PathBuf,
    log: tempfile::NamedTempFile,
}

/// One request the server answered: path (without the leading `/`) and status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    pub status: u16,
}

impl HttpServer {
    /// Serves `dir` with `python3 -m http.server` on loopback, logging requests.
    pub fn serve(dir: &Path) -> HttpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let log = tempfile::NamedTempFile::new().expect("request log");
        // `python3 -m http.server`, with the listen backlog of a real web
        // server (511) instead of socketserver's 5: with 5, a client opening
        // eight connections at once has SYNs dropped and retried a second later.
        let script = "import runpy, socketserver, sys\n\
                      socketserver.TCPServer.request_queue_size = 511\n\
                      sys.argv = ['http.server'] + sys.argv[1:]\n\
                      runpy.run_module('http.server', run_name='__main__')";
        let child = Command::new("python3")
            .args([
                "-u",
                "-c",
                script,
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(log.reopen().expect("request log"))
            .spawn()
            .expect("python3 is needed for the HTTP server (refusing to skip)");
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "HTTP server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        HttpServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            root: dir.to_path_buf(),
            log,
        }
    }

    /// Every GET answered so far, in order (the server logs a request once answered).
    pub fn requests(&self) -> Vec<Request> {
        let text = fs::read_to_string(self.log.path()).expect("request log");
        text.lines()
            .filter_map(|l| {
                let (_, rest) = l.split_once("\"GET /")?;
                let (path, rest) = rest.split_once(' ')?;
                let status = rest.split_once("\" ")?.1.split(' ').next()?.parse().ok()?;
                Some(Request {
                    path: path.to_string(),
                    status,
                })
            })
            .collect()
    }

    /// Bytes of the files served with status 200 among `requests`.
    pub fn bytes_served(&self, requests: &[Request]) -> u64 {
        requests
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| {
                fs::metadata(self.root.join(&r.path))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
