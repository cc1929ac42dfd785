//! `grove commit` against the real `ostree commit`: the same inputs and
//! options must give the same commit checksum in every repository mode, the
//! grove-written repository must pass `ostree fsck`, and an `ostree checkout`
//! of the grove commit must reproduce the source.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// One ostree-written and one grove-written repository of the same mode.
struct Pair {
    work: PathBuf,
    o: PathBuf,
    g: PathBuf,
    mode: String,
}

impl Pair {
    fn new(work: &Path, mode: &str) -> Pair {
        let o = work.join(format!("repo-ostree-{mode}"));
        let g = work.join(format!("repo-grove-{mode}"));
        init_repo(&o, mode);
        init_repo(&g, mode);
        Pair {
            work: work.to_path_buf(),
            o,
            g,
            mode: mode.to_string(),
        }
    }

    /// `commit ARGS` in both repositories; the printed checksums must be
    /// equal, as must the ref that moved and the detached metadata.
    fn commit<S: AsRef<str>>(&self, args: &[S]) -> String {
        let mut full = vec!["commit".to_string()];
        full.extend(args.iter().map(|a| a.as_ref().to_string()));
        let expected = checksum_of(&ostree(&self.o, &full));
        let actual = checksum_of(&grove(&self.g, &full));
        assert_eq!(
            actual,
            expected,
            "grove and ostree checksums differ ({} repo) for: {}",
            self.mode,
            full.join(" ")
        );
        assert_eq!(
            heads(&self.g),
            heads(&self.o),
            "refs differ after: {}",
            full.join(" ")
        );
        let meta = format!("objects/{}/{}.commitmeta", &expected[..2], &expected[2..]);
        let (mo, mg) = (
            fs::read(self.o.join(&meta)).ok(),
            fs::read(self.g.join(&meta)).ok(),
        );
        assert_eq!(
            mg,
            mo,
            "detached metadata of {expected} differs after: {}",
            full.join(" ")
        );
        expected
    }

