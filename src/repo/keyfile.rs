//! GLib key files (`config` in a repository): `[group]` headers and
//! `key=value` lines, kept in file order with comments, so a `set` rewrites
//! only the line it touches. Upstream: GLib's `gkeyfile.c`, read by
//! `ostree-repo.c` (`reload_core_config`).

use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Line {
    /// Comments and blank lines, kept verbatim.
    Other(String),
    Group(String),
    Entry {
        key: String,
        value: String,
    },
}

/// A parsed key file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyFile {
    lines: Vec<Line>,
}

/// A line that is neither a comment, a group header nor `key=value`.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct KeyFileError {
    pub line: usize,
    pub why: String,
}

/// A kind of named group, `KIND "NAME"`: `[remote "origin"]`
/// ([`crate::repo::remote`]), `[publish "prod"]` ([`crate::repo::target`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedGroups(pub &'static str);

impl NamedGroups {
    /// The group of `name`: `KIND "NAME"`.
    pub fn group(self, name: &str) -> String {
        format!("{} \"{name}\"", self.0)
    }

    /// The names of this kind's groups in `config`, sorted, each once.
    pub fn names(self, config: &KeyFile) -> Vec<String> {
        let mut names: Vec<String> = config
            .groups()
            .into_iter()
            .filter_map(|g| {
                g.strip_prefix(self.0)
                    .and_then(|r| r.strip_prefix(" \""))
                    .and_then(|r| r.strip_suffix('"'))
            })
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Whether `name` may name such a group: one ref fragment (letters,
    /// digits, `_`, `-`, `.`), ostree's rule for remote names.
    pub fn valid_name(name: &str) -> bool {
        !name.contains('/') && name.parse::<crate::repo::refs::RefName>().is_ok()
    }
}

impl KeyFile {
    pub fn new() -> Self {
        KeyFile::default()
    }

    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut lines = Vec::new();
        let mut in_group = false;
        for (i, raw) in text.lines().enumerate() {
            let t = raw.trim_start();
            if t.is_empty() || t.starts_with('#') {
                lines.push(Line::Other(raw.to_string()));
            } else if let Some(rest) = t.strip_prefix('[') {
                let name = rest.trim_end().strip_suffix(']').ok_or(KeyFileError {
                    line: i + 1,
                    why: format!("invalid group header '{raw}'"),
                })?;
                in_group = true;
                lines.push(Line::Group(name.to_string()));
            } else if let Some((k, v)) = t.split_once('=') {
                if !in_group {
                    return Err(KeyFileError {
                        line: i + 1,
                        why: "key outside of a group".into(),
                    });
                }
                lines.push(Line::Entry {
                    key: k.trim_end().to_string(),
                    value: unescape(v.trim_start()),
                });
            } else {
                return Err(KeyFileError {
                    line: i + 1,
                    why: format!("not a key=value line: '{raw}'"),
                });
            }
        }
        Ok(KeyFile { lines })
    }

    /// The value of `key` in `group` (the last one if repeated, as GLib).
    pub fn get(&self, group: &str, key: &str) -> Option<&str> {
        let mut cur: Option<&str> = None;
        let mut found = None;
        for l in &self.lines {
            match l {
                Line::Group(g) => cur = Some(g),
                Line::Entry { key: k, value } if cur == Some(group) && k == key => {
                    found = Some(value.as_str())
                }
                _ => {}
            }
        }
        found
    }

    pub fn has_group(&self, group: &str) -> bool {
        self.lines
            .iter()
            .any(|l| matches!(l, Line::Group(g) if g == group))
    }

    /// A boolean as GLib reads it (`true`/`false`, `1`/`0`).
    pub fn get_bool(&self, group: &str, key: &str) -> Option<Result<bool, String>> {
        self.get(group, key).map(|v| match v.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(format!("invalid boolean '{other}' for {group}.{key}")),
        })
    }

