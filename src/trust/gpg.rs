//! OpenPGP signatures on commits and summaries, made and checked with
//! sequoia-openpgp.
//!
//! OSTree stores binary *detached* OpenPGP signatures over the exact bytes
//! of the signed object: for a commit, over the commit object, in the
//! commit's detached metadata (`objects/XX/REST.commitmeta`, an `a{sv}`)
//! under the key `ostree.gpgsigs` as an `aay` (one signature packet stream
//! per element, appended in signing order); for a summary, over the
//! `summary` file, in `summary.sig` (an `a{sv}` with the same key).
//! Upstream: `ostree-repo.c` (`sign_data`, `ostree_repo_sign_commit`,
//! `ostree_repo_add_gpg_signature_summary`), `ostree-gpg-verifier.c` and
//! `ostree-gpg-verify-result.c` (what counts as valid: at least one good
//! signature by a key in the keyring that is neither expired nor revoked).
//!
//! This module is pure: keys come in as bytes (an armored or binary
//! transferable secret key, or public keyrings). Getting them out of a
//! GnuPG home is the porcelain's business.

use std::time::SystemTime;

use openpgp::cert::prelude::*;
use openpgp::crypto::{KeyPair, Password};
use openpgp::packet::signature::SignatureBuilder;
use openpgp::packet::Signature;
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::policy::{HashAlgoSecurity, Policy as _, StandardPolicy};
use openpgp::serialize::MarshalInto;
use openpgp::types::{HashAlgorithm, RevocationStatus, SignatureType};
use openpgp::{Cert, KeyHandle, Packet};
use sequoia_openpgp as openpgp;

use crate::objects::checksum::{Checksum, ObjectName, ObjectType};
use crate::objects::metadata::Metadata;
use crate::repo::{Repo, RepoError};

/// The detached-metadata and summary.sig key holding the signatures.
pub const GPGSIGS_KEY: &str = "ostree.gpgsigs";

/// Errors from signing and verifying.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot read OpenPGP key data from {origin}: {why}")]
    KeyData { origin: String, why: String },
    #[error("No gpg key found with ID {key} ({origin})")]
    KeyNotFound { key: String, origin: String },
    #[error("gpg key id {key} ambiguous ({origin}). Try the fingerprint instead")]
    Ambiguous { key: String, origin: String },
    #[error("key {key} has no secret signing key that is valid now ({origin})")]
    NoSigningKey { key: String, origin: String },
    #[error("secret key {key} is protected by a passphrase and none was given")]
    Locked { key: String },
    #[error("wrong passphrase for secret key {key}")]
    BadPassphrase { key: String },
    #[error("signing with key {key} failed: {why}")]
    Crypto { key: String, why: String },
    #[error("Commit {commit} is already signed with GPG key {key}")]
    AlreadySigned { commit: Checksum, key: String },
    #[error("corrupt detached metadata of commit {commit}: {why}")]
    CorruptDetached { commit: Checksum, why: String },
    #[error("corrupt signature data in {what}: {why}")]
    CorruptSignature { what: String, why: String },
    #[error("reading {}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Repo(#[from] RepoError),
}

pub type Result<T, E = SignError> = std::result::Result<T, E>;

/// The one policy grove judges keys and signatures by, for signing and
/// verifying alike: sequoia's standard policy, except that SHA-1 is
/// accepted where only second-preimage resistance matters — key binding
/// signatures, self-revocations and self-signatures over ordinary user ids.
///
/// GnuPG 2.2 (and so gpgme and ostree) accepts such keys, and long-lived
/// release keys made before 2019 commonly carry SHA-1 bindings; no known
/// attack forges them. SHA-1 stays rejected where collision resistance is
/// needed: a signature over data (a commit, a summary) whose hash is SHA-1
/// is reported as bad (see [`SigStatus::WeakHash`]), since SHA-1 collisions
/// are practical. grove's own signatures use SHA-512.
pub fn policy() -> StandardPolicy<'static> {
    let mut p = StandardPolicy::new();
    p.accept_hash_property(
        HashAlgorithm::SHA1,
        HashAlgoSecurity::SecondPreImageResistance,
    );
    p
}

