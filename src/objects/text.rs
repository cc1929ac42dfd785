//! The objects as GVariant text: what `ostree show --raw`, `ostree ls -X`,
//! `ostree log --raw` and `ostree summary --view`/`--raw` print (upstream `ot-dump.c`, `ot_dump_variant`,
//! over GLib's `g_variant_print` with type annotations).
//!
//! One deliberate difference: ostree byte-swaps the whole variant on
//! little-endian hosts before printing, so the big-endian commit timestamp
//! comes out right but native integers inside the metadata come out swapped
//! (`uint32 5` prints as `uint32 83886080`). These functions print the true
//! value of every field: big-endian fields are decoded, metadata is printed
//! as stored.

use zgvariant::Variant;

use crate::gvariant::text::print;
use crate::objects::summary::{self, Summary};
use crate::objects::{Commit, DirMeta, DirTree, Metadata, Xattrs};

/// A byte array as GVariant text (`[byte 0x01, ...]`, `b'text'` or `@ay []`).
pub fn bytes_text(bytes: &[u8], annotate: bool) -> String {
    print(&Variant::from(bytes.to_vec()), annotate)
}

fn string_text(s: &str) -> String {
    print(&Variant::from(s), false)
}

/// A list as GVariant text: `empty` (the annotated empty array) when there
/// is nothing, else `[a, b]`; `item` gets whether it is the first (which
/// carries the type annotation).
fn list_text<T>(items: &[T], empty: &str, item: impl Fn(&T, bool) -> String) -> String {
    if items.is_empty() {
        return empty.to_string();
    }
    let v: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, x)| item(x, i == 0))
        .collect();
    format!("[{}]", v.join(", "))
}

/// An `a{sv}` as GVariant text, keys in stored order.
/// The value of metadata `key` as GVariant text, as `ostree show
/// --print-metadata-key` prints it: numbers byte-swapped on little-endian
/// hosts (ostree swaps the whole variant), unless `as_stored`. `None` when
/// the key is absent.
pub fn metadata_value_text(m: &Metadata, key: &str, as_stored: bool) -> Option<String> {
    let value = m.get(key)?;
    Some(if as_stored || cfg!(target_endian = "big") {
        crate::gvariant::text::print(value, true)
    } else {
        crate::gvariant::text::print_byteswapped(value, true)
    })
}

pub fn metadata_text(m: &Metadata) -> String {
    if m.is_empty() {
        return "@a{sv} {}".into();
    }
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}: <{}>", string_text(k), print(v, true)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// Xattrs (`a(ayay)`) as GVariant text, names with their NUL as stored.
pub fn xattrs_text(x: &Xattrs) -> String {
    let pairs: Vec<(&[u8], &[u8])> = x.iter().collect();
    list_text(&pairs, "@a(ayay) []", |(n, v), first| {
        let mut name = n.to_vec();
        name.push(0);
        format!("({}, {})", bytes_text(&name, first), bytes_text(v, first))
    })
}

/// A commit as one line of type-annotated GVariant text.
pub fn commit_text(c: &Commit) -> String {
    let parent = match c.parent {
        Some(p) => bytes_text(p.as_bytes(), true),
        None => "@ay []".into(),
    };
    let related = list_text(&c.related, "@a(say) []", |(n, cs), first| {
        format!("({}, {})", string_text(n), bytes_text(cs.as_bytes(), first))
    });
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

/// A dirmeta as GVariant text (uid, gid and mode decoded from big-endian).
pub fn dirmeta_text(m: &DirMeta) -> String {
    format!(
        "(uint32 {}, uint32 {}, uint32 {}, {})",
        m.uid,
        m.gid,
        m.mode,
        xattrs_text(&m.xattrs)
    )
}

/// A dirtree as GVariant text.
pub fn dirtree_text(t: &DirTree) -> String {
    let files = list_text(&t.files, "@a(say) []", |f, first| {
        format!(
            "({}, {})",
            string_text(&f.name),
            bytes_text(f.checksum.as_bytes(), first)
        )
    });
    let dirs = list_text(&t.dirs, "@a(sayay) []", |d, first| {
        format!(
            "({}, {}, {})",
            string_text(&d.name),
            bytes_text(d.tree.as_bytes(), first),
            bytes_text(d.meta.as_bytes(), first)
        )
    });
    format!("({files}, {dirs})")
}

/// A size as GLib's `g_format_size` prints it for ostree: SI units, one
/// decimal, the unit joined by a no-break space (`19 bytes`, `1.2 kB`).
pub fn format_size(n: u64) -> String {
    if n < 1000 {
        return if n == 1 {
            "1 byte".into()
        } else {
            format!("{n} bytes")
        };
    }
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64 / 1000.0;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1}\u{a0}{}", UNITS[i])
}

