//! `grove commit` flags ostree's own test suite uses, each against the real
//! `ostree commit` with the same options: `--bootable`, `--statoverride`,
//! `--skip-list`, `--mode-ro-executables`, `--table-output` counts,
//! `--consume` adopting files into bare-user-only repositories.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;

const TS: &str = "--timestamp=2020-01-01 00:00:00 +0000";

/// Runs `commit ARGS` in the ostree repository `o` and the grove repository
/// `g`; both must print the same checksum, which is returned.
fn same_commit(o: &Path, g: &Path, args: &[&str]) -> String {
    let mut full = vec!["commit", TS];
    full.extend_from_slice(args);
    let expected = checksum_of(&ostree(o, &full));
    let actual = checksum_of(&grove(g, &full));
    assert_eq!(
        actual,
        expected,
        "grove and ostree checksums differ for: commit {}",
        full.join(" ")
    );
    expected
}

fn repos(w: &Path, mode: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (o, g) = (w.join(format!("o-{mode}")), w.join(format!("g-{mode}")));
    init_repo(&o, mode);
    init_repo(&g, mode);
    (o, g)
}

fn kernel_tree(root: &Path, releases: &[&str]) {
    mkdir(&root.join("usr/lib/modules"), 0o755);
    for r in releases {
        mkdir(&root.join("usr/lib/modules").join(r), 0o755);
        write(
            &root.join("usr/lib/modules").join(r).join("vmlinuz"),
            b"kernel",
            0o644,
        );
    }
    mkdir(&root.join("usr/lib/modules/no-kernel-here"), 0o755);
    write(&root.join("usr/bin-sh"), b"shell", 0o755);
}

#[test]
fn bootable_metadata_and_checksums_match_ostree() {
    let t = tempdir();
    let w = t.path();
    let tree = w.join("tree");
    kernel_tree(&tree, &["5.8.0-1.x86_64"]);
    let tree_s = tree.display().to_string();
    for mode in ["bare-user", "archive"] {
        let (o, g) = repos(w, mode);
        // Few keys (no rehash in GLib's table) ...
        same_commit(&o, &g, &["-b", "os", "--bootable", &tree_s]);
        same_commit(
            &o,
            &g,
            &[
                "-b",
                "os",
                "--bootable",
                "--add-metadata-string=version=1",
                "--add-metadata-string=foo=bar",
                &tree_s,
            ],
        );
        // ... and enough keys that the GVariantDict's hash table grows twice, plus a repeated key.
        let many: Vec<String> = (0..30)
            .map(|i| format!("--add-metadata-string=key.{i}=v{i}"))
            .collect();
        let mut args: Vec<&str> = vec![
            "-b",
            "os",
            "--bootable",
            "--add-metadata-string=ostree.linux=overridden",
        ];
        args.extend(many.iter().map(String::as_str));
        args.push(&tree_s);
        same_commit(&o, &g, &args);
        same_commit(
            &o,
            &g,
            &["--orphan", "--no-bindings", "--bootable", &tree_s],
        );
        for repo in [&o, &g] {
            let linux = ostree(repo, &["show", "--print-metadata-key=ostree.linux", "os"]);
            assert_eq!(linux.trim(), "'5.8.0-1.x86_64'", "{}", repo.display());
            let bootable = ostree(
                repo,
                &["show", "--print-metadata-key=ostree.bootable", "os"],
            );
            assert_eq!(bootable.trim(), "true");
        }
        fsck(&g);
    }
}