    fn verify(&self, csum: &str, source: Option<&Path>, strict: bool) {
        verify_grove_commit(
            &self.work, &self.o, &self.g, &self.mode, csum, source, strict,
        );
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The full option sequence on the standard fixture (with a multi-MB file).
fn options_sequence(mode: &str) {
    let t = tempdir();
    let w = t.path();
    // The multi-MB file is in the tree of the commits whose filters leave
    // file headers alone (it is then written once); the others use the
    // small fixture, to keep the suite fast.
    let big = w.join("src-big");
    build_fixture(&big, true);
    let src = w.join("src");
    build_fixture(&src, false);
    let body = w.join("body.txt");
    write(
        &body,
        "Body from a file\n\nwith a blank line, 'quotes' and ünïcode\n".as_bytes(),
        0o644,
    );
    let p = Pair::new(w, mode);

    // Metadata of every kind, detached metadata, default ref binding, bare PATH argument.
    let c1 = p.commit(&[
        "-b",
        "main",
        "--timestamp=2021-02-03 04:05:06 +0000",
        "-s",
        "First commit",
        "-m",
        "A body\nwith two lines",
        "--add-metadata-string=version=1.0",
        "--add-metadata-string=empty=",
        "--add-metadata=flag=true",
        "--add-metadata=off=false",
        "--add-metadata=count=7",
        "--add-metadata=big=uint64 5",
        "--add-metadata=list=['a','b']",
        "--add-metadata=nothing=@as []",
        "--add-detached-metadata-string=signed-by=tests",
        "--add-detached-metadata-string=other=value with spaces",
        &s(&big),
    ]);
    p.verify(&c1, Some(&big), true);

    // Parent from the branch, --keep-metadata, extra bound refs, -F body file, --tree=dir=.
    let c2 = p.commit(&[
        "-b".to_string(),
        "main".into(),
        "--timestamp=@1600000000".into(),
        "-s".into(),
        "Second".into(),
        "-F".into(),
        s(&body),
        "--keep-metadata=version".into(),
        "--keep-metadata=list".into(),
        "--bind-ref=other/ref".into(),
        "--bind-ref=third".into(),
        format!("--tree=dir={}", s(&big)),
    ]);
    p.verify(&c2, Some(&big), true);

    // Orphan with an explicit parent, no bindings.
    let c3 = p.commit(&[
        "--orphan".to_string(),
        "--no-bindings".into(),
        format!("--parent={c1}"),
        "--timestamp=2022-01-01".into(),
        "-s".into(),
        "orphan".into(),
        s(&big),
    ]);
    p.verify(&c3, Some(&big), true);

    // Ownership override, no parent.
    let c4 = p.commit(&[
        "-b",
        "owned",
        "--parent=none",
        "--owner-uid=1000",
        "--owner-gid=1001",
        "--timestamp=2022-01-02",
        &s(&src),
    ]);
    p.verify(&c4, Some(&src), false);

    let c5 = p.commit(&[
        "-b",
        "root-owned",
        "--owner-uid=0",
        "--owner-gid=0",
        "--timestamp=2022-01-03",
        &s(&src),
    ]);
    p.verify(&c5, Some(&src), false);

    let c6 = p.commit(&[
        "-b",
        "canonical",
        "--canonical-permissions",
        "--timestamp=2022-01-04",
        "-s",
        "canon",
        &s(&src),
    ]);
    p.verify(&c6, Some(&src), false);

    let c7 = p.commit(&[
        "-b",
        "noxattrs",
        "--no-xattrs",
        "--timestamp=2022-01-05",
        &s(&src),
    ]);
    p.verify(&c7, Some(&src), false);

    // Re-commit a ref's tree onto the branch (parent = current main).
    let c8 = p.commit(&[
        "-b",
        "main",
        "--tree=ref=main",
        "--timestamp=2022-01-06",
        "-s",
        "from ref",
    ]);
    p.verify(&c8, Some(&big), true);

    // A ref's tree re-read through an ownership filter.
    let c9 = p.commit(&[
        "-b",
        "refowned",
        "--tree=ref=canonical",
        "--owner-uid=77",
        "--owner-gid=88",
        "--timestamp=2022-01-07",
    ]);
    p.verify(&c9, Some(&src), false);
}

#[test]
fn options_archive() {
    options_sequence("archive");
}

#[test]
fn options_archive_z2() {
    options_sequence("archive-z2");
}

#[test]
fn options_bare() {
    options_sequence("bare");
}

#[test]
fn options_bare_user() {
    options_sequence("bare-user");
}

#[test]
fn options_bare_user_only() {
    options_sequence("bare-user-only");
}

fn make_tar(w: &Path, src: &Path, name: &str, extra: &[&str], members: &[&str]) -> PathBuf {
    let path = w.join(name);
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(src)
            .args(extra)
            .arg("-cf")
            .arg(&path)
            .args(members),
    );
    path
}

fn commit_tar(p: &Pair, branch: &str, tarball: &Path, source: &Path) {
    let c = p.commit(&[
        "-b".to_string(),
        branch.to_string(),
        format!("--tree=tar={}", s(tarball)),
        "--timestamp=2023-03-04 05:06:07 +0000".into(),
        "-s".into(),
        format!(
            "tarball {}",
            tarball.file_name().expect("name").to_string_lossy()
        ),
    ]);
    p.verify(&c, Some(source), false);
}

/// Plain, gzip, xz and pax tarballs made by the `tar` CLI from the fixture.
fn tar_trees(mode: &str) {
    let t = tempdir();
    let w = t.path();
    let src = w.join("src");
    build_fixture(&src, false);
    let p = Pair::new(w, mode);
    commit_tar(
        &p,
        "plain",
        &make_tar(w, &src, "plain.tar", &[], &["."]),
        &src,
    );
    commit_tar(
        &p,
        "gzip",
        &make_tar(w, &src, "gzip.tar.gz", &["-z"], &["."]),
        &src,
    );
    commit_tar(
        &p,
        "xz",
        &make_tar(w, &src, "xz.tar.xz", &["-J"], &["."]),
        &src,
    );
    commit_tar(
        &p,
        "pax",
        &make_tar(
            w,
            &src,
            "pax.tar",
            &["--format=pax", "--numeric-owner"],
            &["."],
        ),
        &src,
    );

    // Without a root (`./`) entry ostree refuses the tree; grove must too, and move no ref.
    let mut top: Vec<String> = fs::read_dir(&src)
        .expect("read src")
        .map(|e| {
            e.expect("dirent")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    top.sort();
    let top: Vec<&str> = top.iter().map(String::as_str).collect();
    let noroot = make_tar(w, &src, "noroot.tar", &[], &top);
    let args = [
        "commit".to_string(),
        "-b".into(),
        "noroot".into(),
        format!("--tree=tar={}", s(&noroot)),
    ];
    let o = run_fail(ostree_cmd(&p.o).args(&args));
    assert!(
        o.contains("Can't commit an empty tree"),
        "ostree's behaviour changed: {o}"
    );
    let g = grove_fail(&p.g, &args);
    assert!(
        g.contains("empty tree"),
        "grove error for a tarball without a root entry: {g}"
    );
    assert_eq!(read_ref(&p.g, "noroot"), None);
}

#[test]
fn tar_trees_archive() {
    tar_trees("archive");
}

#[test]
fn tar_trees_bare() {
    tar_trees("bare");
}

#[test]
fn tar_trees_bare_user_only() {
    tar_trees("bare-user-only");
}

/// Tarballs made with `tar --xattrs --numeric-owner`: text values, binary
/// values (NUL, 0xff), a value with a newline byte, then the full fixture.
fn tar_xattrs(mode: &str) {
    let t = tempdir();
    let w = t.path();
    let text = w.join("text");
    write(&text.join("f"), b"f\n", 0o644);
    set_xattr(&text.join("f"), "user.comment", b"plain text value");
    mkdir(&text.join("d"), 0o755);
    set_xattr(&text.join("d"), "user.dir", b"on a dir");
    let binary = w.join("binary");
    write(&binary.join("f"), b"f\n", 0o644);
    set_xattr(&binary.join("f"), "user.binary", &[0, 1, 2, 0xff, 0xfe]);
    let newline = w.join("newline");
    write(&newline.join("f"), b"f\n", 0o644);
    set_xattr(&newline.join("f"), "user.lines", b"line one\nline two");
    let src = w.join("src");
    build_fixture(&src, false);
    let p = Pair::new(w, mode);
    let opts = ["--xattrs", "--xattrs-include=user.*", "--numeric-owner"];
    commit_tar(
        &p,
        "text-xattrs",
        &make_tar(w, &text, "text-xattrs.tar", &opts, &["."]),
        &text,
    );
    commit_tar(
        &p,
        "binary-xattrs",
        &make_tar(w, &binary, "binary-xattrs.tar", &opts, &["."]),
        &binary,
    );
    // A value containing a newline byte (legal in pax records, which are length-prefixed).
    commit_tar(
        &p,
        "newline-xattrs",
        &make_tar(w, &newline, "newline-xattrs.tar", &opts, &["."]),
        &newline,
    );
    commit_tar(
        &p,
        "xattrs",
        &make_tar(w, &src, "xattrs.tar", &opts, &["."]),
        &src,
    );
}

#[test]
fn tar_xattrs_archive() {
    tar_xattrs("archive");
}

#[test]
fn tar_xattrs_bare() {
    tar_xattrs("bare");
}

/// Several --tree overlaid in order (dir, tar, ref), and --tar-autocreate-parents.
#[test]
fn overlays_and_autocreate_parents() {
    let t = tempdir();
    let w = t.path();
    let base = w.join("base");
    write(&base.join("a.txt"), b"base a\n", 0o644);
    write(&base.join("dir/x"), b"base x\n", 0o644);
    write(&base.join("keep"), b"kept\n", 0o600);
    ln_s("a.txt", &base.join("link"));
    let over = w.join("over");
    write(&over.join("a.txt"), b"over a\n", 0o755);
    write(&over.join("dir/y"), b"over y\n", 0o644);
    write(&over.join("link"), b"now a file\n", 0o644);
    mkdir(&over.join("newdir"), 0o700);
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&over)
            .arg("-czf")
            .arg(w.join("over.tgz"))
            .arg("."),
    );
    let refsrc = w.join("refsrc");
    write(&refsrc.join("dir/x"), b"from ref\n", 0o644);
    write(&refsrc.join("z"), b"z\n", 0o644);
    let ac = w.join("ac");
    write(&ac.join("a/b/c.txt"), b"autocreated parents\n", 0o644);
    write(&ac.join("top.txt"), b"top\n", 0o644);
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&ac)
            .arg("--no-recursion")
            .arg("-cf")
            .arg(w.join("ac.tar"))
            .args(["a/b/c.txt", "top.txt"]),
    );

    for mode in ["archive", "bare-user"] {
        let p = Pair::new(w, mode);
        let r = p.commit(&["-b", "refsrc", "--timestamp=2020-01-01", &s(&refsrc)]);
        p.verify(&r, Some(&refsrc), false);
        let c = p.commit(&[
            "-b".to_string(),
            "main".into(),
            "--timestamp=2020-01-02".into(),
            format!("--tree=dir={}", s(&base)),
            format!("--tree=tar={}", s(&w.join("over.tgz"))),
            "--tree=ref=refsrc".into(),
        ]);
        p.verify(&c, None, false);
        let c = p.commit(&[
            "-b".to_string(),
            "reversed".into(),
            "--timestamp=2020-01-02".into(),
            "--tree=ref=refsrc".into(),
            format!("--tree=tar={}", s(&w.join("over.tgz"))),
            format!("--tree=dir={}", s(&base)),
        ]);
        p.verify(&c, None, false);
        let c = p.commit(&[
            "-b".to_string(),
            "autocreate".into(),
            "--timestamp=2020-01-03".into(),
            "--tar-autocreate-parents".into(),
            format!("--tree=tar={}", s(&w.join("ac.tar"))),
        ]);
        p.verify(&c, Some(&ac), false);
    }
}

