//! `grove remote` and `grove pull` against an archive repository made by the
//! real ostree and served by `python3 -m http.server` on loopback; the
//! results are checked with ostree (fsck, checkout, and the object set
//! `ostree pull --mirror` gets from the same server).

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const REF: &str = "exampleos/x86_64/standard";

/// Serves `dir` (whose `repo/` is the remote); returns the server and the remote's URL.
fn serve(dir: &Path) -> (HttpServer, String) {
    let server = HttpServer::serve(dir);
    let url = format!("{}/repo", server.url);
    (server, url)
}

/// The server's document root holds `repo/`: an ostree archive with two
/// commits on REF (files, a symlink, a subdirectory). Returns (root, tree, commits).
fn server_repo(root: &Path) -> (PathBuf, Vec<String>) {
    let repo = root.join("www/repo");
    std::fs::create_dir_all(root.join("www")).unwrap();
    init_repo(&repo, "archive");
    let tree = root.join("tree");
    write(&tree.join("usr/bin/tool"), b"#!/bin/sh\necho tool\n", 0o755);
    write(&tree.join("etc/conf"), b"key=value\n", 0o644);
    write(
        &tree.join("usr/share/big.bin"),
        &prng_bytes(7, 300_000),
        0o644,
    );
    ln_s("bin/tool", &tree.join("usr/link"));
    let c1 = checksum_of(&ostree(
        &repo,
        &[
            "commit".as_ref(),
            "-b".as_ref(),
            REF.as_ref(),
            "--timestamp=2024-01-01T00:00:00Z".as_ref(),
            "-s".as_ref(),
            "one".as_ref(),
            tree.as_os_str(),
        ],
    ));
    write(&tree.join("etc/conf"), b"key=other\n", 0o644);
    write(&tree.join("usr/share/doc/README"), b"read me\n", 0o644);
    let c2 = checksum_of(&ostree(
        &repo,
        &[
            "commit".as_ref(),
            "-b".as_ref(),
            REF.as_ref(),
            "--timestamp=2024-02-01T00:00:00Z".as_ref(),
            "-s".as_ref(),
            "two".as_ref(),
            tree.as_os_str(),
        ],
    ));
    (tree, vec![c1, c2])
}

fn object_files(repo: &Path) -> String {
    run_ok(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && find objects -type f | sort",
        repo.display()
    )))
}

fn listing(dir: &Path) -> String {
    run_ok(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && find . -printf '%P %m %s %y %l\\n' | sort",
        dir.display()
    )))
}

fn log_commits(repo: &Path, rev: &str) -> Vec<String> {
    ostree(repo, &["log", rev])
        .lines()
        .filter_map(|l| l.strip_prefix("commit "))
        .map(str::to_string)
        .collect()
}