#[test]
fn bootable_without_one_kernel_fails_as_ostree() {
    let t = tempdir();
    let w = t.path();
    let (o, g) = repos(w, "bare-user");
    let cases: [(&str, &[&str], &str); 3] = [
        ("none", &[], "No kernel found in /usr/lib/modules"),
        (
            "two",
            &["5.1", "5.2"],
            "Multiple kernels found in /usr/lib/modules",
        ),
        ("nomodules", &[], "No such file or directory: /usr"),
    ];
    for (name, releases, message) in cases {
        let tree = w.join(name);
        if name == "nomodules" {
            write(&tree.join("file"), b"x", 0o644);
        } else {
            kernel_tree(&tree, releases);
        }
        let args = ["commit", "-b", "os", "--bootable", name];
        let ostree_err = run_fail(ostree_cmd(&o).current_dir(w).args(args));
        let grove_err = run_fail(grove_cmd(&g).current_dir(w).args(args));
        assert!(ostree_err.contains(message), "ostree said {ostree_err}");
        assert_one_line_error(&grove_err);
        assert!(
            grove_err.contains(message),
            "grove said {grove_err}, ostree said {ostree_err}"
        );
        assert_eq!(
            read_ref(&g, "os"),
            None,
            "a failed --bootable commit moved the ref"
        );
    }
}

#[test]
fn statoverride_matches_ostree() {
    let t = tempdir();
    let w = t.path();
    let tree = w.join("tree");
    for f in ["x", "y", "z", "w"] {
        write(&tree.join("a").join(f), f.as_bytes(), 0o664);
    }
    mkdir(&tree.join("d"), 0o755);
    mkdir(&tree.join("d2"), 0o755);
    let so = w.join("statoverride.txt");
    // "+" is optional; decimal modes (1048 = 0o2030, 2048 = setuid, 384 = 0o600);
    // "=" on a directory applies, an added mode on a directory is used up without effect (as in ostree).
    fs::write(
        &so,
        "+1048 /a/x\n2048 /a/y\n=384 /a/z\n\n=448 /d\n+2048 /d2\n=0 /not-there\n",
    )
    .unwrap();
    let so_arg = format!("--statoverride={}", so.display());
    let tree_s = tree.display().to_string();
    for mode in ["archive", "bare-user", "bare-user-only"] {
        let (o, g) = repos(w, mode);
        let c = same_commit(&o, &g, &["-b", "so", &so_arg, &tree_s]);
        let ls = ostree(&g, &["ls", "-R", &c]);
        let mode_of = |p: &str| {
            ls.lines()
                .find(|l| l.ends_with(p))
                .map(|l| l[..6].to_string())
                .unwrap_or_default()
        };
        if mode == "bare-user-only" {
            assert_eq!(
                mode_of("/a/y"),
                "-00644",
                "canonical permissions drop setuid:\n{ls}"
            );
        } else {
            assert_eq!(mode_of("/a/x"), "-02674", "{ls}");
            assert_eq!(mode_of("/a/y"), "-04664", "{ls}");
        }
        assert_eq!(mode_of("/a/z"), "-00600", "{ls}");
        // From a stored tree too.
        same_commit(&o, &g, &["-b", "so2", &so_arg, "--tree=ref=so"]);
        fsck(&g);
    }
}

#[test]
fn unmatched_statoverride_and_skip_list_fail_as_ostree() {
    let t = tempdir();
    let w = t.path();
    let (o, g) = repos(w, "archive");
    write(&w.join("tree/f"), b"f", 0o644);
    fs::write(w.join("so.txt"), "2048 /missing\n2048 /f\n").unwrap();
    fs::write(w.join("skip.txt"), "/gone\n").unwrap();
    fs::write(w.join("bad.txt"), "2048\n").unwrap();
    for (arg, needle) in [
        (
            "--statoverride=so.txt",
            "Unmatched statoverride path: /missing",
        ),
        ("--skip-list=skip.txt", "Unmatched skip-list path: /gone"),
        ("--statoverride=bad.txt", "Malformed statoverride file"),
    ] {
        let args = ["commit", "-b", "x", arg, "tree"];
        let oe = run_fail(ostree_cmd(&o).current_dir(w).args(args));
        let ge = run_fail(grove_cmd(&g).current_dir(w).args(args));
        assert!(oe.contains(needle), "ostree said {oe}");
        assert!(ge.contains(needle), "grove said {ge}, ostree said {oe}");
        assert_eq!(read_ref(&g, "x"), None);
    }
}

