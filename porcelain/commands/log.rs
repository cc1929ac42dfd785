//! `grove log`: show log starting at commit or ref.
//!
//! Also owns the commit rendering shared with `show` (upstream `ot-dump.c`:
//! `dump_commit`, `ot_dump_object`), the GVariant text of raw objects, and
//! the usage-error helper the read-only commands use.
//!
//! Raw dumps (`--raw`) differ from ostree in one deliberate way: ostree
//! byte-swaps the whole variant on little-endian hosts before printing, so the
//! big-endian commit timestamp comes out right but native integers inside the
//! metadata come out swapped (`uint32 5` prints as `uint32 83886080`). grove
//! prints the true value of every field instead: big-endian fields are
//! decoded, metadata is printed as stored.

use std::io::Write;

use clap::CommandFactory as _;
use grove::lifecycle::provenance::Provenance;
use grove::objects::{Commit, DirMeta, DirTree, Xattrs};
use grove::repo::RepoError;
use grove::{Checksum, Metadata};
use zgvariant::Variant;

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show raw variant data
    #[arg(long)]
    raw: bool,

    /// Print the history as a JSON array of commit objects
    #[arg(long, conflicts_with = "raw")]
    json: bool,

    /// The commit or ref to start at
    #[arg(value_name = "REV")]
    rev: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(rev) = args.rev else {
        return Err(usage_error("log", "A rev argument is required"));
    };
    let repo = ctx.open_repo()?;
    let start = repo.resolve_rev(&rev)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut json = Vec::new();
    let mut next = Some(start);
    let mut first = true;
    while let Some(checksum) = next {
        let commit = match repo.load_commit(checksum) {
            Ok(c) => c,
            Err(RepoError::ObjectMissing(_)) if !first => {
                if !args.json {
                    writeln!(out, "<< History beyond this commit not fetched >>")?;
                }
                break;
            }
            Err(e) => return Err(load_error(e)),
        };
        first = false;
        if args.json {
            json.push(commit_json(checksum, &commit));
        } else if args.raw {
            writeln!(out, "commit {checksum}")?;
            writeln!(out, "{}", raw_commit_text(&commit))?;
        } else {
            writeln!(out, "commit {checksum}")?;
            dump_commit(&mut out, &commit)?;
        }
        next = commit.parent;
    }
    if args.json {
        serde_json::to_writer_pretty(&mut out, &serde_json::Value::Array(json))?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

/// Prints a subcommand's help to stderr and returns the error that follows it,
/// as ostree's `ot_util_usage_error` does.
pub(crate) fn usage_error(command: &str, msg: &str) -> anyhow::Error {
    let mut cli = crate::Cli::command();
    cli.build();
    if let Some(sub) = cli.find_subcommand_mut(command) {
        let help = sub.render_help().to_string();
        eprint!("{help}");
        if !help.ends_with('\n') {
            eprintln!();
        }
        eprintln!();
    }
    anyhow::anyhow!("{msg}")
}

/// Renders a failure to load a metadata object with ostree's wording.
pub(crate) fn load_error(e: RepoError) -> anyhow::Error {
    match e {
        RepoError::ObjectMissing(name) => anyhow::anyhow!("No such metadata object {name}"),
        e => e.into(),
    }
}

/// The commit's content checksum: SHA-256 over the root dirtree checksum
/// bytes followed by the root dirmeta checksum bytes
/// (`ostree_commit_get_content_checksum`).
pub(crate) fn content_checksum(commit: &Commit) -> Checksum {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(commit.root_contents.as_bytes());
    buf[32..].copy_from_slice(commit.root_meta.as_bytes());
    Checksum::digest(&buf)
}

/// `2026-11-26 10:12:42 +0000`: always UTC, whatever `TZ` says.
pub(crate) fn format_date(timestamp: u64) -> String {
    match i64::try_from(timestamp)
        .ok()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
    {
        Some(dt) => dt.format("%Y-%m-%d %H:%M:%S +0000").to_string(),
        None => format!("(invalid timestamp {timestamp})"),
    }
}

/// Appends `text` with every line indented by four spaces; a trailing newline
/// adds no extra line (`dump_indented_lines`).
fn push_indented(out: &mut String, text: &str) {
    let mut rest = text;
    loop {
        match rest.find('\n') {
            Some(i) => {
                out.push_str("    ");
                out.push_str(&rest[..=i]);
                rest = &rest[i + 1..];
            }
            None => {
                if !rest.is_empty() {
                    out.push_str("    ");
                    out.push_str(rest);
                    out.push('\n');
                }
                break;
            }
        }
    }
}

/// The human-readable commit body printed after `commit <checksum>`.
pub(crate) fn commit_text(commit: &Commit) -> String {
    let mut s = String::new();
    if let Some(p) = commit.parent {
        s.push_str(&format!("Parent:  {p}\n"));
    }
    s.push_str(&format!("ContentChecksum:  {}\n", content_checksum(commit)));
    s.push_str(&format!("Date:  {}\n", format_date(commit.timestamp)));
    if let Some(v) = commit.version() {
        s.push_str(&format!("Version: {v}\n"));
    }
    for line in Provenance::from_metadata(&commit.metadata).display_lines() {
        s.push_str(&line);
        s.push('\n');
    }
    if commit.subject.is_empty() {
        s.push_str("(no subject)\n");
    } else {
        s.push('\n');
        push_indented(&mut s, &commit.subject);
    }
    if !commit.body.is_empty() {
        s.push('\n');
        push_indented(&mut s, &commit.body);
    }
    s.push('\n');
    s
}

pub(crate) fn dump_commit(out: &mut dyn Write, commit: &Commit) -> std::io::Result<()> {
    out.write_all(commit_text(commit).as_bytes())
}

/// A byte array as GVariant text (`[byte 0x01, ...]`, `b'text'` or `@ay []`).
pub(crate) fn bytes_text(bytes: &[u8], annotate: bool) -> String {
    grove::gvariant::text::print(&Variant::from(bytes.to_vec()), annotate)
}

fn string_text(s: &str) -> String {
    grove::gvariant::text::print(&Variant::from(s), false)
}

/// An `a{sv}` as GVariant text, keys in stored order.
pub(crate) fn metadata_text(m: &Metadata) -> String {
    if m.is_empty() {
        return "@a{sv} {}".into();
    }
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| {
            format!(
                "{}: <{}>",
                string_text(k),
                grove::gvariant::text::print(v, true)
            )
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// Xattrs (`a(ayay)`) as GVariant text, names with their NUL as stored.
pub(crate) fn xattrs_text(x: &Xattrs) -> String {
    if x.is_empty() {
        return "@a(ayay) []".into();
    }
    let items: Vec<String> = x
        .iter()
        .enumerate()
        .map(|(i, (n, v))| {
            let mut name = n.to_vec();
            name.push(0);
            format!("({}, {})", bytes_text(&name, i == 0), bytes_text(v, i == 0))
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// The commit as one line of type-annotated GVariant text.
pub(crate) fn raw_commit_text(c: &Commit) -> String {
    let parent = match c.parent {
        Some(p) => bytes_text(p.as_bytes(), true),
        None => "@ay []".into(),
    };
    let related = if c.related.is_empty() {
        "@a(say) []".to_string()
    } else {
        let items: Vec<String> = c
            .related
            .iter()
            .enumerate()
            .map(|(i, (n, cs))| {
                format!(
                    "({}, {})",
                    string_text(n),
                    bytes_text(cs.as_bytes(), i == 0)
                )
            })
            .collect();
        format!("[{}]", items.join(", "))
    };
    format!(
        "({}, {}, {}, {}, {}, uint64 {}, {}, {})",
        metadata_text(&c.metadata),
        parent,
        related,
        string_text(&c.subject),
        string_text(&c.body),
        c.timestamp,
        bytes_text(c.root_contents.as_bytes(), true),
        bytes_text(c.root_meta.as_bytes(), true)
    )
}

pub(crate) fn raw_dirmeta_text(m: &DirMeta) -> String {
    format!(
        "(uint32 {}, uint32 {}, uint32 {}, {})",
        m.uid,
        m.gid,
        m.mode,
        xattrs_text(&m.xattrs)
    )
}

pub(crate) fn raw_dirtree_text(t: &DirTree) -> String {
    let files = if t.files.is_empty() {
        "@a(say) []".to_string()
    } else {
        let items: Vec<String> = t
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                format!(
                    "({}, {})",
                    string_text(&f.name),
                    bytes_text(f.checksum.as_bytes(), i == 0)
                )
            })
            .collect();
        format!("[{}]", items.join(", "))
    };
    let dirs = if t.dirs.is_empty() {
        "@a(sayay) []".to_string()
    } else {
        let items: Vec<String> = t
            .dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                format!(
                    "({}, {}, {})",
                    string_text(&d.name),
                    bytes_text(d.tree.as_bytes(), i == 0),
                    bytes_text(d.meta.as_bytes(), i == 0)
                )
            })
            .collect();
        format!("[{}]", items.join(", "))
    };
    format!("({files}, {dirs})")
}

/// One commit as a JSON object for `--json`.
pub(crate) fn commit_json(checksum: Checksum, c: &Commit) -> serde_json::Value {
    let metadata: serde_json::Map<String, serde_json::Value> = c
        .metadata
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::Value::String(grove::gvariant::text::print(v, true)),
            )
        })
        .collect();
    serde_json::json!({
        "checksum": checksum.to_string(),
        "parent": c.parent.map(|p| p.to_string()),
        "subject": c.subject,
        "body": c.body,
        "timestamp": c.timestamp,
        "date": format_date(c.timestamp),
        "version": c.version(),
        "content_checksum": content_checksum(c).to_string(),
        "provenance": Provenance::from_metadata(&c.metadata),
        "metadata": metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(subject: &str, body: &str) -> Commit {
        Commit {
            metadata: Metadata::new(),
            parent: None,
            related: vec![],
            subject: subject.into(),
            body: body.into(),
            timestamp: 1_795_687_962,
            root_contents: Checksum::digest(b"t"),
            root_meta: Checksum::digest(b"m"),
        }
    }

    #[test]
    fn indentation_and_subject_rules() {
        let c = commit("multi\nline subj", "b1\n\nb3\n");
        let t = commit_text(&c);
        assert!(t.ends_with("Date:  2026-11-26 10:12:42 +0000\n\n    multi\n    line subj\n\n    b1\n    \n    b3\n\n"), "{t}");
        let t = commit_text(&commit("", ""));
        assert!(t.ends_with("+0000\n(no subject)\n\n"), "{t}");
    }

    #[test]
    fn version_and_parent_lines() {
        let mut c = commit("s", "");
        c.metadata.insert_str("version", "1.0");
        c.parent = Some(Checksum::digest(b"p"));
        let t = commit_text(&c);
        assert!(t.starts_with(&format!(
            "Parent:  {}\nContentChecksum:  ",
            Checksum::digest(b"p")
        )));
        assert!(t.contains("+0000\nVersion: 1.0\n\n    s\n\n"), "{t}");
    }

    #[test]
    fn content_checksum_is_hash_of_both_roots() {
        let c = commit("", "");
        let mut both = c.root_contents.as_bytes().to_vec();
        both.extend_from_slice(c.root_meta.as_bytes());
        assert_eq!(content_checksum(&c), Checksum::digest(&both));
    }

    #[test]
    fn raw_texts() {
        assert_eq!(xattrs_text(&Xattrs::new()), "@a(ayay) []");
        let x = Xattrs::from_pairs([
            (b"user.foo".to_vec(), b"bar\0".to_vec()),
            (b"user.a".to_vec(), b"v".to_vec()),
        ]);
        assert_eq!(
            xattrs_text(&x),
            "[(b'user.a', [byte 0x76]), (b'user.foo', b'bar')]"
        );
        assert_eq!(
            raw_dirtree_text(&DirTree::default()),
            "(@a(say) [], @a(sayay) [])"
        );
        let m = DirMeta {
            uid: 0,
            gid: 0,
            mode: 0o40755,
            xattrs: Xattrs::new(),
        };
        assert_eq!(
            raw_dirmeta_text(&m),
            "(uint32 0, uint32 0, uint32 16877, @a(ayay) [])"
        );
        let c = commit("s", "");
        let t = raw_commit_text(&c);
        assert!(
            t.starts_with("(@a{sv} {}, @ay [], @a(say) [], 's', '', uint64 1795687962, [byte 0x"),
            "{t}"
        );
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(format_date(0), "1970-01-01 00:00:00 +0000");
    }
}
