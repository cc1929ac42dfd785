//! Unit tests of checkout: placement per repository mode, union modes,
//! symlinked directories in the destination, subpaths, whiteouts.

use super::*;
use crate::objects::file_header::{S_IFDIR, S_IFLNK, S_IFREG};
use crate::objects::{DirMeta, DirTree, DirTreeDir, DirTreeFile, FileHeader, Xattrs};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn reg(mode: u32) -> FileHeader {
    FileHeader {
        uid: 0,
        gid: 0,
        mode: S_IFREG | mode,
        symlink_target: String::new(),
        xattrs: Xattrs::new(),
    }
}

/// A root-owned directory's dirmeta with `mode`.
fn dirmeta(repo: &Repo, mode: u32) -> Checksum {
    repo.write_dirmeta(&DirMeta {
        uid: 0,
        gid: 0,
        mode: S_IFDIR | mode,
        xattrs: Xattrs::new(),
    })
    .unwrap()
}

/// A repo with: a (0644 "hello\n"), x (04755 "#!"), e (empty), l -> a, d/ (0750) with b.
fn fixture(mode: RepoMode) -> (tempfile::TempDir, Repo, Checksum, Checksum) {
    let td = tempfile::tempdir().unwrap();
    let repo = Repo::init(&td.path().join("repo"), mode, None).unwrap();
    let a = repo
        .write_content(&reg(0o644), 6, &mut &b"hello\n"[..])
        .unwrap();
    let xmode = if mode == RepoMode::BareUserOnly {
        0o755
    } else {
        0o4755
    };
    let x = repo.write_content(&reg(xmode), 2, &mut &b"#!"[..]).unwrap();
    let e = repo.write_content(&reg(0o644), 0, &mut &b""[..]).unwrap();
    let lh = FileHeader {
        uid: 0,
        gid: 0,
        mode: S_IFLNK | 0o777,
        symlink_target: "a".into(),
        xattrs: Xattrs::new(),
    };
    let l = repo.write_content(&lh, 0, &mut io::empty()).unwrap();
    let b = repo
        .write_content(&reg(0o600), 3, &mut &b"bbb"[..])
        .unwrap();
    let sub = DirTree {
        files: vec![DirTreeFile {
            name: "b".into(),
            checksum: b,
        }],
        dirs: vec![],
    };
    let sub_c = repo.write_dirtree(&sub).unwrap();
    let sub_m = dirmeta(&repo, 0o750);
    let mut files = vec![
        DirTreeFile {
            name: "a".into(),
            checksum: a,
        },
        DirTreeFile {
            name: "e".into(),
            checksum: e,
        },
        DirTreeFile {
            name: "l".into(),
            checksum: l,
        },
        DirTreeFile {
            name: "x".into(),
            checksum: x,
        },
    ];
    files.sort_by(|p, q| p.name.cmp(&q.name));
    let root = DirTree {
        files,
        dirs: vec![DirTreeDir {
            name: "d".into(),
            tree: sub_c,
            meta: sub_m,
        }],
    };
    let rc = repo.write_dirtree(&root).unwrap();
    let rm = dirmeta(&repo, 0o755);
    (td, repo, rc, rm)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn archive_user_checkout_copies() {
    let (td, repo, contents, meta) = fixture(RepoMode::Archive);
    let dest = td.path().join("co");
    let stats = checkout_tree(
        &repo,
        CheckoutSource::Tree { contents, meta },
        &dest,
        &CheckoutOptions::new().user_mode(true),
    )
    .unwrap();
    assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"hello\n");
    assert_eq!(std::fs::read_link(dest.join("l")).unwrap(), Path::new("a"));
    let x = std::fs::metadata(dest.join("x")).unwrap();
    assert_eq!(
        x.permissions().mode() & 0o7777,
        0o755,
        "setuid dropped in user mode"
    );
    let d = std::fs::metadata(dest.join("d")).unwrap();
    assert_eq!(d.permissions().mode() & 0o7777, 0o750);
    assert_eq!(d.mtime(), 0);
    assert_eq!(
        std::fs::metadata(dest.join("d/b"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(stats.files_linked, 0);
    assert_eq!(stats.files_copied, 4);
    assert_eq!(stats.symlinks_created, 1);
    assert_eq!(stats.dirs_created, 2);
}

#[test]
fn existing_destination_is_an_error_naming_it() {
    let (td, repo, contents, meta) = fixture(RepoMode::Archive);
    let dest = td.path().join("co");
    std::fs::create_dir(&dest).unwrap();
    let e = checkout_tree(
        &repo,
        CheckoutSource::Tree { contents, meta },
        &dest,
        &CheckoutOptions::new().user_mode(true),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("mkdirat: File exists"), "{msg}");
    assert!(msg.contains(&dest.display().to_string()), "{msg}");
}

/// Each object's `user.ostreemeta` is read with `getxattrat` where the
/// kernel has it, then (the flag set as on an older kernel; process-wide,
/// so other tests may take that way too, as correctly) by its path.
#[test]
fn bare_user_user_mode_hardlinks_but_copies_empty_and_symlinks() {
    for missing in [false, true] {
        if missing {
            crate::tree::xattr::GETXATTRAT_MISSING
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let (td, repo, contents, meta) = fixture(RepoMode::BareUser);
        let dest = td.path().join("co");
        let stats = checkout_tree(
            &repo,
            CheckoutSource::Tree { contents, meta },
            &dest,
            &CheckoutOptions::new().user_mode(true),
        )
        .unwrap();
        assert_eq!(std::fs::metadata(dest.join("a")).unwrap().nlink(), 2);
        assert_eq!(std::fs::metadata(dest.join("e")).unwrap().nlink(), 1);
        assert!(std::fs::symlink_metadata(dest.join("l"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(stats.files_linked, 3);
    }
}

#[test]
fn union_modes() {
    let (td, repo, contents, meta) = fixture(RepoMode::Archive);
    let dest = td.path().join("co");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("a"), "local\n").unwrap();
    std::fs::write(dest.join("extra"), "x").unwrap();
    let src = CheckoutSource::Tree { contents, meta };
    let opts = CheckoutOptions::new()
        .user_mode(true)
        .overwrite(OverwriteMode::AddFiles);
    checkout_tree(&repo, src, &dest, &opts).unwrap();
    assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"local\n");
    let opts = CheckoutOptions::new()
        .user_mode(true)
        .overwrite(OverwriteMode::UnionFiles);
    checkout_tree(&repo, src, &dest, &opts).unwrap();
    assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"hello\n");
    assert_eq!(std::fs::read(dest.join("extra")).unwrap(), b"x");
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.to_string_lossy().starts_with(".grove")),
        "{names:?}"
    );
}

#[test]
fn union_does_not_follow_symlinked_dirs_out_of_destination() {
    let (td, repo, contents, meta) = fixture(RepoMode::Archive);
    let dest = td.path().join("co");
    let outside = td.path().join("outside");
    std::fs::create_dir(&dest).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("d")).unwrap();
    let opts = CheckoutOptions::new()
        .user_mode(true)
        .overwrite(OverwriteMode::UnionFiles);
    let r = checkout_tree(&repo, CheckoutSource::Tree { contents, meta }, &dest, &opts);
    assert!(
        !outside.join("b").exists(),
        "wrote through a symlink out of the destination"
    );
    // With RESOLVE_IN_ROOT the absolute link resolves inside DEST, where it is missing.
    assert!(r.is_err());
}

#[test]
fn union_resolves_symlinked_dirs_inside_destination() {
    let (td, repo, contents, meta) = fixture(RepoMode::Archive);
    let dest = td.path().join("co");
    std::fs::create_dir_all(dest.join("inside")).unwrap();
    // An absolute link is taken relative to the destination, like a chroot.
    std::os::unix::fs::symlink("/inside", dest.join("d")).unwrap();
    let opts = CheckoutOptions::new()
        .user_mode(true)
        .overwrite(OverwriteMode::UnionFiles);
    checkout_tree(&repo, CheckoutSource::Tree { contents, meta }, &dest, &opts).unwrap();
    assert_eq!(std::fs::read(dest.join("inside/b")).unwrap(), b"bbb");
}

#[test]
fn subpath_file_and_missing() {
    let (td, repo, contents, meta) = fixture(RepoMode::Archive);
    let src = CheckoutSource::Tree { contents, meta };
    let dest = td.path().join("one");
    checkout_tree(
        &repo,
        src,
        &dest,
        &CheckoutOptions::new().user_mode(true).subpath("/d/b"),
    )
    .unwrap();
    assert_eq!(std::fs::read(dest.join("b")).unwrap(), b"bbb");
    let e = checkout_tree(
        &repo,
        src,
        &td.path().join("two"),
        &CheckoutOptions::new().subpath("/nope"),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "No such file or directory: /nope");
    let mut o = CheckoutOptions::new().subpath("/nope");
    o.allow_noent = true;
    checkout_tree(&repo, src, &td.path().join("two"), &o).unwrap();
    assert!(!td.path().join("two").exists());
    let e = checkout_tree(
        &repo,
        src,
        &td.path().join("three"),
        &CheckoutOptions::new().subpath("/a/x"),
    )
    .unwrap_err();
    assert!(matches!(e, CheckoutError::NotADirectory(_)));
}

#[test]
fn option_conflicts() {
    let (td, repo, contents, meta) = fixture(RepoMode::Archive);
    let src = CheckoutSource::Tree { contents, meta };
    let d = td.path().join("x");
    let o = CheckoutOptions::new().overwrite(OverwriteMode::UnionIdentical);
    assert!(matches!(
        checkout_tree(&repo, src, &d, &o),
        Err(CheckoutError::UnionIdenticalNeedsHardlinks)
    ));
    let o = CheckoutOptions::new()
        .require_hardlinks(true)
        .force_copy(true);
    assert!(matches!(
        checkout_tree(&repo, src, &d, &o),
        Err(CheckoutError::HardlinksAndCopy)
    ));
    let o = CheckoutOptions::new()
        .require_hardlinks(true)
        .user_mode(true);
    assert_eq!(
        checkout_tree(&repo, src, &d, &o).unwrap_err().to_string(),
        "Bare repository mode cannot hardlink in user checkout mode"
    );
    assert!(!d.exists());
}

#[test]
fn bare_normal_mode_hardlinks_with_owner_and_suid() {
    assert!(
        is_root(),
        "writing a bare repository needs root: run the test suite as root (CI does)"
    );
    let (td, repo, contents, meta) = fixture(RepoMode::Bare);
    let dest = td.path().join("co");
    checkout_tree(
        &repo,
        CheckoutSource::Tree { contents, meta },
        &dest,
        &CheckoutOptions::new(),
    )
    .unwrap();
    let x = std::fs::metadata(dest.join("x")).unwrap();
    assert_eq!(x.nlink(), 2);
    assert_eq!(x.permissions().mode() & 0o7777, 0o4755);
}

#[test]
fn whiteouts_remove_entries() {
    let td = tempfile::tempdir().unwrap();
    let repo = Repo::init(&td.path().join("repo"), RepoMode::Archive, None).unwrap();
    let wh = repo.write_content(&reg(0o644), 0, &mut &b""[..]).unwrap();
    let root = DirTree {
        files: vec![DirTreeFile {
            name: ".wh.gone".into(),
            checksum: wh,
        }],
        dirs: vec![],
    };
    let rc = repo.write_dirtree(&root).unwrap();
    let rm = dirmeta(&repo, 0o755);
    let dest = td.path().join("co");
    std::fs::create_dir_all(dest.join("gone/deep")).unwrap();
    let opts = CheckoutOptions::new()
        .user_mode(true)
        .overwrite(OverwriteMode::UnionFiles)
        .process_whiteouts(true);
    checkout_tree(
        &repo,
        CheckoutSource::Tree {
            contents: rc,
            meta: rm,
        },
        &dest,
        &opts,
    )
    .unwrap();
    assert!(!dest.join("gone").exists());
    assert!(!dest.join(".wh.gone").exists());
}

#[test]
fn strerror_drops_os_error_suffix() {
    assert_eq!(
        strerror(&io::Error::from_raw_os_error(libc::EEXIST)),
        "File exists"
    );
}

#[test]
fn checkout_waits_for_the_repository_lock() {
    let (td, mut repo, contents, meta) = fixture(RepoMode::Archive);
    let mut cfg = repo.config().clone();
    cfg.set("core", "lock-timeout-secs", "1");
    repo.write_config(cfg).unwrap();
    let dest = td.path().join("co");
    let opts = CheckoutOptions::new().user_mode(true);
    let held = repo.lock(crate::repo::LockKind::Exclusive).unwrap();
    let e =
        checkout_tree(&repo, CheckoutSource::Tree { contents, meta }, &dest, &opts).unwrap_err();
    assert!(
        matches!(e, CheckoutError::Repo(RepoError::Lock { .. })),
        "checked out under a prune's lock: {e}"
    );
    assert!(!dest.exists());
    drop(held);
    checkout_tree(&repo, CheckoutSource::Tree { contents, meta }, &dest, &opts).unwrap();
    assert_eq!(std::fs::read(dest.join("a")).unwrap(), b"hello\n");
}