#[test]
fn skip_list_and_ro_executables_match_ostree() {
    let t = tempdir();
    let w = t.path();
    let tree = w.join("tree");
    write(&tree.join("bin/tool"), b"#!/bin/sh\n", 0o775);
    write(&tree.join("bin/ro"), b"#!/bin/sh\n", 0o555);
    write(&tree.join("etc/conf"), b"c", 0o664);
    write(&tree.join("skipme/inner"), b"i", 0o644);
    write(&tree.join("etc/skipfile"), b"s", 0o644);
    fs::write(w.join("skip.txt"), "/skipme\n/etc/skipfile\n").unwrap();
    let tree_s = tree.display().to_string();
    let skip = format!("--skip-list={}", w.join("skip.txt").display());
    for mode in ["archive", "bare-user"] {
        let (o, g) = repos(w, mode);
        let c = same_commit(
            &o,
            &g,
            &["-b", "s", &skip, "--mode-ro-executables", &tree_s],
        );
        let ls = grove(&g, &["ls", "-R", &c]);
        assert!(!ls.contains("skip"), "{ls}");
        let tool = ls
            .lines()
            .find(|l| l.ends_with("/bin/tool"))
            .expect("bin/tool listed");
        assert!(tool.starts_with("-00555"), "{tool}");
        // Over several trees: the stored one lacks the skipped paths, the directory has them.
        let dir_arg = format!("--tree=dir={tree_s}");
        let ref_arg = format!("--tree=ref={c}");
        let c2 = same_commit(&o, &g, &["-b", "s2", &skip, &ref_arg, &dir_arg]);
        assert!(!grove(&g, &["ls", "-R", &c2]).contains("/skipme"));
    }
}

/// `--table-output` counts with `--link-checkout-speedup` and a statoverride:
/// only the file whose mode changed is written, as ostree counts it.
#[test]
fn link_checkout_speedup_with_modifier_counts_as_ostree() {
    let t = tempdir();
    let w = t.path();
    for mode in ["bare-user", "bare-user-only"] {
        let (o, g) = repos(w, mode);
        let tree = w.join(format!("src-{mode}"));
        write(&tree.join("baz/cow"), b"moo", 0o644);
        write(&tree.join("baz/cowro"), b"ro", 0o600);
        write(&tree.join("baz/saucer"), b"alien", 0o644);
        fs::write(w.join("so.txt"), "=384 /baz/cow\n=384 /baz/cowro\n").unwrap();
        let so = format!("--statoverride={}", w.join("so.txt").display());
        let mut counts = Vec::new();
        for (repo, is_grove) in [(&o, false), (&g, true)] {
            let co = w.join(format!("co-{mode}-{is_grove}"));
            let run = |args: &[&str]| {
                if is_grove {
                    grove(repo, args)
                } else {
                    ostree(repo, args)
                }
            };
            run(&["commit", TS, "-b", "base", &tree.display().to_string()]);
            run(&["checkout", "-U", "-H", "base", &co.display().to_string()]);
            let out = run(&[
                "commit",
                TS,
                "-b",
                "tmp",
                &so,
                "--table-output",
                "--link-checkout-speedup",
                &co.display().to_string(),
            ]);
            let written: Vec<String> = out
                .lines()
                .filter(|l| l.starts_with("Content Written:") || l.starts_with("Commit:"))
                .map(str::to_string)
                .collect();
            counts.push(written);
        }
        assert_eq!(
            counts[1], counts[0],
            "grove's table differs from ostree's ({mode})"
        );
        assert!(
            counts[0].contains(&"Content Written: 1".to_string()),
            "{:?}",
            counts[0]
        );
    }
}