/// --skip-if-unchanged prints the parent and leaves the ref alone.
#[test]
fn skip_if_unchanged() {
    let t = tempdir();
    let w = t.path();
    let src = w.join("src");
    build_fixture(&src, false);
    let p = Pair::new(w, "archive");
    let c1 = p.commit(&["-b", "main", "--timestamp=2020-01-01", &s(&src)]);
    let commits_before = count_commits(&p.g);
    let again = p.commit(&[
        "-b",
        "main",
        "--skip-if-unchanged",
        "--timestamp=2024-01-01",
        "-s",
        "unchanged",
        &s(&src),
    ]);
    assert_eq!(again, c1, "--skip-if-unchanged must print the parent");
    assert_eq!(
        read_ref(&p.g, "main").as_deref(),
        Some(c1.as_str()),
        "--skip-if-unchanged moved the ref"
    );
    assert_eq!(
        count_commits(&p.g),
        commits_before,
        "--skip-if-unchanged wrote a commit object"
    );
    write(&src.join("new-file"), b"changed\n", 0o644);
    let c2 = p.commit(&[
        "-b",
        "main",
        "--skip-if-unchanged",
        "--timestamp=2024-01-01",
        &s(&src),
    ]);
    assert_ne!(c2, c1);
    assert_eq!(read_ref(&p.g, "main").as_deref(), Some(c2.as_str()));
    p.verify(&c2, Some(&src), false);
}