fn iso8601(secs: u64) -> String {
    match chrono::DateTime::from_timestamp(secs as i64, 0) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S+00").to_string(),
        None => "invalid".to_string(),
    }
}

fn be_u64(v: &Variant<'_>) -> Option<u64> {
    match v {
        Variant::U64(t) => Some(u64::from_be(*t)),
        _ => None,
    }
}

/// A summary as `ostree summary --view` prints it (upstream `ot-dump.c`,
/// `ot_dump_summary_bytes`): each ref (of the main collection, then of the
/// collection map) with its commit, size and entry metadata, then the
/// summary's metadata under ostree's names.
pub fn summary_view_text(s: &Summary) -> String {
    let mut out = String::new();
    let main_cid = s.metadata.get_str(summary::KEY_COLLECTION_ID);
    let main = s
        .refs
        .iter()
        .zip(&s.ref_extra)
        .map(|(r, extra)| (main_cid.clone(), r, extra));
    let mapped = s.collection_refs.iter().flat_map(|(c, entries)| {
        entries
            .iter()
            .map(move |(r, extra)| (Some(c.clone()), r, extra))
    });
    for (collection, r, extra) in main.chain(mapped) {
        match &collection {
            Some(c) => out.push_str(&format!("* ({c}, {})\n", r.name)),
            None => out.push_str(&format!("* {}\n", r.name)),
        }
        out.push_str(&format!(
            "    Latest Commit ({}):\n",
            format_size(r.commit_size)
        ));
        out.push_str(&format!("      {}\n", r.checksum));
        for (k, v) in extra.iter() {
            if k == summary::KEY_COMMIT_TIMESTAMP {
                let t = be_u64(v).map(iso8601).unwrap_or_default();
                out.push_str(&format!("    Timestamp ({k}): {t}\n"));
            } else if k == summary::KEY_COMMIT_VERSION {
                let t = match v {
                    Variant::Str(s) => s.as_str().to_string(),
                    other => print(other, false),
                };
                out.push_str(&format!("    Version ({k}): {t}\n"));
            } else {
                out.push_str(&format!("    {k}: {}\n", print(v, false)));
            }
        }
        out.push('\n');
    }
    for (k, v) in s.metadata.iter() {
        let (pretty, value) = match k {
            summary::KEY_STATIC_DELTAS => (Some("Static Deltas"), deltas_text(s, v)),
            summary::KEY_LAST_MODIFIED => (
                Some("Last-Modified"),
                be_u64(v).map(iso8601).unwrap_or_default(),
            ),
            summary::KEY_EXPIRES => (Some("Expires"), be_u64(v).map(iso8601).unwrap_or_default()),
            summary::KEY_COLLECTION_ID => (
                Some("Collection ID"),
                s.metadata.get_str(k).unwrap_or_default(),
            ),
            summary::KEY_COLLECTION_MAP => (Some("Collection Map"), "(printed above)".to_string()),
            summary::KEY_MODE => {
                let m = s.metadata.get_str(k).unwrap_or_default();
                let shown = if crate::repo::RepoMode::parse(&m).is_some() {
                    m
                } else {
                    format!("Invalid (‘{m}’)")
                };
                (Some("Repository Mode"), shown)
            }
            summary::KEY_TOMBSTONE_COMMITS => (
                Some("Has Tombstone Commits"),
                if matches!(v, Variant::Bool(true)) {
                    "Yes"
                } else {
                    "No"
                }
                .to_string(),
            ),
            _ => (None, print(v, false)),
        };
        match pretty {
            Some(p) => out.push_str(&format!("{p} ({k}): {value}\n")),
            None => out.push_str(&format!("{k}: {value}\n")),
        }
    }
    out
}

