//! `summary -u` in a repository with a collection ID writes a commit on
//! `ostree-metadata` first, as `ostree summary -u` does: an empty tree, the
//! `-m` metadata plus the ref and collection bindings (in the order
//! `GVariantDict` gives them), the previous metadata commit as parent,
//! signed with the summary's keys. Compared with ostree's own.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use grove::objects::Commit;

fn metadata_commit(repo: &Path, rev: &str) -> (String, Commit) {
    let c = ostree(repo, &["rev-parse", rev]).trim().to_string();
    let bytes = fs::read(
        repo.join("objects")
            .join(&c[..2])
            .join(format!("{}.commit", &c[2..])),
    )
    .expect("commit object");
    (c, Commit::from_bytes(&bytes).expect("commit"))
}

#[test]
fn summary_update_writes_the_metadata_commit_like_ostree() {
    let tmp = tempdir();
    let root = tmp.path();
    let key = Gpg::generate(&root.join("gpg"), "Meta <meta@example.org>", "", &[]);
    let trusted = root.join("trusted");
    mkdir(&trusted, 0o700);
    fs::write(trusted.join("pubring.gpg"), key.public_bytes()).expect("write key");

    let t = root.join("tree");
    mkdir(&t, 0o755);
    write(&t.join("a"), b"a\n", 0o644);
    let mut commits = Vec::new();
    for tool in ["ostree", "grove"] {
        let repo = root.join(tool);
        ostree(
            &repo,
            &[
                "init",
                "--mode=archive",
                "--collection-id=org.example.Collection1",
            ],
        );
        ostree(
            &repo,
            &[
                "commit",
                "-b",
                "main",
                "-s",
                "x",
                &format!("--tree=dir={}", t.display()),
            ],
        );
        let run = |args: &[&str]| {
            if tool == "ostree" {
                ostree(&repo, args)
            } else {
                grove(&repo, args)
            }
        };
        run(&[
            "summary",
            "-u",
            "-m",
            "key='value'",
            "--add-metadata=map=@a{sv} {}",
            "-m",
            "some-int=@t 123",
        ]);
        run(&[
            "summary",
            "-u",
            "-m",
            "key2=true",
            &key.homedir_arg(),
            &format!("--gpg-sign={}", key.fpr),
        ]);
        let refs = ostree(&repo, &["refs", "--collections"]);
        assert!(
            refs.lines()
                .any(|l| l == "(org.example.Collection1, ostree-metadata)"),
            "{tool}: {refs}"
        );
        let (first, c1) = metadata_commit(&repo, "ostree-metadata^");
        let (second, c2) = metadata_commit(&repo, "ostree-metadata");
        assert_eq!(c1.parent, None, "{tool}");
        assert_eq!(c2.parent.map(|p| p.to_string()), Some(first), "{tool}");
        // ostree verifies the signature grove made on the metadata commit.
        let shown = ostree(
            &repo,
            &[
                "show",
                &format!("--gpg-homedir={}", trusted.display()),
                &second,
            ],
        );
        assert!(
            shown.contains("Good signature from \"Meta <meta@example.org>\""),
            "{tool}: {shown}"
        );
        // The summary lists the metadata ref too.
        let view = ostree(&repo, &["summary", "--view"]);
        assert!(
            view.contains("(org.example.Collection1, ostree-metadata)"),
            "{tool}: {view}"
        );
        let ls = ostree(&repo, &["ls", "ostree-metadata"]);
        assert_eq!(ls.lines().count(), 1, "{tool}: {ls}");
        commits.push((c1, c2));
    }
    let ((o1, o2), (g1, g2)) = (&commits[0], &commits[1]);
    for (o, g) in [(o1, g1), (o2, g2)] {
        assert_eq!(
            g.metadata.to_bytes(),
            o.metadata.to_bytes(),
            "metadata differs from ostree's"
        );
        assert_eq!(
            (g.root_contents, g.root_meta),
            (o.root_contents, o.root_meta),
            "empty tree differs"
        );
        assert_eq!((&g.subject, &g.body), (&o.subject, &o.body));
    }
}
