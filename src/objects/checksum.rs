//! SHA-256 object checksums and object types.
//!
//! Owns the typed names of everything in the object store: [`Checksum`],
//! [`ObjectType`] and [`ObjectName`]. The same concepts live in OSTree's
//! `ostree-core.h` (`OstreeObjectType`, `ostree_validate_checksum_string`).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A SHA-256 checksum naming an object.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Checksum([u8; 32]);

/// Hashes the first 8 bytes only: they are already uniformly distributed,
/// and walks of large repositories put millions of checksums in hash sets,
/// where hashing all 32 bytes was a fifth of `status`'s time.
impl std::hash::Hash for Checksum {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

/// A string or byte slice that is not a valid checksum.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChecksumError {
    #[error("invalid checksum '{0}': expected 64 lowercase hex digits")]
    Hex(String),
    #[error("invalid checksum: expected 32 bytes, got {0}")]
    Length(usize),
}

impl Checksum {
    /// Wraps 32 raw bytes.
    pub const fn from_array(bytes: [u8; 32]) -> Self {
        Checksum(bytes)
    }

    /// Checks and wraps a 32-byte slice, as found in dirtree and commit objects.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ChecksumError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| ChecksumError::Length(bytes.len()))?;
        Ok(Checksum(arr))
    }

    /// The SHA-256 of `data`.
    pub fn digest(data: &[u8]) -> Self {
        Checksum(Sha256::digest(data).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        let digits = self.hex_digits();
        std::str::from_utf8(&digits)
            .expect("hex is ASCII")
            .to_owned()
    }

    /// The 64 lowercase hex digits, on the stack: walks of millions of
    /// objects name each one, and an allocating encoder was a visible share
    /// of a checkout's time.
    pub fn hex_digits(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        out
    }

    /// The first 10 hex digits: how grove names a commit in a one-line
    /// message (`promoted 1a2b3c4d5e to …`, `grove status`).
    pub fn short(&self) -> String {
        hex::encode(&self.0[..5])
    }

    /// Whether `s` could be a (possibly partial) checksum: lowercase hex, at most 64 digits.
    pub fn is_hex_prefix(s: &str) -> bool {
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
}

/// The value of one lowercase hex digit.
fn hex_value(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    }
}

impl Checksum {
    /// The checksum spelled by `head` then `tail`, 64 lowercase hex digits
    /// in all: a loose object's `XX` directory and the rest of its file
    /// name, read without joining them (prune and fsck list millions).
    pub fn from_hex_parts(head: &[u8], tail: &[u8]) -> Option<Checksum> {
        if head.len() + tail.len() != 64 || head.len() % 2 != 0 {
            return None;
        }
        let mut out = [0u8; 32];
        let pairs = head.chunks_exact(2).chain(tail.chunks_exact(2));
        for (byte, pair) in out.iter_mut().zip(pairs) {
            *byte = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
        }
        Some(Checksum(out))
    }
}

impl FromStr for Checksum {
    type Err = ChecksumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Checksum::from_hex_parts(s.as_bytes(), &[]).ok_or_else(|| ChecksumError::Hex(s.to_string()))
    }
}

/// Serialized as its 64-character hex form (in `--json` reports).
impl serde::Serialize for Checksum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.hex_digits()).expect("hex is ASCII"))
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({self})")
    }
}

/// A streaming SHA-256 computation that yields a [`Checksum`].
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Self {
        Hasher(Sha256::new())
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    pub fn finish(self) -> Checksum {
        Checksum(self.0.finalize().into())
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The kinds of object in the store (`OstreeObjectType`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum ObjectType {
    File,
    DirTree,
    DirMeta,
    Commit,
    TombstoneCommit,
    CommitMeta,
}

impl ObjectType {
    /// Metadata objects are GVariants held whole in memory; content objects are streamed.
    pub fn is_meta(self) -> bool {
        !matches!(self, ObjectType::File)
    }

    /// The file-name suffix of a loose object, given whether the repo is an archive.
    pub fn extension(self, archive: bool) -> &'static str {
        match self {
            ObjectType::File if archive => "filez",
            t => t.name(),
        }
    }

    /// Parses a loose-object suffix (`file` and `filez` both mean [`ObjectType::File`]).
    pub fn from_extension(ext: &str) -> Option<Self> {
        Some(match ext {
            "file" | "filez" => ObjectType::File,
            "dirtree" => ObjectType::DirTree,
            "dirmeta" => ObjectType::DirMeta,
            "commit" => ObjectType::Commit,
            "tombstone-commit" => ObjectType::TombstoneCommit,
            "commitmeta" => ObjectType::CommitMeta,
            _ => return None,
        })
    }

    /// The name OSTree prints for the type (`ostree_object_type_to_string`).
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::File => "file",
            ObjectType::DirTree => "dirtree",
            ObjectType::DirMeta => "dirmeta",
            ObjectType::Commit => "commit",
            ObjectType::TombstoneCommit => "tombstone-commit",
            ObjectType::CommitMeta => "commitmeta",
        }
    }

    /// The numeric value OSTree uses in summaries and deltas.
    pub fn to_u8(self) -> u8 {
        match self {
            ObjectType::File => 1,
            ObjectType::DirTree => 2,
            ObjectType::DirMeta => 3,
            ObjectType::Commit => 4,
            ObjectType::TombstoneCommit => 5,
            ObjectType::CommitMeta => 6,
        }
    }

    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => ObjectType::File,
            2 => ObjectType::DirTree,
            3 => ObjectType::DirMeta,
            4 => ObjectType::Commit,
            5 => ObjectType::TombstoneCommit,
            6 => ObjectType::CommitMeta,
            _ => return None,
        })
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A checksum together with its object type: the full name of an object.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ObjectName {
    pub checksum: Checksum,
    pub objtype: ObjectType,
}

