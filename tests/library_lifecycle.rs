//! The seed's dev → prod promotion played through grove's public library API
//! alone, as a build server linking the crate would: commits into a dev
//! repository, a promotion of each build by checksum into prod with a
//! version (pulled, signed, a delta from the previous release, a signed
//! summary). No `grove` process runs; the real
//! `ostree` client then pulls prod over HTTP with GPG verification of the
//! summary and the commits, through the static delta, and checks out what
//! was built.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use grove::lifecycle::commit::{self, CommitRequest, TreeSource};
use grove::lifecycle::config::ReleaseConfig;
use grove::lifecycle::promote::{self, PromoteOptions, PromoteSource};
use grove::repo::refs::Refspec;
use grove::trust::gpg::{Keyring, SigningKey};
use grove::{Checksum, Repo, RepoMode};

const BUILD: &str = "exampleos/x86_64/buildmain";
const PROD: &str = "exampleos/x86_64/prod";

/// A build tree: a few files, a subdirectory and a symlink; `n` changes one file.
fn build_tree(root: &Path, n: u32) -> PathBuf {
    let t = root.join(format!("build-{n}"));
    write(
        &t.join("usr/bin/app"),
        format!("#!/bin/sh\necho build {n}\n").as_bytes(),
        0o755,
    );
    write(
        &t.join("usr/share/app/data"),
        &prng_bytes(7, 200_000),
        0o644,
    );
    write(&t.join("etc/app.conf"), b"answer = 42\n", 0o644);
    ln_s("../bin/app", &t.join("usr/share/app-link"));
    t
}

/// Commits `tree` on BUILD in `dev` through the library's plan/execute.
fn commit_build(dev: &Repo, tree: &Path, n: u32) -> Checksum {
    let req = CommitRequest {
        branch: Some(BUILD.parse::<Refspec>().unwrap()),
        subject: format!("build {n}"),
        trees: vec![TreeSource::Dir(tree.to_path_buf())],
        timestamp: 1_700_000_000 + i64::from(n),
        ..Default::default()
    };
    match commit::plan(dev, req, &mut []).expect("commit plan") {
        commit::Planned::Commit(plan) => commit::execute(dev, plan).expect("commit").commit,
        commit::Planned::Unchanged(c) => panic!("build {n} unchanged at {c}"),
    }
}

/// Promotes `build` from `dev` into `prod` as `version`, signed with `key`.
fn promote_build(
    prod_path: &Path,
    dev_path: &Path,
    build: Checksum,
    version: &str,
    n: u32,
    key: &mut SigningKey,
) -> promote::PromoteOutcome {
    let prod = Repo::open(prod_path).unwrap();
    let config = ReleaseConfig::read(&prod).unwrap();
    let mut opts = PromoteOptions::new(
        PromoteSource::Repo {
            path: dev_path.to_path_buf(),
            rev: build.to_string(),
        },
        PROD.parse::<Refspec>().unwrap(),
        1_700_100_000 + u64::from(n),
        &config,
    );
    opts.version = Some(version.to_string());
    let keys = std::slice::from_mut(key);
    match promote::plan(&prod, &opts, keys).expect("promote plan") {
        promote::Planned::Promote(plan) => promote::execute(&prod, plan, keys).expect("promote"),
        promote::Planned::UpToDate(o) => panic!("nothing promoted: {o:?}"),
    }
}

#[test]
fn dev_to_prod_through_the_library_then_a_real_client_pulls() {
    let dir = tempdir();
    let root = dir.path();
    let dev_path = root.join("dev");
    let served = root.join("www");
    let prod_path = served.join("prod");
    fs::create_dir_all(&served).unwrap();
    let dev = Repo::init(&dev_path, RepoMode::Archive, None).unwrap();
    Repo::init(&prod_path, RepoMode::Archive, None).unwrap();

    let gpg = Gpg::new(root, "release", "");
    let (secret, public) = (root.join("secret.asc"), root.join("public.asc"));
    gpg.export_secret(&secret);
    gpg.export_public(&public);
    let keyring = Keyring::from_bytes(&fs::read(&secret).unwrap(), "secret.asc").unwrap();
    let mut key = SigningKey::from_keyring(&keyring, None, None, "secret.asc").unwrap();

    // Release 1.0.
    let tree1 = build_tree(root, 1);
    let b1 = commit_build(&dev, &tree1, 1);
    let r1 = promote_build(&prod_path, &dev_path, b1, "1.0", 1, &mut key);
    assert!(r1.promoted && r1.old.is_none());
    assert_eq!(r1.source, b1);
    assert_eq!(r1.signed_with.len(), 1, "{r1:?}");
    assert!(
        r1.summary_signatures.unwrap_or(0) >= 1,
        "summary not signed: {r1:?}"
    );

    // A real client takes release 1.0, verifying signatures.
    let server = HttpServer::serve(&served);
    let client = root.join("client");
    init_repo(&client, "bare-user");
    let url = format!("{}/prod", server.url);
    let import = format!("--gpg-import={}", public.display());
    ostree(
        &client,
        &[
            "remote",
            "add",
            "--set=gpg-verify-summary=true",
            &import,
            "prod",
            &url,
        ],
    );
    ostree(&client, &["pull", "prod", PROD]);
    assert_eq!(
        ostree(&client, &["rev-parse", &format!("prod:{PROD}")]).trim(),
        r1.commit.to_string()
    );

    // Release 1.1: a delta from 1.0 comes with it.
    let tree2 = build_tree(root, 2);
    let b2 = commit_build(&dev, &tree2, 2);
    assert_ne!(b1, b2);
    let r2 = promote_build(&prod_path, &dev_path, b2, "1.1", 2, &mut key);
    assert_eq!(r2.old, Some(r1.commit));
    assert!(
        r2.deltas.iter().any(|d| d.relative_dir().contains('-')),
        "no FROM-TO delta to 1.1: {:?}",
        r2.deltas
    );
    let prod = Repo::open(&prod_path).unwrap();
    let c2 = prod.load_commit(r2.commit).unwrap();
    assert_eq!(c2.parent, Some(r1.commit));
    assert_eq!(c2.metadata.get_str("version").as_deref(), Some("1.1"));

    // The client updates through the delta with GPG verification.
    let before = server.requests().len();
    ostree(&client, &["pull", "prod", PROD]);
    let fetched: Vec<String> = server.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(
        fetched
            .iter()
            .any(|p| p.starts_with("prod/deltas/") && p.ends_with("/superblock")),
        "the update did not use the delta: {fetched:?}"
    );
    let co = root.join("co");
    checkout(&client, "bare-user", &r2.commit.to_string(), &co);
    assert_same_content(&tree2, &co);
    fsck(&client);
    fsck(&prod_path);
}