/// Whether the key `fpr` of `cert` is valid under [`policy`] only because
/// that accepts SHA-1 bindings (sequoia's unmodified standard policy finds
/// no valid binding for it).
fn binding_needs_sha1(cert: &Cert, handle: KeyHandle) -> bool {
    let strict = StandardPolicy::new();
    cert.keys()
        .key_handle(handle)
        .next()
        .is_some_and(|ka| ka.with_policy(&strict, None).is_err())
}

/// Certificates (public keys, possibly with secrets) parsed from key data.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    certs: Vec<Cert>,
}

impl Keyring {
    pub fn new() -> Self {
        Keyring::default()
    }

    /// Parses armored or binary OpenPGP key data (one or more certificates).
    /// `origin` names the source in errors (a path, "gpg home DIR").
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self> {
        let err = |why: String| SignError::KeyData {
            origin: origin.to_string(),
            why,
        };
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(err("no key data".into()));
        }
        let mut certs = Vec::new();
        for c in CertParser::from_bytes(bytes).map_err(|e| err(e.to_string()))? {
            certs.push(c.map_err(|e| err(e.to_string()))?);
        }
        if certs.is_empty() {
            return Err(err("no OpenPGP certificate found".into()));
        }
        Ok(Keyring { certs })
    }

    /// Adds another keyring's certificates (merging copies of the same key).
    pub fn extend(&mut self, other: Keyring) {
        for c in other.certs {
            match self
                .certs
                .iter()
                .position(|x| x.fingerprint() == c.fingerprint())
            {
                Some(i) => {
                    let old = self.certs.remove(i);
                    match old.clone().merge_public_and_secret(c) {
                        Ok(m) => self.certs.insert(i, m),
                        Err(_) => self.certs.insert(i, old),
                    }
                }
                None => self.certs.push(c),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The certificates as a binary keyring of public keys only (what
    /// `ostree remote add --gpg-import` writes to `REMOTE.trustedkeys.gpg`).
    pub fn to_public_bytes(&self) -> Vec<u8> {
        use sequoia_openpgp::serialize::Serialize as _;
        let mut out = Vec::new();
        for c in &self.certs {
            c.serialize(&mut out)
                .expect("serializing into a Vec cannot fail");
        }
        out
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Fingerprints (uppercase hex) of the primary keys.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certs
            .iter()
            .map(|c| c.fingerprint().to_hex())
            .collect()
    }

    /// The certificate a GnuPG-style key id names: a fingerprint or key id
    /// (of the primary key or a subkey, optionally `0x`-prefixed, the long
    /// or short form), or else a user id substring such as an email.
    pub fn select(&self, key_id: &str, origin: &str) -> Result<&Cert> {
        let found: Vec<&Cert> = self
            .certs
            .iter()
            .filter(|c| cert_matches(c, key_id))
            .collect();
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(SignError::KeyNotFound {
                key: key_id.to_string(),
                origin: origin.to_string(),
            }),
            _ => Err(SignError::Ambiguous {
                key: key_id.to_string(),
                origin: origin.to_string(),
            }),
        }
    }

    /// A keyring of the one certificate `key_id` names (as [`Keyring::select`]).
    pub fn subset(&self, key_id: &str) -> Result<Keyring> {
        Ok(Keyring {
            certs: vec![self.select(key_id, "keyring")?.clone()],
        })
    }

    fn find_key(
        &self,
        handle: &KeyHandle,
    ) -> Option<(
        &Cert,
        openpgp::packet::Key<
            openpgp::packet::key::PublicParts,
            openpgp::packet::key::UnspecifiedRole,
        >,
    )> {
        for c in &self.certs {
            if let Some(ka) = c.keys().key_handle(handle.clone()).next() {
                return Some((c, ka.key().clone().role_into_unspecified()));
            }
        }
        None
    }
}

fn hex_id(s: &str) -> Option<String> {
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let s = s.strip_suffix('!').unwrap_or(s);
    (matches!(s.len(), 8 | 16 | 40 | 64) && s.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| s.to_ascii_uppercase())
}

fn key_matches_hex(fpr_hex: &str, id_hex: &str) -> bool {
    fpr_hex.ends_with(id_hex)
}

fn cert_matches(cert: &Cert, key_id: &str) -> bool {
    if let Some(id) = hex_id(key_id) {
        return cert
            .keys()
            .any(|k| key_matches_hex(&k.key().fingerprint().to_hex(), &id));
    }
    let needle = key_id
        .trim_start_matches(['<', '='])
        .trim_end_matches('>')
        .to_lowercase();
    if needle.is_empty() {
        return false;
    }
    cert.userids().any(|u| {
        String::from_utf8_lossy(u.userid().value())
            .to_lowercase()
            .contains(&needle)
    })
}

/// A secret key ready to sign.
pub struct SigningKey {
    keypair: KeyPair,
    /// Fingerprint of the key that signs (a subkey or the primary).
    pub fingerprint: String,
    /// Fingerprint of the certificate's primary key.
    pub primary_fingerprint: String,
    /// The key is bound to its certificate by SHA-1 self-signatures only
    /// (accepted, see [`policy`]; worth refreshing with a modern digest).
    pub sha1_binding: bool,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl SigningKey {
    /// Picks the signing key `key_id` names in `keyring` (which must hold
    /// secret key material), unlocking it with `passphrase` if it is protected.
    /// With `key_id` `None` the keyring must hold exactly one certificate.
    pub fn from_keyring(
        keyring: &Keyring,
        key_id: Option<&str>,
        passphrase: Option<&str>,
        origin: &str,
    ) -> Result<SigningKey> {
        let cert = match key_id {
            Some(id) => keyring.select(id, origin)?,
            None => match keyring.certs.as_slice() {
                [one] => one,
                _ => {
                    return Err(SignError::Ambiguous {
                        key: "(none given)".into(),
                        origin: origin.to_string(),
                    })
                }
            },
        };
        let name = key_id
            .map(str::to_string)
            .unwrap_or_else(|| cert.fingerprint().to_hex());
        let p = policy();
        let no_signing = || SignError::NoSigningKey {
            key: name.clone(),
            origin: origin.to_string(),
        };
        let vc = cert.with_policy(&p, None).map_err(|_| no_signing())?;
        let wanted = key_id.and_then(hex_id);
        let mut candidates: Vec<_> = vc.keys().for_signing().alive().revoked(false).collect();
        // As GnuPG picks: the newest signing subkey, the primary key only if
        // there is none; a key id naming a subkey, or the primary with a `!`
        // suffix, picks exactly that key.
        let primary = cert.fingerprint();
        candidates.sort_by_key(|k| {
            (
                k.key().fingerprint() == primary,
                std::cmp::Reverse(k.key().creation_time()),
            )
        });
        if let Some(id) = &wanted {
            let exact = key_id.is_some_and(|k| k.ends_with('!'));
            if let Some(i) = candidates
                .iter()
                .position(|k| key_matches_hex(&k.key().fingerprint().to_hex(), id))
            {
                if exact || candidates[i].key().fingerprint() != primary {
                    let k = candidates.remove(i);
                    candidates.insert(0, k);
                }
            }
        }
        let ka = candidates
            .into_iter()
            .find(|k| k.key().has_secret())
            .ok_or_else(no_signing)?;
        let key = ka
            .key()
            .clone()
            .parts_into_secret()
            .map_err(|_| no_signing())?;
        let key = if key.has_unencrypted_secret() {
            key
        } else {
            match passphrase {
                None => return Err(SignError::Locked { key: name }),
                Some(pw) => key
                    .decrypt_secret(&Password::from(pw))
                    .map_err(|_| SignError::BadPassphrase { key: name.clone() })?,
            }
        };
        let keypair = key.into_keypair().map_err(|e| SignError::Crypto {
            key: name.clone(),
            why: e.to_string(),
        })?;
        let sha1_binding = binding_needs_sha1(cert, keypair.public().key_handle());
        Ok(SigningKey {
            fingerprint: keypair.public().fingerprint().to_hex(),
            primary_fingerprint: cert.fingerprint().to_hex(),
            sha1_binding,
            keypair,
        })
    }

    /// The 16-hex-digit key id of the signing key.
    pub fn key_id(&self) -> String {
        self.fingerprint[self.fingerprint.len().saturating_sub(16)..].to_string()
    }

    /// A binary detached signature over `data`, hashed with SHA-512
    /// whatever the key's own self-signatures use.
    pub fn sign(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        let crypto = |e: anyhow_like::Error| SignError::Crypto {
            key: self.fingerprint.clone(),
            why: e.to_string(),
        };
        let sig = SignatureBuilder::new(SignatureType::Binary)
            .set_hash_algo(HashAlgorithm::SHA512)
            .sign_message(&mut self.keypair, data)
            .map_err(crypto)?;
        Packet::from(sig).to_vec().map_err(|e| SignError::Crypto {
            key: self.fingerprint.clone(),
            why: e.to_string(),
        })
    }

    /// Whether a signature (one `ostree.gpgsigs` element) was made by this key.
    pub fn made(&self, sig_blob: &[u8]) -> bool {
        parse_signatures(sig_blob)
            .map(|sigs| {
                sigs.iter().any(|s| {
                    issuer_matches(s, &self.fingerprint)
                        || issuer_matches(s, &self.primary_fingerprint)
                })
            })
            .unwrap_or(false)
    }
}

/// Sequoia's error type (anyhow, re-exported without depending on it).
mod anyhow_like {
    pub type Error = sequoia_openpgp::anyhow::Error;
}

fn issuer_matches(sig: &Signature, fpr_hex: &str) -> bool {
    sig.get_issuers()
        .iter()
        .any(|h| key_matches_hex(fpr_hex, &h.to_hex()))
}

fn parse_signatures(blob: &[u8]) -> std::result::Result<Vec<Signature>, String> {
    let mut out = Vec::new();
    let mut ppr = PacketParser::from_bytes(blob).map_err(|e| e.to_string())?;
    while let PacketParserResult::Some(pp) = ppr {
        let (packet, next) = pp.next().map_err(|e| e.to_string())?;
        match packet {
            Packet::Signature(s) => out.push(s),
            Packet::Unknown(u) => return Err(format!("unparsable packet: {}", u.error())),
            other => return Err(format!("unexpected {} packet", other.tag())),
        }
        ppr = next;
    }
    if out.is_empty() {
        return Err("no signature packet".into());
    }
    Ok(out)
}

/// What checking one signature found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigStatus {
    /// Valid, by a key in the keyring that is neither expired nor revoked.
    Good,
    /// The signature does not match the data (or is malformed).
    Bad,
    /// No key in the keyring made it.
    MissingKey,
    /// The key (or its certificate) is expired.
    KeyExpired,
    /// The key (or its certificate) is revoked.
    KeyRevoked,
    /// The signature itself has expired.
    SigExpired,
    /// The signature matches, but hashes the data with an algorithm whose
    /// collisions are practical (SHA-1, MD5, RIPEMD-160), so it proves
    /// nothing about the data; [`SignatureReport::hash`] names it.
    WeakHash,
}

/// One signature and how it checked out.
#[derive(Clone, Debug)]
pub struct SignatureReport {
    pub status: SigStatus,
    /// Fingerprint (or, if the key is unknown, the issuer key id) of the signing key.
    pub fingerprint: String,
    /// Fingerprint of the certificate's primary key, when known.
    pub primary_fingerprint: Option<String>,
    /// The certificate's primary user id as written (`Name (comment) <email>`), when known.
    pub signer: Option<String>,
    /// The name part of that user id (what GnuPG calls the uid's name).
    pub user_name: Option<String>,
    /// The email part of that user id.
    pub user_email: Option<String>,
    pub created: Option<SystemTime>,
    pub sig_expires: Option<SystemTime>,
    /// Expiry of the key that made the signature, as its binding says now.
    pub key_expires: Option<SystemTime>,
    /// Expiry of the certificate's primary key, as it stands now.
    pub primary_key_expires: Option<SystemTime>,
    /// Public-key algorithm as GnuPG names it (RSA, EdDSA, ...).
    pub algo: String,
    /// The hash algorithm the signature digests the data with (SHA512, SHA1, ...).
    pub hash: String,
}

impl SignatureReport {
    /// The last 16 hex digits of the signing key's fingerprint.
    pub fn key_id(&self) -> &str {
        &self.fingerprint[self.fingerprint.len().saturating_sub(16)..]
    }

    /// The last 16 hex digits of the primary key's fingerprint, when known.
    pub fn primary_key_id(&self) -> Option<&str> {
        self.primary_fingerprint
            .as_deref()
            .map(|p| &p[p.len().saturating_sub(16)..])
    }

    /// Whether the signature was made by a subkey rather than the primary key.
    pub fn by_subkey(&self) -> bool {
        self.primary_fingerprint
            .as_deref()
            .is_some_and(|p| p != self.fingerprint)
    }
}

fn algo_name(a: openpgp::types::PublicKeyAlgorithm) -> String {
    use openpgp::types::PublicKeyAlgorithm::*;
    #[allow(deprecated)]
    match a {
        RSAEncryptSign | RSASign | RSAEncrypt => "RSA".into(),
        DSA => "DSA".into(),
        ECDSA => "ECDSA".into(),
        EdDSA | Ed25519 | Ed448 => "EdDSA".into(),
        other => other.to_string(),
    }
}

/// Checks every signature in `sig_blobs` (elements of `ostree.gpgsigs`)
/// over `data` against `keyring` at time `now`.
pub fn verify(
    data: &[u8],
    sig_blobs: &[Vec<u8>],
    keyring: &Keyring,
    now: SystemTime,
    what: &str,
) -> Result<Vec<SignatureReport>> {
    let p = policy();
    let mut reports = Vec::new();
    for blob in sig_blobs {
        let sigs = parse_signatures(blob).map_err(|why| SignError::CorruptSignature {
            what: what.to_string(),
            why,
        })?;
        for sig in sigs {
            reports.push(check_one(&sig, data, keyring, &p, now));
        }
    }
    Ok(reports)
}

fn check_one(
    sig: &Signature,
    data: &[u8],
    keyring: &Keyring,
    p: &StandardPolicy,
    now: SystemTime,
) -> SignatureReport {
    let issuers = sig.get_issuers();
    let issuer_hex = issuers
        .iter()
        .find(|h| matches!(h, KeyHandle::Fingerprint(_)))
        .or(issuers.first())
        .map(|h| h.to_hex())
        .unwrap_or_default();
    let mut report = SignatureReport {
        status: SigStatus::MissingKey,
        fingerprint: issuer_hex,
        primary_fingerprint: None,
        signer: None,
        user_name: None,
        user_email: None,
        created: sig.signature_creation_time(),
        sig_expires: sig.signature_expiration_time(),
        key_expires: None,
        primary_key_expires: None,
        algo: algo_name(sig.pk_algo()),
        hash: sig.hash_algo().to_string(),
    };
    let Some((cert, key)) = issuers.iter().find_map(|h| keyring.find_key(h)) else {
        return report;
    };
    report.fingerprint = key.fingerprint().to_hex();
    report.primary_fingerprint = Some(cert.fingerprint().to_hex());
    let at = report.created.unwrap_or(now);
    // The key's standing is judged as the certificate says *now* (as GnuPG
    // does): an expiry set, or a revocation issued, after the signature was
    // made still counts. The signing time is the fallback for a certificate
    // with no binding valid now.
    let vc = cert
        .with_policy(p, now)
        .or_else(|_| cert.with_policy(p, at))
        .ok();
    let uid = vc
        .as_ref()
        .and_then(|vc| vc.primary_userid().ok())
        .map(|u| u.userid().clone())
        .or_else(|| cert.userids().next().map(|u| u.userid().clone()));
    if let Some(u) = uid {
        let whole = String::from_utf8_lossy(u.value()).into_owned();
        match (u.name().ok().flatten(), u.email().ok().flatten()) {
            (None, None) => report.user_name = Some(whole.clone()),
            (name, email) => {
                report.user_name = Some(name.unwrap_or("").to_string());
                report.user_email = email.map(str::to_string);
            }
        }
        report.signer = Some(whole);
    }
    let ka = cert.keys().key_handle(key.key_handle()).next();
    let vk = ka.as_ref().and_then(|ka| {
        ka.with_policy(p, now)
            .or_else(|_| ka.with_policy(p, at))
            .ok()
    });
    report.key_expires = vk.as_ref().and_then(|vk| vk.key_expiration_time());
    report.primary_key_expires = vc
        .as_ref()
        .and_then(|vc| vc.primary_key().key_expiration_time());
    if sig.verify_message(&key, data).is_err() {
        report.status = SigStatus::Bad;
        return report;
    }
    if p.signature(sig, HashAlgoSecurity::CollisionResistance)
        .is_err()
    {
        report.status = SigStatus::WeakHash;
        return report;
    }
    let revoked = matches!(cert.revocation_status(p, now), RevocationStatus::Revoked(_))
        || vk
            .as_ref()
            .is_some_and(|vk| matches!(vk.revocation_status(), RevocationStatus::Revoked(_)));
    if revoked {
        report.status = SigStatus::KeyRevoked;
        return report;
    }
    let Some(vk) = vk else {
        // No binding of this key is valid under the policy at all.
        report.status = SigStatus::Bad;
        return report;
    };
    if report.primary_key_expires.is_some_and(|t| t <= now)
        || report.key_expires.is_some_and(|t| t <= now)
    {
        report.status = SigStatus::KeyExpired;
        return report;
    }
    if sig.signature_alive(now, std::time::Duration::ZERO).is_err() {
        report.status = if report.sig_expires.is_some_and(|t| t <= now) {
            SigStatus::SigExpired
        } else {
            SigStatus::Bad
        };
        return report;
    }
    if !vk.for_signing() {
        report.status = SigStatus::Bad;
        return report;
    }
    report.status = SigStatus::Good;
    report
}

/// Why none of `reports` is a good signature, or `None` if one is: the
/// problem of the last signature (as ostree reports the last one's).
pub fn invalid_reason(reports: &[SignatureReport]) -> Option<String> {
    if reports.iter().any(|r| r.status == SigStatus::Good) {
        return None;
    }
    let Some(r) = reports.last() else {
        return Some("no signatures found".into());
    };
    // Worded as ostree describes the signature (its error quotes `show`'s
    // status line), led by the key.
    let id = r.key_id();
    let why = match r.status {
        SigStatus::MissingKey => format!("signature by key {id}: Can't check signature: public key not found in the keyring"),
        SigStatus::Bad => format!("BAD signature by key {id}"),
        SigStatus::KeyRevoked => format!("signature by key {id}: Key revoked"),
        SigStatus::KeyExpired => format!("BAD signature by key {id}: Key expired"),
        SigStatus::SigExpired => format!("signature by key {id}: Signature expired"),
        SigStatus::WeakHash => format!("BAD signature by key {id}: it hashes the data with {}, whose collisions are practical; re-sign with SHA-256 or better", r.hash),
        SigStatus::Good => unreachable!("no signature is good"),
    };
    Some(format!("no valid signature: {why}"))
}

/// Checks the `ostree.gpgsigs` of `meta` (a `.commitmeta` or `summary.sig`)
/// over `data` against `keyring` now: `Err` says why no signature is good.
pub fn require_good(
    data: &[u8],
    meta: &Metadata,
    keyring: &Keyring,
    what: &str,
) -> std::result::Result<(), String> {
    let sigs = gpgsigs(meta).map_err(|why| format!("{what}: {why}"))?;
    let reports =
        verify(data, &sigs, keyring, SystemTime::now(), what).map_err(|e| e.to_string())?;
    invalid_reason(&reports).map_or(Ok(()), Err)
}

/// Whether `commit` carries signatures to describe (`show` lists them
/// only then). Unreadable detached metadata counts as signed, so that
/// verifying it reports what is wrong with it.
pub fn has_signatures(repo: &Repo, commit: Checksum) -> bool {
    match repo.read_detached_metadata(commit) {
        Ok(Some(m)) => m.get(GPGSIGS_KEY).is_some(),
        Ok(None) => false,
        Err(_) => true,
    }
}

/// The `ostree.gpgsigs` entries of a detached metadata / summary.sig dictionary.
pub fn gpgsigs(meta: &Metadata) -> std::result::Result<Vec<Vec<u8>>, String> {
    match meta.get(GPGSIGS_KEY) {
        None => Ok(Vec::new()),
        Some(_) => meta
            .get_bytes_list(GPGSIGS_KEY)
            .ok_or_else(|| format!("{GPGSIGS_KEY} is not an array of byte strings (aay)")),
    }
}

/// Serialises an `a{sv}` holding only `ostree.gpgsigs` (a `summary.sig`).
pub fn gpgsigs_dict_bytes(sigs: &[Vec<u8>]) -> Vec<u8> {
    let mut m = Metadata::new();
    if !sigs.is_empty() {
        m.insert(GPGSIGS_KEY, crate::objects::metadata::owned(sigs.to_vec()));
    }
    m.to_bytes()
}

fn with_gpgsigs(meta: Option<Metadata>, sigs: Vec<Vec<u8>>) -> Option<Metadata> {
    let mut m = meta.unwrap_or_default();
    if sigs.is_empty() {
        m.remove(GPGSIGS_KEY);
    } else {
        m.insert(GPGSIGS_KEY, crate::objects::metadata::owned(sigs));
    }
    (!m.is_empty()).then_some(m)
}

fn commit_bytes(repo: &Repo, commit: Checksum) -> Result<Vec<u8>> {
    Ok(repo.read_metadata(&ObjectName::new(commit, ObjectType::Commit))?)
}

fn read_commit_sigs(repo: &Repo, commit: Checksum) -> Result<(Option<Metadata>, Vec<Vec<u8>>)> {
    let meta = repo.read_detached_metadata(commit).map_err(|e| match e {
        RepoError::Format { source, .. } => SignError::CorruptDetached {
            commit,
            why: source.to_string(),
        },
        other => SignError::Repo(other),
    })?;
    let sigs = match &meta {
        Some(m) => gpgsigs(m).map_err(|why| SignError::CorruptDetached { commit, why })?,
        None => Vec::new(),
    };
    Ok((meta, sigs))
}

/// Signs a commit with each key, appending to its `ostree.gpgsigs`; the
/// detached metadata is replaced once, atomically, after all keys signed.
/// A key that already signed the commit is an error (as ostree), and then
/// nothing is written.
pub fn sign_commit(repo: &Repo, commit: Checksum, keys: &mut [SigningKey]) -> Result<()> {
    let data = commit_bytes(repo, commit)?;
    let (meta, mut sigs) = read_commit_sigs(repo, commit)?;
    for key in keys.iter_mut() {
        if sigs.iter().any(|s| key.made(s)) {
            return Err(SignError::AlreadySigned {
                commit,
                key: key.key_id(),
            });
        }
        sigs.push(key.sign(&data)?);
    }
    repo.write_detached_metadata(commit, with_gpgsigs(meta, sigs).as_ref())?;
    Ok(())
}

/// Signs `commit` with each key that has not signed it yet (a key that
/// already has is skipped, not an error as in [`sign_commit`]); returns the
/// key ids that signed now. This is how `grove sign` and `promote` sign:
/// running them again changes nothing. Holds the repository's shared lock
/// (ostree's `sign` takes none; grove keeps a prune from deleting the
/// commit while its signatures are written).
pub fn sign_if_unsigned(
    repo: &Repo,
    commit: Checksum,
    keys: &mut [SigningKey],
) -> Result<Vec<String>> {
    let _lock = repo.lock(crate::repo::LockKind::Shared)?;
    let (_, existing) = read_commit_sigs(repo, commit)?;
    let mut used = Vec::new();
    for k in keys.iter_mut() {
        if existing.iter().any(|s| k.made(s)) {
            continue;
        }
        sign_commit(repo, commit, std::slice::from_mut(k))?;
        used.push(k.key_id());
    }
    Ok(used)
}

/// Removes the signatures whose issuer matches one of `key_ids` (fingerprint
/// or key id suffix, or any key of a matching certificate in `keyring`).
/// Returns how many were removed.
pub fn delete_signatures(
    repo: &Repo,
    commit: Checksum,
    key_ids: &[String],
    keyring: &Keyring,
) -> Result<usize> {
    let (meta, sigs) = read_commit_sigs(repo, commit)?;
    if sigs.is_empty() {
        return Ok(0);
    }
    let mut wanted: Vec<String> = key_ids.iter().filter_map(|k| hex_id(k)).collect();
    for k in key_ids {
        if let Ok(c) = keyring.select(k, "keyring") {
            wanted.extend(c.keys().map(|ka| ka.key().fingerprint().to_hex()));
        }
    }
    let before = sigs.len();
    let kept: Vec<Vec<u8>> = sigs
        .into_iter()
        .filter(|blob| {
            let issued = parse_signatures(blob).unwrap_or_default();
            !issued.iter().any(|s| {
                s.get_issuers().iter().any(|h| {
                    let h = h.to_hex();
                    wanted
                        .iter()
                        .any(|w| w.ends_with(&h) || h.ends_with(w.as_str()))
                })
            })
        })
        .collect();
    let removed = before - kept.len();
    if removed > 0 {
        repo.write_detached_metadata(commit, with_gpgsigs(meta, kept).as_ref())?;
    }
    Ok(removed)
}

/// Checks a commit's signatures; an empty list means it has none.
pub fn verify_commit(
    repo: &Repo,
    commit: Checksum,
    keyring: &Keyring,
    now: SystemTime,
) -> Result<Vec<SignatureReport>> {
    let data = commit_bytes(repo, commit)?;
    let (_, sigs) = read_commit_sigs(repo, commit)?;
    verify(&data, &sigs, keyring, now, &format!("commit {commit}")).map_err(|e| match e {
        SignError::CorruptSignature { why, .. } => SignError::CorruptDetached { commit, why },
        other => other,
    })
}

/// Checks `REPO/summary` against the signatures in `REPO/summary.sig`.
pub fn verify_summary(
    repo: &Repo,
    keyring: &Keyring,
    now: SystemTime,
) -> Result<Vec<SignatureReport>> {
    let read = |name: &str| {
        let path = repo.path().join(name);
        std::fs::read(&path).map_err(|source| SignError::Read { path, source })
    };
    let summary = read("summary")?;
    let sig = read("summary.sig")?;
    let corrupt = |why: String| SignError::CorruptSignature {
        what: repo.path().join("summary.sig").display().to_string(),
        why,
    };
    let meta = Metadata::from_bytes(&sig).map_err(|e| corrupt(e.to_string()))?;
    let sigs = gpgsigs(&meta).map_err(corrupt)?;
    verify(&summary, &sigs, keyring, now, "summary.sig")
}

#[cfg(test)]
mod tests {
    use super::*;
    use openpgp::cert::CertBuilder;
    use openpgp::serialize::SerializeInto;

    fn test_key() -> (Keyring, Keyring) {
        let (cert, _) = CertBuilder::general_purpose(Some("Test <t@e>"))
            .generate()
            .expect("generate");
        let secret = SerializeInto::to_vec(&cert.as_tsk()).expect("serialize");
        let public = SerializeInto::to_vec(&cert).expect("serialize");
        (
            Keyring::from_bytes(&secret, "test").expect("tsk"),
            Keyring::from_bytes(&public, "test").expect("cert"),
        )
    }

    #[test]
    fn sign_and_verify_roundtrip() {
        let (sec, public) = test_key();
        let mut key = SigningKey::from_keyring(&sec, Some("t@e"), None, "test").expect("key");
        let sig = key.sign(b"hello").expect("sign");
        assert!(key.made(&sig));
        let now = SystemTime::now();
        let good = verify(b"hello", std::slice::from_ref(&sig), &public, now, "t").expect("verify");
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].status, SigStatus::Good);
        assert_eq!(good[0].signer.as_deref(), Some("Test <t@e>"));
        let bad = verify(b"hellO", std::slice::from_ref(&sig), &public, now, "t").expect("verify");
        assert_eq!(bad[0].status, SigStatus::Bad);
        let missing = verify(b"hello", &[sig], &Keyring::new(), now, "t").expect("verify");
        assert_eq!(missing[0].status, SigStatus::MissingKey);
    }

    #[test]
    fn key_selection() {
        let (sec, _) = test_key();
        assert!(matches!(
            SigningKey::from_keyring(&sec, Some("nobody@example"), None, "x"),
            Err(SignError::KeyNotFound { .. })
        ));
        let fpr = sec.fingerprints()[0].clone();
        assert!(SigningKey::from_keyring(&sec, Some(&fpr[24..]), None, "x").is_ok());
        assert!(
            SigningKey::from_keyring(&sec, Some(&format!("0x{}", &fpr[32..])), None, "x").is_ok()
        );
    }

    #[test]
    fn signing_waits_for_the_repository_lock() {
        let d = tempfile::tempdir().unwrap();
        let mut repo = Repo::init(d.path(), crate::repo::RepoMode::Archive, None).unwrap();
        let mut cfg = repo.config().clone();
        cfg.set("core", "lock-timeout-secs", "1");
        repo.write_config(cfg).unwrap();
        let commit = Checksum::digest(b"absent");
        let held = repo.lock(crate::repo::LockKind::Exclusive).unwrap();
        let e = sign_if_unsigned(&repo, commit, &mut []).unwrap_err();
        assert!(
            matches!(e, SignError::Repo(RepoError::Lock { .. })),
            "signed under a prune's lock: {e}"
        );
        drop(held);
        let r = sign_if_unsigned(&repo, commit, &mut []);
        assert!(
            !matches!(r, Err(SignError::Repo(RepoError::Lock { .. }))),
            "{r:?}"
        );
    }

    #[test]
    fn gpgsigs_dict_roundtrip() {
        let bytes = gpgsigs_dict_bytes(&[vec![1, 2, 3], vec![4]]);
        let m = Metadata::from_bytes(&bytes).expect("decode");
        assert_eq!(gpgsigs(&m).expect("aay"), vec![vec![1, 2, 3], vec![4]]);
    }
}