/// `--consume` in a bare-user-only repository renames the file into the
/// object store (ostree "adopts" it); in bare-user it is copied.
#[test]
fn consume_adopts_in_bare_user_only() {
    let t = tempdir();
    let w = t.path();
    for (mode, adopted) in [("bare-user-only", true), ("bare-user", false)] {
        let g = w.join(format!("g-{mode}"));
        init_repo(&g, mode);
        let src = w.join(format!("src-{mode}"));
        write(
            &src.join("eatme.txt"),
            format!("a file to consume in {mode}").as_bytes(),
            0o664,
        );
        let saved = w.join(format!("saved-{mode}"));
        fs::hard_link(src.join("eatme.txt"), &saved).unwrap();
        let c = checksum_of(&grove(
            &g,
            &["commit", "--consume", "-b", "t", &src.display().to_string()],
        ));
        assert!(!src.exists(), "--consume left the source");
        let listing = grove(&g, &["ls", "-C", &c, "/eatme.txt"]);
        let file_csum = listing
            .split_whitespace()
            .nth(4)
            .expect("ls -C prints the checksum")
            .to_string();
        let obj = g.join(format!(
            "objects/{}/{}.file",
            &file_csum[..2],
            &file_csum[2..]
        ));
        let same = fs::metadata(&obj).unwrap().ino() == fs::metadata(&saved).unwrap().ino();
        assert_eq!(same, adopted, "{mode}: adopted={same}");
        fsck(&g);
    }
}

/// An empty key in `--add-metadata-string` is refused as ostree refuses it; an empty value is fine.
#[test]
fn empty_metadata_key_is_refused() {
    let t = tempdir();
    let w = t.path();
    let (o, g) = repos(w, "archive");
    mkdir(&w.join("files"), 0o755);
    for repo in [&o, &g] {
        let mut cmd = if repo == &o {
            ostree_cmd(repo)
        } else {
            grove_cmd(repo)
        };
        let err = run_fail(cmd.current_dir(w).args([
            "commit",
            "-b",
            "m",
            "--tree=dir=files",
            "--add-metadata-string==FOO",
        ]));
        assert!(err.contains("Empty metadata key"), "{err}");
    }
    same_commit(
        &o,
        &g,
        &[
            "-b",
            "m",
            "--add-metadata-string=FOO=",
            &w.join("files").display().to_string(),
        ],
    );
}

/// A tree of more files than grove checksums in one batch (4,096), with
/// hardlinks whose first link is in an earlier batch: one with the same
/// header (shared checksum) and one a statoverride gives another mode
/// (its own object), each as ostree commits them.
#[test]
fn hardlinks_across_batches_match_ostree() {
    let t = tempdir();
    let w = t.path();
    let tree = w.join("tree");
    for i in 0..4500u32 {
        write(
            &tree.join(format!("d{:02}/f{i:05}", i / 100)),
            format!("file {i}\n").as_bytes(),
            0o644,
        );
    }
    fs::hard_link(tree.join("d00/f00000"), tree.join("d44/same")).unwrap();
    fs::hard_link(tree.join("d00/f00001"), tree.join("d44/other")).unwrap();
    let so = w.join("statoverride.txt");
    fs::write(&so, "=384 /d44/other\n").unwrap();
    let so_arg = format!("--statoverride={}", so.display());
    let tree_s = tree.display().to_string();
    for mode in ["archive", "bare-user"] {
        let (o, g) = repos(w, mode);
        let c = same_commit(&o, &g, &["-b", "links", &so_arg, &tree_s]);
        let ls = ostree(
            &g,
            &["ls", "-C", &c, "/d44/same", "/d00/f00000", "/d44/other"],
        );
        let sums: Vec<&str> = ls
            .lines()
            .map(|l| l.split_whitespace().nth(4).unwrap())
            .collect();
        assert_eq!(
            sums[0], sums[1],
            "a hardlink with the same header shares the object:\n{ls}"
        );
        assert!(ls.contains("-00600"), "{ls}");
        fsck(&g);
    }
}
