//! Static deltas over the network: `grove pull --mirror` copies the deltas a
//! remote offers (so the mirror's own clients update through them), and
//! `grove pull` updates through a FROM→TO delta (or a scratch delta on an
//! initial pull), with every byte checked. Upstream repositories are made by
//! the real ostree, deltas by ostree and by grove; the real ostree client
//! pulls from grove's mirror; every server is a loopback HTTP server whose
//! request log says what was fetched.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{
    assert_one_line_error, grove, grove_cmd, ostree, prng_bytes, run_fail, run_ok, tempdir, write,
    HttpServer, Request, MODES,
};

/// An archive repository made by ostree with release 1 on `os`; `release2`
/// commits release 2 (a binary edited in place, a changed and a new file).
struct Upstream {
    repo: PathBuf,
    tree: PathBuf,
}

impl Upstream {
    fn new(root: &Path) -> Upstream {
        let repo = root.join("upstream");
        let tree = root.join("tree");
        common::init_repo(&repo, "archive");
        write(&tree.join("usr/bin/big"), &prng_bytes(1, 400_000), 0o755);
        write(
            &tree.join("usr/lib/libx.so"),
            &prng_bytes(2, 120_000),
            0o644,
        );
        write(&tree.join("etc/os-release"), b"VERSION=1\n", 0o644);
        for i in 0..40 {
            write(
                &tree.join(format!("usr/share/doc/f{i}")),
                format!("doc {i}\n").as_bytes(),
                0o644,
            );
        }
        ostree(
            &repo,
            &[
                "commit",
                "-b",
                "os",
                "--timestamp=2024-01-01",
                "--owner-uid=0",
                "--owner-gid=0",
                tree.to_str().unwrap(),
            ],
        );
        ostree(&repo, &["summary", "-u"]);
        Upstream { repo, tree }
    }

    fn rev(&self, r: &str) -> String {
        ostree(&self.repo, &["rev-parse", r]).trim().to_string()
    }

    /// Commits release 2 and generates FROM→TO and scratch deltas with `tool`.
    fn release2(&self, tool: &str) {
        self.release2_with(tool, &[]);
    }

    /// [`Upstream::release2`], `extra` passed to the FROM→TO `generate`.
    fn release2_with(&self, tool: &str, extra: &[&str]) {
        let mut big = prng_bytes(1, 400_000);
        big[5000..5100].fill(7);
        write(&self.tree.join("usr/bin/big"), &big, 0o755);
        write(&self.tree.join("etc/os-release"), b"VERSION=2\n", 0o644);
        write(&self.tree.join("etc/new"), b"new in 2\n", 0o644);
        ostree(
            &self.repo,
            &[
                "commit",
                "-b",
                "os",
                "--timestamp=2024-02-01",
                "--owner-uid=0",
                "--owner-gid=0",
                self.tree.to_str().unwrap(),
            ],
        );
        let (from, to) = (self.rev("os^"), self.rev("os"));
        let gen = |args: &[&str]| {
            if tool == "ostree" {
                ostree(&self.repo, args)
            } else {
                grove(&self.repo, args)
            }
        };
        let (from_arg, to_arg) = (format!("--from={from}"), format!("--to={to}"));
        let mut args = vec!["static-delta", "generate", &from_arg, &to_arg];
        args.extend_from_slice(extra);
        gen(&args);
        gen(&["static-delta", "generate", "--empty", &format!("--to={to}")]);
        ostree(&self.repo, &["summary", "-u"]);
    }
}

/// Files under `deltas/` and `delta-indexes/` of `repo`, with their bytes.
fn delta_files(repo: &Path) -> Vec<(String, Vec<u8>)> {
    ["deltas", "delta-indexes"]
        .iter()
        .flat_map(|top| common::files_under(repo, top))
        .map(|rel| {
            let bytes = fs::read(repo.join(&rel)).unwrap();
            (rel, bytes)
        })
        .collect()
}

fn since(server: &HttpServer, mark: usize) -> Vec<Request> {
    server.requests().split_off(mark)
}

fn count(reqs: &[Request], what: impl Fn(&str) -> bool) -> usize {
    reqs.iter()
        .filter(|r| r.status == 200 && what(&r.path))
        .count()
}

fn is_delta(p: &str) -> bool {
    p.starts_with("deltas/")
}