fn count_commits(repo: &Path) -> usize {
    let mut n = 0;
    for d in fs::read_dir(repo.join("objects")).expect("objects") {
        for f in fs::read_dir(d.expect("dirent").path()).expect("objects/XX") {
            n += f
                .expect("dirent")
                .path()
                .extension()
                .is_some_and(|e| e == "commit") as usize;
        }
    }
    n
}

/// --consume removes the source directory after a successful commit.
#[test]
fn consume() {
    let t = tempdir();
    let w = t.path();
    let src = w.join("src");
    build_fixture(&src, false);
    let (so, sg) = (w.join("src-ostree"), w.join("src-grove"));
    for d in [&so, &sg] {
        run_ok(Command::new("cp").arg("-a").arg(&src).arg(d));
    }
    let p = Pair::new(w, "bare-user");
    let expected = checksum_of(&ostree(
        &p.o,
        &[
            "commit",
            "-b",
            "main",
            "--timestamp=2020-01-01",
            "--consume",
            &s(&so),
        ],
    ));
    let actual = checksum_of(&grove(
        &p.g,
        &[
            "commit",
            "-b",
            "main",
            "--timestamp=2020-01-01",
            "--consume",
            &s(&sg),
        ],
    ));
    assert_eq!(actual, expected, "--consume commit checksum");
    assert!(
        !sg.exists(),
        "grove commit --consume left {} behind",
        sg.display()
    );
    assert!(src.exists());
    p.verify(&actual, Some(&src), false);
}

