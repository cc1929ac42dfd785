//! A release engineer's day, end to end, with the real `ostree` as client.
//!
//! Components are committed to a bare-user build repository and composed;
//! an archive dev repository pulls them, where the installed sample hooks
//! keep deltas and the summary fresh (`post-pull-local`), sign commits
//! (`post-commit`) and refuse unversioned commits (`pre-commit`); the build
//! is promoted buildmain → smoketested, then to a prod repository with a
//! version, signed and published; a gpg-verifying `ostree` client pulls it
//! over HTTP, and pulls the second release through a static delta; a
//! `pre-promote` hook vetoes a promotion and prod stays as it was.
//!
//! Missing `ostree`, `gpg` or `python3` fails this test: it never skips.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use grove::{Checksum, Repo};

fn tip(repo: &Path, r: &str) -> String {
    grove(repo, &["rev-parse", r]).trim().to_string()
}

fn install_sample(repo: &Path, name: &str) {
    let hooks = repo.join("hooks");
    fs::copy(hooks.join(format!("{name}.sample")), hooks.join(name)).expect("install hook sample");
}

/// A component tree; `seed` varies the big file so releases differ a little.
fn component(root: &Path, name: &str, seed: u8) -> PathBuf {
    let d = root.join(format!("{name}-{seed}"));
    fs::create_dir_all(d.join("usr/lib")).expect("mkdir");
    fs::create_dir_all(d.join("usr/bin")).expect("mkdir");
    let mut big: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for i in 0..200 {
        big[i * 1000] = seed;
    }
    fs::write(d.join(format!("usr/lib/lib{name}.so")), &big).expect("write");
    fs::write(
        d.join(format!("usr/bin/{name}")),
        format!("#!/bin/sh\necho {name} build {seed}\n"),
    )
    .expect("write");
    d
}

fn commit_of(repo: &Path, c: &str) -> grove::objects::Commit {
    let r = Repo::open(repo).expect("open repo");
    r.load_commit(c.parse::<Checksum>().expect("checksum"))
        .expect("load commit")
}

fn grove_refs(repo: &Path) -> Vec<String> {
    let mut out: Vec<String> = grove(repo, &["refs"]).lines().map(str::to_string).collect();
    out.sort();
    out
}

const BUILDMAIN: &str = "exampleos/x86_64/buildmain/standard";
const SMOKETESTED: &str = "exampleos/x86_64/smoketested/standard";
const PROD_REF: &str = "exampleos/x86_64/standard";

/// One build: components committed to the build repo, then composed on buildmain.
fn build(build_repo: &Path, root: &Path, n: u8, version: &str) -> String {
    for comp in ["base", "app"] {
        let dir = component(root, comp, n);
        run_ok(
            grove_cmd(build_repo)
                .args([
                    "commit",
                    "-b",
                    &format!("components/{comp}"),
                    "-s",
                    &format!("{comp} build {n}"),
                ])
                .arg(format!("--tree=dir={}", dir.display())),
        );
    }
    let c = grove(
        build_repo,
        &[
            "commit",
            "-b",
            BUILDMAIN,
            "-s",
            &format!("build {n}"),
            &format!("--timestamp=2024-01-0{n}T00:00:00Z"),
            &format!("--add-metadata-string=version={version}"),
            "--tree=ref=components/base",
            "--tree=ref=components/app",
        ],
    );
    c.trim().to_string()
}