fn is_content(p: &str) -> bool {
    p.ends_with(".filez")
}

#[test]
fn mirror_carries_deltas_and_its_clients_update_through_them() {
    for tool in ["ostree", "grove"] {
        let dir = tempdir();
        let root = dir.path();
        let up = Upstream::new(root);
        let up_server = HttpServer::serve(&up.repo);
        let mirror = root.join("mirror");
        common::init_repo(&mirror, "archive");
        grove(
            &mirror,
            &["remote", "add", "--no-gpg-verify", "up", &up_server.url],
        );
        grove(&mirror, &["pull", "--mirror", "--depth=-1", "up:os"]);
        grove(&mirror, &["summary", "-u"]);

        // A real client takes release 1 from the mirror.
        let mirror_server = HttpServer::serve(&mirror);
        let client = root.join("client");
        common::init_repo(&client, "bare-user");
        run_ok(common::ostree_cmd(&client).args([
            "remote",
            "add",
            "--no-gpg-verify",
            "mirror",
            &mirror_server.url,
        ]));
        ostree(&client, &["pull", "mirror", "os"]);

        // Release 2 upstream with deltas; the mirror's second pull brings only what is new.
        up.release2(tool);
        let mark = up_server.requests().len();
        let out = grove(
            &mirror,
            &["pull", "--mirror", "--depth=-1", "--json", "up:os"],
        );
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            report["static_deltas"]["deltas"].as_array().unwrap().len(),
            2,
            "{tool}: {out}"
        );
        let reqs = since(&up_server, mark);
        assert!(
            !reqs
                .iter()
                .any(|r| r.path == "objects/" || r.path.ends_with('/')),
            "{tool}: no listing"
        );
        assert_eq!(
            delta_files(&mirror),
            delta_files(&up.repo),
            "{tool}: the mirror's deltas and indexes are upstream's, byte for byte"
        );
        // Again: nothing new, no part fetched.
        let mark = up_server.requests().len();
        grove(&mirror, &["pull", "--mirror", "--depth=-1", "up:os"]);
        let again = since(&up_server, mark);
        assert_eq!(
            count(&again, |p| is_delta(p) && !p.ends_with("superblock")),
            0,
            "{tool}: {again:?}"
        );
        assert_eq!(count(&again, is_content), 0, "{tool}: {again:?}");
        grove(&mirror, &["summary", "-u"]);
        ostree(&mirror, &["fsck"]);
        let listed = ostree(&mirror, &["summary", "--view"]);
        assert!(listed.contains("ostree.static-deltas"), "{tool}: {listed}");

        // The client's update from the mirror goes through the delta.
        let mark = mirror_server.requests().len();
        ostree(&client, &["pull", "mirror", "os"]);
        let reqs = since(&mirror_server, mark);
        assert!(
            count(&reqs, |p| is_delta(p) && p.ends_with("superblock")) == 1,
            "{tool}: the client fetched the superblock: {reqs:?}"
        );
        if tool == "ostree" {
            // ostree's delta has its part outside the superblock: the client fetched it.
            assert!(
                count(&reqs, |p| is_delta(p) && p.ends_with("/0")) == 1,
                "{tool}: the client fetched the part: {reqs:?}"
            );
        } else {
            // grove's is inline in several parts, which keeps the 2022.7 client from
            // also fetching the new objects loose while it applies them (ostree issue 2053).
            assert!(
                count(&reqs, is_content) <= 2,
                "{tool}: the client fetched content loose: {reqs:?}"
            );
        }
        ostree(&client, &["fsck"]);
        let co = root.join("co");
        ostree(
            &client,
            &["checkout", "-U", "mirror:os", co.to_str().unwrap()],
        );
        common::assert_same_content(&up.tree, &co);
    }
}

