//! The seed's build-server pipeline end to end, checked by a real OSTree client:
//! components committed to a bare-user build repo, unioned with hardlink
//! checkouts, post-processed under rofiles-fuse (`ldconfig -r`), recommitted
//! with --link-checkout-speedup, exported with pull-local to an archive repo,
//! then `ostree pull` over HTTP on loopback must give a tree equal to the union.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn listing(dir: &Path) -> String {
    run_ok(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && find . -printf '%P %m %s %y %l\\n' | sort",
        dir.display()
    )))
}

/// A component tarball: `files` as (path, mode, content).
fn component(dir: &Path, name: &str, files: &[(&str, u32, &[u8])]) -> PathBuf {
    let root = dir.join(format!("{name}-root"));
    for (p, mode, content) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        run_ok(Command::new("chmod").arg(format!("{mode:o}")).arg(&path));
    }
    let tarball = dir.join(format!("{name}-bin.tar.gz"));
    run_ok(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "-czf"])
            .arg(&tarball)
            .arg("-C")
            .arg(&root)
            .arg("."),
    );
    tarball
}

#[test]
fn seed_pipeline_reaches_a_real_client() {
    let t = tempdir();
    let d = t.path();
    let libc = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6").expect("a libc to run ldconfig on");
    let bash = component(
        d,
        "bash",
        &[
            ("usr/bin/bash", 0o755, b"#!/bin/sh\necho bash\n"),
            ("etc/profile", 0o644, b"PATH=/usr/bin\n"),
        ],
    );
    let glibc = component(
        d,
        "glibc",
        &[
            ("usr/lib/x86_64-linux-gnu/libc.so.6", 0o755, &libc),
            ("etc/ld.so.conf", 0o644, b"/usr/lib/x86_64-linux-gnu\n"),
        ],
    );
    let build = d.join("build-repo");
    grove(&build, &["init", "--mode=bare-user"]);
    for (name, tarball) in [("bash", &bash), ("glibc", &glibc)] {
        run_ok(
            grove_cmd(&build)
                .args(["commit", "-b", &format!("exampleos/x86_64/{name}")])
                .arg(format!("--tree=tar={}", tarball.display())),
        );
    }
    let union = d.join("exampleos-build");
    for name in ["bash", "glibc"] {
        run_ok(
            grove_cmd(&build)
                .args([
                    "checkout",
                    "-U",
                    "--union",
                    &format!("exampleos/x86_64/{name}"),
                ])
                .arg(&union),
        );
    }
    let mnt = d.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    run_ok(
        Command::new(grove_bin())
            .arg("rofiles-fuse")
            .arg(&union)
            .arg(&mnt),
    );
    let guard = Unmount(mnt.clone());
    run_ok(Command::new("ldconfig").arg("-r").arg(&mnt));
    drop(guard);
    assert!(
        union.join("etc/ld.so.cache").is_file(),
        "ldconfig wrote no cache through the mount"
    );
    ostree(&build, &["fsck"]);

    let std_commit = run_ok(
        grove_cmd(&build)
            .args([
                "commit",
                "-b",
                "exampleos/x86_64/standard",
                "--link-checkout-speedup",
                "-s",
                "build",
            ])
            .arg(&union),
    )
    .trim()
    .to_string();
    let repo = d.join("repo");
    grove(&repo, &["init", "--mode=archive-z2"]);
    run_ok(
        grove_cmd(&repo)
            .arg("pull-local")
            .arg(&build)
            .arg("exampleos/x86_64/standard"),
    );
    grove(&repo, &["summary", "-u"]);
    ostree(&repo, &["fsck"]);

    let server = HttpServer::serve(&repo);
    let client = d.join("client");
    ostree(&client, &["init", "--mode=archive"]);
    ostree(
        &client,
        &[
            "remote",
            "add",
            "--no-gpg-verify",
            "origin",
            &format!("{}/", server.url),
        ],
    );
    ostree(&client, &["pull", "origin", "exampleos/x86_64/standard"]);
    assert_eq!(
        ostree(&client, &["rev-parse", "origin:exampleos/x86_64/standard"]).trim(),
        std_commit
    );
    let co = d.join("client-co");
    run_ok(
        ostree_cmd(&client)
            .args(["checkout", "-U", "origin:exampleos/x86_64/standard"])
            .arg(&co),
    );
    assert_eq!(listing(&co), listing(&union));
    let diff = output(
        Command::new("diff")
            .args(["-r", "--no-dereference"])
            .arg(&co)
            .arg(&union),
    );
    assert!(
        diff.status.success(),
        "{}",
        String::from_utf8_lossy(&diff.stdout)
    );
}