impl ObjectName {
    pub fn new(checksum: Checksum, objtype: ObjectType) -> Self {
        ObjectName { checksum, objtype }
    }
}

/// A loose object's name relative to `objects/`: `XX/REST.EXT`, built on
/// the stack and NUL-terminated, for the `*at` calls that stat, open or
/// link millions of objects (OSTree's `_ostree_loose_path`).
#[derive(Clone, Copy)]
pub struct LooseRel {
    buf: [u8; 88],
    len: usize,
}

impl LooseRel {
    /// The name of `checksum` with extension `ext` (`file`, `filez`, `dirtree` …).
    pub fn new(checksum: &Checksum, ext: &str) -> Self {
        let hex = checksum.hex_digits();
        let mut buf = [0u8; 88];
        buf[..2].copy_from_slice(&hex[..2]);
        buf[2] = b'/';
        buf[3..65].copy_from_slice(&hex[2..]);
        buf[65] = b'.';
        let len = 66 + ext.len();
        buf[66..len].copy_from_slice(ext.as_bytes());
        LooseRel { buf, len }
    }

    /// The name of `name` in an archive (`archive`) or bare-family repository.
    pub fn of(name: &ObjectName, archive: bool) -> Self {
        LooseRel::new(&name.checksum, name.objtype.extension(archive))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("hex and an extension are ASCII")
    }

    pub fn as_c_str(&self) -> &std::ffi::CStr {
        std::ffi::CStr::from_bytes_with_nul(&self.buf[..=self.len]).expect("one NUL, at the end")
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.checksum, self.objtype.extension(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_rel_names_the_object_under_objects() {
        let c = Checksum::digest(b"x");
        let hex = c.to_hex();
        assert_eq!(hex, format!("{c}"));
        assert_eq!(hex, hex::encode(c.as_bytes()));
        let rel = LooseRel::of(&ObjectName::new(c, ObjectType::TombstoneCommit), false);
        assert_eq!(
            rel.as_str(),
            format!("{}/{}.tombstone-commit", &hex[..2], &hex[2..])
        );
        assert_eq!(rel.as_c_str().to_bytes(), rel.as_str().as_bytes());
        let rel = LooseRel::of(&ObjectName::new(c, ObjectType::File), true);
        assert_eq!(rel.as_str(), format!("{}/{}.filez", &hex[..2], &hex[2..]));
    }

    #[test]
    fn hex_parts_parse_lowercase_only() {
        let c = Checksum::digest(b"x");
        let hex = c.to_hex();
        let (head, tail) = hex.split_at(2);
        assert_eq!(
            Checksum::from_hex_parts(head.as_bytes(), tail.as_bytes()),
            Some(c)
        );
        assert_eq!(Checksum::from_hex_parts(hex.as_bytes(), &[]), Some(c));
        assert_eq!(Checksum::from_hex_parts(&hex.as_bytes()[1..], &[]), None);
        assert!(hex.to_uppercase().parse::<Checksum>().is_err());
        assert!(format!("{}g", &hex[..63]).parse::<Checksum>().is_err());
    }

    #[test]
    fn short_is_the_first_ten_hex_digits() {
        let c = Checksum::digest(b"x");
        assert_eq!(c.short().len(), 10);
        assert!(c.to_string().starts_with(&c.short()));
    }

    #[test]
    fn hex_round_trip() {
        let s = "7a5d6f9bef91d4ab91bc250e918953269c6733d98385f4091befe7755210204c";
        let c: Checksum = s.parse().unwrap();
        assert_eq!(c.to_string(), s);
        assert_eq!(c.to_hex(), s);
        assert!("7A5D".parse::<Checksum>().is_err());
        assert!(s[..63].parse::<Checksum>().is_err());
        assert!(format!("{}g", &s[..63]).parse::<Checksum>().is_err());
    }

    #[test]
    fn digest_matches_known_value() {
        assert_eq!(
            Checksum::digest(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn extensions() {
        for t in [
            ObjectType::File,
            ObjectType::DirTree,
            ObjectType::DirMeta,
            ObjectType::Commit,
            ObjectType::TombstoneCommit,
            ObjectType::CommitMeta,
        ] {
            assert_eq!(ObjectType::from_extension(t.extension(true)), Some(t));
            assert_eq!(ObjectType::from_u8(t.to_u8()), Some(t));
        }
    }
}