#[test]
fn pull_updates_through_a_delta_in_every_mode_fetching_no_more_than_ostree() {
    for tool in ["ostree", "grove"] {
        let dir = tempdir();
        let root = dir.path();
        let up = Upstream::new(root);
        let r1 = up.rev("os");
        up.release2(tool);
        let server = HttpServer::serve(&up.repo);
        common::require_root("pulling into a bare repository");
        for mode in MODES.iter().filter(|m| **m != "archive-z2") {
            let fetched = |bin: &str| {
                let repo = root.join(format!("{bin}-{mode}"));
                common::init_repo(&repo, mode);
                let cmd = |args: &[&str]| {
                    if bin == "ostree" {
                        ostree(&repo, args)
                    } else {
                        grove(&repo, args)
                    }
                };
                cmd(&["remote", "add", "--no-gpg-verify", "up", &server.url]);
                cmd(&["pull", "up", &r1]);
                cmd(&["refs", "--create=up:os", &r1]);
                let mark = server.requests().len();
                cmd(&["pull", "up", "os"]);
                let reqs = since(&server, mark);
                ostree(&repo, &["fsck"]);
                let co = root.join(format!("co-{bin}-{mode}"));
                common::checkout(&repo, mode, "up:os", &co);
                common::assert_same_content(&up.tree, &co);
                (server.bytes_served(&reqs), reqs)
            };
            let (grove_bytes, grove_reqs) = fetched("grove");
            let (ostree_bytes, ostree_reqs) = fetched("ostree");
            assert_eq!(
                count(&grove_reqs, |p| is_delta(p) && p.ends_with("superblock")),
                1,
                "{tool} {mode}: {grove_reqs:?}"
            );
            assert_eq!(
                count(&grove_reqs, is_content),
                0,
                "{tool} {mode}: {grove_reqs:?}"
            );
            // The delta carries the trees: the plan walks none of them loose.
            assert_eq!(
                count(&grove_reqs, |p| p.ends_with(".dirtree")
                    || p.ends_with(".dirmeta")),
                0,
                "{tool} {mode}: {grove_reqs:?}"
            );
            assert!(grove_bytes <= ostree_bytes, "{tool} {mode}: grove fetched {grove_bytes} bytes, ostree {ostree_bytes}: {grove_reqs:?} vs {ostree_reqs:?}");
        }
    }
}

#[test]
fn fallback_objects_arrive_loose_and_the_commit_is_complete() {
    let dir = tempdir();
    let root = dir.path();
    let up = Upstream::new(root);
    let r1 = up.rev("os");
    // A new file over 1 MB is a fallback object: the delta carries only the rest.
    write(
        &up.tree.join("usr/lib/huge"),
        &prng_bytes(3, 1_500_000),
        0o644,
    );
    up.release2_with("ostree", &["--min-fallback-size=1"]);
    let r2 = up.rev("os");
    let shown = ostree(&up.repo, &["static-delta", "show", &format!("{r1}-{r2}")]);
    assert!(
        !shown.contains("Number of fallback entries: 0"),
        "the delta has fallback objects: {shown}"
    );
    let server = HttpServer::serve(&up.repo);
    for (name, args) in [
        ("auto", &["pull", "up", "os"][..]),
        (
            "required",
            &["pull", "--require-static-deltas", "up", "os"][..],
        ),
    ] {
        let repo = client_at_release1(root, name, &server, &r1);
        let mark = server.requests().len();
        let out = grove(&repo, args);
        let reqs = since(&server, mark);
        assert!(out.contains("1 static deltas applied"), "{name}: {out}");
        assert_eq!(
            count(&reqs, |p| is_delta(p) && p.ends_with("superblock")),
            1,
            "{name}: {reqs:?}"
        );
        assert!(
            count(&reqs, is_content) > 0,
            "{name}: fallbacks fetched loose: {reqs:?}"
        );
        assert_eq!(remote_ref(&repo).as_deref(), Some(r2.as_str()), "{name}");
        ostree(&repo, &["fsck"]);
        let co = root.join(format!("co-{name}"));
        common::checkout(&repo, "bare-user", "up:os", &co);
        common::assert_same_content(&up.tree, &co);

        // The real ostree client, the same update: grove fetches no more.
        let theirs = root.join(format!("ostree-{name}"));
        common::init_repo(&theirs, "bare-user");
        ostree(
            &theirs,
            &["remote", "add", "--no-gpg-verify", "up", &server.url],
        );
        ostree(&theirs, &["pull", "up", &r1]);
        ostree(&theirs, &["refs", "--create=up:os", &r1]);
        let mark2 = server.requests().len();
        ostree(&theirs, args);
        let theirs_reqs = since(&server, mark2);
        assert!(
            server.bytes_served(&reqs) <= server.bytes_served(&theirs_reqs),
            "{name}: {reqs:?} vs {theirs_reqs:?}"
        );
    }
}