/// --link-checkout-speedup over a `checkout -U --union` of components from a
/// bare-user repository gives ostree's checksum (the components' content
/// objects are reused through the (device, inode) cache).
#[test]
fn link_checkout_speedup() {
    let t = tempdir();
    let w = t.path();
    let c1 = w.join("c1");
    write(&c1.join("usr/bin/prog"), b"#!/bin/sh\necho prog\n", 0o755);
    write(&c1.join("usr/share/doc/README"), b"docs\n", 0o644);
    write(&c1.join("etc/shared.conf"), b"from c1\n", 0o644);
    ln_s("prog", &c1.join("usr/bin/alias"));
    let c2 = w.join("c2");
    write(&c2.join("etc/shared.conf"), b"from c2 (wins)\n", 0o644);
    write(&c2.join("etc/app.conf"), b"app\n", 0o640);
    set_xattr(&c2.join("etc/app.conf"), "user.origin", b"component two");
    write(&c2.join("usr/lib/big.so"), &prng_bytes(7, 300_000), 0o755);
    write(&c2.join("usr/lib/empty"), b"", 0o644);

    let p = Pair::new(w, "bare-user");
    for (name, dir) in [("c1", &c1), ("c2", &c2)] {
        p.commit(&["-b", name, "--timestamp=2020-01-01", &s(dir)]);
    }
    let (uo, ug) = (w.join("union-ostree"), w.join("union-grove"));
    for (repo, dest) in [(&p.o, &uo), (&p.g, &ug)] {
        for c in ["c1", "c2"] {
            ostree(repo, &["checkout", "-U", "--union", c, &s(dest)]);
        }
    }
    let expected = checksum_of(&ostree(
        &p.o,
        &[
            "commit",
            "-b",
            "out",
            "--timestamp=2020-01-02",
            "--link-checkout-speedup",
            &s(&uo),
        ],
    ));
    let actual = checksum_of(&grove(
        &p.g,
        &[
            "commit",
            "-b",
            "out",
            "--timestamp=2020-01-02",
            "--link-checkout-speedup",
            &s(&ug),
        ],
    ));
    assert_eq!(
        actual, expected,
        "--link-checkout-speedup checksum differs from ostree's"
    );
    p.verify(&actual, None, false);
    // The file objects of the union are the components' objects.
    let ls = |rev: &str| -> Vec<String> {
        ostree(&p.g, &["ls", "-R", "-C", rev])
            .lines()
            .filter(|l| l.starts_with('-'))
            .map(|l| l.split_whitespace().skip(4).collect::<Vec<_>>().join(" "))
            .collect()
    };
    let mut component_files = ls("c1");
    component_files.extend(ls("c2"));
    for f in ls("out") {
        assert!(
            component_files.contains(&f),
            "file object of the union is not a component object: {f}"
        );
    }
}

/// `ostree show --print-sizes REV` output.
fn print_sizes(repo: &Path, rev: &str) -> String {
    ostree(repo, &["show", "--print-sizes", rev])
}

/// --generate-sizes: the same `ostree.sizes` (so the same checksum) as
/// ostree, which real `ostree show --print-sizes` reads from the grove repo;
/// commits in non-archive repositories carry no sizes, as ostree's.
#[test]
fn generate_sizes() {
    let t = tempdir();
    let w = t.path();
    let src = w.join("src");
    build_fixture(&src, false);
    // Duplicated content and directories: one entry each.
    write(&src.join("dup/a/same"), b"same bytes\n", 0o644);
    write(&src.join("dup/b/same"), b"same bytes\n", 0o644);
    for mode in ["archive", "bare-user"] {
        let p = Pair::new(w, mode);
        let c1 = p.commit(&[
            "-b",
            "main",
            "--generate-sizes",
            "--timestamp=2020-01-01",
            "--add-metadata-string=version=1",
            &s(&src),
        ]);
        p.verify(&c1, Some(&src), false);
        if mode == "archive" {
            let shown = grove(&p.g, &["show", "--print-sizes", "main"]);
            let expected = print_sizes(&p.o, "main");
            assert!(
                expected.contains("Number of objects (needed/total): 0/"),
                "{expected}"
            );
            assert_eq!(
                print_sizes(&p.g, "main"),
                expected,
                "ostree reading grove's ostree.sizes"
            );
            assert_eq!(shown, expected, "grove show --print-sizes");
            // Objects the repository already holds are counted again.
            write(&src.join("new-file"), b"new\n", 0o644);
            let c2 = p.commit(&[
                "-b",
                "main",
                "--generate-sizes",
                "--timestamp=2020-01-02",
                &s(&src),
            ]);
            assert_eq!(print_sizes(&p.g, &c2), print_sizes(&p.o, &c2));
            fs::remove_file(src.join("new-file")).expect("rm new-file");
        } else {
            assert!(!grove(&p.g, &["show", &c1]).is_empty());
            let err = run_fail(grove_cmd(&p.g).args(["show", "--print-sizes", "main"]));
            assert!(err.contains("No metadata key ostree.sizes"), "{err}");
        }
    }
}