#[test]
fn release_engineer_end_to_end() {
    let t = tempdir();
    let root = t.path();
    let key = Gpg::generate(
        &root.join("gnupg"),
        "Release Team <release@example.com>",
        "",
        &[],
    );
    let (secret, public) = (
        root.join("release-key.asc"),
        root.join("release-key.pub.asc"),
    );
    key.export_secret(&secret);
    key.export_public(&public);
    let (build_repo, dev, prod, client) = (
        root.join("repo-build"),
        root.join("repo-dev"),
        root.join("repo-prod"),
        root.join("client"),
    );
    let key_arg = secret.display().to_string();
    let keyring = format!("--keyring={}", public.display());

    // --- The build server and the dev repository.
    grove(&build_repo, &["init", "--mode=bare-user"]);
    grove(&dev, &["init", "--mode=archive"]);
    for s in [
        "pre-promote",
        "post-promote",
        "pre-prune",
        "post-prune",
        "post-summary",
    ] {
        assert!(
            dev.join(format!("hooks/{s}.sample")).is_file(),
            "init did not install {s}.sample"
        );
    }
    grove(&dev, &["config", "set", "grove.sign-key", &key_arg]);
    grove(&dev, &["config", "set", "grove.summary-publish-delay", "0"]);
    install_sample(&dev, "post-pull-local");
    install_sample(&dev, "post-commit");
    install_sample(&dev, "pre-commit");

    let b1 = build(&build_repo, root, 1, "1.0");
    run_ok(
        grove_cmd(&dev)
            .arg("pull-local")
            .arg(&build_repo)
            .arg(BUILDMAIN),
    );
    assert_eq!(tip(&dev, BUILDMAIN), b1);
    assert!(
        dev.join("summary").is_file() && dev.join("summary.sig").is_file(),
        "post-pull-local did not publish a signed summary"
    );
    grove(&dev, &["gpg-verify", "--summary", &keyring]);

    let b2 = build(&build_repo, root, 2, "1.1");
    run_ok(
        grove_cmd(&dev)
            .arg("pull-local")
            .arg(&build_repo)
            .arg(BUILDMAIN),
    );
    assert!(
        grove(&dev, &["static-delta", "list"]).contains(&format!("{b1}-{b2}")),
        "post-pull-local made no delta {b1}-{b2}"
    );
    let view = grove(&dev, &["summary", "--view"]);
    assert!(
        view.contains(&b2),
        "dev summary does not list {b2}:\n{view}"
    );

    // pre-commit (policy) refuses an unversioned commit; post-commit signs a versioned one.
    let hotfix = root.join("hotfix");
    fs::create_dir_all(hotfix.join("etc")).expect("mkdir");
    fs::write(hotfix.join("etc/motd"), "hotfix\n").expect("write");
    let tree_args = [
        format!("--tree=ref={BUILDMAIN}"),
        format!("--tree=dir={}", hotfix.display()),
    ];
    let e = run_fail(
        grove_cmd(&dev)
            .args(["commit", "-b", BUILDMAIN, "-s", "hotfix"])
            .args(&tree_args),
    );
    assert!(e.contains("hook pre-commit exited with status 1"), "{e}");
    assert_eq!(tip(&dev, BUILDMAIN), b2, "a refused commit moved the ref");
    let hf = run_ok(
        grove_cmd(&dev)
            .args([
                "commit",
                "-b",
                BUILDMAIN,
                "-s",
                "hotfix",
                "--timestamp=2024-01-02T12:00:00Z",
                "--add-metadata-string=version=1.1.1",
            ])
            .args(&tree_args),
    )
    .trim()
    .to_string();
    grove(&dev, &["gpg-verify", &keyring, &hf]);
    assert!(grove(&dev, &["sign", &hf]).contains("already signed"));

    // --- Promotion inside dev: buildmain → smoketested.
    let s1 = grove(
        &dev,
        &[
            "promote",
            BUILDMAIN,
            SMOKETESTED,
            "-s",
            "Passed tests",
            "--expect=none",
        ],
    )
    .trim()
    .to_string();
    let (src, dst) = (commit_of(&dev, &hf), commit_of(&dev, &s1));
    assert_eq!(
        (dst.root_contents, dst.root_meta),
        (src.root_contents, src.root_meta),
        "promotion changed the tree"
    );
    assert_eq!(dst.metadata.get_str("version").as_deref(), Some("1.1.1"));
    assert_eq!(dst.metadata.get_str("grove.promotion-of"), Some(hf.clone()));
    assert_eq!(dst.subject, "Passed tests");
    grove(&dev, &["gpg-verify", &keyring, &s1]); // promote signs with the configured key
                                                 // Same tree again: nothing to promote, no new commit.
    let o = output(grove_cmd(&dev).args(["promote", BUILDMAIN, SMOKETESTED]));
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stderr).contains("nothing to promote")
    );
    assert_eq!(tip(&dev, SMOKETESTED), s1);
    // An older build is a non-fast-forward; a stale --expect is refused.
    let e = run_fail(grove_cmd(&dev).args(["promote", &b1, SMOKETESTED]));
    assert!(e.contains("non-fast-forward"), "{e}");
    let e = run_fail(grove_cmd(&dev).args([
        "promote",
        BUILDMAIN,
        SMOKETESTED,
        &format!("--expect={b1}"),
    ]));
    assert!(e.contains("not at the expected"), "{e}");
    assert_eq!(tip(&dev, SMOKETESTED), s1);

    // --- Promotion to prod.
    grove(&prod, &["init", "--mode=archive"]);
    grove(&prod, &["config", "set", "grove.sign-key", &key_arg]);
    grove(
        &prod,
        &["config", "set", "grove.summary-publish-delay", "0"],
    );
    grove(&prod, &["config", "set", "grove.delta-depth", "2"]);
    install_sample(&prod, "pre-promote");
    let from = format!("--from={}:{SMOKETESTED}", dev.display());
    let p1 = grove(
        &prod,
        &[
            "promote",
            &from,
            &format!("--to={PROD_REF}"),
            "--version=1.2.3",
            "-s",
            "Release 1.2.3",
        ],
    )
    .trim()
    .to_string();
    assert_eq!(
        grove_refs(&prod),
        vec![PROD_REF.to_string()],
        "a dev branch name reached prod"
    );
    let pc = commit_of(&prod, &p1);
    assert_eq!(pc.metadata.get_str("version").as_deref(), Some("1.2.3"));
    assert_eq!(pc.metadata.get_str("grove.promotion-of"), Some(s1.clone()));
    assert_eq!(
        (pc.root_contents, pc.root_meta),
        (src.root_contents, src.root_meta)
    );
    ostree(&prod, &["fsck"]);
    grove(&prod, &["gpg-verify", &keyring, &p1]);
    grove(&prod, &["gpg-verify", "--summary", &keyring]);

    // --- A gpg-verifying ostree client (bare-user: ostree uses deltas only there).
    let server = HttpServer::serve(&prod);
    let url = format!("{}/", server.url);
    ostree(&client, &["init", "--mode=bare-user"]);
    ostree(
        &client,
        &[
            "remote",
            "add",
            "--set=gpg-verify=true",
            "--set=gpg-verify-summary=true",
            &format!("--gpg-import={}", public.display()),
            "origin",
            &url,
        ],
    );
    ostree(&client, &["pull", "origin", PROD_REF]);
    assert_eq!(
        ostree(&client, &["rev-parse", &format!("origin:{PROD_REF}")]).trim(),
        p1
    );
    assert!(ostree(&client, &["show", &p1]).contains("1.2.3"));
    assert_eq!(
        ostree(&client, &["cat", &p1, "/usr/bin/app"]),
        "#!/bin/sh\necho app build 2\n"
    );

    // --- The second release travels as a delta.
    let b3 = build(&build_repo, root, 3, "1.3");
    run_ok(
        grove_cmd(&dev)
            .arg("pull-local")
            .arg(&build_repo)
            .arg(BUILDMAIN),
    );
    assert_eq!(tip(&dev, BUILDMAIN), b3);
    let s2 = grove(
        &dev,
        &[
            "promote",
            BUILDMAIN,
            SMOKETESTED,
            "-s",
            "Passed tests",
            &format!("--expect={s1}"),
        ],
    )
    .trim()
    .to_string();
    let p2 = grove(
        &prod,
        &[
            "promote",
            &from,
            &format!("--to={PROD_REF}"),
            "--version=1.3.0",
            "-s",
            "Release 1.3.0",
            &format!("--expect={p1}"),
        ],
    )
    .trim()
    .to_string();
    assert_eq!(
        commit_of(&prod, &p2).parent.map(|c| c.to_string()),
        Some(p1.clone())
    );
    assert_eq!(
        commit_of(&prod, &p2).metadata.get_str("grove.promotion-of"),
        Some(s2)
    );
    assert!(grove(&prod, &["static-delta", "list"]).contains(&format!("{p1}-{p2}")));
    let status = grove(&prod, &["status", "--json"]);
    let st: serde_json::Value = serde_json::from_str(&status).expect("status json");
    assert_eq!(st["summary"]["state"], "fresh", "{status}");
    assert_eq!(st["refs"][0]["signature"], "signed", "{status}");
    assert_eq!(st["refs"][0]["version"], "1.3.0", "{status}");
    assert_eq!(st["refs"][0]["deltas"][0]["present"], true, "{status}");
    assert_eq!(st["hooks"], serde_json::json!(["pre-promote"]), "{status}");
    // A ref the summary does not list, or lists at another commit, makes it
    // stale; a remote ref does not.
    let state = || -> serde_json::Value {
        let st: serde_json::Value =
            serde_json::from_str(&grove(&prod, &["status", "--json"])).expect("status json");
        st["summary"].clone()
    };
    ostree(&prod, &["refs", "--create=extra", &p1]);
    let stale = state();
    assert_eq!(stale["state"], "stale", "{stale}");
    assert!(stale.to_string().contains("refs differ"), "{stale}");
    ostree(&prod, &["refs", "--delete", "extra"]);
    ostree(&prod, &["reset", PROD_REF, &p1]);
    assert_eq!(state()["state"], "stale");
    ostree(&prod, &["reset", PROD_REF, &p2]);
    ostree(&prod, &["refs", "--create=elsewhere:x", &p1]);
    assert_eq!(state()["state"], "fresh", "{}", state());
    ostree(&prod, &["refs", "--delete", "elsewhere:x"]);
    // A summary that does not parse is stale, and says why. The good one is
    // put back as it was, inode and mtime (a client's cached summary is
    // compared by time, to the second).
    let summary = prod.join("summary");
    let (kept, cut) = (prod.join("summary.kept"), prod.join("summary.cut"));
    std::fs::hard_link(&summary, &kept).unwrap();
    let good = std::fs::read(&summary).unwrap();
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    std::fs::rename(&cut, &summary).unwrap();
    let broken = state();
    assert_eq!(broken["state"], "stale", "{broken}");
    std::fs::rename(&kept, &summary).unwrap();
    assert_eq!(state()["state"], "fresh");
    // Sizes on disk only when asked for: they walk every commit's tree.
    assert!(st["refs"][0]["size"].is_null(), "{status}");
    let sized = grove(&prod, &["status", "--json", "--sizes"]);
    let st: serde_json::Value = serde_json::from_str(&sized).expect("status json");
    assert!(
        st["refs"][0]["size"].as_u64().is_some_and(|n| n > 0),
        "{sized}"
    );

    let before = server.requests();
    ostree(&client, &["pull", "origin", PROD_REF]);
    assert_eq!(
        ostree(&client, &["rev-parse", &format!("origin:{PROD_REF}")]).trim(),
        p2
    );
    assert_eq!(
        ostree(&client, &["cat", &p2, "/usr/bin/base"]),
        "#!/bin/sh\necho base build 3\n"
    );
    let log = server.requests();
    let second = &log[before.len()..];
    assert!(
        second.iter().any(|r| r.path.starts_with("deltas/")),
        "the second pull fetched no delta:\n{second:#?}"
    );
    ostree(&client, &["fsck"]);

    // --- A pre-promote hook vetoes: prod is unchanged.
    build(&build_repo, root, 4, "1.4");
    run_ok(
        grove_cmd(&dev)
            .arg("pull-local")
            .arg(&build_repo)
            .arg(BUILDMAIN),
    );
    grove(&dev, &["promote", BUILDMAIN, SMOKETESTED]);
    install_hook(
        &prod,
        "pre-promote",
        "#!/bin/sh\ncat >/dev/null\necho 'release freeze' >&2\nexit 7\n",
    );
    let summary_before = fs::read(prod.join("summary")).expect("summary");
    let deltas_before = grove(&prod, &["static-delta", "list"]);
    let e = run_fail(grove_cmd(&prod).args([
        "promote",
        &from,
        &format!("--to={PROD_REF}"),
        "--version=1.4.0",
    ]));
    assert!(e.contains("hook pre-promote exited with status 7"), "{e}");
    assert!(e.contains("release freeze"), "{e}");
    assert_eq!(tip(&prod, PROD_REF), p2, "a vetoed promotion moved the ref");
    assert_eq!(
        fs::read(prod.join("summary")).expect("summary"),
        summary_before,
        "a vetoed promotion changed the summary"
    );
    assert_eq!(grove(&prod, &["static-delta", "list"]), deltas_before);
    ostree(&client, &["pull", "origin", PROD_REF]);
    assert_eq!(
        ostree(&client, &["rev-parse", &format!("origin:{PROD_REF}")]).trim(),
        p2
    );

    // --- All or nothing: a summary that cannot be published leaves the ref unmoved.
    fs::remove_file(prod.join("hooks/pre-promote")).expect("remove hook");
    let sig_before = fs::read(prod.join("summary.sig")).expect("summary.sig");
    fs::remove_file(prod.join("summary.sig")).expect("remove summary.sig");
    fs::create_dir_all(prod.join("summary.sig/blocker")).expect("mkdir");
    let e = run_fail(grove_cmd(&prod).args([
        "promote",
        &from,
        &format!("--to={PROD_REF}"),
        "--version=1.4.0",
    ]));
    assert!(
        e.contains("publishing the summary failed") && e.contains("was not moved"),
        "{e}"
    );
    assert_eq!(
        tip(&prod, PROD_REF),
        p2,
        "a promotion whose summary failed left the ref moved"
    );
    assert_eq!(
        fs::read(prod.join("summary")).expect("summary"),
        summary_before
    );
    fs::remove_dir_all(prod.join("summary.sig")).expect("rmdir");
    fs::write(prod.join("summary.sig"), sig_before).expect("restore summary.sig");
    ostree(&client, &["pull", "origin", PROD_REF]);
    assert_eq!(
        ostree(&client, &["rev-parse", &format!("origin:{PROD_REF}")]).trim(),
        p2
    );
    let p3 = grove(
        &prod,
        &[
            "promote",
            &from,
            &format!("--to={PROD_REF}"),
            "--version=1.4.0",
        ],
    )
    .trim()
    .to_string();
    assert_eq!(tip(&prod, PROD_REF), p3);
    ostree(&client, &["pull", "origin", PROD_REF]);
    assert_eq!(
        ostree(&client, &["rev-parse", &format!("origin:{PROD_REF}")]).trim(),
        p3
    );
    ostree(&client, &["fsck"]);
}

