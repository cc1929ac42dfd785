//! Build provenance with gix: `commit --source=`, `--source-config=`,
//! `--tree=git=`, provenance in log/show/status/diff, promote carrying it
//! and writing release notes, and the pre-promote sample hook. Real git
//! repositories are made with the `git` CLI; values are compared with what
//! `git rev-parse`/`describe`/`status --porcelain` say, checksums with what
//! the real `ostree commit` makes of a clean checkout and of `git archive`.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const DATE: &str = "2026-01-02T03:04:05Z";

/// `git` with a fixed identity and no user or system configuration.
fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_AUTHOR_DATE", DATE)
        .env("GIT_COMMITTER_DATE", DATE)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
            "-c",
            "advice.detachedHead=false",
        ]);
    c
}

fn git(dir: &Path, args: &[&str]) -> String {
    run_ok(git_cmd(dir).args(args)).trim_end().to_string()
}

/// A repository with a nested tree, an executable, symlinks, an annotated
/// tag on the first commit, a lightweight tag, and three commits.
fn make_source(dir: &Path, extra: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut init = vec!["init", "-q"];
    init.extend_from_slice(extra);
    git(dir, &init);
    write(&dir.join("README"), b"hello\n", 0o644);
    mkdir(&dir.join("src/deep"), 0o755);
    write(
        &dir.join("src/main.c"),
        b"int main(void) { return 0; }\n",
        0o644,
    );
    write(
        &dir.join("src/deep/run.sh"),
        b"#!/bin/sh\necho run\n",
        0o755,
    );
    ln_s("../README", &dir.join("src/readme-link"));
    ln_s("/etc/hostname", &dir.join("abs-link"));
    write(&dir.join(".gitignore"), b"*.o\n", 0o644);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "first"]);
    git(dir, &["tag", "-a", "-m", "release 1.0", "v1.0"]);
    write(
        &dir.join("src/main.c"),
        b"int main(void) { return 1; }\n",
        0o644,
    );
    git(dir, &["commit", "-q", "-am", "second"]);
    git(dir, &["tag", "light"]);
    write(&dir.join("NEWS"), b"news\n", 0o600);
    git(dir, &["add", "NEWS"]);
    git(dir, &["commit", "-q", "-m", "third"]);
}

fn new_repo(work: &Path, name: &str, mode: &str) -> std::path::PathBuf {
    let r = work.join(name);
    init_repo(&r, mode);
    r
}

fn meta_key(repo: &Path, rev: &str, key: &str) -> String {
    ostree(repo, &["show", &format!("--print-metadata-key={key}"), rev])
        .trim_end()
        .to_string()
}

fn show_json(repo: &Path, rev: &str) -> serde_json::Value {
    serde_json::from_str(&grove(repo, &["show", "--json", rev])).expect("show --json prints JSON")
}

