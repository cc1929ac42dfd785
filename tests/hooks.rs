//! Hooks around commit and pull-local: contract, abort on pre-* failure, --no-verify.

mod common;

use std::process::Command;

use common::*;

#[test]
fn init_installs_samples_and_pre_commit_sample_enforces_version() {
    let t = tempdir();
    let repo = t.path().join("repo");
    let tree = t.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("f"), "x").unwrap();
    grove(&repo, &["init", "--mode=archive"]);
    for s in [
        "pre-commit",
        "post-commit",
        "pre-pull-local",
        "post-pull-local",
    ] {
        assert!(
            repo.join("hooks").join(format!("{s}.sample")).is_file(),
            "{s}.sample missing"
        );
    }
    std::fs::copy(
        repo.join("hooks/pre-commit.sample"),
        repo.join("hooks/pre-commit"),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(repo.join("hooks/pre-commit"))
        .status()
        .unwrap();

    let err = run_fail(grove_cmd(&repo).args(["commit", "-b", "main"]).arg(&tree));
    assert!(
        err.contains("hook pre-commit exited with status 1"),
        "{err}"
    );
    assert!(
        !repo.join("refs/heads/main").exists(),
        "ref moved despite the failing hook"
    );

    let c = run_ok(
        grove_cmd(&repo)
            .args(["commit", "-b", "main", "--add-metadata-string=version=1.0"])
            .arg(&tree),
    );
    assert_eq!(grove(&repo, &["rev-parse", "main"]), c);
    run_ok(
        grove_cmd(&repo)
            .args(["commit", "-b", "main", "--no-verify", "-s", "unversioned"])
            .arg(&tree),
    );
}

#[test]
fn hooks_get_old_new_ref_and_environment() {
    let t = tempdir();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let tree = t.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("f"), "x").unwrap();
    grove(&src, &["init", "--mode=bare-user"]);
    grove(&dst, &["init", "--mode=archive"]);
    let log = "cat >> hook.log; echo \"$0 $GROVE_REPO $OSTREE_REPO $PWD\" >> hook.log\n";
    install_hook(&src, "post-commit", &format!("#!/bin/sh\n{log}"));
    let c1 = run_ok(grove_cmd(&src).args(["commit", "-b", "main"]).arg(&tree))
        .trim()
        .to_string();
    let logged = std::fs::read_to_string(src.join("hook.log")).unwrap();
    let srcabs = std::fs::canonicalize(&src).unwrap();
    assert!(
        logged.starts_with(&format!("{} {c1} main\n", "0".repeat(64))),
        "{logged}"
    );
    assert!(
        logged.contains(&format!("post-commit {0} {0} {0}", srcabs.display())),
        "{logged}"
    );

    // A failing pre-pull-local aborts: nothing moves in the destination.
    install_hook(
        &dst,
        "pre-pull-local",
        "#!/bin/sh\ncat > /dev/null\nexit 3\n",
    );
    let err = run_fail(grove_cmd(&dst).arg("pull-local").arg(&src).arg("main"));
    assert!(
        err.contains("hook pre-pull-local exited with status 3"),
        "{err}"
    );
    assert!(!dst.join("refs/heads/main").exists());
    // --no-verify skips it; post-pull-local sees the move and may call grove on the repo.
    install_hook(
        &dst,
        "post-pull-local",
        &format!("#!/bin/sh\n{log}grove --repo=\"$GROVE_REPO\" fsck -q >> hook.log\n"),
    );
    run_ok(
        grove_cmd(&dst)
            .args(["pull-local", "--no-verify"])
            .arg(&src)
            .arg("main"),
    );
    let logged = std::fs::read_to_string(dst.join("hook.log")).unwrap();
    assert!(
        logged.starts_with(&format!("{} {c1} main\n", "0".repeat(64))),
        "{logged}"
    );
    assert!(logged.contains("no errors found"), "{logged}");
}
