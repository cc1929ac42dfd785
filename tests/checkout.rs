//! `grove checkout` against the real `ostree checkout` (2022.7), in every
//! repository mode. A missing `ostree` binary fails these tests.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    assert_same_content, grove_bin, grove_cmd as grove, ostree_cmd as ostree, require_root, run_ok,
};

/// `find DIR -printf FMT | sort`.
fn listing(dir: &Path, fmt: &str) -> String {
    let out = run_ok(Command::new("find").arg(dir).arg("-printf").arg(fmt));
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines.join("\n")
}

/// Same names, types, modes, sizes, link targets (and the extra fields in `fmt`).
fn assert_same_tree(a: &Path, b: &Path, fmt: &str) {
    let (la, lb) = (listing(a, fmt), listing(b, fmt));
    if la != lb {
        let diff = Command::new("diff")
            .arg(tmpfile(&la))
            .arg(tmpfile(&lb))
            .output()
            .unwrap();
        panic!(
            "{} and {} differ ({fmt}):\n{}",
            a.display(),
            b.display(),
            String::from_utf8_lossy(&diff.stdout)
        );
    }
    assert_same_content(a, b);
}

fn tmpfile(text: &str) -> PathBuf {
    let f = tempfile::NamedTempFile::new().unwrap();
    fs::write(f.path(), text).unwrap();
    f.into_temp_path().keep().unwrap()
}