#[test]
fn after_a_delta_the_commit_is_checked_and_what_is_missing_fetched_unless_required() {
    let dir = tempdir();
    let root = dir.path();
    let up = Upstream::new(root);
    let r1 = up.rev("os");
    up.release2("ostree");
    let r2 = up.rev("os");
    let server = HttpServer::serve(&up.repo);
    // A file release 2 keeps unchanged: no delta carries it.
    let ls = ostree(&up.repo, &["ls", "-C", &r1, "/usr/share/doc/f0"]);
    let csum = ls.split_whitespace().nth(4).unwrap().to_string();
    assert_eq!(csum.len(), 64, "{ls}");
    let lose = |repo: &Path| {
        let obj = repo.join(format!("objects/{}/{}.file", &csum[..2], &csum[2..]));
        fs::remove_file(&obj).unwrap();
    };

    // Required: the delta applies, the check finds the hole, the ref stays.
    let repo = client_at_release1(root, "strict", &server, &r1);
    lose(&repo);
    let err = run_fail(grove_cmd(&repo).args(["pull", "--require-static-deltas", "up", "os"]));
    assert_one_line_error(&err);
    assert!(
        err.contains(&csum) && err.contains("neither in the delta nor one of its fallback objects"),
        "{err}"
    );
    assert_eq!(remote_ref(&repo).as_deref(), Some(r1.as_str()));

    // Otherwise the missing object is fetched loose, and only it.
    let repo = client_at_release1(root, "lenient", &server, &r1);
    lose(&repo);
    let mark = server.requests().len();
    let out = grove(&repo, &["pull", "up", "os"]);
    let reqs = since(&server, mark);
    assert!(out.contains("1 static deltas applied"), "{out}");
    let loose: Vec<_> = reqs.iter().filter(|r| is_content(&r.path)).collect();
    assert_eq!(loose.len(), 1, "{reqs:?}");
    assert!(loose[0].path.contains(&csum[2..]), "{reqs:?}");
    assert_eq!(remote_ref(&repo).as_deref(), Some(r2.as_str()));
    ostree(&repo, &["fsck"]);
}

#[test]
fn initial_pull_uses_the_scratch_delta_and_disable_skips_deltas() {
    let dir = tempdir();
    let root = dir.path();
    let up = Upstream::new(root);
    up.release2("grove");
    let server = HttpServer::serve(&up.repo);
    let repo = root.join("client");
    common::init_repo(&repo, "bare-user");
    grove(
        &repo,
        &["remote", "add", "--no-gpg-verify", "up", &server.url],
    );
    let out = grove(&repo, &["pull", "up", "os"]);
    assert!(out.contains("1 static deltas applied"), "{out}");
    let reqs = server.requests();
    assert_eq!(count(&reqs, is_content), 0, "{reqs:?}");
    ostree(&repo, &["fsck"]);

    let plain = root.join("plain");
    common::init_repo(&plain, "bare-user");
    grove(
        &plain,
        &["remote", "add", "--no-gpg-verify", "up", &server.url],
    );
    let mark = server.requests().len();
    grove(&plain, &["pull", "--disable-static-deltas", "up", "os"]);
    let reqs = since(&server, mark);
    assert_eq!(count(&reqs, is_delta), 0, "{reqs:?}");
    assert!(count(&reqs, is_content) > 40, "{reqs:?}");
    assert_eq!(remote_ref(&plain), remote_ref(&repo));
}

