//! `pull --mirror` of every ref copies the remote's `summary` and
//! `summary.sig` byte for byte, as `ostree pull --mirror` does, so the
//! mirror serves a summary its clients verify with the upstream's key.

mod common;

use std::fs;

use common::*;

#[test]
fn a_mirror_copies_the_signed_summary_and_clients_verify_it() {
    let tmp = tempdir();
    let root = tmp.path();
    let key = Gpg::generate(&root.join("gpg"), "Mirror Test <m@example.org>", "", &[]);
    let public = root.join("public.gpg");
    fs::write(&public, key.public_bytes()).expect("write key");
    let sign = [key.homedir_arg(), format!("--gpg-sign={}", key.fpr)];

    let upstream = root.join("upstream");
    init_repo(&upstream, "archive");
    for b in ["main", "other"] {
        let t = root.join(format!("tree-{b}"));
        mkdir(&t, 0o755);
        write(&t.join("file"), b.as_bytes(), 0o644);
        ostree(
            &upstream,
            &[
                "commit",
                "-b",
                b,
                "-s",
                b,
                &format!("--tree=dir={}", t.display()),
                &sign[0],
                &sign[1],
            ],
        );
    }
    ostree(&upstream, &["summary", "-u", &sign[0], &sign[1]]);

    // The mirror verifies the summary and commits, then copies both files.
    let mirror = root.join("mirror");
    grove(&mirror, &["init", "--mode=archive"]);
    let url = format!("file://{}", upstream.display());
    grove(
        &mirror,
        &[
            "remote",
            "add",
            "--set=gpg-verify-summary=true",
            &format!("--gpg-import={}", public.display()),
            "origin",
            &url,
        ],
    );
    grove(&mirror, &["pull", "--mirror", "origin"]);
    for f in ["summary", "summary.sig"] {
        assert_eq!(
            fs::read(mirror.join(f)).expect(f),
            fs::read(upstream.join(f)).expect(f),
            "{f} differs from the upstream's"
        );
    }
    // A real ostree client of the mirror checks the copied signature.
    let client = root.join("client");
    init_repo(&client, "archive");
    ostree(
        &client,
        &[
            "remote",
            "add",
            "--set=gpg-verify-summary=true",
            &format!("--gpg-import={}", public.display()),
            "m",
            &format!("file://{}", mirror.display()),
        ],
    );
    ostree(&client, &["pull", "m", "other"]);

    // Naming a ref mirrors that ref only: the summary is not copied.
    let partial = root.join("partial");
    grove(&partial, &["init", "--mode=archive"]);
    grove(
        &partial,
        &[
            "remote",
            "add",
            &format!("--gpg-import={}", public.display()),
            "origin",
            &url,
        ],
    );
    grove(&partial, &["pull", "--mirror", "origin", "main"]);
    assert!(!partial.join("summary").exists());

    // Without summary verification a broken summary.sig is copied as it is (as ostree).
    fs::write(upstream.join("summary.sig"), b"x").expect("truncate");
    let plain = root.join("plain");
    grove(&plain, &["init", "--mode=archive"]);
    grove(
        &plain,
        &[
            "remote",
            "add",
            &format!("--gpg-import={}", public.display()),
            "origin",
            &url,
        ],
    );
    // `--repo` given twice: the last wins, as with ostree.
    run_ok(
        grove_cmd(&root.join("nonexistent"))
            .arg(format!("--repo={}", plain.display()))
            .args(["pull", "--mirror", "origin"]),
    );
    assert_eq!(
        fs::read(plain.join("summary.sig")).expect("summary.sig"),
        b"x"
    );
}
