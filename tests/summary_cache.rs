//! The summary cache of a pull (`REPO/tmp/cache/summaries/REMOTE[.sig]`, or
//! `--cache-dir`), `prune` dropping the caches of remotes that are gone, and
//! `remote summary` — each side by side with the real `ostree` on the same
//! HTTP remote.

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn setup(root: &Path) -> (Gpg, std::path::PathBuf, std::path::PathBuf, [String; 2]) {
    let key = Gpg::generate(&root.join("gpg"), "Cache Test <c@example.org>", "", &[]);
    let public = root.join("public.gpg");
    fs::write(&public, key.public_bytes()).expect("write key");
    let upstream = root.join("upstream");
    init_repo(&upstream, "archive");
    let t = root.join("tree");
    mkdir(&t, 0o755);
    write(&t.join("f"), b"f\n", 0o644);
    let sign = [key.homedir_arg(), format!("--gpg-sign={}", key.fpr)];
    ostree(
        &upstream,
        &[
            "commit",
            "-b",
            "main",
            "-s",
            "one",
            &format!("--tree=dir={}", t.display()),
            &sign[0],
            &sign[1],
        ],
    );
    ostree(&upstream, &["summary", "-u", &sign[0], &sign[1]]);
    (key, upstream, public, sign)
}

#[test]
fn pull_caches_the_verified_summary_like_ostree() {
    let tmp = tempdir();
    let root = tmp.path();
    let (_key, upstream, public, sign) = setup(root);
    let server = HttpServer::serve(&upstream);
    for tool in ["ostree", "grove"] {
        let repo = root.join(format!("client-{tool}"));
        init_repo(&repo, "archive");
        let run = |args: &[&str]| {
            if tool == "ostree" {
                ostree(&repo, args)
            } else {
                grove(&repo, args)
            }
        };
        ostree(
            &repo,
            &[
                "remote",
                "add",
                "--set=gpg-verify-summary=true",
                &format!("--gpg-import={}", public.display()),
                "origin",
                &server.url,
            ],
        );
        run(&["pull", "origin", "main"]);
        let cache = repo.join("tmp/cache/summaries");
        assert_eq!(
            fs::read(cache.join("origin")).ok(),
            fs::read(upstream.join("summary")).ok(),
            "{tool}: cached summary"
        );
        assert_eq!(
            fs::read(cache.join("origin.sig")).ok(),
            fs::read(upstream.join("summary.sig")).ok(),
            "{tool}: cached summary.sig"
        );

        // While summary.sig is unchanged the cached summary is used: a
        // summary changed on the server behind an old signature is not read.
        let good = fs::read(upstream.join("summary")).expect("summary");
        fs::write(upstream.join("summary"), b"garbage").expect("write");
        run(&["pull", "origin", "main"]);
        fs::write(upstream.join("summary"), &good).expect("restore");
        // A cached summary that no longer verifies is fetched anew.
        fs::write(cache.join("origin"), b"stale").expect("write");
        run(&["pull", "origin", "main"]);
        assert_eq!(
            fs::read(cache.join("origin")).expect("cache"),
            good,
            "{tool}: cache not refreshed"
        );

        // --cache-dir puts the cache there instead.
        let dir = root.join(format!("cachedir-{tool}"));
        let mut cmd = if tool == "ostree" {
            ostree_cmd(&repo)
        } else {
            grove_cmd(&repo)
        };
        let err = run_fail(cmd.args([
            "pull",
            &format!("--cache-dir={}", dir.display()),
            "origin",
            "main",
        ]));
        assert!(err.contains("No such file or directory"), "{tool}: {err}");
        mkdir(&dir, 0o755);
        fs::remove_dir_all(&cache).expect("rm cache");
        run(&[
            "pull",
            &format!("--cache-dir={}", dir.display()),
            "origin",
            "main",
        ]);
        assert!(
            dir.join("summaries/origin.sig").is_file() && !cache.join("origin").exists(),
            "{tool}: --cache-dir"
        );

        // prune drops the caches of remotes that are not configured.
        run(&["pull", "origin", "main"]);
        fs::write(cache.join("gone"), b"x").expect("write");
        fs::write(cache.join("gone.sig"), b"x").expect("write");
        run(&["prune", "--refs-only"]);
        assert!(
            !cache.join("gone").exists() && !cache.join("gone.sig").exists(),
            "{tool}: prune kept a stale cache"
        );
        assert!(
            cache.join("origin").exists() && cache.join("origin.sig").exists(),
            "{tool}: prune removed a remote's cache"
        );
    }

    // `remote summary` prints what ostree prints, signatures included.
    let a = root.join("client-ostree");
    let b = root.join("client-grove");
    let theirs = ostree(&a, &["remote", "summary", "origin"]);
    let ours = grove(&b, &["remote", "summary", "origin"]);
    assert_eq!(ours, theirs);
    assert!(
        ours.contains("GPG: Verification enabled, found 1 signature:")
            && ours.contains("Good signature from \"Cache Test <c@example.org>\""),
        "{ours}"
    );

    // A summary.sig that holds no signatures fails as ostree's does.
    let good_sig = fs::read(upstream.join("summary.sig")).expect("sig");
    fs::write(upstream.join("summary.sig"), b"invalid\n").expect("write");
    bump_mtime(&upstream.join("summary.sig"));
    let err = run_fail(grove_cmd(&b).args(["pull", "origin", "main"]));
    assert!(err.contains("no signatures found"), "{err}");
    let err = run_fail(ostree_cmd(&a).args(["pull", "origin", "main"]));
    assert!(err.contains("no signatures found"), "{err}");
    fs::write(upstream.join("summary.sig"), good_sig).expect("restore");
    drop(sign);
}