#[test]
fn remote_config_is_shared_with_ostree() {
    let tmp = tempdir();
    let repo = tmp.path().join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    grove(
        &repo,
        &[
            "remote",
            "add",
            "exampleos",
            "https://exampleos.com/ostree/repo",
        ],
    );
    grove(
        &repo,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "--set=foo=bar",
            "other",
            "file:///srv/repo",
            REF,
        ],
    );
    assert_eq!(
        ostree(&repo, &["config", "get", "remote \"exampleos\".url"]).trim(),
        "https://exampleos.com/ostree/repo"
    );
    assert_eq!(
        ostree(&repo, &["config", "get", "remote \"other\".gpg-verify"]).trim(),
        "false"
    );
    assert_eq!(
        ostree(&repo, &["remote", "list", "-u"]),
        "exampleos  https://exampleos.com/ostree/repo\nother      file:///srv/repo\n"
    );
    // Byte for byte what `ostree remote add` writes with the same arguments.
    let o = tmp.path().join("o");
    init_repo(&o, "archive");
    ostree(
        &o,
        &[
            "remote",
            "add",
            "exampleos",
            "https://exampleos.com/ostree/repo",
        ],
    );
    ostree(
        &o,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "--set=foo=bar",
            "other",
            "file:///srv/repo",
            REF,
        ],
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("config")).unwrap(),
        std::fs::read_to_string(o.join("config")).unwrap()
    );

    let e = grove_fail(&repo, &["remote", "add", "exampleos", "https://x"]);
    assert!(e.contains("\"exampleos\" already exists"), "{e}");
    grove(
        &repo,
        &["remote", "add", "--if-not-exists", "exampleos", "https://x"],
    );
    assert_eq!(
        grove(&repo, &["remote", "show-url", "exampleos"]).trim(),
        "https://exampleos.com/ostree/repo"
    );
    grove(&repo, &["remote", "delete", "other"]);
    assert_eq!(ostree(&repo, &["remote", "list"]), "exampleos\n");
    let e = grove_fail(&repo, &["remote", "delete", "other"]);
    assert!(e.contains("Remote \"other\" not found"), "{e}");
    grove(&repo, &["remote", "delete", "--if-exists", "other"]);
    // As ostree, any URL is stored; a pull refuses a scheme it cannot fetch.
    grove(
        &repo,
        &["remote", "add", "--no-gpg-verify", "bad", "ftp://x"],
    );
    let e = grove_fail(&repo, &["pull", "bad", "main"]);
    assert!(e.contains("Invalid URI scheme in ftp://x"), "{e}");
    grove(&repo, &["remote", "delete", "bad"]);

    // grove reads what ostree wrote.
    ostree(&o, &["remote", "delete", "other"]);
    assert_eq!(
        grove(&o, &["remote", "list", "-u"]),
        "exampleos  https://exampleos.com/ostree/repo\n"
    );
    assert_eq!(
        grove(&o, &["remote", "show-url", "exampleos"]).trim(),
        "https://exampleos.com/ostree/repo"
    );
}

#[test]
fn remote_add_flags_write_what_ostree_writes() {
    let tmp = tempdir();
    let (g, o) = (tmp.path().join("g"), tmp.path().join("o"));
    for (repo, tool) in [(&g, "grove"), (&o, "ostree")] {
        init_repo(repo, "bare");
        let run = |args: &[&str]| {
            if tool == "grove" {
                grove(repo, args)
            } else {
                ostree(repo, args)
            }
        };
        run(&[
            "remote",
            "add",
            "--no-sign-verify",
            "another",
            "http://another.com/repo",
        ]);
        run(&[
            "remote",
            "add",
            "--custom-backend=ostree-rs-ext",
            "container",
            "docker://quay.io/x/y",
        ]);
        run(&["remote", "add", "--custom-backend=ostree-rs-ext", "nourl"]);
        run(&["remote", "add", "plainpath", "some/dir"]);
        run(&[
            "remote",
            "add",
            "--force",
            "--set=foo=bar",
            "another",
            "http://another.example.com/r",
        ]);
        run(&[
            "remote",
            "add",
            "--force",
            "fresh",
            "http://fresh.example.com/r",
        ]);
    }
    assert_eq!(
        std::fs::read_to_string(g.join("config")).unwrap(),
        std::fs::read_to_string(o.join("config")).unwrap()
    );
    let e = grove_fail(
        &g,
        &[
            "remote",
            "add",
            "--if-not-exists",
            "--force",
            "x",
            "http://x",
        ],
    );
    assert!(
        e.contains("Can only specify one of --if-not-exists and --force"),
        "{e}"
    );
    let e = grove_fail(&g, &["remote", "show-url", "nourl"]);
    assert!(e.contains("No \"url\" option in remote \"nourl\""), "{e}");
    let e = grove_fail(&g, &["pull", "container", "main"]);
    assert!(
        e.contains("remote 'container' uses custom backend 'ostree-rs-ext'"),
        "{e}"
    );
    grove(
        &g,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "--set=unconfigured-state=Pay first.",
            "sub",
            "http://x",
        ],
    );
    let e = grove_fail(&g, &["pull", "sub", "main"]);
    assert!(e.contains("Pay first."), "{e}");

    // A repository sees its core.parent's remotes, as ostree's does.
    let child = tmp.path().join("child");
    init_repo(&child, "bare");
    grove(
        &child,
        &["config", "set", "core.parent", g.to_str().unwrap()],
    );
    grove(
        &child,
        &["remote", "add", "--no-gpg-verify", "own", "http://own"],
    );
    let names = grove(&child, &["remote", "list"]);
    assert_eq!(names, ostree(&child, &["remote", "list"]));
    assert!(
        names.contains("another\n") && names.contains("own\n"),
        "{names}"
    );
    assert_eq!(
        grove(&child, &["remote", "show-url", "fresh"]).trim(),
        "http://fresh.example.com/r"
    );
}

