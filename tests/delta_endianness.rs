//! `static-delta generate` against the real `ostree`: `--swap-endianness` /
//! `--set-endianness` write the superblock's part and fallback integers
//! big-endian as ostree does (ostree reads and applies such a delta), and
//! the closing statistics end with ostree's `bsdiff=N objects` line; and
//! `pull-local --require-static-deltas` applies the deltas a source advertises.
//! A missing `ostree` fails these tests.

mod common;

use std::fs;
use std::process::Command;

use common::{grove_cmd, ostree, output, tempdir};

/// What ostree's `static-delta show` says of a delta, but for the
/// generation time and the split into parts (grove groups objects into
/// parts its own way).
fn show(repo: &std::path::Path, delta: &str) -> Vec<String> {
    let keep = [
        "Delta:",
        "From:",
        "To:",
        "Endianness:",
        "Number of fallback",
        "Total Uncompressed Size:",
        "Total Part Uncompressed Size:",
    ];
    ostree(repo, &["static-delta", "show", delta])
        .lines()
        .filter(|l| keep.iter().any(|k| l.starts_with(k)))
        .map(str::to_string)
        .collect()
}

#[test]
fn swapped_endianness_and_statistics_match_ostree() {
    let tmp = tempdir();
    let files = tmp.path().join("files");
    fs::create_dir_all(&files).unwrap();
    let big: Vec<u8> = common::prng_bytes(7, 200_000);
    fs::write(files.join("big"), &big).unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ostree(&a, &["init", "--mode=archive"]);
    let tree = format!("--tree=dir={}", files.display());
    ostree(
        &a,
        &["commit", "-b", "test", &tree, "--timestamp=2020-01-01"],
    );
    let mut changed = big.clone();
    changed[1000..1100].fill(0);
    fs::write(files.join("big"), &changed).unwrap();
    ostree(
        &a,
        &["commit", "-b", "test", &tree, "--timestamp=2020-01-02"],
    );
    common::run_ok(Command::new("cp").arg("-a").arg(&a).arg(&b));
    let from = ostree(&a, &["rev-parse", "test^"]).trim().to_string();
    let to = ostree(&a, &["rev-parse", "test"]).trim().to_string();
    let name = format!("{from}-{to}");

    for (flags, bsdiff) in [
        (&["--swap-endianness"][..], "bsdiff=1 objects"),
        (
            &["--set-endianness=B", "--disable-bsdiff"][..],
            "bsdiff=0 objects",
        ),
    ] {
        let mut args = vec!["static-delta", "generate", "--from=test^", "--to=test"];
        args.extend_from_slice(flags);
        ostree(&a, &args);
        let o = output(grove_cmd(&b).args(&args));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(stderr.lines().last(), Some(bsdiff), "{stderr}");
        // ostree reads grove's delta exactly as its own.
        let shown = show(&b, &name);
        assert!(shown.contains(&"Endianness: big".to_string()), "{shown:#?}");
        assert_eq!(shown, show(&a, &name), "{flags:?}");
    }

    // ostree applies grove's big-endian delta.
    let c = tmp.path().join("c");
    ostree(&c, &["init", "--mode=bare-user"]);
    ostree(&c, &["pull-local", &a.display().to_string(), &from]);
    // The only delta of `b`: deltas/XX/REST.
    let outer = fs::read_dir(b.join("deltas"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let delta_dir = fs::read_dir(outer).unwrap().next().unwrap().unwrap().path();
    ostree(
        &c,
        &[
            "static-delta",
            "apply-offline",
            &delta_dir.display().to_string(),
        ],
    );
    ostree(&c, &["ls", &to]);
    common::fsck(&c);
}

/// `pull-local --require-static-deltas` goes through the deltas the source
/// advertises (summary or delta index), and fails as ostree does without one.
#[test]
fn pull_local_require_static_deltas_matches_ostree() {
    let tmp = tempdir();
    let files = tmp.path().join("files");
    fs::create_dir_all(&files).unwrap();
    let src = tmp.path().join("src");
    ostree(&src, &["init", "--mode=archive"]);
    let tree = format!("--tree=dir={}", files.display());
    let mut revs = Vec::new();
    for i in 0..3u64 {
        fs::write(files.join("data"), common::prng_bytes(i, 50_000)).unwrap();
        revs.push(common::checksum_of(&ostree(
            &src,
            &[
                "commit",
                "-b",
                "main",
                &tree,
                &format!("--timestamp=2020-01-0{}", i + 1),
            ],
        )));
    }
    ostree(
        &src,
        &[
            "static-delta",
            "generate",
            "--empty",
            &format!("--to={}", revs[0]),
        ],
    );
    ostree(
        &src,
        &[
            "static-delta",
            "generate",
            &format!("--from={}", revs[0]),
            &format!("--to={}", revs[1]),
        ],
    );
    ostree(&src, &["summary", "-u"]);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for repo in [&a, &b] {
        ostree(repo, &["init", "--mode=bare-user"]);
    }
    let src_arg = src.display().to_string();
    for rev in &revs[..2] {
        ostree(
            &a,
            &["pull-local", "--require-static-deltas", &src_arg, rev],
        );
        common::grove(
            &b,
            &["pull-local", "--require-static-deltas", &src_arg, rev],
        );
        ostree(&b, &["ls", "-R", rev]);
        common::fsck(&b);
    }
    let missing = ["pull-local", "--require-static-deltas", &src_arg, &revs[2]];
    let o = output(common::ostree_cmd(&a).args(missing));
    let g = output(grove_cmd(&b).args(missing));
    assert!(!o.status.success() && !g.status.success());
    let wording = format!("Static deltas required, but none found for  to {}", revs[2]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&wording),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&g.stderr).contains(&wording),
        "{}",
        String::from_utf8_lossy(&g.stderr)
    );
}