fn sources(repo: &Path, rev: &str) -> Vec<serde_json::Value> {
    show_json(repo, rev)["provenance"]["sources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn commit_source(repo: &Path, branch: &str, source: &str) -> String {
    let empty = repo.parent().unwrap().join("empty");
    checksum_of(&grove(
        repo,
        &[
            "commit",
            "-b",
            branch,
            "--timestamp",
            DATE,
            "-s",
            "build",
            &format!("--source={source}"),
            empty.to_str().unwrap(),
        ],
    ))
}

#[test]
fn source_values_match_git() {
    let work = tempdir();
    let w = work.path();
    let src = w.join("app");
    make_source(&src, &[]);
    git(
        &src,
        &[
            "remote",
            "add",
            "origin",
            "https://builder:s3cret@example.com/app.git",
        ],
    );
    std::fs::create_dir(w.join("empty")).unwrap();
    let repo = new_repo(w, "repo", "archive");

    // Clean, on a branch.
    let c = commit_source(&repo, "b", src.to_str().unwrap());
    let s = &sources(&repo, &c)[0];
    assert_eq!(s["name"], "app");
    assert_eq!(s["commit"], git(&src, &["rev-parse", "HEAD"]));
    assert_eq!(
        s["describe"],
        git(&src, &["describe", "--tags", "--always"])
    );
    assert_eq!(s["branch"], "main");
    assert_eq!(
        s["url"], "https://example.com/app.git",
        "credentials are stripped"
    );
    assert_eq!(s["dirty"], false);
    assert_eq!(git(&src, &["status", "--porcelain"]), "");
    // ostree reads the key as a plain a{sv}.
    let text = meta_key(&repo, &c, "grove.source.app");
    assert!(
        text.contains(&format!(
            "'commit': <'{}'>",
            git(&src, &["rev-parse", "HEAD"])
        )),
        "{text}"
    );
    assert!(
        text.contains("'dirty': <false>") && !text.contains("s3cret"),
        "{text}"
    );

    // An ignored untracked file keeps it clean; a modified one makes it dirty.
    write(&src.join("x.o"), b"obj", 0o644);
    assert_eq!(git(&src, &["status", "--porcelain"]), "");
    let c = commit_source(&repo, "b", src.to_str().unwrap());
    assert_eq!(sources(&repo, &c)[0]["dirty"], false);
    write(&src.join("README"), b"changed\n", 0o644);
    assert_ne!(git(&src, &["status", "--porcelain"]), "");
    let c = commit_source(&repo, "b", src.to_str().unwrap());
    assert_eq!(sources(&repo, &c)[0]["dirty"], true);
    git(&src, &["checkout", "-q", "README"]);
    // An untracked file that is not ignored is dirty too (git status --porcelain lists it).
    write(&src.join("notes.txt"), b"n", 0o644);
    assert!(git(&src, &["status", "--porcelain"]).starts_with("??"));
    let c = commit_source(&repo, "b", src.to_str().unwrap());
    assert_eq!(sources(&repo, &c)[0]["dirty"], true);
    // A staged change is dirty.
    std::fs::remove_file(src.join("notes.txt")).unwrap();
    write(&src.join("README"), b"staged\n", 0o644);
    git(&src, &["add", "README"]);
    let c = commit_source(&repo, "b", src.to_str().unwrap());
    assert_eq!(sources(&repo, &c)[0]["dirty"], true);
    git(&src, &["reset", "-q", "--hard"]);

    // Detached HEAD at the annotated tag: no branch, describe is the tag.
    git(&src, &["checkout", "-q", "--detach", "v1.0"]);
    let c = commit_source(&repo, "b", src.to_str().unwrap());
    let s = &sources(&repo, &c)[0];
    assert_eq!(s["commit"], git(&src, &["rev-parse", "HEAD"]));
    assert_eq!(s["describe"], "v1.0");
    assert!(s["branch"].is_null(), "{s}");
    git(&src, &["checkout", "-q", "main"]);

    // @REV and NAME=: the named revision, under the given name.
    let c = commit_source(&repo, "b", &format!("tool={}@HEAD~1", src.display()));
    let s = &sources(&repo, &c)[0];
    assert_eq!(s["name"], "tool");
    assert_eq!(s["commit"], git(&src, &["rev-parse", "HEAD~1"]));
    assert_eq!(
        s["describe"],
        git(&src, &["describe", "--tags", "--always", "HEAD~1"])
    );

    // No remote: no URL. A bad revision or path: one clear line.
    git(&src, &["remote", "remove", "origin"]);
    let c = commit_source(&repo, "b", src.to_str().unwrap());
    assert!(sources(&repo, &c)[0]["url"].is_null());
    let e = grove_fail(
        &repo,
        &[
            "commit",
            "-b",
            "b",
            &format!("--source={}@nope", src.display()),
            w.join("empty").to_str().unwrap(),
        ],
    );
    assert!(e.contains("nope"), "{e}");
    let e = grove_fail(
        &repo,
        &[
            "commit",
            "-b",
            "b",
            &format!("--source={}", w.join("empty").display()),
            w.join("empty").to_str().unwrap(),
        ],
    );
    assert!(e.contains("not a git repository"), "{e}");
    let before = read_ref(&repo, "b");
    assert_eq!(read_ref(&repo, "b"), before);

    // --source-config: path and SHA-256 of a file outside git.
    let conf = w.join("build.conf");
    write(&conf, b"OPT=1\n", 0o644);
    let out = grove(
        &repo,
        &[
            "commit",
            "-b",
            "b",
            "--timestamp",
            DATE,
            "--source-config",
            conf.to_str().unwrap(),
            w.join("empty").to_str().unwrap(),
        ],
    );
    let c = checksum_of(&out);
    let sha = run_ok(Command::new("sha256sum").arg(&conf))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let text = meta_key(&repo, &c, "grove.source-config");
    assert_eq!(text, format!("{{'{}': '{sha}'}}", conf.display()));
    fsck(&repo);
}

#[test]
fn shallow_clone_and_sha256() {
    let work = tempdir();
    let w = work.path();
    let src = w.join("app");
    make_source(&src, &[]);
    std::fs::create_dir(w.join("empty")).unwrap();
    let repo = new_repo(w, "repo", "archive");
    git(
        w,
        &[
            "clone",
            "-q",
            "--depth=1",
            &format!("file://{}", src.display()),
            "shallow",
        ],
    );
    let shallow = w.join("shallow");
    let c = commit_source(&repo, "b", shallow.to_str().unwrap());
    let s = &sources(&repo, &c)[0];
    assert_eq!(s["shallow"], true);
    assert_eq!(s["commit"], git(&shallow, &["rev-parse", "HEAD"]));
    assert_eq!(
        s["describe"],
        git(&shallow, &["describe", "--tags", "--always"])
    );
    assert_eq!(s["url"], format!("file://{}", src.display()));

    let src256 = w.join("app256");
    make_source(&src256, &["--object-format=sha256"]);
    let c = commit_source(&repo, "b", src256.to_str().unwrap());
    let s = &sources(&repo, &c)[0];
    let head = git(&src256, &["rev-parse", "HEAD"]);
    assert_eq!(head.len(), 64);
    assert_eq!(s["commit"], head);
    assert_eq!(s["object_format"], "sha256");
    assert_eq!(
        s["describe"],
        git(&src256, &["describe", "--tags", "--always"])
    );
    // The tree of a SHA-256 repository commits as its checkout does.
    let c = checksum_of(&grove(
        &repo,
        &[
            "commit",
            "-b",
            "t",
            "--timestamp",
            DATE,
            &format!("--tree=git={}", src256.display()),
        ],
    ));
    let checkout = w.join("co256");
    run_ok(Command::new("sh").arg("-c").arg(format!(
        "umask 022 && git -c init.defaultBranch=main clone -q {} {}",
        src256.display(),
        checkout.display()
    )));
    std::fs::remove_dir_all(checkout.join(".git")).unwrap();
    let o = ostree(
        &repo,
        &[
            "commit",
            "-b",
            "o",
            "--timestamp",
            DATE,
            "--owner-uid=0",
            "--owner-gid=0",
            "--no-bindings",
            &format!("--tree=dir={}", checkout.display()),
        ],
    );
    let oc = checksum_of(&o);
    let content = |rev: &str| {
        show_json(&repo, rev)["content_checksum"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(content(&c), content(&oc));
}

/// A repository with a submodule, for --tree=git=.
fn make_with_submodule(w: &Path) -> std::path::PathBuf {
    let lib = w.join("lib");
    make_source(&lib, &[]);
    let app = w.join("super");
    make_source(&app, &[]);
    git(
        &app,
        &[
            "submodule",
            "add",
            "-q",
            lib.to_str().unwrap(),
            "vendor/lib",
        ],
    );
    git(&app, &["commit", "-q", "-m", "add lib"]);
    app
}

#[test]
fn tree_git_equals_checkout_and_git_archive() {
    let work = tempdir();
    let w = work.path();
    let app = make_with_submodule(w);
    let repo = new_repo(w, "repo", "archive");

    let out = run_ok(
        grove_cmd(&repo)
            .args([
                "commit",
                "-b",
                "app",
                "--timestamp",
                DATE,
                "-s",
                "s",
                &format!("--tree=git={}", app.display()),
            ])
            .stderr(std::process::Stdio::piped()),
    );
    let c = checksum_of(&out);
    let err = run_fail(grove_cmd(&repo).args([
        "commit",
        "-b",
        "x",
        &format!("--tree=git={}:nope", app.display()),
    ]));
    assert!(err.contains("'nope' is not a directory"), "{err}");
    let stderr = String::from_utf8(
        output(grove_cmd(&repo).args([
            "commit",
            "-b",
            "app2",
            "--timestamp",
            DATE,
            "-s",
            "s",
            &format!("--tree=git={}", app.display()),
        ]))
        .stderr,
    )
    .unwrap();
    assert!(
        stderr.contains("submodule 'vendor/lib' committed as an empty directory"),
        "{stderr}"
    );
    let s = &sources(&repo, &c)[0];
    assert_eq!(s["commit"], git(&app, &["rev-parse", "HEAD"]));
    assert_eq!(s["tree"], git(&app, &["rev-parse", "HEAD^{tree}"]));
    assert_eq!(s["dirty"], false);
    let meta = meta_key(&repo, &c, "grove.source.super");

    // The same commit, byte for byte, from ostree committing a clean checkout with the same metadata.
    let checkout = w.join("checkout");
    run_ok(Command::new("sh").arg("-c").arg(format!(
        "umask 022 && git -c init.defaultBranch=main clone -q {} {}",
        app.display(),
        checkout.display()
    )));
    std::fs::remove_dir_all(checkout.join(".git")).unwrap();
    assert!(checkout.join("vendor/lib").is_dir());
    let add = format!("--add-metadata=grove.source.super={meta}");
    let o = ostree(
        &repo,
        &[
            "commit",
            "--orphan",
            "--timestamp",
            DATE,
            "-s",
            "s",
            "--owner-uid=0",
            "--owner-gid=0",
            &add,
            "--bind-ref=app",
            &format!("--tree=dir={}", checkout.display()),
        ],
    );
    assert_eq!(checksum_of(&o), c, "ostree commit of a clean checkout");
    // And from `git archive`'s tarball.
    let tar = w.join("app.tar");
    run_ok(git_cmd(&app).args([
        "-c",
        "tar.umask=0022",
        "archive",
        "--format=tar",
        "--prefix=./",
        "-o",
        tar.to_str().unwrap(),
        "HEAD",
    ]));
    let o = ostree(
        &repo,
        &[
            "commit",
            "--orphan",
            "--timestamp",
            DATE,
            "-s",
            "s",
            "--owner-uid=0",
            "--owner-gid=0",
            &add,
            "--bind-ref=app",
            &format!("--tree=tar={}", tar.display()),
        ],
    );
    assert_eq!(checksum_of(&o), c, "ostree commit of git archive");

    // A subdirectory at a tag.
    let c = checksum_of(&grove(
        &repo,
        &[
            "commit",
            "-b",
            "sub",
            "--no-bindings",
            "--timestamp",
            DATE,
            &format!("--tree=git={}@v1.0:src", app.display()),
        ],
    ));
    let s = &sources(&repo, &c)[0];
    assert_eq!(s["subdir"], "src");
    assert_eq!(s["tree"], git(&app, &["rev-parse", "v1.0:src"]));
    let sub = w.join("sub");
    run_ok(Command::new("sh").arg("-c").arg(format!(
        "umask 022 && mkdir {0} && git -c tar.umask=0022 -C {1} archive v1.0:src | tar -x -C {0}",
        sub.display(),
        app.display()
    )));
    let add = format!(
        "--add-metadata=grove.source.super={}",
        meta_key(&repo, &c, "grove.source.super")
    );
    let o = ostree(
        &repo,
        &[
            "commit",
            "--orphan",
            "--no-bindings",
            "--timestamp",
            DATE,
            "--owner-uid=0",
            "--owner-gid=0",
            &add,
            &format!("--tree=dir={}", sub.display()),
        ],
    );
    assert_eq!(checksum_of(&o), c);
    fsck(&repo);

    // ostree log shows it; a real client pulls it over HTTP and checks it out.
    let log = ostree(&repo, &["log", "app"]);
    assert!(log.contains("commit "), "{log}");
    let server = HttpServer::serve(&repo);
    let client = new_repo(w, "client", "bare-user");
    ostree(
        &client,
        &["remote", "add", "--no-gpg-verify", "origin", &server.url],
    );
    ostree(&client, &["pull", "origin", "app"]);
    let co = w.join("client-co");
    ostree(
        &client,
        &["checkout", "-U", "origin:app", co.to_str().unwrap()],
    );
    assert_same_content(&checkout, &co);
}

#[test]
fn log_show_status_and_diff_print_provenance() {
    let work = tempdir();
    let w = work.path();
    let src = w.join("app");
    make_source(&src, &[]);
    git(
        &src,
        &["remote", "add", "origin", "https://example.com/app.git"],
    );
    std::fs::create_dir(w.join("empty")).unwrap();
    let repo = new_repo(w, "repo", "archive");
    let a = commit_source(&repo, "b", &format!("{}@v1.0", src.display()));
    let b = commit_source(&repo, "b", src.to_str().unwrap());
    let head = git(&src, &["rev-parse", "HEAD"]);
    let describe = git(&src, &["describe", "--tags", "--always"]);

    let log = grove(&repo, &["log", "b"]);
    let line = format!(
        "Source: app {describe} ({}) on main from https://example.com/app.git\n",
        &head[..12]
    );
    assert!(log.contains(&line), "{log}");
    assert!(
        log.contains(&format!(
            "Source: app v1.0 ({}) from https://example.com/app.git\n",
            &git(&src, &["rev-parse", "v1.0^{commit}"])[..12]
        )),
        "{log}"
    );
    let show = grove(&repo, &["show", "b"]);
    assert!(show.contains(&line), "{show}");
    let json: serde_json::Value =
        serde_json::from_str(&grove(&repo, &["log", "--json", "b"])).unwrap();
    assert_eq!(json[0]["provenance"]["sources"][0]["commit"], head);
    assert_eq!(json[1]["provenance"]["sources"][0]["describe"], "v1.0");

    let status = grove(&repo, &["status"]);
    assert!(
        status.contains(&format!("    source app: {describe} ({})", &head[..12])),
        "{status}"
    );
    let sj: serde_json::Value = serde_json::from_str(&grove(&repo, &["status", "--json"])).unwrap();
    assert_eq!(sj["refs"][0]["sources"][0]["commit"], head);

    let diff = grove(&repo, &["diff", "--source", &a, &b]);
    assert_eq!(
        diff.lines().next().unwrap(),
        format!(
            "M    app v1.0 ({}) -> {describe} ({})",
            &git(&src, &["rev-parse", "v1.0^{commit}"])[..12],
            &head[..12]
        )
    );
    assert_eq!(diff.lines().count(), 1);
    let diff = grove(
        &repo,
        &[
            "diff",
            "--source",
            &format!("--source-repo=app={}", src.display()),
            &a,
            &b,
        ],
    );
    let expected: Vec<String> = git(&src, &["log", "--format=%h %s", "v1.0..HEAD"])
        .lines()
        .map(|l| format!("     {l}"))
        .collect();
    let listed: Vec<String> = diff.lines().skip(1).map(str::to_string).collect();
    assert_eq!(listed, expected);
    // A clone without the two revisions says so under the M line.
    let other = src.with_file_name("other-clone");
    std::fs::create_dir_all(&other).unwrap();
    git(&other, &["init", "-q"]);
    let diff = grove(
        &repo,
        &[
            "diff",
            "--source",
            &format!("--source-repo=app={}", other.display()),
            &a,
            &b,
        ],
    );
    assert_eq!(
        diff.lines().skip(1).collect::<Vec<_>>(),
        [format!(
            "     ({} does not have both revisions)",
            other.display()
        )]
    );
    assert_eq!(grove(&repo, &["diff", "--source", &b, &b]), "");
}

#[test]
fn promote_carries_provenance_and_writes_notes() {
    let work = tempdir();
    let w = work.path();
    let src = w.join("app");
    make_source(&src, &[]);
    let repo = new_repo(w, "repo", "archive");
    // A build: the source tree plus a built file that depends on the build configuration.
    mkdir(&w.join("out"), 0o755);
    let build = |conf: &str| {
        write(&w.join("build.conf"), conf.as_bytes(), 0o644);
        write(&w.join("out/built"), conf.as_bytes(), 0o644);
        let conf_arg = w.join("build.conf");
        let out = w.join("out");
        checksum_of(&grove(
            &repo,
            &[
                "commit",
                "-b",
                "build",
                "--timestamp",
                DATE,
                "-s",
                "build",
                &format!("--tree=git={}", src.display()),
                &format!("--tree=dir={}", out.display()),
                "--source-config",
                conf_arg.to_str().unwrap(),
            ],
        ))
    };
    let first = build("a");
    let p1 = checksum_of(&grove(
        &repo,
        &["promote", "--timestamp", DATE, "--notes", &first, "stable"],
    ));
    assert_eq!(
        meta_key(&repo, &p1, "grove.source.app"),
        meta_key(&repo, &first, "grove.source.app")
    );
    assert_eq!(
        meta_key(&repo, &p1, "grove.source-config"),
        meta_key(&repo, &first, "grove.source-config")
    );
    let old = git(&src, &["rev-parse", "HEAD"]);

    // Three source commits later.
    for i in 0..3 {
        write(&src.join(format!("f{i}")), format!("{i}").as_bytes(), 0o644);
        git(&src, &["add", "-A"]);
        git(&src, &["commit", "-q", "-m", &format!("change {i}")]);
    }
    let second = build("a");
    let out = grove(
        &repo,
        &[
            "promote",
            "--timestamp",
            "2026-01-03",
            "--notes",
            &format!("--source-repo=app={}", src.display()),
            "--json",
            &second,
            "stable",
        ],
    );
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p2 = j["commit"].as_str().unwrap().to_string();
    let body = show_json(&repo, &p2)["body"].as_str().unwrap().to_string();
    let expected = git(&src, &["log", "--oneline", &format!("{old}..HEAD")]);
    assert_eq!(expected.lines().count(), 3);
    assert!(
        body.contains(&format!("{expected}\n")),
        "body:\n{body}\nexpected:\n{expected}"
    );
    let listed: Vec<&str> = body.lines().filter(|l| l.contains(" change ")).collect();
    assert_eq!(listed.len(), 3, "{body}");
    assert_eq!(j["notes"][0]["commits"].as_array().unwrap().len(), 3);

    // The build changed but the source did not: no notes.
    let third = build("b");
    let p3 = checksum_of(&grove(
        &repo,
        &[
            "promote",
            "--timestamp",
            "2026-01-04",
            "--notes",
            &format!("--source-repo=app={}", src.display()),
            &third,
            "stable",
        ],
    ));
    let body = show_json(&repo, &p3)["body"].as_str().unwrap().to_string();
    assert_eq!(body, "", "unchanged source: no notes");
    assert_ne!(
        meta_key(&repo, &p3, "grove.source-config"),
        meta_key(&repo, &p2, "grove.source-config")
    );

    // Without the clone the notes say so in one line.
    write(&src.join("g"), b"g", 0o644);
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-q", "-m", "another"]);
    let fourth = build("b");
    let p4 = checksum_of(&grove(
        &repo,
        &[
            "promote",
            "--timestamp",
            "2026-01-05",
            "--notes",
            &fourth,
            "stable",
        ],
    ));
    let body = show_json(&repo, &p4)["body"].as_str().unwrap().to_string();
    assert!(body.contains("no --source-repo=app=PATH given"), "{body}");

    // Between repositories too.
    let prod = new_repo(w, "prod", "archive");
    let out = grove(
        &prod,
        &[
            "promote",
            "--timestamp",
            DATE,
            &format!("--from={}:build", repo.display()),
            "--to=prod",
        ],
    );
    let pc = checksum_of(&out);
    assert_eq!(
        meta_key(&prod, &pc, "grove.source.app"),
        meta_key(&repo, &fourth, "grove.source.app")
    );
}

#[test]
fn pre_promote_sample_refuses_dirty_builds() {
    let work = tempdir();
    let w = work.path();
    let src = w.join("app");
    make_source(&src, &[]);
    std::fs::create_dir(w.join("empty")).unwrap();
    let repo = w.join("repo");
    grove(&repo, &["init", "--mode=archive"]);
    let hooks = repo.join("hooks");
    std::fs::copy(hooks.join("pre-promote.sample"), hooks.join("pre-promote")).unwrap();
    chmod(&hooks.join("pre-promote"), 0o755);
    let commit = |dirty: bool| {
        write(
            &src.join("README"),
            if dirty {
                b"dirty\n".as_slice()
            } else {
                b"hello\n".as_slice()
            },
            0o644,
        );
        let c = checksum_of(&grove(
            &repo,
            &[
                "commit",
                "-b",
                "build",
                "--timestamp",
                DATE,
                "--add-metadata-string=version=1",
                &format!("--source={}", src.display()),
                w.join("empty").to_str().unwrap(),
            ],
        ));
        git(&src, &["checkout", "-q", "README"]);
        c
    };
    let dirty = commit(true);
    // The hook calls `grove`: the built one first in PATH.
    let bin_dir = Path::new(grove_bin()).parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let e = run_fail(
        grove_cmd(&repo)
            .env("PATH", &path)
            .args(["promote", &dirty, "stable"]),
    );
    assert!(
        e.contains("built from a dirty work tree")
            && e.contains("error: hook pre-promote exited with status 1"),
        "{e}"
    );
    assert_eq!(read_ref(&repo, "stable"), None);
    let clean = commit(false);
    run_ok(
        grove_cmd(&repo)
            .env("PATH", &path)
            .args(["promote", &clean, "stable"]),
    );
    assert!(read_ref(&repo, "stable").is_some());
}