#[test]
fn commit_metadata_only_and_subpath_fetch_what_ostree_fetches() {
    let tmp = tempdir();
    let (_tree, commits) = server_repo(tmp.path());
    let (_srv, url) = serve(&tmp.path().join("www"));
    let pull_both = |name: &str, args: &[&str]| -> (PathBuf, PathBuf) {
        let (g, o) = (
            tmp.path().join(format!("{name}-g")),
            tmp.path().join(format!("{name}-o")),
        );
        for (repo, tool) in [(&g, "grove"), (&o, "ostree")] {
            if !repo.exists() {
                init_repo(repo, "bare-user");
                ostree(repo, &["remote", "add", "--no-sign-verify", "origin", &url]);
            }
            let mut a = vec!["pull"];
            a.extend_from_slice(args);
            if tool == "grove" {
                grove(repo, &a);
            } else {
                ostree(repo, &a);
            }
        }
        assert_eq!(object_files(&g), object_files(&o), "{args:?}");
        assert_eq!(
            read_ref(&g, &format!("origin/{REF}")),
            read_ref(&o, &format!("origin/{REF}"))
        );
        (g, o)
    };
    let partial = |repo: &Path, c: &str| repo.join(format!("state/{c}.commitpartial")).exists();

    // Commits only (two, with --depth=1): no dirtree, no content; both stay partial; fsck passes.
    let (g, _) = pull_both(
        "meta",
        &["--commit-metadata-only", "--depth=1", "origin", REF],
    );
    assert!(partial(&g, &commits[1]) && partial(&g, &commits[0]));
    assert!(!object_files(&g).contains(".dirtree"));
    fsck(&g);
    // A full pull afterwards completes the tip.
    let (g, _) = pull_both("meta", &["origin", REF]);
    assert!(!partial(&g, &commits[1]));
    fsck(&g);

    // Subpaths: a directory and a file; the commit stays partial until a full pull.
    let (g, _) = pull_both(
        "sub",
        &[
            "--subpath=/usr/share/doc",
            "--subpath=/etc/conf",
            "origin",
            REF,
        ],
    );
    assert!(partial(&g, &commits[1]));
    assert_eq!(
        grove(
            &g,
            &["cat", &format!("origin:{REF}"), "/usr/share/doc/README"]
        ),
        "read me\n"
    );
    let e = grove_fail(&g, &["ls", &format!("origin:{REF}"), "/usr/share/big.bin"]);
    assert!(e.contains("Couldn't find file object"), "{e}");
    let (g, _) = pull_both("sub", &["origin", REF]);
    assert!(!partial(&g, &commits[1]));
    fsck(&g);
}

#[test]
fn oversized_metadata_is_refused_like_ostree_2022() {
    let tmp = tempdir();
    let (_tree, commits) = server_repo(tmp.path());
    let (_srv, url) = serve(&tmp.path().join("www"));
    let c = &commits[1];
    let obj = tmp
        .path()
        .join(format!("www/repo/objects/{}/{}.commit", &c[..2], &c[2..]));
    std::fs::write(&obj, vec![0u8; 11 * 1024 * 1024]).unwrap();
    let repo = tmp.path().join("repo");
    init_repo(&repo, "bare-user");
    grove(
        &repo,
        &["remote", "add", "--no-sign-verify", "origin", &url],
    );
    let e = grove_fail(&repo, &["pull", "origin", REF]);
    assert!(e.contains("exceeded maximum size of 10485760 bytes"), "{e}");
    assert!(read_ref(&repo, &format!("origin/{REF}")).is_none());
}

