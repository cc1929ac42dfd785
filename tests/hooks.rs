//! Hooks around commit and pull-local: contract, abort on pre-* failure, --no-verify.

use std::path::Path;
use std::process::{Command, Output};

const GROVE: &str = env!("CARGO_BIN_EXE_grove");

fn grove(repo: &Path) -> Command {
    let mut c = Command::new(GROVE);
    c.arg(format!("--repo={}", repo.display()));
    // Sample hooks call `grove` by name.
    let dir = Path::new(GROVE).parent().expect("binary dir");
    c.env("PATH", format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default()));
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run grove")
}

fn ok(c: &mut Command) -> String {
    let o = run(c);
    assert!(o.status.success(), "{c:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn install(repo: &Path, name: &str, body: &str) {
    let p = repo.join("hooks").join(name);
    std::fs::write(&p, body).unwrap();
    Command::new("chmod").arg("+x").arg(&p).status().unwrap();
}

#[test]
fn init_installs_samples_and_pre_commit_sample_enforces_version() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let tree = t.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("f"), "x").unwrap();
    ok(grove(&repo).args(["init", "--mode=archive"]));
    for s in ["pre-commit", "post-commit", "pre-pull-local", "post-pull-local"] {
        assert!(repo.join("hooks").join(format!("{s}.sample")).is_file(), "{s}.sample missing");
    }
    std::fs::copy(repo.join("hooks/pre-commit.sample"), repo.join("hooks/pre-commit")).unwrap();
    Command::new("chmod").arg("+x").arg(repo.join("hooks/pre-commit")).status().unwrap();

    let o = run(grove(&repo).args(["commit", "-b", "main"]).arg(&tree));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("hook pre-commit exited with status 1"), "{err}");
    assert!(!repo.join("refs/heads/main").exists(), "ref moved despite the failing hook");

    let c = ok(grove(&repo).args(["commit", "-b", "main", "--add-metadata-string=version=1.0"]).arg(&tree));
    assert_eq!(ok(grove(&repo).args(["rev-parse", "main"])), c);
    ok(grove(&repo).args(["commit", "-b", "main", "--no-verify", "-s", "unversioned"]).arg(&tree));
}

#[test]
fn hooks_get_old_new_ref_and_environment() {
    let t = tempfile::tempdir().unwrap();
    let (src, dst) = (t.path().join("src"), t.path().join("dst"));
    let tree = t.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("f"), "x").unwrap();
    ok(grove(&src).args(["init", "--mode=bare-user"]));
    ok(grove(&dst).args(["init", "--mode=archive"]));
    let log = "cat >> hook.log; echo \"$0 $GROVE_REPO $OSTREE_REPO $PWD\" >> hook.log\n";
    install(&src, "post-commit", &format!("#!/bin/sh\n{log}"));
    let c1 = ok(grove(&src).args(["commit", "-b", "main"]).arg(&tree)).trim().to_string();
    let logged = std::fs::read_to_string(src.join("hook.log")).unwrap();
    let srcabs = std::fs::canonicalize(&src).unwrap();
    assert!(logged.starts_with(&format!("{} {c1} main\n", "0".repeat(64))), "{logged}");
    assert!(logged.contains(&format!("post-commit {0} {0} {0}", srcabs.display())), "{logged}");

    // A failing pre-pull-local aborts: nothing moves in the destination.
    install(&dst, "pre-pull-local", "#!/bin/sh\ncat > /dev/null\nexit 3\n");
    let o = run(grove(&dst).arg("pull-local").arg(&src).arg("main"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("hook pre-pull-local exited with status 3"));
    assert!(!dst.join("refs/heads/main").exists());
    // --no-verify skips it; post-pull-local sees the move and may call grove on the repo.
    install(&dst, "post-pull-local", &format!("#!/bin/sh\n{log}grove --repo=\"$GROVE_REPO\" fsck -q >> hook.log\n"));
    ok(grove(&dst).args(["pull-local", "--no-verify"]).arg(&src).arg("main"));
    let logged = std::fs::read_to_string(dst.join("hook.log")).unwrap();
    assert!(logged.starts_with(&format!("{} {c1} main\n", "0".repeat(64))), "{logged}");
    assert!(logged.contains("no errors found"), "{logged}");
}