/// --base REV: the tree starts as REV's, untouched by the ownership options
/// that apply to the overlaid directory (whose metadata replaces the root's).
#[test]
fn base_commit() {
    let t = tempdir();
    let w = t.path();
    let src = w.join("src");
    build_fixture(&src, false);
    let over = w.join("over");
    write(&over.join("overlaid-file"), b"overlaid\n", 0o644);
    write(
        &over.join("data/original.txt"),
        b"replaced by the overlay\n",
        0o644,
    );
    write(&over.join("deep/a/new"), b"new in an existing dir\n", 0o600);
    for mode in ["archive", "bare-user"] {
        let p = Pair::new(w, mode);
        let base = p.commit(&["-b", "base", "--timestamp=2020-01-01", &s(&src)]);
        let c = p.commit(&[
            "-b",
            "over",
            "--base",
            "base",
            "--owner-uid=42",
            "--owner-gid=42",
            "--timestamp=2020-01-02",
            &s(&over),
        ]);
        p.verify(&c, None, false);
        // Checksum form of the base and a --tree list after it.
        let c = p.commit(&[
            "-b".to_string(),
            "over2".into(),
            format!("--base={base}"),
            "--timestamp=2020-01-03".into(),
            format!("--tree=dir={}", s(&over)),
        ]);
        p.verify(&c, None, false);
        let listing = grove(&p.g, &["ls", "-R", "over"]);
        assert!(
            listing.lines().any(|l| l.contains("/overlaid-file"))
                && listing.lines().any(|l| l.contains("/bin/tool")),
            "{listing}"
        );
    }
    let p = Pair::new(w, "archive");
    let err = grove_fail(
        &p.g,
        &["commit", "-b", "x", "--base", "no-such-ref", &s(&over)],
    );
    assert!(err.contains("no-such-ref"), "{err}");
}

/// SOURCE_DATE_EPOCH sets the timestamp as in ostree (same checksum), and
/// a bad value fails with ostree's wording.
#[test]
fn source_date_epoch() {
    let t = tempdir();
    let w = t.path();
    let src = w.join("src");
    write(&src.join("file"), b"file\n", 0o644);
    let p = Pair::new(w, "archive");
    let commit = |cmd: &mut Command, epoch: &str| {
        cmd.env("SOURCE_DATE_EPOCH", epoch)
            .args(["commit", "-b", "env", "-s", "env timestamp"])
            .arg(&src);
    };
    let mut o = ostree_cmd(&p.o);
    commit(&mut o, "1234567890");
    let mut g = grove_cmd(&p.g);
    commit(&mut g, "1234567890");
    assert_eq!(checksum_of(&run_ok(&mut g)), checksum_of(&run_ok(&mut o)));
    for (value, wording) in [
        ("invalid", "Failed to convert SOURCE_DATE_EPOCH"),
        (
            "12345678901234567890",
            "Parsing SOURCE_DATE_EPOCH: Numerical result out of range",
        ),
    ] {
        let mut o = ostree_cmd(&p.o);
        commit(&mut o, value);
        assert!(run_fail(&mut o).contains(wording));
        let mut g = grove_cmd(&p.g);
        commit(&mut g, value);
        let err = run_fail(&mut g);
        assert_one_line_error(&err);
        assert!(err.contains(wording), "{err}");
    }
}

/// The tree of ostree's test-libarchive: hardlinks (to files and to a
/// symlink), a file for --statoverride and one for --skip-list.
fn libarchive_tree(root: &Path) {
    write(&root.join("usr/bin/foo"), b"contents\n", 0o644);
    write(&root.join("usr/bin/foo0"), b"foo0\n", 0o644);
    fs::hard_link(root.join("usr/bin/foo"), root.join("usr/bin/bar")).expect("hard link");
    fs::hard_link(root.join("usr/bin/foo0"), root.join("usr/bin/bar0")).expect("hard link");
    ln_s("foo", &root.join("usr/bin/sl"));
    mkdir(&root.join("usr/local/bin"), 0o755);
    fs::hard_link(root.join("usr/bin/foo"), root.join("usr/local/bin/baz")).expect("hard link");
    fs::hard_link(root.join("usr/bin/foo0"), root.join("usr/local/bin/baz0")).expect("hard link");
    fs::hard_link(root.join("usr/bin/sl"), root.join("usr/local/bin/slhl")).expect("hard link");
    write(&root.join("usr/bin/setuidme"), b"setuidme\n", 0o644);
    write(&root.join("usr/bin/skipme"), b"skipme\n", 0o644);
    write(&root.join("usr/lib/libfoo.so"), b"a library\n", 0o644);
    write(&root.join("usr/lib/libbar.so"), b"another library\n", 0o644);
    for d in ["usr", "usr/bin", "usr/lib", "usr/local"] {
        chmod(&root.join(d), 0o755);
    }
}

