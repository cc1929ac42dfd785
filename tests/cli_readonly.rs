//! The read-only commands print exactly what ostree 2022.7 prints.
//!
//! Repositories are built with the real `ostree` binary in a temporary
//! directory; then `grove` and `ostree` run the same command on the same
//! repository and their output (stdout, stderr and exit status) must be
//! byte-for-byte equal. `refs` listings are compared sorted, since ostree
//! prints them in hash-table order. A missing `ostree` fails these tests.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// Both tools run with the same time zone and locale.
fn fixed_env(mut c: Command) -> Command {
    c.env("TZ", "America/New_York").env("LC_ALL", "C.UTF-8");
    c
}

fn text(o: &Output) -> String {
    format!(
        "status={:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `args` with both tools and requires identical output.
fn same(repo: &Path, args: &[&str]) {
    let a = output(fixed_env(ostree_cmd(repo)).args(args));
    let b = output(fixed_env(grove_cmd(repo)).args(args));
    assert_eq!(text(&b), text(&a), "grove vs ostree differ for {args:?}");
}

/// Like [`same`], but compares stdout lines sorted.
fn same_sorted(repo: &Path, args: &[&str]) {
    let sorted = |o: &Output| {
        let mut lines: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        (
            o.status.code(),
            lines,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let a = output(fixed_env(ostree_cmd(repo)).args(args));
    let b = output(fixed_env(grove_cmd(repo)).args(args));
    assert_eq!(
        sorted(&b),
        sorted(&a),
        "grove vs ostree differ for {args:?}"
    );
}

/// A source tree with files, a subdirectory, a setuid file, symlinks and an empty file.
fn make_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("x/y")).unwrap();
    std::fs::write(dir.join("top"), "a\n").unwrap();
    std::fs::write(dir.join("empty"), "").unwrap();
    std::fs::write(dir.join("x/g"), "bb\n").unwrap();
    std::fs::set_permissions(dir.join("x/g"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::write(dir.join("x/y/f"), "f\n").unwrap();
    std::os::unix::fs::symlink("top", dir.join("link")).unwrap();
    std::os::unix::fs::symlink("y/f", dir.join("x/rel")).unwrap();
    std::os::unix::fs::symlink("nowhere", dir.join("dangling")).unwrap();
    std::os::unix::fs::symlink("/x/g", dir.join("abs")).unwrap();
}

struct Fixture {
    _tmp: tempfile::TempDir,
    repos: Vec<PathBuf>,
    /// A repository holding only the tip of `main` (its parent is missing).
    shallow: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    make_tree(&tree);
    let tree_arg = format!("--tree=dir={}", tree.display());
    let mut repos = Vec::new();
    for mode in ["archive", "bare-user"] {
        let repo = tmp.path().join(mode);
        run_ok(fixed_env(ostree_cmd(&repo)).args(["init", &format!("--mode={mode}")]));
        run_ok(fixed_env(ostree_cmd(&repo)).args([
            "commit",
            "-b",
            "main",
            &tree_arg,
            "--timestamp=2020-01-01 12:00:00",
            "-s",
            "first",
        ]));
        std::fs::write(tree.join("top"), "changed\n").unwrap();
        run_ok(fixed_env(ostree_cmd(&repo)).args([
            "commit",
            "-b",
            "main",
            &tree_arg,
            "--timestamp=2020-01-02",
            "-s",
            "multi\nline subj",
            "-m",
            "b1\n\nb3\n",
            "--add-metadata-string=version=1.0",
        ]));
        std::fs::write(tree.join("top"), "a\n").unwrap();
        run_ok(fixed_env(ostree_cmd(&repo)).args([
            "commit",
            "-b",
            "main",
            &tree_arg,
            "--timestamp=2020-01-03",
            "-s",
            "",
        ]));
        run_ok(fixed_env(ostree_cmd(&repo)).args([
            "commit",
            "-b",
            "foo/bar",
            &tree_arg,
            "--timestamp=2020-01-04",
            "-s",
            "bar",
            "--add-detached-metadata-string=ds=bar",
        ]));
        run_ok(fixed_env(ostree_cmd(&repo)).args([
            "commit",
            "-b",
            "foo/baz",
            &tree_arg,
            "--timestamp=2020-01-05",
            "-s",
            "baz",
            "--add-metadata-string=s=it's",
            "--generate-sizes",
        ]));
        // Sizes past 1000 bytes: GLib joins number and unit with U+00A0.
        let big: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
            .collect();
        std::fs::write(tree.join("big"), big).unwrap();
        run_ok(fixed_env(ostree_cmd(&repo)).args([
            "commit",
            "-b",
            "sized",
            &tree_arg,
            "--timestamp=2020-01-06",
            "-s",
            "sized",
            "--generate-sizes",
        ]));
        std::fs::remove_file(tree.join("big")).unwrap();
        run_ok(fixed_env(ostree_cmd(&repo)).args(["refs", "--create=origin:remote/ref", "main^"]));
        repos.push(repo);
    }
    let shallow = tmp.path().join("shallow");
    run_ok(fixed_env(ostree_cmd(&shallow)).args(["init", "--mode=archive"]));
    run_ok(fixed_env(ostree_cmd(&shallow)).args([
        "pull-local",
        "--depth=0",
        &repos[0].display().to_string(),
        "main",
    ]));
    Fixture {
        _tmp: tmp,
        repos,
        shallow,
    }
}

#[test]
fn log_and_show_match_ostree() {
    let f = fixture();
    for repo in &f.repos {
        for rev in ["main", "main^", "main^^", "foo/bar"] {
            same(repo, &["log", rev]);
            same(repo, &["show", rev]);
            same(repo, &["show", "--raw", rev]);
            same(repo, &["log", "--raw", rev]);
        }
        let main = run_ok(fixed_env(ostree_cmd(repo)).args(["rev-parse", "main"]))
            .trim()
            .to_string();
        same(repo, &["show", &main]);
        same(repo, &["show", "--print-metadata-key=version", "main^"]);
        same(
            repo,
            &["show", "--print-metadata-key=ostree.ref-binding", "main"],
        );
        same(repo, &["show", "--print-metadata-key=s", "foo/baz"]);
        same(repo, &["show", "--print-metadata-key=nope", "main"]);
        same(
            repo,
            &["show", "--print-detached-metadata-key=ds", "foo/bar"],
        );
        same(repo, &["show", "--print-detached-metadata-key=ds", "main"]);
        same(repo, &["show", "--print-sizes", "foo/baz"]);
        same(repo, &["show", "--print-sizes", "main"]);
        same(repo, &["show", "--print-sizes", "sized"]);
        same(repo, &["log", "nope"]);
        same(repo, &["show", "nope"]);
        // A full checksum of no object: a missing content object, worded by mode.
        same(repo, &["show", &"0".repeat(64)]);
        // Objects named by full checksum: dirtree, dirmeta, files, symlinks.
        let ls = run_ok(fixed_env(ostree_cmd(repo)).args(["ls", "-R", "-C", "main"]));
        for line in ls.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let csums: Vec<&str> = fields.iter().copied().filter(|w| w.len() == 64).collect();
            for c in csums {
                same(repo, &["show", c]);
                same(repo, &["show", "--raw", c]);
            }
        }
    }
    same(&f.shallow, &["log", "main"]);
    same(&f.shallow, &["log", "--raw", "main"]);
}

#[test]
fn ls_and_cat_match_ostree() {
    let f = fixture();
    for repo in &f.repos {
        for args in [
            &["ls", "main"][..],
            &["ls", "-R", "main"],
            &["ls", "-R", "-C", "-X", "main"],
            &["ls", "-d", "main", "/x"],
            &["ls", "-C", "-d", "main", "/"],
            &["ls", "main", "x", "/x/y", "top", "/link"],
            &["ls", "--nul-filenames-only", "-R", "main"],
            &["ls", "main", "/nope"],
            &["ls", "main", "/nope/deeper"],
            &["ls", "main", "/top/x"],
            &["ls", "main", "/x/../top"],
            &["ls", "main", "x/y/"],
            &["ls", "nope"],
            &["cat", "main", "top", "/x/g", "x/y/f", "empty"],
            &["cat", "main", "link", "/x/rel", "abs"],
            &["cat", "main^", "top"],
            &["cat", "main", "dangling"],
            &["cat", "main", "/x"],
            &["cat", "main", "/nope"],
            &["cat", "main", "/x/nope/q"],
            &["cat", "main", "/top/q"],
        ] {
            same(repo, args);
        }
    }
}

#[test]
fn refs_and_rev_parse_match_ostree() {
    let f = fixture();
    for repo in &f.repos {
        same_sorted(repo, &["refs"]);
        same_sorted(repo, &["refs", "foo"]);
        same_sorted(repo, &["refs", "--list", "foo"]);
        same_sorted(repo, &["refs", "main"]);
        same_sorted(repo, &["refs", "nope"]);
        same_sorted(repo, &["refs", "origin:"]);
        same_sorted(repo, &["refs", "foo/"]);
        same(
            repo,
            &[
                "rev-parse",
                "main",
                "main^",
                "foo/bar",
                "origin:remote/ref",
                "remote/ref",
            ],
        );
        same(repo, &["rev-parse", "main^^^"]);
        same(repo, &["rev-parse", "nope"]);
        same(repo, &["rev-parse", "bad ref"]);
        let main = run_ok(fixed_env(ostree_cmd(repo)).args(["rev-parse", "main"]))
            .trim()
            .to_string();
        same(repo, &["rev-parse", &main[..10]]);
        same(repo, &["rev-parse", &main]);
    }
}

#[test]
fn refs_create_delete_and_reset_match_ostree() {
    let f = fixture();
    let src = &f.repos[0];
    let tmp = tempdir();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    for dest in [&a, &b] {
        let status = Command::new("cp")
            .arg("-a")
            .arg(src)
            .arg(dest)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let steps: &[&[&str]] = &[
        &["refs", "--create=new/ref", "main^"],
        &["refs", "--create=new/ref", "main"],
        &["refs", "--create=new/ref", "--force", "main"],
        &["refs", "--create=al", "--alias", "main"],
        &["refs", "--create=al2", "--alias", "nonexistent"],
        &["refs", "--alias"],
        &["refs", "--delete", "main"],
        &["refs", "--delete", "al"],
        &["refs", "--delete", "foo"],
        &["refs", "--delete"],
        &["reset", "main", "main^^"],
        &["reset", "nope", "main"],
        &["reset", "origin:remote/ref", "new/ref"],
        &["refs"],
        &["rev-parse", "main", "origin:remote/ref"],
    ];
    for step in steps {
        let o = output(fixed_env(ostree_cmd(&a)).args(*step));
        let g = output(fixed_env(grove_cmd(&b)).args(*step));
        let sorted = |o: &Output| {
            let mut l: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            l.sort();
            (
                o.status.code(),
                l,
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        };
        assert_eq!(sorted(&g), sorted(&o), "differ for {step:?}");
    }
}

/// Where grove deliberately differs from ostree, or has no ostree counterpart.
#[test]
fn grove_improvements() {
    let tmp = tempdir();
    let tree = tmp.path().join("tree");
    make_tree(&tree);
    let repo = tmp.path().join("repo");
    // init installs the hook samples, and ostree still reads the repository.
    run_ok(fixed_env(grove_cmd(&repo)).args(["init", "--mode=archive"]));
    for hook in [
        "pre-commit",
        "post-commit",
        "pre-pull-local",
        "post-pull-local",
    ] {
        assert!(
            repo.join("hooks").join(format!("{hook}.sample")).is_file(),
            "{hook}"
        );
    }
    run_ok(fixed_env(ostree_cmd(&repo)).args([
        "commit",
        "-b",
        "main",
        &format!("--tree=dir={}", tree.display()),
        "--timestamp=2020-01-01",
        "-s",
        "s",
        "--add-metadata=n=uint32 5",
    ]));
    // As ostree: byte-swapped on little-endian hosts, the stored value with -B.
    same(&repo, &["show", "--print-metadata-key=n", "main"]);
    let o =
        output(fixed_env(grove_cmd(&repo)).args(["show", "-B", "--print-metadata-key=n", "main"]));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "uint32 5\n");
    same(&repo, &["show", "-B", "--print-metadata-key=n", "main"]);
    // --json for log and refs.
    let o = output(fixed_env(grove_cmd(&repo)).args(["log", "--json", "main"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["subject"], "s");
    assert_eq!(v[0]["metadata"]["n"], "uint32 5");
    assert!(v[0]["timestamp"].is_u64());
    let o = output(fixed_env(grove_cmd(&repo)).args(["refs", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["ref"], "main");
}

/// A repository without `refs/remotes` cannot list refs (ostree's wording),
/// and a repository whose `core.parent` names another reads that one's
/// objects: ls, cat, show and a checkout of a commit only the parent holds.
#[test]
fn refs_enoent_and_core_parent_match_ostree() {
    let f = fixture();
    // ostree 2022.7 aborts reading an archive parent from a bare-user child: the
    // child's mode is bare for the bare-user parent (as ostree's basic-test), archive else.
    for (repo, shadow_mode) in f.repos.iter().zip(["archive", "bare"]) {
        std::fs::rename(repo.join("refs/remotes"), repo.join("refs/remotes.orig")).unwrap();
        same(repo, &["refs", "--list"]);
        std::fs::rename(repo.join("refs/remotes.orig"), repo.join("refs/remotes")).unwrap();
        same_sorted(repo, &["refs", "--list"]);

        let shadow = repo.with_extension("shadow");
        run_ok(fixed_env(ostree_cmd(&shadow)).args(["init", &format!("--mode={shadow_mode}")]));
        run_ok(fixed_env(ostree_cmd(&shadow)).args([
            "config",
            "set",
            "core.parent",
            &repo.display().to_string(),
        ]));
        let rev = run_ok(fixed_env(ostree_cmd(repo)).args(["rev-parse", "main"]))
            .trim()
            .to_string();
        same(&shadow, &["ls", "-R", &rev]);
        same(&shadow, &["cat", &rev, "/x/y/f"]);
        same(&shadow, &["show", &rev]);
        let (a, b) = (
            shadow.with_extension("co-ostree"),
            shadow.with_extension("co-grove"),
        );
        run_ok(fixed_env(ostree_cmd(&shadow)).args([
            "checkout",
            "-U",
            &rev,
            &a.display().to_string(),
        ]));
        run_ok(fixed_env(grove_cmd(&shadow)).args([
            "checkout",
            "-U",
            &rev,
            &b.display().to_string(),
        ]));
        assert_eq!(
            std::fs::read(b.join("x/y/f")).unwrap(),
            std::fs::read(a.join("x/y/f")).unwrap()
        );
        assert_eq!(
            std::fs::read_link(b.join("link")).unwrap(),
            std::fs::read_link(a.join("link")).unwrap()
        );
    }
}