#[test]
fn mirror_matches_ostree_and_depth() {
    let tmp = tempdir();
    let (_tree, commits) = server_repo(tmp.path());
    let (_srv, url) = serve(&tmp.path().join("www"));

    // The seed's Mirroring workflow, with an unsigned upstream.
    let repo = tmp.path().join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    grove(&repo, &["remote", "add", "exampleos", &url]);
    let e = grove_fail(&repo, &["pull", "--mirror", &format!("exampleos:{REF}")]);
    // gpg-verify=true by default: no trusted keys, or (with system keyrings) no signature.
    assert!(
        e.contains("no trusted keys") || e.contains("no signatures found"),
        "{e}"
    );
    assert!(read_ref(&repo, REF).is_none());
    grove(
        &repo,
        &[
            "pull",
            "--mirror",
            "--no-gpg-verify",
            &format!("exampleos:{REF}"),
        ],
    );
    assert_eq!(read_ref(&repo, REF).as_deref(), Some(commits[1].as_str()));
    assert_eq!(log_commits(&repo, REF), vec![commits[1].clone()]);
    fsck(&repo);

    // --depth=1 adds the parent; the result equals what ostree mirrors.
    grove(
        &repo,
        &[
            "pull",
            "--mirror",
            "--no-gpg-verify",
            "--depth=1",
            &format!("exampleos:{REF}"),
        ],
    );
    assert_eq!(
        log_commits(&repo, REF),
        vec![commits[1].clone(), commits[0].clone()]
    );
    fsck(&repo);
    assert!(!repo
        .join(format!("state/{}.commitpartial", commits[0]))
        .exists());
    let o = tmp.path().join("o");
    init_repo(&o, "archive");
    ostree(&o, &["remote", "add", "--no-gpg-verify", "exampleos", &url]);
    ostree(
        &o,
        &[
            "pull",
            "--mirror",
            "--depth=-1",
            &format!("exampleos:{REF}"),
        ],
    );
    assert_eq!(object_files(&repo), object_files(&o));
    let diff = output(
        Command::new("diff")
            .arg("-r")
            .arg(repo.join("objects"))
            .arg(o.join("objects")),
    );
    assert!(
        diff.status.success(),
        ".filez bytes differ from ostree's mirror: {}",
        String::from_utf8_lossy(&diff.stdout)
    );

    // --depth=-1 from scratch into another repo, and a pull with nothing new.
    let all = tmp.path().join("all");
    grove(&all, &["init", "--mode=archive"]);
    grove(
        &all,
        &["remote", "add", "--no-gpg-verify", "exampleos", &url],
    );
    grove(
        &all,
        &[
            "pull",
            "--mirror",
            "--depth=-1",
            "--disable-fsync",
            &format!("exampleos:{REF}"),
        ],
    );
    assert_eq!(object_files(&all), object_files(&o));
    let out = grove(
        &all,
        &[
            "pull",
            "--mirror",
            "--depth=-1",
            &format!("exampleos:{REF}"),
        ],
    );
    assert!(
        out.starts_with("0 metadata, 0 content objects fetched"),
        "{out}"
    );
}

#[test]
fn pull_into_bare_user_checks_out_like_the_source() {
    let tmp = tempdir();
    let (tree, commits) = server_repo(tmp.path());
    // Without a summary refs come from refs/heads; with one, from the summary.
    for with_summary in [false, true] {
        if with_summary {
            ostree(&tmp.path().join("www/repo"), &["summary", "-u"]);
        }
        let (_srv, url) = serve(&tmp.path().join("www"));
        let repo = tmp.path().join(format!("bu-{with_summary}"));
        init_repo(&repo, "bare-user");
        grove(
            &repo,
            &["remote", "add", "--no-gpg-verify", "exampleos", &url],
        );
        grove(&repo, &["pull", "exampleos", REF]);
        assert_eq!(
            ostree(&repo, &["rev-parse", &format!("exampleos:{REF}")]).trim(),
            commits[1]
        );
        assert!(
            read_ref(&repo, REF).is_none(),
            "without --mirror the ref goes under refs/remotes"
        );
        fsck(&repo);
        let co = tmp.path().join(format!("co-{with_summary}"));
        ostree(
            &repo,
            &[
                "checkout".as_ref(),
                "-U".as_ref(),
                format!("exampleos:{REF}").as_ref(),
                co.as_os_str(),
            ],
        );
        assert_eq!(listing(&co), listing(&tree));
        let diff = output(
            Command::new("diff")
                .args(["-r", "--no-dereference"])
                .arg(&co)
                .arg(&tree),
        );
        assert!(
            diff.status.success(),
            "{}",
            String::from_utf8_lossy(&diff.stdout)
        );
    }
    // file:// works the same way.
    let repo = tmp.path().join("via-file");
    init_repo(&repo, "bare-user");
    grove(
        &repo,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "local",
            &format!("file://{}", tmp.path().join("www/repo").display()),
        ],
    );
    grove(&repo, &["pull", "--depth=-1", &format!("local:{REF}")]);
    assert_eq!(
        log_commits(&repo, &format!("local:{REF}")),
        vec![commits[1].clone(), commits[0].clone()]
    );
    fsck(&repo);
}