/// Hook contracts of the porcelain: pre-/post-prune input lines (retention
/// policy), `--no-verify`, post-summary, post-promote's policy prune.
#[test]
fn prune_summary_and_promote_hooks() {
    let t = tempdir();
    let repo = t.path().join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    let tree = t.path().join("tree");
    fs::create_dir_all(&tree).expect("mkdir");
    let mut commits = Vec::new();
    for i in 0..3 {
        fs::write(tree.join("f"), format!("{i}\n")).expect("write");
        let ts = format!("--timestamp=2024-02-0{}T00:00:00Z", i + 1);
        commits.push(
            run_ok(
                grove_cmd(&repo)
                    .args([
                        "commit",
                        "-b",
                        "dev/main",
                        &ts,
                        "--add-metadata-string=version=1",
                    ])
                    .arg(&tree),
            )
            .trim()
            .to_string(),
        );
    }
    let log = "#!/bin/sh\n{ echo \"$0\"; cat; } >> hooks.log\n";
    for h in [
        "pre-prune",
        "post-prune",
        "post-summary",
        "pre-promote",
        "post-promote",
    ] {
        install_hook(&repo, h, log);
    }
    let mut cfg = fs::read_to_string(repo.join("config")).expect("config");
    cfg.push_str("\n[prune \"dev/**\"]\nkeep-last=2\n\n[prune \"rel/**\"]\nkeep-all=true\n");
    fs::write(repo.join("config"), cfg).expect("config");

    // A dry run runs no hook; a real one tells both hooks which ref is truncated.
    grove(&repo, &["prune", "--dry-run"]);
    assert!(!repo.join("hooks.log").exists());
    grove(&repo, &["prune"]);
    let head = &commits[2];
    let logged = fs::read_to_string(repo.join("hooks.log")).expect("hooks.log");
    assert!(
        logged.contains(&format!("hooks/pre-prune\n{head} {head} dev/main\n")),
        "{logged}"
    );
    assert!(
        logged.contains(&format!("hooks/post-prune\n{head} {head} dev/main\n")),
        "{logged}"
    );
    assert!(!Repo::open(&repo)
        .expect("open")
        .has_object(&grove::ObjectName::new(
            commits[0].parse().expect("hex"),
            grove::ObjectType::Commit
        )));

    // A failing pre-prune deletes nothing; --no-verify skips it.
    fs::write(tree.join("f"), "3\n").expect("write");
    run_ok(
        grove_cmd(&repo)
            .args([
                "commit",
                "-b",
                "dev/main",
                "--timestamp=2024-02-04T00:00:00Z",
                "--add-metadata-string=version=1",
            ])
            .arg(&tree),
    );
    install_hook(&repo, "pre-prune", "#!/bin/sh\ncat >/dev/null\nexit 4\n");
    let e = run_fail(grove_cmd(&repo).arg("prune"));
    assert!(e.contains("hook pre-prune exited with status 4"), "{e}");
    assert!(Repo::open(&repo)
        .expect("open")
        .has_object(&grove::ObjectName::new(
            commits[1].parse().expect("hex"),
            grove::ObjectType::Commit
        )));
    grove(&repo, &["prune", "--no-verify"]);
    assert!(!Repo::open(&repo)
        .expect("open")
        .has_object(&grove::ObjectName::new(
            commits[1].parse().expect("hex"),
            grove::ObjectType::Commit
        )));

    // post-summary runs after `grove summary --publish`.
    fs::remove_file(repo.join("hooks.log")).expect("rm");
    grove(&repo, &["summary", "--publish"]);
    let logged = fs::read_to_string(repo.join("hooks.log")).expect("hooks.log");
    assert!(
        logged.ends_with("hooks/post-summary\n") && logged.lines().count() == 1,
        "{logged}"
    );

    // pre-promote sees OLD NEW REF; a veto leaves the ref alone; --no-verify skips it.
    install_hook(
        &repo,
        "pre-promote",
        "#!/bin/sh\ncat > promote.in\nexit 1\n",
    );
    let e = run_fail(grove_cmd(&repo).args(["promote", "dev/main", "rel/main"]));
    assert!(e.contains("hook pre-promote exited with status 1"), "{e}");
    let line = fs::read_to_string(repo.join("promote.in")).expect("promote.in");
    assert!(
        line.starts_with(&format!("{} ", "0".repeat(64))) && line.ends_with(" rel/main\n"),
        "{line}"
    );
    assert!(!repo.join("refs/heads/rel/main").exists());
    let p = grove(&repo, &["promote", "--no-verify", "dev/main", "rel/main"])
        .trim()
        .to_string();
    assert_eq!(tip(&repo, "rel/main"), p);
    let logged = fs::read_to_string(repo.join("hooks.log")).expect("hooks.log");
    assert!(
        logged.contains(&format!(
            "hooks/post-promote\n{} {p} rel/main\n",
            "0".repeat(64)
        )),
        "{logged}"
    );

    // The post-promote sample prunes by policy when the config has rules.
    install_sample(&repo, "post-promote");
    install_hook(&repo, "pre-prune", "#!/bin/sh\ncat >/dev/null\n");
    fs::write(tree.join("f"), "5\n").expect("write");
    run_ok(
        grove_cmd(&repo)
            .args([
                "commit",
                "-b",
                "dev/main",
                "--add-metadata-string=version=2",
            ])
            .arg(&tree),
    );
    fs::write(tree.join("f"), "6\n").expect("write");
    let newest = run_ok(
        grove_cmd(&repo)
            .args([
                "commit",
                "-b",
                "dev/main",
                "--add-metadata-string=version=3",
            ])
            .arg(&tree),
    )
    .trim()
    .to_string();
    install_hook(&repo, "pre-promote", "#!/bin/sh\ncat >/dev/null\n");
    grove(&repo, &["promote", "dev/main", "rel/main"]);
    let r = Repo::open(&repo).expect("open");
    let mut n = 0;
    let mut cur = Some(newest.parse::<Checksum>().expect("hex"));
    while let Some(c) = cur {
        match r.load_commit(c) {
            Ok(k) => {
                n += 1;
                cur = k.parent;
            }
            Err(_) => break,
        }
    }
    assert_eq!(n, 2, "post-promote did not prune dev/main to keep-last=2");
}