    /// A `;`-separated list.
    pub fn get_list(&self, group: &str, key: &str) -> Option<Vec<String>> {
        self.get(group, key).map(|v| {
            v.split(';')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
    }

    pub fn set(&mut self, group: &str, key: &str, value: &str) {
        let mut cur: Option<String> = None;
        let mut last_in_group = None;
        let mut slot = None;
        for (i, l) in self.lines.iter().enumerate() {
            match l {
                Line::Group(g) => cur = Some(g.clone()),
                Line::Entry { key: k, .. } if cur.as_deref() == Some(group) => {
                    last_in_group = Some(i);
                    if k == key {
                        slot = Some(i);
                    }
                }
                _ => {}
            }
            if cur.as_deref() == Some(group) && matches!(l, Line::Group(_)) {
                last_in_group = Some(i);
            }
        }
        let entry = Line::Entry {
            key: key.to_string(),
            value: value.to_string(),
        };
        match (slot, last_in_group) {
            (Some(i), _) => self.lines[i] = entry,
            (None, Some(i)) => self.lines.insert(i + 1, entry),
            (None, None) => {
                if !self.lines.is_empty() {
                    self.lines.push(Line::Other(String::new()));
                }
                self.lines.push(Line::Group(group.to_string()));
                self.lines.push(entry);
            }
        }
    }

    /// Removes `key` from `group`; true if it was there.
    pub fn remove(&mut self, group: &str, key: &str) -> bool {
        let mut cur: Option<String> = None;
        let before = self.lines.len();
        self.lines.retain(|l| match l {
            Line::Group(g) => {
                cur = Some(g.clone());
                true
            }
            Line::Entry { key: k, .. } => !(cur.as_deref() == Some(group) && k == key),
            _ => true,
        });
        before != self.lines.len()
    }

    /// Removes a whole group (its header, entries and the comments and blank
    /// lines between them); true if it was there.
    pub fn remove_group(&mut self, group: &str) -> bool {
        let mut inside = false;
        let before = self.lines.len();
        self.lines.retain(|l| {
            if let Line::Group(g) = l {
                inside = g == group;
            }
            !inside
        });
        // Drop a blank line left dangling at the end, as GLib does not write one.
        while matches!(self.lines.last(), Some(Line::Other(s)) if s.trim().is_empty()) {
            self.lines.pop();
        }
        before != self.lines.len()
    }

    /// `(key, value)` pairs of a group, in file order.
    pub fn entries(&self, group: &str) -> Vec<(&str, &str)> {
        let mut cur: Option<&str> = None;
        let mut out = Vec::new();
        for l in &self.lines {
            match l {
                Line::Group(g) => cur = Some(g),
                Line::Entry { key, value } if cur == Some(group) => {
                    out.push((key.as_str(), value.as_str()))
                }
                _ => {}
            }
        }
        out
    }

    /// Group names, in file order.
    pub fn groups(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| {
                if let Line::Group(g) = l {
                    Some(g.as_str())
                } else {
                    None
                }
            })
            .collect()
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            match l {
                Line::Other(s) => out.push_str(s),
                Line::Group(g) => {
                    let _ = write!(out, "[{g}]");
                }
                Line::Entry { key, value } => {
                    let _ = write!(out, "{key}={}", escape(value));
                }
            }
            out.push('\n');
        }
        out
    }
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        match c {
            ' ' if i == 0 => out.push_str("\\s"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_groups_of_one_kind_only() {
        let k = KeyFile::parse(
            "[remote \"b\"]\n[publish \"b\"]\n[remotes \"c\"]\n[remote \"a\"]\n[remote \"b\"]\n",
        )
        .unwrap();
        assert_eq!(NamedGroups("remote").names(&k), ["a", "b"]);
        assert_eq!(NamedGroups("publish").names(&k), ["b"]);
        assert_eq!(NamedGroups("publish").group("b"), "publish \"b\"");
        assert!(NamedGroups::valid_name("prod-1.x"));
        assert!(!NamedGroups::valid_name("a/b"));
    }

    #[test]
    fn parse_set_and_keep_comments() {
        let mut k = KeyFile::parse(
            "# top\n[core]\nrepo_version=1\nmode=bare\n\n[remote \"x\"]\nurl=http://a\n",
        )
        .unwrap();
        assert_eq!(k.get("core", "mode"), Some("bare"));
        assert_eq!(k.get("remote \"x\"", "url"), Some("http://a"));
        k.set("core", "mode", "archive-z2");
        k.set("core", "new", "a b");
        k.set("sect", "k", "v v");
        assert_eq!(k.to_text(), "# top\n[core]\nrepo_version=1\nmode=archive-z2\nnew=a b\n\n[remote \"x\"]\nurl=http://a\n\n[sect]\nk=v v\n");
        assert!(k.remove("core", "new"));
        assert!(!k.remove("core", "new"));
        assert_eq!(KeyFile::parse(&k.to_text()).unwrap(), k);
    }

    #[test]
    fn lists_and_bools() {
        let k = KeyFile::parse("[a]\nl=x;y;\nb=true\nc=maybe\n").unwrap();
        assert_eq!(k.get_list("a", "l").unwrap(), vec!["x", "y"]);
        assert_eq!(k.get_bool("a", "b"), Some(Ok(true)));
        assert!(k.get_bool("a", "c").unwrap().is_err());
        assert!(KeyFile::parse("k=v\n").is_err());
    }

    #[test]
    fn remove_group() {
        let mut k =
            KeyFile::parse("[core]\nmode=bare\n\n[remote \"a\"]\nurl=x\n\n[remote \"b\"]\nurl=y\n")
                .unwrap();
        assert!(k.remove_group("remote \"a\""));
        assert_eq!(k.to_text(), "[core]\nmode=bare\n\n[remote \"b\"]\nurl=y\n");
        assert!(k.remove_group("remote \"b\""));
        assert_eq!(k.to_text(), "[core]\nmode=bare\n");
        assert!(!k.remove_group("nope"));
    }
}