#[test]
fn corrupt_object_fails_and_leaves_the_ref() {
    let tmp = tempdir();
    let (_tree, commits) = server_repo(tmp.path());
    let srv_repo = tmp.path().join("www/repo");
    let (_srv, url) = serve(&tmp.path().join("www"));
    let repo = tmp.path().join("repo");
    for mode in ["archive", "bare-user"] {
        let _ = std::fs::remove_dir_all(&repo);
        init_repo(&repo, mode);
        grove(
            &repo,
            &["remote", "add", "--no-gpg-verify", "exampleos", &url],
        );
        // The mirror holds the first commit.
        grove(
            &repo,
            &["pull", "--mirror", &format!("exampleos:{}", commits[0])],
        );
        ostree(&repo, &["refs", "--create", REF, &commits[0]]);

        // The README only the second commit has: replace its bytes with another valid object's.
        let readme = ostree(
            &srv_repo,
            &["ls", "-C", &commits[1], "/usr/share/doc/README"],
        );
        let csum = readme.split_whitespace().nth(4).unwrap().to_string();
        let conf = ostree(&srv_repo, &["ls", "-C", &commits[1], "/etc/conf"])
            .split_whitespace()
            .nth(4)
            .unwrap()
            .to_string();
        let obj = |c: &str| srv_repo.join(format!("objects/{}/{}.filez", &c[..2], &c[2..]));
        let good = std::fs::read(obj(&csum)).unwrap();
        std::fs::copy(obj(&conf), obj(&csum)).unwrap();
        let e = grove_fail(&repo, &["pull", "--mirror", &format!("exampleos:{REF}")]);
        assert!(
            e.contains("Corrupted file object") && e.contains(&csum),
            "{mode}: {e}"
        );
        assert_eq!(
            read_ref(&repo, REF).as_deref(),
            Some(commits[0].as_str()),
            "{mode}: ref moved"
        );
        assert!(!repo
            .join(format!(
                "objects/{}/{}.commit",
                &commits[1][..2],
                &commits[1][2..]
            ))
            .exists());
        assert!(!repo
            .join(format!("state/{}.commitpartial", commits[1]))
            .exists());
        let name = if mode == "archive" { "filez" } else { "file" };
        assert!(
            !repo
                .join(format!("objects/{}/{}.{name}", &csum[..2], &csum[2..]))
                .exists(),
            "{mode}: corrupt object landed"
        );
        fsck(&repo);
        std::fs::write(obj(&csum), &good).unwrap();

        // A corrupt dirtree: the second commit's root tree, one byte flipped.
        let src = grove::Repo::open(&srv_repo).unwrap();
        let root = src
            .load_commit(commits[1].parse().unwrap())
            .unwrap()
            .root_contents
            .to_string();
        let tree_path = srv_repo.join(format!("objects/{}/{}.dirtree", &root[..2], &root[2..]));
        let good_tree = std::fs::read(&tree_path).unwrap();
        let mut bad = good_tree.clone();
        bad[0] ^= 1;
        std::fs::write(&tree_path, &bad).unwrap();
        let e = grove_fail(&repo, &["pull", "--mirror", &format!("exampleos:{REF}")]);
        assert!(
            e.contains("Corrupted dirtree object") && e.contains(&root),
            "{mode}: {e}"
        );
        assert_eq!(
            read_ref(&repo, REF).as_deref(),
            Some(commits[0].as_str()),
            "{mode}: ref moved"
        );
        std::fs::write(&tree_path, &good_tree).unwrap();

        grove(&repo, &["pull", "--mirror", &format!("exampleos:{REF}")]);
        assert_eq!(read_ref(&repo, REF).as_deref(), Some(commits[1].as_str()));
        fsck(&repo);
    }
}