/// Tarballs and newc cpio archives (from a file and from stdin) with
/// --statoverride, --skip-list, --tar-pathname-filter, several tar trees,
/// --tar-autocreate-parents and --generate-sizes: the same commits as
/// ostree's libarchive import, whose checkout has the hardlinks.
#[test]
fn archives_like_libarchive() {
    let t = tempdir();
    let w = t.path();
    let foo = w.join("foo");
    libarchive_tree(&foo);
    let tgz = w.join("foo.tar.gz");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&foo)
            .arg("-czf")
            .arg(&tgz)
            .arg("."),
    );
    let cpio = w.join("foo.cpio");
    let list = run_ok(Command::new("find").arg(".").current_dir(&foo));
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("cpio --quiet -o -H newc > {}", s(&cpio)))
        .current_dir(&foo)
        .stdin(std::process::Stdio::piped());
    let mut child = c.spawn().expect("run cpio");
    std::io::Write::write_all(child.stdin.as_mut().expect("cpio stdin"), list.as_bytes())
        .expect("feed cpio");
    assert!(child.wait().expect("cpio").success());
    let so = w.join("statoverride.txt");
    write(&so, b"2048 /usr/bin/setuidme\n", 0o644);
    let skip = w.join("skiplist.txt");
    write(&skip, b"/usr/bin/skipme\n", 0o644);
    let so_prefixed = w.join("statoverride-foo.txt");
    write(&so_prefixed, b"2048 /foo/usr/bin/setuidme\n", 0o644);
    let skip_prefixed = w.join("skiplist-foo.txt");
    write(&skip_prefixed, b"/foo/usr/bin/skipme\n", 0o644);
    let files1 = w.join("files1");
    write(&files1.join("testfile"), b"to be overwritten file\n", 0o644);
    write(&files1.join("subdir/original"), b"original\n", 0o644);
    ln_s("to-be-overwritten-symlink", &files1.join("testsymlink"));
    let files2 = w.join("files2");
    write(&files2.join("testfile"), b"overwriting file\n", 0o644);
    write(&files2.join("subdir/new"), b"new\n", 0o644);
    ln_s("overwriting-symlink", &files2.join("testsymlink"));
    for (d, name) in [(&files1, "files1.tar.gz"), (&files2, "files2.tar.gz")] {
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(d)
                .arg("-czf")
                .arg(w.join(name))
                .arg("."),
        );
    }
    let empty = w.join("empty.tar");
    run_ok(
        Command::new("tar")
            .arg("-cf")
            .arg(&empty)
            .arg("-T")
            .arg("/dev/null"),
    );

    for mode in ["archive", "bare-user"] {
        let p = Pair::new(w, mode);
        let rules = [
            format!("--statoverride={}", s(&so)),
            format!("--skip-list={}", s(&skip)),
        ];
        for archive in [&tgz, &cpio] {
            let mut args = vec![
                "-b".to_string(),
                "test".into(),
                "--timestamp=2020-01-01".into(),
                format!("--tree=tar={}", s(archive)),
            ];
            args.extend(rules.iter().cloned());
            let c = p.commit(&args);
            p.verify(&c, None, false);
            let co = w.join(format!(
                "co-{mode}-{}",
                archive.extension().and_then(|e| e.to_str()).unwrap_or("x")
            ));
            checkout(&p.g, mode, &c, &co);
            let ino = |f: &str| {
                std::os::unix::fs::MetadataExt::ino(&fs::metadata(co.join(f)).expect("stat"))
            };
            assert_eq!(
                ino("usr/bin/foo"),
                ino("usr/local/bin/baz"),
                "hardlinked checkout of {}",
                s(archive)
            );
            assert_eq!(
                fs::read(co.join("usr/bin/bar")).expect("bar"),
                b"contents\n"
            );
            assert_eq!(
                fs::read_link(co.join("usr/local/bin/slhl")).expect("slhl"),
                Path::new("foo")
            );
            assert!(!co.join("usr/bin/skipme").exists());
            let ls = grove(&p.g, &["ls", &c, "/usr/bin/setuidme"]);
            assert!(ls.starts_with("-04644 "), "statoverride: {ls}");

            // The same archive on stdin.
            let mut args = vec![
                "commit".to_string(),
                "--orphan".into(),
                "--timestamp=2020-01-01".into(),
                "--tree=tar=-".into(),
            ];
            args.extend(rules.iter().cloned());
            let stdin_commit = |cmd: &mut Command| {
                checksum_of(&run_ok(
                    cmd.args(&args)
                        .stdin(fs::File::open(archive).expect("open archive")),
                ))
            };
            let from_stdin = stdin_commit(&mut grove_cmd(&p.g));
            assert_eq!(from_stdin, stdin_commit(&mut ostree_cmd(&p.o)));
            assert_eq!(
                grove(&p.g, &["ls", "-R", "-C", &from_stdin]),
                grove(&p.g, &["ls", "-R", "-C", &c]),
                "the same tree from stdin"
            );
        }
        let auto = [
            "--tar-autocreate-parents".to_string(),
            "--owner-uid=1234".into(),
            "--owner-gid=5678".into(),
            "--timestamp=2020-01-02".into(),
        ];
        for (filter, so, skip) in [
            ("^nosuchfile/,nootherfile/", &so, &skip),
            ("^,foo/", &so_prefixed, &skip_prefixed),
            ("^usr/bin/,usr/sbin/", &so, &skip),
            ("/bin/,/s\\0/", &so, &skip),
        ] {
            let mut args = vec![
                "-b".to_string(),
                "filtered".into(),
                format!("--tar-pathname-filter={filter}"),
                format!("--statoverride={}", s(so)),
                format!("--skip-list={}", s(skip)),
                format!("--tree=tar={}", s(&tgz)),
            ];
            if filter.starts_with("^usr") || filter.starts_with("/bin") {
                args.truncate(3);
                args.push(format!("--tree=tar={}", s(&tgz)));
            }
            args.extend(auto.iter().cloned());
            let c = p.commit(&args);
            p.verify(&c, None, false);
        }
        let c = p.commit(&[
            "-b".to_string(),
            "multi".into(),
            "--timestamp=2020-01-03".into(),
            format!("--tree=tar={}", s(&w.join("files1.tar.gz"))),
            format!("--tree=tar={}", s(&w.join("files2.tar.gz"))),
        ]);
        p.verify(&c, None, false);
        let mut args = vec![
            "-b".to_string(),
            "empty".into(),
            format!("--tree=tar={}", s(&empty)),
        ];
        args.extend(auto.iter().cloned());
        p.commit(&args);
        let c = p.commit(&[
            "-b".to_string(),
            "sizes".into(),
            "--generate-sizes".into(),
            "--timestamp=2020-01-04".into(),
            format!("--tree=tar={}", s(&tgz)),
        ]);
        if mode == "archive" {
            assert_eq!(print_sizes(&p.g, &c), print_sizes(&p.o, &c));
        }
    }
    let p = Pair::new(w, "archive");
    let err = grove_fail(
        &p.g,
        &[
            "commit",
            "-b",
            "x",
            "--tar-pathname-filter=nocomma",
            &format!("--tree=tar={}", s(&tgz)),
        ],
    );
    assert!(
        err.contains("Missing ',' in --tar-pathname-filter"),
        "{err}"
    );
}

