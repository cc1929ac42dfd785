//! `grove rofiles-fuse`, mounted for real over a hardlinked checkout of a
//! bare-user repository made by the real `ostree`.
//!
//! These tests run as root and need /dev/fuse, `fusermount3` (Debian package
//! `fuse3`) and `ostree`: when one is missing they fail, they do not skip.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const HELLO: &[u8] = b"#!/bin/sh\necho hello\n";
const CONF: &[u8] = b"key=value\n";

fn grove_command() -> Command {
    Command::new(common::grove_bin())
}

/// Runs `cmd`, which must succeed, once; returns its output.
fn run_ok(cmd: &mut Command) -> Output {
    let out = common::output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

use common::ostree_cmd as ostree;

fn check_environment() {
    assert!(Path::new("/dev/fuse").exists(), "/dev/fuse is missing");
    let fm = Command::new("fusermount3").arg("-V").output();
    assert!(
        fm.is_ok_and(|o| o.status.success()),
        "fusermount3 is missing (apt-get install -y fuse3)"
    );
    assert!(
        Command::new("ostree")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "ostree is missing"
    );
}

/// The path of the C library this process runs with: a real ELF shared
/// library for ldconfig to look at.
fn host_libc() -> PathBuf {
    let maps = fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libc-"))
        .map(PathBuf::from)
        .expect("libc in /proc/self/maps")
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A bare-user repository with one commit on `main`: an executable, a
    /// shared library, a config file and a symlink.
    fn new() -> Self {
        check_environment();
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("usr/bin")).unwrap();
        fs::create_dir_all(tree.join("usr/lib")).unwrap();
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("usr/bin/hello"), HELLO).unwrap();
        fs::set_permissions(
            tree.join("usr/bin/hello"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        fs::copy(host_libc(), tree.join("usr/lib/libc-2.99.so")).unwrap();
        fs::write(tree.join("etc/conf"), CONF).unwrap();
        std::os::unix::fs::symlink("hello", tree.join("usr/bin/hi")).unwrap();
        let repo = dir.path().join("repo");
        run_ok(ostree(&repo).args(["init", "--mode=bare-user"]));
        run_ok(
            ostree(&repo)
                .args(["commit", "-b", "main", "--timestamp=2020-01-01T00:00:00Z"])
                .arg(format!("--tree=dir={}", tree.display())),
        );
        Fixture { dir }
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// `ostree checkout -U main NAME`: a checkout of hardlinks into the repo.
    fn checkout(&self, name: &str) -> PathBuf {
        let co = self.dir.path().join(name);
        run_ok(
            ostree(&self.repo())
                .args(["checkout", "-U", "main"])
                .arg(&co),
        );
        assert!(
            fs::metadata(co.join("usr/bin/hello")).unwrap().nlink() > 1,
            "checkout is hardlinked"
        );
        co
    }

    fn mountpoint(&self, name: &str) -> PathBuf {
        let mnt = self.dir.path().join(name);
        fs::create_dir_all(&mnt).unwrap();
        mnt
    }

    fn fsck(&self) {
        let out = run_ok(ostree(&self.repo()).arg("fsck"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("no errors found"), "fsck: {text}");
    }
}

fn st_dev(p: &Path) -> u64 {
    fs::metadata(p).expect("stat mount point").dev()
}

/// A live mount; unmounted on drop so a failing test leaves none behind.
struct Mounted {
    mnt: PathBuf,
    live: bool,
}

impl Mounted {
    fn new(src: &Path, mnt: &Path, copyup: bool) -> Self {
        let before = st_dev(mnt);
        let mut cmd = grove_command();
        cmd.arg("rofiles-fuse");
        if copyup {
            cmd.arg("--copyup");
        }
        cmd.arg(src).arg(mnt);
        // The daemon keeps serving after grove returns; it must not hold on
        // to our pipes (else output() would hang).
        let out = run_ok(&mut cmd);
        assert!(out.stdout.is_empty() && out.stderr.is_empty());
        let m = Mounted {
            mnt: mnt.to_path_buf(),
            live: true,
        };
        assert_ne!(st_dev(mnt), before, "mounted when grove returns");
        m
    }

    fn disarm(mut self) {
        self.live = false;
    }

    fn unmount(mut self) {
        self.live = false;
        run_ok(Command::new("fusermount3").arg("-u").arg(&self.mnt));
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.live {
            let ok = Command::new("fusermount3")
                .arg("-u")
                .arg(&self.mnt)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
            }
        }
    }
}

fn errno_of(r: std::io::Result<impl Sized>) -> Option<i32> {
    match r {
        Ok(_) => None,
        Err(e) => e.raw_os_error(),
    }
}

fn assert_erofs(what: &str, r: std::io::Result<impl Sized>) {
    assert_eq!(
        errno_of(r),
        Some(libc::EROFS),
        "{what} should fail with EROFS"
    );
}

#[test]
fn hardlinked_files_are_read_only_and_the_tree_is_writable() {
    let fx = Fixture::new();
    let co = fx.checkout("co");
    let mnt = fx.mountpoint("mnt");
    let m = Mounted::new(&co, &mnt, false);

    // Reading passes through, xattrs included (bare-user keeps
    // user.ostreemeta on the object, which the checkout shares).
    assert_eq!(fs::read(mnt.join("usr/bin/hello")).unwrap(), HELLO);
    assert_eq!(
        fs::read_link(mnt.join("usr/bin/hi")).unwrap(),
        Path::new("hello")
    );
    let mut meta = vec![0u8; 4096];
    let n = rustix::fs::lgetxattr(mnt.join("usr/bin/hello"), "user.ostreemeta", &mut meta[..])
        .expect("getxattr through the mount");
    assert!(n > 0);
    let names =
        rustix::fs::llistxattr(mnt.join("usr/bin/hello"), &mut meta[..]).expect("listxattr");
    assert!(meta[..names]
        .split(|&b| b == 0)
        .any(|n| n == b"user.ostreemeta"));
    let meta_src = fs::metadata(co.join("usr/bin/hello")).unwrap();
    let meta_mnt = fs::metadata(mnt.join("usr/bin/hello")).unwrap();
    assert_eq!(meta_mnt.mode(), meta_src.mode());
    assert_eq!(meta_mnt.nlink(), meta_src.nlink());
    assert_eq!(meta_mnt.len(), HELLO.len() as u64);

    // Every in-place change of a hardlinked file fails with EROFS.
    let hello = mnt.join("usr/bin/hello");
    assert_erofs(
        "open for write",
        OpenOptions::new().write(true).open(&hello),
    );
    assert_erofs(
        "open for append",
        OpenOptions::new().append(true).open(&hello),
    );
    assert_erofs(
        "open read-write",
        OpenOptions::new().read(true).write(true).open(&hello),
    );
    assert_erofs(
        "truncate",
        OpenOptions::new().write(true).truncate(true).open(&hello),
    );
    assert_erofs(
        "chmod",
        fs::set_permissions(&hello, fs::Permissions::from_mode(0o700)),
    );
    assert_erofs("chown", std::os::unix::fs::chown(&hello, Some(1), Some(1)));
    assert_erofs(
        "setxattr",
        rustix::fs::lsetxattr(&hello, "user.test", b"x", rustix::fs::XattrFlags::empty())
            .map_err(std::io::Error::from),
    );
    assert_erofs(
        "removexattr",
        rustix::fs::lremovexattr(&hello, "user.ostreemeta").map_err(std::io::Error::from),
    );
    assert_erofs(
        "open conf for write",
        OpenOptions::new().write(true).open(mnt.join("etc/conf")),
    );
    assert_eq!(fs::read(&hello).unwrap(), HELLO);
    assert_eq!(fs::read(co.join("usr/bin/hello")).unwrap(), HELLO);

    // New files are writable, and show up in the checkout.
    let mut f = fs::File::create(mnt.join("new")).unwrap();
    f.write_all(b"first\n").unwrap();
    drop(f);
    let mut f = OpenOptions::new()
        .append(true)
        .open(mnt.join("new"))
        .unwrap();
    f.write_all(b"second\n").unwrap();
    drop(f);
    assert_eq!(fs::read(co.join("new")).unwrap(), b"first\nsecond\n");
    fs::set_permissions(mnt.join("new"), fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(fs::metadata(co.join("new")).unwrap().mode() & 0o7777, 0o640);
    let mut s = String::new();
    fs::File::open(mnt.join("new"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "first\nsecond\n");

    // A second hardlink makes it read-only too: the rule is the link count.
    fs::hard_link(mnt.join("new"), mnt.join("new-link")).unwrap();
    assert_erofs(
        "open linked new file",
        OpenOptions::new().write(true).open(mnt.join("new")),
    );
    fs::remove_file(mnt.join("new-link")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(mnt.join("new"))
        .expect("writable again");

    // Rename and delete, files and directories.
    fs::rename(mnt.join("new"), mnt.join("usr/renamed")).unwrap();
    assert!(!co.join("new").exists());
    assert_eq!(
        fs::read(co.join("usr/renamed")).unwrap(),
        b"first\nsecond\n"
    );
    fs::create_dir(mnt.join("dir")).unwrap();
    fs::write(mnt.join("dir/inner"), b"inner").unwrap();
    fs::rename(mnt.join("dir"), mnt.join("moved")).unwrap();
    assert_eq!(fs::read(mnt.join("moved/inner")).unwrap(), b"inner");
    assert_eq!(fs::read(co.join("moved/inner")).unwrap(), b"inner");
    std::os::unix::fs::symlink("inner", mnt.join("moved/link")).unwrap();
    assert_eq!(
        fs::read_link(co.join("moved/link")).unwrap(),
        Path::new("inner")
    );
    let mut listed: Vec<String> = fs::read_dir(mnt.join("moved"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listed.sort();
    assert_eq!(listed, ["inner", "link"]);
    fs::remove_dir_all(mnt.join("moved")).unwrap();
    assert!(!co.join("moved").exists());
    fs::remove_file(mnt.join("usr/renamed")).unwrap();
    assert!(!co.join("usr/renamed").exists());

    // Replacing a hardlinked file by write-new-then-rename is allowed, and
    // so is deleting one; the repository's object stays as it was.
    fs::write(mnt.join("usr/bin/.hello.tmp"), b"replaced\n").unwrap();
    fs::rename(mnt.join("usr/bin/.hello.tmp"), mnt.join("usr/bin/hello")).unwrap();
    assert_eq!(fs::read(co.join("usr/bin/hello")).unwrap(), b"replaced\n");
    fs::remove_file(mnt.join("etc/conf")).unwrap();
    assert!(!co.join("etc/conf").exists());

    // ldconfig writes a new cache and creates symlinks, but modifies nothing
    // hardlinked.
    if let Some(ldconfig) = ["/sbin/ldconfig", "/usr/sbin/ldconfig"]
        .iter()
        .find(|p| Path::new(p).exists())
    {
        run_ok(Command::new(ldconfig).arg("-r").arg(&mnt));
        assert!(co.join("etc/ld.so.cache").exists());
        assert_eq!(
            fs::read_link(co.join("usr/lib/libc.so.6")).unwrap(),
            Path::new("libc-2.99.so")
        );
    }

    let statvfs = rustix::fs::statvfs(&mnt).expect("statfs");
    assert!(statvfs.f_bsize > 0);

    m.unmount();
    assert_eq!(fs::read_dir(&mnt).unwrap().count(), 0, "unmounted");
    fx.fsck();
    let other = fx.checkout("co-check");
    assert_eq!(fs::read(other.join("usr/bin/hello")).unwrap(), HELLO);
    assert_eq!(fs::read(other.join("etc/conf")).unwrap(), CONF);
}

#[test]
fn copyup_breaks_hardlinks_before_writing() {
    let fx = Fixture::new();
    let co = fx.checkout("co");
    let pristine = fx.checkout("pristine");
    let mnt = fx.mountpoint("mnt");
    let m = Mounted::new(&co, &mnt, true);

    let hello = mnt.join("usr/bin/hello");
    let mut f = OpenOptions::new()
        .append(true)
        .open(&hello)
        .expect("copyup on append");
    f.write_all(b"echo more\n").unwrap();
    drop(f);
    let mut expected = HELLO.to_vec();
    expected.extend_from_slice(b"echo more\n");
    assert_eq!(fs::read(co.join("usr/bin/hello")).unwrap(), expected);
    let md = fs::metadata(co.join("usr/bin/hello")).unwrap();
    assert_eq!(md.nlink(), 1, "a private copy");
    assert_eq!(md.mode() & 0o7777, 0o755, "mode preserved");
    let mut buf = vec![0u8; 4096];
    assert!(
        rustix::fs::lgetxattr(co.join("usr/bin/hello"), "user.ostreemeta", &mut buf[..]).is_ok(),
        "xattrs preserved"
    );
    assert_eq!(fs::read(pristine.join("usr/bin/hello")).unwrap(), HELLO);

    // chmod and truncate copy up as well.
    fs::set_permissions(mnt.join("etc/conf"), fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        fs::metadata(co.join("etc/conf")).unwrap().mode() & 0o7777,
        0o600
    );
    assert_eq!(fs::metadata(co.join("etc/conf")).unwrap().nlink(), 1);
    assert_ne!(
        fs::metadata(pristine.join("etc/conf")).unwrap().mode() & 0o7777,
        0o600
    );
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(mnt.join("usr/lib/libc-2.99.so"))
        .unwrap();
    assert_eq!(
        fs::metadata(co.join("usr/lib/libc-2.99.so")).unwrap().len(),
        0
    );
    assert!(
        fs::metadata(pristine.join("usr/lib/libc-2.99.so"))
            .unwrap()
            .len()
            > 0
    );
    // No temporary files are left behind.
    for d in ["usr/bin", "usr/lib", "etc"] {
        for e in fs::read_dir(co.join(d)).unwrap() {
            let name = e.unwrap().file_name();
            assert!(
                !name.to_string_lossy().starts_with('.'),
                "leftover {name:?} in {d}"
            );
        }
    }

    m.unmount();
    fx.fsck();
    assert_eq!(fs::read(pristine.join("usr/bin/hello")).unwrap(), HELLO);
    assert_eq!(fs::read(pristine.join("etc/conf")).unwrap(), CONF);
}

#[test]
fn foreground_serves_until_signalled() {
    let fx = Fixture::new();
    let co = fx.checkout("co");
    let mnt = fx.mountpoint("mnt");
    let before = st_dev(&mnt);
    let mut child = grove_command()
        .args(["rofiles-fuse", "-f"])
        .arg(&co)
        .arg(&mnt)
        .spawn()
        .expect("spawn grove rofiles-fuse -f");
    let m = Mounted {
        mnt: mnt.clone(),
        live: true,
    };
    let start = Instant::now();
    while st_dev(&mnt) == before {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("grove rofiles-fuse -f exited early: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "mount did not appear"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(fs::read(mnt.join("usr/bin/hello")).unwrap(), HELLO);
    assert_erofs(
        "open for write",
        OpenOptions::new()
            .write(true)
            .open(mnt.join("usr/bin/hello")),
    );
    // SIGTERM unmounts and ends the process cleanly, as with libfuse.
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "foreground process ends cleanly: {status}"
    );
    assert_eq!(st_dev(&mnt), before, "unmounted on SIGTERM");
    m.disarm();
}

#[test]
fn missing_source_is_one_line_error() {
    check_environment();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let missing = dir.path().join("no-such-dir");
    let out = grove_command()
        .arg("rofiles-fuse")
        .arg(&missing)
        .arg(&mnt)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("no-such-dir"),
        "{err}"
    );

    // A mount point that is not a directory is refused before mounting.
    let file = dir.path().join("file");
    fs::write(&file, b"").unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    let out = grove_command()
        .arg("rofiles-fuse")
        .arg(&src)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Not a directory"), "{err}");
    assert_eq!(fs::read(&file).unwrap(), b"");
}

/// `checkout -U --require-hardlinks` from a bare repository onto the mount
/// (another device) reports the device first, as ostree does, then, on
/// the repository's device, that bare mode cannot hardlink in user mode.
/// Neither creates anything; a plain `checkout -U` copies onto the mount.
#[test]
fn require_hardlinks_across_devices() {
    let fx = Fixture::new();
    let bare = fx.dir.path().join("bare");
    run_ok(ostree(&bare).args(["init", "--mode=bare"]));
    run_ok(ostree(&bare).arg("pull-local").arg(fx.repo()).arg("main"));
    let co = fx.checkout("co");
    let mnt = fx.mountpoint("mnt");
    let m = Mounted::new(&co, &mnt, false);
    let checkout = |tool: &mut Command, flags: &str, dest: &Path| -> Output {
        tool.args(["checkout", flags, "main"])
            .arg(dest)
            .output()
            .expect("run checkout")
    };
    for (dest, wording) in [
        (
            mnt.join("hardlinked"),
            "Unable to do hardlink checkout across devices",
        ),
        (
            fx.dir.path().join("same-device"),
            "Bare repository mode cannot hardlink in user checkout mode",
        ),
    ] {
        let mut g = grove_command();
        g.arg(format!("--repo={}", bare.display()));
        let out = checkout(&mut g, "-UH", &dest);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.lines().count() == 1 && err.contains(wording),
            "{err}"
        );
        let ours = checkout(&mut ostree(&bare), "-UH", &dest);
        assert!(
            String::from_utf8_lossy(&ours.stderr).contains(wording),
            "ostree: {}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let _ = fs::remove_dir_all(&dest);
    }
    assert!(!mnt.join("hardlinked").exists() && !co.join("hardlinked").exists());
    let mut g = grove_command();
    g.arg(format!("--repo={}", bare.display()));
    let out = checkout(&mut g, "-U", &mnt.join("copied"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(co.join("copied/etc/conf")).unwrap(), CONF);
    m.unmount();
}