#[test]
fn unknown_ref_and_unreachable_url_are_one_line_errors() {
    let tmp = tempdir();
    let (_tree, _commits) = server_repo(tmp.path());
    let (_srv, url) = serve(&tmp.path().join("www"));
    let repo = tmp.path().join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    grove(
        &repo,
        &["remote", "add", "--no-gpg-verify", "exampleos", &url],
    );
    let e = grove_fail(
        &repo,
        &["pull", "--mirror", "exampleos:exampleos/x86_64/nope"],
    );
    assert!(e.contains("exampleos/x86_64/nope"), "{e}");
    let e = grove_fail(&repo, &["pull", "nosuchremote:x"]);
    assert!(e.contains("Remote \"nosuchremote\" not found"), "{e}");

    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    grove(
        &repo,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "dead",
            &format!("http://127.0.0.1:{dead}/repo"),
        ],
    );
    let e = grove_fail(&repo, &["pull", "dead:x"]);
    assert!(
        e.contains(&format!("127.0.0.1:{dead}")) && e.to_lowercase().contains("refused"),
        "{e}"
    );
    assert!(object_files(&repo).is_empty());
}

#[test]
fn filez_whose_header_size_disagrees_with_its_content_is_refused_in_every_mode() {
    use grove::objects::file_header::unframe;
    use grove::objects::ArchiveHeader;
    let tmp = tempdir();
    let (_tree, commits) = server_repo(tmp.path());
    let srv_repo = tmp.path().join("www/repo");
    let (_srv, url) = serve(&tmp.path().join("www"));
    let readme = ostree(
        &srv_repo,
        &["ls", "-C", &commits[1], "/usr/share/doc/README"],
    );
    let csum = readme.split_whitespace().nth(4).unwrap().to_string();
    let obj = srv_repo.join(format!("objects/{}/{}.filez", &csum[..2], &csum[2..]));
    let good = std::fs::read(&obj).unwrap();
    let (variant, body) = unframe(&good).unwrap();
    let header = ArchiveHeader::from_variant_bytes(variant).unwrap();
    for delta in [100i64, -1] {
        let mut h = header.clone();
        h.size = (h.size as i64 + delta) as u64;
        let mut bad = h.to_stream_prefix();
        bad.extend_from_slice(&good[body..]);
        std::fs::write(&obj, &bad).unwrap();
        for mode in ["archive", "bare-user", "bare-user-only"] {
            let repo = tmp.path().join(format!("repo-{mode}-{delta}"));
            init_repo(&repo, mode);
            grove(
                &repo,
                &["remote", "add", "--no-gpg-verify", "exampleos", &url],
            );
            let e = grove_fail(&repo, &["pull", "--mirror", &format!("exampleos:{REF}")]);
            assert!(e.contains(&csum), "{mode}, size {delta:+}: {e}");
            assert_eq!(
                read_ref(&repo, REF),
                None,
                "{mode}, size {delta:+}: ref moved"
            );
            // The real ostree refuses it when it decompresses it (archive→archive it
            // keeps the bytes unchecked; grove checks them there too).
            if mode == "archive" {
                continue;
            }
            let o = tmp.path().join(format!("ostree-{mode}-{delta}"));
            init_repo(&o, mode);
            ostree(&o, &["remote", "add", "--no-gpg-verify", "exampleos", &url]);
            let out = ostree_cmd(&o)
                .args(["pull", "--mirror", &format!("exampleos:{REF}")])
                .output()
                .unwrap();
            assert!(
                !out.status.success(),
                "{mode}, size {delta:+}: ostree accepted it"
            );
        }
    }
    std::fs::write(&obj, &good).unwrap();
}