const BASIC: &str = "%P %m %s %y %l\n";
const OWNED: &str = "%P %m %s %y %l %U %G\n";
const LINKS: &str = "%P %m %s %y %l %U %G %n\n";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir(&src).unwrap();
        let w = |rel: &str, data: &[u8], mode: u32| {
            let p = src.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, data).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        };
        w("bin/tool", b"#!/bin/sh\necho tool\n", 0o755);
        w("secret", b"secret\n", 0o600);
        w("empty", b"", 0o644);
        w("hard1", b"hardlinked\n", 0o644);
        fs::hard_link(src.join("hard1"), src.join("hard2")).unwrap();
        w(
            "gr\u{fc}\u{df}e \u{f1}.txt",
            "unicode \u{2603}\n".as_bytes(),
            0o644,
        );
        w("with space/and file", b"spaces\n", 0o640);
        w("private/inner", b"inner\n", 0o644);
        fs::set_permissions(src.join("private"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::create_dir(src.join("emptydir")).unwrap();
        fs::set_permissions(src.join("emptydir"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("bin/tool", src.join("rel")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("abs")).unwrap();
        std::os::unix::fs::symlink("nowhere/at/all", src.join("dangling")).unwrap();
        // 3 MB that deflate cannot squash to nothing.
        let mut big = Vec::with_capacity(3 << 20);
        let mut x: u32 = 12345;
        while big.len() < 3 << 20 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            big.push((x >> 16) as u8 % 61 + b'0');
        }
        w("big.bin", &big, 0o644);
        w("xattr", b"has an xattr\n", 0o644);
        grove::tree::xattr::set_path(&src.join("xattr"), b"user.grove", b"yes").unwrap();
        // Every test checks owners and setuid bits: the fixture needs root.
        require_root("the checkout fixture (a setuid file, files owned by uid 1000)");
        {
            w("bin/suid", b"suid\n", 0o4755);
            w("owned", b"owned\n", 0o644);
            std::os::unix::fs::chown(src.join("owned"), Some(1000), Some(1000)).unwrap();
            std::os::unix::fs::lchown(src.join("rel"), Some(1000), Some(1000)).unwrap();
        }
        fs::set_permissions(&src, fs::Permissions::from_mode(0o755)).unwrap();
        Fixture { dir }
    }

    fn src(&self) -> PathBuf {
        self.dir.path().join("src")
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A repository of `mode` with `src` committed as `main`.
    fn repo(&self, mode: &str) -> PathBuf {
        let repo = self.path(&format!("repo-{mode}"));
        common::init_repo(&repo, mode);
        run_ok(
            ostree(&repo)
                .args(["commit", "-b", "main", "--timestamp=2020-01-01T00:00:00Z"])
                .arg(self.src()),
        );
        repo
    }
}

/// Checks out `main` with grove and with ostree using `args`, and compares.
fn both(repo: &Path, fx: &Fixture, name: &str, args: &[&str], fmt: &str) -> (PathBuf, PathBuf) {
    let g = fx.path(&format!("{name}-grove"));
    let o = fx.path(&format!("{name}-ostree"));
    run_ok(grove(repo).arg("checkout").args(args).arg("main").arg(&g));
    run_ok(ostree(repo).arg("checkout").args(args).arg("main").arg(&o));
    assert_same_tree(&g, &o, fmt);
    // Created directories get mtime 0 in both.
    assert_eq!(listing(&g, "%P %y %TY\n"), listing(&o, "%P %y %TY\n"));
    (g, o)
}

fn nlink(p: &Path) -> u64 {
    fs::symlink_metadata(p).unwrap().nlink()
}

#[test]
fn archive_checkouts_match_ostree_and_source() {
    let fx = Fixture::new();
    let repo = fx.repo("archive");
    let (g, _) = both(&repo, &fx, "normal", &[], OWNED);
    {
        // as root (Fixture::new requires it)
        // A normal-mode checkout reproduces the source, owners and setuid included.
        assert_same_tree(&g, &fx.src(), OWNED);
        assert_eq!(
            fs::metadata(g.join("bin/suid"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o4755
        );
    }
    assert_eq!(
        grove::tree::xattr::get_path(&g.join("xattr"), "user.grove")
            .unwrap()
            .as_deref(),
        Some(&b"yes"[..])
    );
    assert_eq!(nlink(&g.join("big.bin")), 1, "archive content is copied");
    assert_eq!(fs::metadata(g.join("emptydir")).unwrap().mtime(), 0);

    // -U: both hardlink from the repository's uncompressed cache; compare without link counts.
    let (g, _) = both(&repo, &fx, "user", &["-U"], BASIC);
    assert_eq!(
        grove::tree::xattr::get_path(&g.join("xattr"), "user.grove").unwrap(),
        None,
        "no xattrs in user mode"
    );
    {
        // as root (Fixture::new requires it)
        assert_eq!(
            fs::metadata(g.join("bin/suid"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o755,
            "setuid dropped"
        );
    }
    // -C: directories keep their current mtime.
    let g = fx.path("forcecopy");
    run_ok(grove(&repo).args(["checkout", "-C", "main"]).arg(&g));
    assert_ne!(fs::metadata(&g).unwrap().mtime(), 0);
    assert_same_tree(&g, &fx.path("normal-grove"), BASIC);
}

/// `checkout -U` from an archive repository unpacks each regular file once
/// into `uncompressed-objects-cache/` and hardlinks it from there, as ostree
/// does (and ostree reuses grove's cache); `--disable-cache` copies.
#[test]
fn archive_user_checkouts_use_the_uncompressed_cache() {
    let fx = Fixture::new();
    let repo = fx.repo("archive");
    let cache = repo.join("uncompressed-objects-cache");
    let a = fx.path("nocache");
    run_ok(
        grove(&repo)
            .args(["checkout", "-U", "--disable-cache", "main"])
            .arg(&a),
    );
    assert!(!cache.exists(), "--disable-cache created the cache");
    assert_eq!(nlink(&a.join("big.bin")), 1);
    let b = fx.path("cached");
    run_ok(grove(&repo).args(["checkout", "-U", "main"]).arg(&b));
    assert_eq!(nlink(&b.join("big.bin")), 2, "cache + checkout");
    assert_eq!(nlink(&b.join("empty")), 1, "empty files are not cached");
    assert_eq!(
        fs::metadata(b.join("bin/suid"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755,
        "no setuid in the cache"
    );
    assert_same_tree(&b, &a, BASIC);
    let c = fx.path("cached-ostree");
    run_ok(ostree(&repo).args(["checkout", "-U", "main"]).arg(&c));
    assert_eq!(
        fs::metadata(c.join("big.bin")).unwrap().ino(),
        fs::metadata(b.join("big.bin")).unwrap().ino(),
        "ostree uses grove's cache entry"
    );
    run_ok(ostree(&repo).arg("fsck"));
}

#[test]
fn bare_user_checkouts_hardlink_in_user_mode() {
    let fx = Fixture::new();
    let repo = fx.repo("bare-user");
    // Check link counts before ostree adds its own links.
    let g = fx.path("user-first");
    run_ok(grove(&repo).args(["checkout", "-U", "main"]).arg(&g));
    assert_eq!(nlink(&g.join("big.bin")), 2, "object + checkout");
    assert_eq!(nlink(&g.join("hard1")), 3, "object + two names");
    assert_eq!(nlink(&g.join("empty")), 1, "empty files are copied");
    assert!(fs::symlink_metadata(g.join("rel"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_link(g.join("dangling")).unwrap(),
        Path::new("nowhere/at/all")
    );
    both(&repo, &fx, "user", &["-U"], LINKS);
    // Normal mode from bare-user copies, restoring owners and xattrs.
    let (g, _) = both(&repo, &fx, "normal", &[], LINKS);
    assert_eq!(nlink(&g.join("big.bin")), 1);
    {
        // as root (Fixture::new requires it)
        assert_same_tree(&g, &fx.src(), OWNED);
    }
    assert_eq!(
        grove::tree::xattr::get_path(&g.join("xattr"), "user.grove")
            .unwrap()
            .as_deref(),
        Some(&b"yes"[..])
    );
}

#[test]
fn bare_checkouts_hardlink_in_normal_mode() {
    require_root("a bare repository");
    let fx = Fixture::new();
    let repo = fx.repo("bare");
    let g = fx.path("normal-first");
    run_ok(grove(&repo).args(["checkout", "main"]).arg(&g));
    assert_eq!(nlink(&g.join("big.bin")), 2);
    assert_eq!(nlink(&g.join("bin/suid")), 2);
    assert_eq!(
        fs::metadata(g.join("bin/suid"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert_eq!(nlink(&g.join("empty")), 1);
    assert_same_tree(&g, &fx.src(), OWNED);
    both(&repo, &fx, "normal", &[], LINKS);
    both(&repo, &fx, "user", &["-U"], LINKS);
}

#[test]
fn bare_user_only_checkouts_match_ostree() {
    let fx = Fixture::new();
    let repo = fx.repo("bare-user-only");
    both(&repo, &fx, "normal", &[], LINKS);
    both(&repo, &fx, "user", &["-U"], LINKS);
    both(&repo, &fx, "masked", &["-U", "-M"], LINKS);
}

/// Prepares the same pre-existing destination for grove and ostree.
fn seed(dir: &Path) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("secret"), "local\n").unwrap();
    fs::write(dir.join("extra"), "mine\n").unwrap();
    fs::write(dir.join("bin/tool"), "old tool\n").unwrap();
    std::os::unix::fs::symlink("elsewhere", dir.join("rel")).unwrap();
}

fn union_case(repo: &Path, fx: &Fixture, name: &str, args: &[&str], fmt: &str) -> PathBuf {
    let g = fx.path(&format!("{name}-grove"));
    let o = fx.path(&format!("{name}-ostree"));
    seed(&g);
    seed(&o);
    run_ok(grove(repo).arg("checkout").args(args).arg("main").arg(&g));
    run_ok(ostree(repo).arg("checkout").args(args).arg("main").arg(&o));
    assert_same_tree(&g, &o, fmt);
    g
}

#[test]
fn union_modes_match_ostree() {
    let fx = Fixture::new();
    let archive = fx.repo("archive");
    // ostree 2022.7 skips lchown on a symlink that --union replaced (a switch
    // fall-through); grove gives it its stored owner, so owners are compared apart.
    let g = union_case(&archive, &fx, "union", &["--union"], BASIC);
    {
        // as root (Fixture::new requires it)
        let owners = |d: &Path| {
            listing(d, "%P %U %G\n")
                .lines()
                .filter(|l| !l.starts_with("rel "))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(owners(&g), owners(&fx.path("union-ostree")));
        assert_eq!(fs::symlink_metadata(g.join("rel")).unwrap().uid(), 1000);
    }
    assert_eq!(fs::read(g.join("secret")).unwrap(), b"secret\n");
    assert_eq!(fs::read(g.join("extra")).unwrap(), b"mine\n");
    assert_eq!(fs::read_link(g.join("rel")).unwrap(), Path::new("bin/tool"));
    let g = union_case(&archive, &fx, "add", &["--union-add"], OWNED);
    assert_eq!(fs::read(g.join("secret")).unwrap(), b"local\n");
    assert_eq!(
        fs::read_link(g.join("rel")).unwrap(),
        Path::new("elsewhere")
    );
    assert_eq!(fs::read(g.join("big.bin")).unwrap().len(), 3 << 20);

    // The hardlink path: bare-user in user mode.
    let bu = fx.repo("bare-user");
    let g = union_case(&bu, &fx, "bu-union", &["-U", "--union"], LINKS);
    assert_eq!(
        fs::read(g.join("bin/tool")).unwrap(),
        b"#!/bin/sh\necho tool\n"
    );
    union_case(&bu, &fx, "bu-add", &["-U", "--union-add"], LINKS);
    let leftovers = listing(&g, "%P\n");
    assert!(
        !leftovers.contains(".grove"),
        "temporary names left: {leftovers}"
    );

    // --union-identical: the same commit twice is fine, a changed file is not.
    let d = fx.path("identical");
    run_ok(grove(&bu).args(["checkout", "-U", "main"]).arg(&d));
    run_ok(
        grove(&bu)
            .args(["checkout", "-U", "-H", "--union-identical", "main"])
            .arg(&d),
    );
    fs::remove_file(d.join("bin/tool")).unwrap();
    fs::write(d.join("bin/tool"), "different\n").unwrap();
    let out = Command::new(grove_bin())
        .arg("--repo")
        .arg(&bu)
        .args(["checkout", "-U", "-H", "--union-identical", "main"])
        .arg(&d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("File exists") && err.contains("tool"), "{err}");
}

#[test]
fn subpath_matches_ostree() {
    let fx = Fixture::new();
    let repo = fx.repo("archive");
    let (g, _) = both(&repo, &fx, "sub-dir", &["--subpath=/bin"], OWNED);
    assert!(g.join("tool").is_file());
    let (g, _) = both(&repo, &fx, "sub-file", &["--subpath=/big.bin"], BASIC);
    assert_eq!(fs::read(g.join("big.bin")).unwrap().len(), 3 << 20);
    both(&repo, &fx, "sub-private", &["--subpath=private"], OWNED);

    // --skip-list: `/file` for files, `/dir/` for directories.
    let skip = fx.path("skip.txt");
    fs::write(&skip, "/secret\n/bin/\n/private/inner\n/not-there\n").unwrap();
    let arg = format!("--skip-list={}", skip.display());
    let (g, _) = both(&repo, &fx, "skip", &[&arg], OWNED);
    assert!(
        !g.join("secret").exists() && !g.join("bin").exists() && !g.join("private/inner").exists()
    );
    assert!(g.join("private").is_dir());

    let out = Command::new(grove_bin())
        .arg("--repo")
        .arg(&repo)
        .args(["checkout", "--subpath=/nope", "main"])
        .arg(fx.path("nope"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: No such file or directory: /nope"
    );
    run_ok(
        grove(&repo)
            .args(["checkout", "--allow-noent", "--subpath=/nope", "main"])
            .arg(fx.path("nope")),
    );
    assert!(!fx.path("nope").exists());
}

#[test]
fn whiteouts_match_ostree() {
    let fx = Fixture::new();
    let repo = fx.repo("archive");
    // A layer that deletes `secret`, empties `bin` (opaque) and adds bin/new.
    let layer = fx.path("layer");
    fs::create_dir_all(layer.join("bin")).unwrap();
    fs::write(layer.join(".wh.secret"), "").unwrap();
    fs::write(layer.join("bin/.wh..wh..opq"), "").unwrap();
    fs::write(layer.join("bin/new"), "new\n").unwrap();
    fs::write(layer.join(".wh.emptydir"), "").unwrap();
    run_ok(
        ostree(&repo)
            .args(["commit", "-b", "layer", "--timestamp=2020-01-01T00:00:00Z"])
            .arg(&layer),
    );
    let g = fx.path("wh-grove");
    let o = fx.path("wh-ostree");
    for (cmd, d) in [(grove(&repo), &g), (ostree(&repo), &o)] {
        let mut cmd = cmd;
        run_ok(cmd.args(["checkout", "main"]).arg(d));
    }
    run_ok(
        grove(&repo)
            .args(["checkout", "--union", "--whiteouts", "layer"])
            .arg(&g),
    );
    run_ok(
        ostree(&repo)
            .args(["checkout", "--union", "--whiteouts", "layer"])
            .arg(&o),
    );
    assert_same_tree(&g, &o, OWNED);
    assert!(!g.join("secret").exists());
    assert!(!g.join("emptydir").exists());
    assert!(!g.join(".wh.secret").exists());
    assert_eq!(listing(&g.join("bin"), "%P\n").trim(), "new");
    // Without --whiteouts they are ordinary files.
    let (g, _) = {
        let g = fx.path("nowh-grove");
        run_ok(grove(&repo).args(["checkout", "layer"]).arg(&g));
        (g, ())
    };
    assert!(g.join(".wh.secret").is_file());
}

#[test]
fn errors_match_ostree() {
    let fx = Fixture::new();
    let repo = fx.repo("archive");
    let fail = |args: &[&str]| -> String {
        let out = Command::new(grove_bin())
            .arg("--repo")
            .arg(&repo)
            .arg("checkout")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    };
    let dest = fx.path("h");
    let dest_s = dest.to_str().unwrap();
    assert_eq!(
        fail(&["-H", "main", dest_s]),
        "error: Bare repository mode cannot hardlink in user checkout mode"
    );
    assert_eq!(
        fail(&["-H", "-U", "main", dest_s]),
        "error: Bare repository mode cannot hardlink in user checkout mode"
    );
    assert_eq!(
        fail(&["--union-identical", "main", dest_s]),
        "error: --union-identical requires --require-hardlinks"
    );
    assert_eq!(
        fail(&["--union", "--union-add", "main", dest_s]),
        "error: Cannot specify both --union and --union-add"
    );
    assert_eq!(
        fail(&["-H", "-C", "main", dest_s]),
        "error: Cannot specify both --require-hardlinks and --force-copy"
    );
    assert_eq!(
        fail(&["--fsync=bogus", "main", dest_s]),
        "error: Invalid boolean argument 'bogus'"
    );
    assert_eq!(fail(&["nope", dest_s]), "error: Refspec 'nope' not found");
    assert!(fail(&[]).contains("COMMIT must be specified"));
    fs::create_dir(&dest).unwrap();
    let e = fail(&["main", dest_s]);
    assert!(
        e.contains("mkdirat: File exists") && e.contains(dest_s),
        "{e}"
    );
    // Same for ostree: an existing (even empty) destination is refused.
    let out = ostree(&repo)
        .args(["checkout", "main", dest_s])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // DEST defaults to the COMMIT argument.
    run_ok(
        grove(&repo)
            .args(["checkout", "main"])
            .current_dir(fx.dir.path()),
    );
    assert!(fx.path("main/big.bin").is_file());
    run_ok(
        grove(&repo)
            .args(["checkout", "--fsync=no", "main", "fs"])
            .current_dir(fx.dir.path()),
    );
}

#[test]
fn union_never_writes_through_a_symlink_out_of_the_destination() {
    let fx = Fixture::new();
    let repo = fx.repo("archive");
    let dest = fx.path("dest");
    let outside = fx.path("outside");
    fs::create_dir(&dest).unwrap();
    fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("bin")).unwrap();
    std::os::unix::fs::symlink("../../../outside", dest.join("private")).unwrap();
    let _ = Command::new(grove_bin())
        .arg("--repo")
        .arg(&repo)
        .args(["checkout", "-U", "--union", "main"])
        .arg(&dest)
        .output()
        .unwrap();
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "grove wrote outside the destination"
    );
}

/// `--process-passthrough-whiteouts` turns `.ostree-wh.NAME` into an overlayfs
/// whiteout NAME (character device 0:0), as ostree does; without it the file stays.
#[test]
fn passthrough_whiteouts_match_ostree() {
    require_root("mknod of whiteout devices");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("whiteouts")).unwrap();
    fs::write(src.join("whiteouts/.ostree-wh.whiteout"), b"").unwrap();
    fs::write(src.join("whiteouts/.ostree-wh.whiteout2"), b"").unwrap();
    fs::set_permissions(
        src.join("whiteouts/.ostree-wh.whiteout2"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::write(src.join("whiteouts/plain"), b"plain\n").unwrap();
    let repo = dir.path().join("repo");
    common::init_repo(&repo, "archive");
    run_ok(ostree(&repo).args(["commit", "-b", "main"]).arg(&src));
    for args in [&["--process-passthrough-whiteouts"][..], &[][..]] {
        let (g, o) = (
            dir.path().join(format!("g{}", args.len())),
            dir.path().join(format!("o{}", args.len())),
        );
        run_ok(grove(&repo).arg("checkout").args(args).arg("main").arg(&g));
        run_ok(ostree(&repo).arg("checkout").args(args).arg("main").arg(&o));
        assert_same_tree(&g, &o, "%P %y %m %U %G\n");
    }
    let wh = fs::symlink_metadata(dir.path().join("g1/whiteouts/whiteout")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert!(!dir.path().join("g1/whiteouts/.ostree-wh.whiteout").exists());
}