/// An `a{sv}` as GVariant text with the `u64` values of `be_keys` decoded
/// from big-endian.
fn dict_text(m: &Metadata, be_keys: &[&str]) -> String {
    if m.is_empty() {
        return "@a{sv} {}".to_string();
    }
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| {
            let value = match be_u64(v) {
                Some(t) if be_keys.contains(&k) => format!("uint64 {t}"),
                _ => print(v, true),
            };
            format!("'{k}': <{value}>")
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// A summary as GVariant text (`summary --raw`), with the big-endian
/// timestamps decoded (see the module doc).
pub fn summary_raw_text(s: &Summary) -> String {
    let refs: Vec<String> = s
        .refs
        .iter()
        .zip(&s.ref_extra)
        .enumerate()
        .map(|(i, (r, extra))| {
            let first = i == 0;
            format!(
                "('{}', ({}{}, {}, {}))",
                r.name,
                if first { "uint64 " } else { "" },
                r.commit_size,
                bytes_text(r.checksum.as_bytes(), first),
                dict_text(extra, &[summary::KEY_COMMIT_TIMESTAMP])
            )
        })
        .collect();
    let refs = if refs.is_empty() {
        "@a(s(taya{sv})) []".to_string()
    } else {
        format!("[{}]", refs.join(", "))
    };
    format!(
        "({refs}, {})\n",
        dict_text(
            &s.metadata,
            &[summary::KEY_LAST_MODIFIED, summary::KEY_EXPIRES]
        )
    )
}

/// The static-delta dictionary in stored order (zgvariant's dict sorts keys).
fn deltas_text(s: &Summary, v: &Variant<'_>) -> String {
    let raw = s
        .raw_metadata
        .iter()
        .find(|(k, _, _)| k == summary::KEY_STATIC_DELTAS);
    let entries = raw
        .filter(|(_, sig, _)| sig == "a{sv}")
        .and_then(|(_, _, b)| summary::split_vardict(b));
    match entries {
        Some(e) if e.iter().all(|(_, sig, _)| sig == "ay") && !e.is_empty() => {
            let items: Vec<String> = e
                .iter()
                .map(|(k, _, b)| format!("'{k}': <{}>", bytes_text(b, true)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        _ => print(v, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::Checksum;

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
            dirtree_text(&DirTree::default()),
            "(@a(say) [], @a(sayay) [])"
        );
        let m = DirMeta {
            uid: 0,
            gid: 0,
            mode: 0o40755,
            xattrs: Xattrs::new(),
        };
        assert_eq!(
            dirmeta_text(&m),
            "(uint32 0, uint32 0, uint32 16877, @a(ayay) [])"
        );
        let c = Commit {
            metadata: Metadata::new(),
            parent: None,
            related: vec![],
            subject: "s".into(),
            body: String::new(),
            timestamp: 1_795_687_962,
            root_contents: Checksum::digest(b"t"),
            root_meta: Checksum::digest(b"m"),
        };
        let t = commit_text(&c);
        assert!(
            t.starts_with("(@a{sv} {}, @ay [], @a(say) [], 's', '', uint64 1795687962, [byte 0x"),
            "{t}"
        );
    }

    #[test]
    fn content_checksum_is_hash_of_both_roots() {
        let c = Commit {
            metadata: Metadata::new(),
            parent: None,
            related: vec![],
            subject: String::new(),
            body: String::new(),
            timestamp: 0,
            root_contents: Checksum::digest(b"t"),
            root_meta: Checksum::digest(b"m"),
        };
        let mut both = c.root_contents.as_bytes().to_vec();
        both.extend_from_slice(c.root_meta.as_bytes());
        assert_eq!(c.content_checksum(), Checksum::digest(&both));
    }

    #[test]
    fn sizes_like_glib() {
        assert_eq!(format_size(0), "0 bytes");
        assert_eq!(format_size(1), "1 byte");
        assert_eq!(format_size(19), "19 bytes");
        assert_eq!(format_size(999), "999 bytes");
        assert_eq!(format_size(1000), "1.0\u{a0}kB");
        assert_eq!(format_size(1234), "1.2\u{a0}kB");
        assert_eq!(format_size(5_500_000), "5.5\u{a0}MB");
    }
}