#[test]
fn pinned_refs_timestamp_checks_and_options_before_the_subcommand() {
    let tmp = tempdir();
    let (_tree, commits) = server_repo(tmp.path());
    let (_srv, url) = serve(&tmp.path().join("www"));
    let repo = tmp.path().join("repo");
    init_repo(&repo, "bare-user");
    grove(
        &repo,
        &["remote", "add", "--no-sign-verify", "origin", &url],
    );
    let ours = |repo: &Path| {
        std::fs::read_to_string(repo.join("refs/remotes/origin").join(REF))
            .ok()
            .map(|s| s.trim().to_string())
    };
    // REF@COMMIT sets the ref to that commit; as in ostree, options may come before `pull`.
    let out = run_ok(grove_cmd(&repo).args([
        "--depth=0",
        "pull",
        "origin",
        &format!("{REF}@{}", commits[0]),
    ]));
    assert!(out.contains(" content written"), "{out}");
    assert_eq!(ours(&repo).as_deref(), Some(commits[0].as_str()));
    // -T: newer passes, the same commit passes, older is refused and the ref stays.
    grove(&repo, &["pull", "-T", "origin", REF]);
    assert_eq!(ours(&repo).as_deref(), Some(commits[1].as_str()));
    grove(&repo, &["pull", "-T", "origin", REF]);
    let e = grove_fail(
        &repo,
        &["pull", "-T", "origin", &format!("{REF}@{}", commits[0])],
    );
    assert!(
        e.contains("Upgrade target revision") && e.contains("is chronologically older"),
        "{e}"
    );
    assert_eq!(ours(&repo).as_deref(), Some(commits[1].as_str()));
    // --timestamp-check-from-rev: only commits newer than REV.
    let fresh = tmp.path().join("fresh");
    init_repo(&fresh, "bare-user");
    grove(
        &fresh,
        &["remote", "add", "--no-sign-verify", "origin", &url],
    );
    grove(&fresh, &["pull", "origin", REF]);
    let e = grove_fail(
        &fresh,
        &[
            "pull",
            &format!("--timestamp-check-from-rev={}", commits[1]),
            "origin",
            &format!("{REF}@{}", commits[0]),
        ],
    );
    assert!(e.contains("is chronologically older"), "{e}");
    // Duplicate requests, as `ostree pull origin main main@C main`: the last one for a ref wins.
    grove(
        &fresh,
        &["pull", "origin", REF, &format!("{REF}@{}", commits[0]), REF],
    );
    assert_eq!(ours(&fresh).as_deref(), Some(commits[1].as_str()));
    ostree(
        &fresh,
        &["pull", "origin", REF, &format!("{REF}@{}", commits[0]), REF],
    );
    assert_eq!(ours(&fresh).as_deref(), Some(commits[1].as_str()));

    // A pinned pull needs no summary: a broken one fails only a pull by name.
    let summary = tmp.path().join("www/repo/summary");
    grove(&tmp.path().join("www/repo"), &["summary", "-u"]);
    std::fs::write(&summary, b"broken").unwrap();
    let other = tmp.path().join("other");
    init_repo(&other, "bare-user");
    grove(
        &other,
        &["remote", "add", "--no-sign-verify", "origin", &url],
    );
    grove_fail(&other, &["pull", "origin", REF]);
    grove(
        &other,
        &["pull", "origin", &format!("{REF}@{}", commits[1])],
    );
    std::fs::remove_file(&summary).unwrap();
    // A ref file holding a web page: ostree's wording, without a prefix.
    let head = tmp.path().join(format!("www/repo/refs/heads/{REF}"));
    std::fs::write(&head, "lots of html here \n".repeat(20)).unwrap();
    let e = grove_fail(&other, &["pull", "origin", REF]);
    assert!(e.starts_with("error: Fetching checksum for ref ((empty), exampleos/x86_64/standard): Invalid rev lots of html here  lots of html here  lots of html here  lots of"), "{e}");
}