/// A release the user asks for is made even when the tree is already
/// released: a different `--version` (or subject) on the same tree is a new
/// commit, as `ostree commit --tree=ref=` would make; only a promotion with
/// nothing new to record is a no-op. Promote's timestamp honours
/// `SOURCE_DATE_EPOCH` as `commit` does, and `--timestamp` wins over it.
#[test]
fn promote_records_a_new_version_of_the_same_tree_and_honours_source_date_epoch() {
    let t = tempdir();
    let (dev, prod) = (t.path().join("dev"), t.path().join("prod"));
    init_repo(&dev, "archive");
    init_repo(&prod, "archive");
    let tree = small_tree(t.path(), "tree", "release\n");
    let c = run_ok(
        grove_cmd(&dev)
            .args([
                "commit",
                "-b",
                "app",
                "-s",
                "build",
                "--timestamp=2024-03-01",
            ])
            .arg(format!("--tree=dir={}", tree.display())),
    )
    .trim()
    .to_string();
    let from = format!("--from={}:app", dev.display());
    let promote = |extra: &[&str], epoch: Option<&str>| {
        let mut cmd = grove_cmd(&prod);
        cmd.args(["promote", &from, "--to=stable"]).args(extra);
        cmd.env_remove("SOURCE_DATE_EPOCH");
        if let Some(e) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", e);
        }
        output(&mut cmd)
    };
    let stdout = |o: &std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };

    let p1 = stdout(&promote(&["--version=1.0"], Some("1700000000")));
    let c1 = commit_of(&prod, &p1);
    assert_eq!(
        c1.timestamp, 1_700_000_000,
        "SOURCE_DATE_EPOCH not honoured"
    );
    assert!(ostree(&prod, &["log", "stable"]).contains("Date:  2023-11-14 22:13:20 +0000"));

    // The same tree as version 1.1: a new commit on top of 1.0.
    let o = promote(
        &["--version=1.1", "--timestamp=2024-04-01T00:00:00Z"],
        Some("1700000000"),
    );
    let p2 = stdout(&o);
    assert_ne!(p2, p1, "--version=1.1 of a released tree made no release");
    let c2 = commit_of(&prod, &p2);
    assert_eq!(c2.metadata.get_str("version").as_deref(), Some("1.1"));
    assert_eq!(c2.parent.map(|p| p.to_string()), Some(p1.clone()));
    assert_eq!(
        (c2.root_contents, c2.root_meta),
        (c1.root_contents, c1.root_meta)
    );
    assert_eq!(c2.metadata.get_str("grove.promotion-of"), Some(c.clone()));
    assert_eq!(
        c2.timestamp, 1_711_929_600,
        "--timestamp must win over SOURCE_DATE_EPOCH"
    );
    assert_eq!(tip(&prod, "stable"), p2);
    assert!(ostree(&prod, &["show", "stable"]).contains("Version: 1.1"));

    // Nothing new to record: a no-op that says so, the ref unmoved.
    let o = promote(&["--version=1.1"], None);
    assert_eq!(stdout(&o), p2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing to promote"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(tip(&prod, "stable"), p2);

    // A new subject is something new to record.
    let p3 = stdout(&promote(&["--version=1.1", "-s", "Re-release"], None));
    assert_ne!(p3, p2);
    assert_eq!(commit_of(&prod, &p3).subject, "Re-release");
    ostree(&prod, &["fsck"]);
}
