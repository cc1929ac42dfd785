//! The objects as GVariant text: what `ostree show --raw`, `ostree ls -X`
//! and `ostree log --raw` print (upstream `ot-dump.c`, `ot_dump_variant`,
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
}