#[test]
fn http_trusted_and_bareuseronly_files() {
    let tmp = tempdir();
    let (tree, commits) = server_repo(tmp.path());
    let srv_repo = tmp.path().join("www/repo");
    let (_srv, url) = serve(&tmp.path().join("www"));
    // A content object served with another object's (valid) bytes.
    let readme = ostree(
        &srv_repo,
        &["ls", "-C", &commits[1], "/usr/share/doc/README"],
    )
    .split_whitespace()
    .nth(4)
    .unwrap()
    .to_string();
    let conf = ostree(&srv_repo, &["ls", "-C", &commits[1], "/etc/conf"])
        .split_whitespace()
        .nth(4)
        .unwrap()
        .to_string();
    let obj = |c: &str| srv_repo.join(format!("objects/{}/{}.filez", &c[..2], &c[2..]));
    std::fs::copy(obj(&conf), obj(&readme)).unwrap();
    for mode in ["bare-user", "archive"] {
        let repo = tmp.path().join(format!("trusted-{mode}"));
        init_repo(&repo, mode);
        grove(
            &repo,
            &["remote", "add", "--no-sign-verify", "origin", &url],
        );
        let e = grove_fail(&repo, &["pull", "origin", REF]);
        assert!(
            e.contains("Corrupted file object") && e.contains(&readme),
            "{e}"
        );
        if mode == "archive" {
            // --http-trusted into an archive stores what the server sends (as ostree); fsck then finds it.
            grove(
                &repo,
                &["pull", "--mirror", "--http-trusted", "origin", REF],
            );
            let o = output(ostree_cmd(&repo).arg("fsck"));
            assert!(!o.status.success(), "fsck passed a corrupt mirror");
        } else {
            // Other modes decompress the content and always check it.
            let e = grove_fail(&repo, &["pull", "--http-trusted", "origin", REF]);
            assert!(e.contains("Corrupted file object"), "{e}");
        }
    }
    std::fs::remove_file(obj(&readme)).unwrap();

    // --bareuseronly-files refuses a setuid file, with ostree's wording, pulling or mirroring.
    std::fs::write(tree.join("suid"), b"x\n").unwrap();
    std::fs::write(tmp.path().join("over"), "2048 /suid\n").unwrap();
    ostree(
        &srv_repo,
        &[
            "commit".as_ref(),
            "-b".as_ref(),
            "suid".as_ref(),
            "--statoverride".as_ref(),
            tmp.path().join("over").as_os_str(),
            tree.as_os_str(),
        ],
    );
    for mirror in [false, true] {
        let repo = tmp.path().join(format!("buo-{mirror}"));
        init_repo(&repo, "archive");
        grove(
            &repo,
            &["remote", "add", "--no-sign-verify", "origin", &url],
        );
        let mut args = vec!["pull", "--bareuseronly-files", "origin", "suid"];
        if mirror {
            args.insert(1, "--mirror");
        }
        let e = grove_fail(&repo, &args);
        assert!(
            e.contains("Content object ") && e.contains(": invalid mode 0104644 with bits 04000"),
            "{e}"
        );
    }
}

#[test]
fn dry_run_reports_the_delta_as_ostree() {
    let tmp = tempdir();
    let (_tree, commits) = server_repo(tmp.path());
    let srv_repo = tmp.path().join("www/repo");
    ostree(&srv_repo, &["static-delta", "generate", REF]);
    ostree(&srv_repo, &["summary", "-u"]);
    let (_srv, url) = serve(&tmp.path().join("www"));
    let mut lines = Vec::new();
    for tool in ["ostree", "grove"] {
        let repo = tmp.path().join(tool);
        init_repo(&repo, "bare-user");
        ostree(
            &repo,
            &["remote", "add", "--no-sign-verify", "origin", &url],
        );
        ostree(&repo, &["pull", "origin", &format!("{REF}@{}", commits[0])]);
        let args = [
            "pull",
            "--dry-run",
            "--require-static-deltas",
            "origin",
            REF,
        ];
        let out = if tool == "grove" {
            grove(&repo, &args)
        } else {
            ostree(&repo, &args)
        };
        lines.push(
            out.lines()
                .find(|l| l.starts_with("Delta update:"))
                .unwrap_or_default()
                .to_string(),
        );
        // Nothing changes.
        assert_eq!(
            std::fs::read_to_string(repo.join("refs/remotes/origin").join(REF))
                .unwrap()
                .trim(),
            commits[0]
        );
        assert!(!repo
            .join(format!(
                "objects/{}/{}.commit",
                &commits[1][..2],
                &commits[1][2..]
            ))
            .exists());
    }
    assert!(lines[0].starts_with("Delta update: 0/"), "{lines:?}");
    assert_eq!(lines[0], lines[1]);
}
