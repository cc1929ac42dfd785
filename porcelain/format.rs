//! Human-readable values as ostree prints them: sizes, a commit as
//! `ot-dump.c`'s `dump_commit` does (`log`, `show`), and `--json` reports.

use grove::lifecycle::log::CommitInfo;
use grove::lifecycle::provenance::Provenance;

pub use grove::objects::text::format_size as size;

/// Prints a typed report as `--json` does: pretty, keys in sorted order at
/// every level (the order grove's JSON has always had).
pub fn print_json(report: &impl serde::Serialize) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::to_value(report)?)?
    );
    Ok(())
}

/// Appends `text` with every line indented by four spaces; a trailing newline
/// adds no extra line (`dump_indented_lines`).
fn push_indented(out: &mut String, text: &str) {
    for line in text.split_inclusive('\n') {
        out.push_str("    ");
        out.push_str(line);
    }
    if !text.is_empty() && !text.ends_with('\n') {
        out.push('\n');
    }
}

/// The human-readable commit printed after `commit <checksum>`.
pub fn commit_text(c: &CommitInfo) -> String {
    let mut s = String::new();
    if let Some(p) = c.parent {
        s.push_str(&format!("Parent:  {p}\n"));
    }
    s.push_str(&format!("ContentChecksum:  {}\n", c.content_checksum));
    s.push_str(&format!("Date:  {}\n", c.date));
    if let Some(v) = &c.version {
        s.push_str(&format!("Version: {v}\n"));
    }
    for line in Provenance::display_lines(&c.provenance) {
        s.push_str(&line);
        s.push('\n');
    }
    if c.subject.is_empty() {
        s.push_str("(no subject)\n");
    } else {
        s.push('\n');
        push_indented(&mut s, &c.subject);
    }
    if !c.body.is_empty() {
        s.push('\n');
        push_indented(&mut s, &c.body);
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use grove::objects::Commit;
    use grove::{Checksum, Metadata};

    fn info(subject: &str, body: &str, version: Option<&str>) -> CommitInfo {
        let mut metadata = Metadata::new();
        if let Some(v) = version {
            metadata.insert_str("version", v);
        }
        let c = Commit {
            metadata,
            parent: None,
            related: vec![],
            subject: subject.into(),
            body: body.into(),
            timestamp: 1_795_687_962,
            root_contents: Checksum::digest(b"t"),
            root_meta: Checksum::digest(b"m"),
        };
        CommitInfo::new(Checksum::digest(b"c"), &c)
    }

    #[test]
    fn indentation_and_subject_rules() {
        let t = commit_text(&info("multi\nline subj", "b1\n\nb3\n", None));
        assert!(t.ends_with("Date:  2026-11-26 10:12:42 +0000\n\n    multi\n    line subj\n\n    b1\n    \n    b3\n\n"), "{t}");
        let t = commit_text(&info("", "", None));
        assert!(t.ends_with("+0000\n(no subject)\n\n"), "{t}");
    }

    #[test]
    fn version_and_parent_lines() {
        let mut i = info("s", "", Some("1.0"));
        i.parent = Some(Checksum::digest(b"p"));
        let t = commit_text(&i);
        assert!(t.starts_with(&format!(
            "Parent:  {}\nContentChecksum:  ",
            Checksum::digest(b"p")
        )));
        assert!(t.contains("+0000\nVersion: 1.0\n\n    s\n\n"), "{t}");
    }
}