/// A user without `CAP_DAC_OVERRIDE` (root drops to `nobody` here) commits
/// read-only files into bare-user and pulls them into another bare-user
/// repository: the kernel lets only a writer of a file set its
/// `user.ostreemeta`, so the object gets that xattr before its read-only
/// mode, as ostree orders it. ostree fsck and checkout agree.
#[test]
fn unprivileged_bare_user_writes_read_only_files() {
    let t = tempdir();
    let w = t.path().join("w");
    mkdir(&w, 0o777);
    let tree = w.join("tree");
    mkdir(&tree, 0o755);
    for (name, mode) in [("ro", 0o444), ("rx", 0o555), ("rw", 0o644)] {
        write(&tree.join(name), name.as_bytes(), mode);
    }
    let as_user = |args: &[&str]| {
        let mut cmd = if is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                grove_bin(),
            ]);
            c
        } else {
            Command::new(grove_bin())
        };
        cmd.args(args).current_dir(&w);
        run_ok(&mut cmd)
    };
    if is_root() {
        run_ok(Command::new("chown").args(["-R", "65534:65534"]).arg(&w));
    }
    as_user(&["--repo=a", "init", "--mode=bare-user"]);
    as_user(&["--repo=a", "commit", "-b", "ro", "--tree=dir=tree"]);
    as_user(&["--repo=b", "init", "--mode=bare-user"]);
    as_user(&["--repo=b", "pull-local", "a", "ro"]);
    for repo in ["a", "b"] {
        fsck(&w.join(repo));
        let out = w.join(format!("out-{repo}"));
        run_ok(
            ostree_cmd(&w.join(repo))
                .args(["checkout", "-U", "ro"])
                .arg(&out),
        );
        assert_eq!(
            listing(&out, false),
            listing(&tree, false),
            "checkout of {repo} against the tree"
        );
    }
}
