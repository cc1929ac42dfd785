//! The seed's build-server pipeline end to end, checked by a real OSTree client:
//! components committed to a bare-user build repo, unioned with hardlink
//! checkouts, post-processed under rofiles-fuse (`ldconfig -r`), recommitted
//! with --link-checkout-speedup, exported with pull-local to an archive repo,
//! then `ostree pull` over HTTP on loopback must give a tree equal to the union.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const GROVE: &str = env!("CARGO_BIN_EXE_grove");

fn run(c: &mut Command) -> Output {
    c.output().unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"))
}

fn ok(c: &mut Command) -> String {
    let o = run(c);
    assert!(o.status.success(), "{c:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn grove(repo: &Path) -> Command {
    let mut c = Command::new(GROVE);
    c.arg(format!("--repo={}", repo.display()));
    c
}

fn ostree(repo: &Path) -> Command {
    let mut c = Command::new("ostree");
    c.arg(format!("--repo={}", repo.display()));
    c
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn serve(dir: &Path) -> (Server, u16) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 is needed for the HTTP server");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "HTTP server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Server(child), port)
}

fn listing(dir: &Path) -> String {
    ok(Command::new("sh").arg("-c").arg(format!("cd '{}' && find . -printf '%P %m %s %y %l\\n' | sort", dir.display())))
}

/// A component tarball: `files` as (path, mode, content).
fn component(dir: &Path, name: &str, files: &[(&str, u32, &[u8])]) -> PathBuf {
    let root = dir.join(format!("{name}-root"));
    for (p, mode, content) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        ok(Command::new("chmod").arg(format!("{mode:o}")).arg(&path));
    }
    let tarball = dir.join(format!("{name}-bin.tar.gz"));
    ok(Command::new("tar").args(["--owner=0", "--group=0", "--numeric-owner", "-czf"]).arg(&tarball).arg("-C").arg(&root).arg("."));
    tarball
}

#[test]
fn seed_pipeline_reaches_a_real_client() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let libc = std::fs::read("/lib/x86_64-linux-gnu/libc.so.6").expect("a libc to run ldconfig on");
    let bash = component(d, "bash", &[("usr/bin/bash", 0o755, b"#!/bin/sh\necho bash\n"), ("etc/profile", 0o644, b"PATH=/usr/bin\n")]);
    let glibc = component(d, "glibc", &[("usr/lib/x86_64-linux-gnu/libc.so.6", 0o755, &libc), ("etc/ld.so.conf", 0o644, b"/usr/lib/x86_64-linux-gnu\n")]);
    let build = d.join("build-repo");
    ok(grove(&build).args(["init", "--mode=bare-user"]));
    for (name, tarball) in [("bash", &bash), ("glibc", &glibc)] {
        ok(grove(&build).args(["commit", "-b", &format!("exampleos/x86_64/{name}")]).arg(format!("--tree=tar={}", tarball.display())));
    }
    let union = d.join("exampleos-build");
    for name in ["bash", "glibc"] {
        ok(grove(&build).args(["checkout", "-U", "--union", &format!("exampleos/x86_64/{name}")]).arg(&union));
    }
    let mnt = d.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    ok(Command::new(GROVE).arg("rofiles-fuse").arg(&union).arg(&mnt));
    let guard = Unmount(mnt.clone());
    ok(Command::new("ldconfig").arg("-r").arg(&mnt));
    drop(guard);
    assert!(union.join("etc/ld.so.cache").is_file(), "ldconfig wrote no cache through the mount");
    ok(ostree(&build).arg("fsck"));

    let std_commit = ok(grove(&build).args(["commit", "-b", "exampleos/x86_64/standard", "--link-checkout-speedup", "-s", "build"]).arg(&union)).trim().to_string();
    let repo = d.join("repo");
    ok(grove(&repo).args(["init", "--mode=archive-z2"]));
    ok(grove(&repo).arg("pull-local").arg(&build).arg("exampleos/x86_64/standard"));
    ok(grove(&repo).args(["summary", "-u"]));
    ok(ostree(&repo).arg("fsck"));

    let (_server, port) = serve(&repo);
    let client = d.join("client");
    ok(ostree(&client).args(["init", "--mode=archive"]));
    ok(ostree(&client).args(["remote", "add", "--no-gpg-verify", "origin", &format!("http://127.0.0.1:{port}/")]));
    ok(ostree(&client).args(["pull", "origin", "exampleos/x86_64/standard"]));
    assert_eq!(ok(ostree(&client).args(["rev-parse", "origin:exampleos/x86_64/standard"])).trim(), std_commit);
    let co = d.join("client-co");
    ok(ostree(&client).args(["checkout", "-U", "origin:exampleos/x86_64/standard"]).arg(&co));
    assert_eq!(listing(&co), listing(&union));
    let diff = run(Command::new("diff").args(["-r", "--no-dereference"]).arg(&co).arg(&union));
    assert!(diff.status.success(), "{}", String::from_utf8_lossy(&diff.stdout));
}