/// The commit of `up:os` in `repo`.
fn remote_ref(repo: &Path) -> Option<String> {
    fs::read_to_string(repo.join("refs/remotes/up/os"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Holds release 1 of `up` under `up:os`, ready to pull release 2.
fn client_at_release1(root: &Path, name: &str, server: &HttpServer, r1: &str) -> PathBuf {
    let repo = root.join(name);
    common::init_repo(&repo, "bare-user");
    grove(
        &repo,
        &["remote", "add", "--no-gpg-verify", "up", &server.url],
    );
    grove(&repo, &["pull", "up", r1]);
    grove(&repo, &["refs", "--create=up:os", r1]);
    repo
}

#[test]
fn bad_deltas_are_one_error_line_and_leave_the_ref() {
    let dir = tempdir();
    let root = dir.path();
    let up = Upstream::new(root);
    let r1 = up.rev("os");
    up.release2("ostree");
    let r2 = up.rev("os");
    let server = HttpServer::serve(&up.repo);
    let delta_dir = |from: Option<&str>| -> PathBuf {
        let list = ostree(&up.repo, &["static-delta", "list"]);
        assert!(list.lines().count() == 2, "{list}");
        let name = match from {
            Some(f) => format!("{f}-{r2}"),
            None => r2.clone(),
        };
        let out = ostree(&up.repo, &["static-delta", "show", &name]);
        assert!(out.contains("Delta"), "{out}");
        // deltas/XX/REST in modified base64, as the repository lays it out
        let mut found = None;
        for e in fs::read_dir(up.repo.join("deltas")).unwrap() {
            for f in fs::read_dir(e.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                if p.file_name().unwrap().to_str().unwrap().contains('-') == from.is_some() {
                    found = Some(p);
                }
            }
        }
        found.unwrap()
    };
    let from_to = delta_dir(Some(&r1));
    let part = from_to.join("0");
    let good = fs::read(&part).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n / 2] ^= 0xff;
    fs::write(&part, &bad).unwrap();

    // --require-static-deltas: the corrupt part is the error, the ref stays.
    let repo = client_at_release1(root, "strict", &server, &r1);
    let err = run_fail(grove_cmd(&repo).args(["pull", "--require-static-deltas", "up", "os"]));
    assert_one_line_error(&err);
    assert!(err.contains("part 0 checksum mismatch"), "{err}");
    assert_eq!(remote_ref(&repo).as_deref(), Some(r1.as_str()));
    // Without it: a warning, then the objects.
    let repo = client_at_release1(root, "lenient", &server, &r1);
    let out = grove_cmd(&repo)
        .args(["pull", "up", "os"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("part 0 checksum mismatch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(remote_ref(&repo).as_deref(), Some(r2.as_str()));
    ostree(&repo, &["fsck"]);
    fs::write(&part, &good).unwrap();

    // A superblock that names other commits than its path: the scratch delta's under the FROM→TO name.
    let sb = from_to.join("superblock");
    let good_sb = fs::read(&sb).unwrap();
    fs::write(&sb, fs::read(delta_dir(None).join("superblock")).unwrap()).unwrap();
    ostree(&up.repo, &["summary", "-u"]);
    let repo = client_at_release1(root, "swapped", &server, &r1);
    let err = run_fail(grove_cmd(&repo).args(["pull", "--require-static-deltas", "up", "os"]));
    assert_one_line_error(&err);
    assert!(err.contains("superblock is for"), "{err}");
    assert_eq!(remote_ref(&repo).as_deref(), Some(r1.as_str()));

    // A superblock that differs from the digest the summary lists.
    fs::write(&sb, &good_sb).unwrap();
    ostree(&up.repo, &["summary", "-u"]);
    let mut tampered = good_sb.clone();
    let n = tampered.len();
    tampered[n - 40] ^= 1;
    fs::write(&sb, &tampered).unwrap();
    let repo = client_at_release1(root, "tampered", &server, &r1);
    let err = run_fail(grove_cmd(&repo).args(["pull", "--require-static-deltas", "up", "os"]));
    assert_one_line_error(&err);
    assert!(err.contains("superblock checksum mismatch"), "{err}");
    assert_eq!(remote_ref(&repo).as_deref(), Some(r1.as_str()));

    // No delta offered at all.
    fs::write(&sb, &good_sb).unwrap();
    let bare = root.join("nodeltas");
    common::init_repo(&bare, "archive");
    grove(&bare, &["pull-local", up.repo.to_str().unwrap(), &r1, &r2]);
    grove(&bare, &["refs", "--create=os", &r2]);
    grove(&bare, &["summary", "-u"]);
    let bare_server = HttpServer::serve(&bare);
    let repo = client_at_release1(root, "none", &bare_server, &r1);
    let err = run_fail(grove_cmd(&repo).args(["pull", "--require-static-deltas", "up", "os"]));
    assert_one_line_error(&err);
    assert!(
        err.contains("Static deltas required, but none found"),
        "{err}"
    );
}
