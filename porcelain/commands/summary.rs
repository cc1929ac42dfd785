//! `grove summary`: regenerate (`-u`), sign and show the summary file.
//! `-u` (or its porcelain spelling `--publish`) signs with the key configured
//! in `[grove]` (`grove::lifecycle::config`) when no `--gpg-sign`/`--sign-key`
//! is given, and runs the `post-summary` hook.
//!
//! `--view` prints as `ostree summary --view` (upstream `ot-dump.c`,
//! `ot_dump_summary_bytes`). `--raw` prints the GVariant text; unlike ostree,
//! which byte-swaps the whole value (so native integers come out swapped),
//! grove prints every field's true value, decoding the big-endian ones.

use anyhow::{bail, Context as _};
use grove::lifecycle::config::ReleaseConfig;
use grove::objects::summary::{self, BuildOptions, Published, RawValue, Summary, UpdateOptions};
use grove::trust::gpg::SigningKey;
use grove::{Metadata, Repo};
use zgvariant::Variant;

use crate::ctx::Ctx;
use crate::keys::SignArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Update the summary
    #[arg(short = 'u', long)]
    update: bool,

    /// Regenerate, sign with the configured key and publish (like -u)
    #[arg(long)]
    publish: bool,

    /// View the local summary file (`-v` is grove's global --verbose, so only the long form)
    #[arg(long)]
    view: bool,

    /// View the raw bytes of the summary file
    #[arg(long)]
    raw: bool,

    #[command(flatten)]
    sign: SignArgs,

    /// Additional metadata field to add to the summary
    #[arg(short = 'm', long = "add-metadata", value_name = "KEY=VALUE")]
    metadata: Vec<String>,

    /// Seconds between publishing summary.sig and summary (default 1 when signing; see docs/signing.md)
    #[arg(long, value_name = "SECONDS")]
    publish_delay: Option<f64>,
}

fn parse_metadata(args: &[String]) -> anyhow::Result<Vec<(String, RawValue)>> {
    let mut out = Vec::new();
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            bail!("Missing '=' in KEY=VALUE metadata '{a}'")
        };
        let value = grove::gvariant::text::parse(v)
            .map_err(|e| anyhow::anyhow!("Error parsing variant ‘{v}’: {e}"))?;
        out.push((k.to_string(), RawValue::from_variant(&value)));
    }
    Ok(out)
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    // `-u`, `--publish` or no option at all (the porcelain form): regenerate,
    // sign (explicit keys, else the key configured in [grove]) and publish;
    // then the post-summary hook.
    if args.update || args.publish || !(args.view || args.raw) {
        let additional = parse_metadata(&args.metadata)?;
        let delay = match args.publish_delay {
            Some(s) => Some(
                grove::lifecycle::config::seconds(s)
                    .ok_or_else(|| anyhow::anyhow!("Invalid --publish-delay '{s}'"))?,
            ),
            None => None,
        };
        let mut repo = ctx.open_repo()?;
        let config = ReleaseConfig::read(&repo)?;
        let mut keys = args.sign.load_or_configured(&repo, &config)?;
        publish(&mut repo, &config, &mut keys, additional, delay)?;
        return Ok(());
    }
    let repo = ctx.open_repo()?;
    let s = Summary::read(&repo)?;
    let text = if args.raw {
        raw_text(&s)
    } else {
        view_text(&s)
    };
    print!("{text}");
    Ok(())
}

/// Regenerates, signs with `keys` and publishes the summary (the grace
/// between `summary.sig` and `summary` from `delay`, else the config), then
/// runs the `post-summary` hook (no input lines).
pub fn publish(
    repo: &mut Repo,
    config: &ReleaseConfig,
    keys: &mut [SigningKey],
    additional: Vec<(String, RawValue)>,
    delay: Option<std::time::Duration>,
) -> anyhow::Result<Published> {
    let opts = UpdateOptions {
        build: BuildOptions {
            additional,
            now: chrono::Utc::now().timestamp().max(0) as u64,
        },
        grace: config.publish_grace(delay, !keys.is_empty()),
    };
    let published = summary::update(repo, &opts, keys).context("updating summary")?;
    crate::hooks::run(repo, "post-summary", &[])?;
    Ok(published)
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

pub fn view_text(s: &Summary) -> String {
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
            crate::format::size(r.commit_size)
        ));
        out.push_str(&format!("      {}\n", r.checksum));
        for (k, v) in extra.iter() {
            if k == summary::KEY_COMMIT_TIMESTAMP {
                let t = be_u64(v).map(iso8601).unwrap_or_default();
                out.push_str(&format!("    Timestamp ({k}): {t}\n"));
            } else if k == summary::KEY_COMMIT_VERSION {
                let t = match v {
                    Variant::Str(s) => s.as_str().to_string(),
                    other => grove::gvariant::text::print(other, false),
                };
                out.push_str(&format!("    Version ({k}): {t}\n"));
            } else {
                out.push_str(&format!(
                    "    {k}: {}\n",
                    grove::gvariant::text::print(v, false)
                ));
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
                let shown = if grove::RepoMode::parse(&m).is_some() {
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
            _ => (None, grove::gvariant::text::print(v, false)),
        };
        match pretty {
            Some(p) => out.push_str(&format!("{p} ({k}): {value}\n")),
            None => out.push_str(&format!("{k}: {value}\n")),
        }
    }
    out
}

fn bytes_text(b: &[u8], annotate: bool) -> String {
    let items: Vec<String> = b.iter().map(|x| format!("0x{x:02x}")).collect();
    if items.is_empty() {
        return "@ay []".to_string();
    }
    format!(
        "[{}{}]",
        if annotate { "byte " } else { "" },
        items.join(", ")
    )
}

fn dict_text(m: &Metadata, be_keys: &[&str]) -> String {
    if m.is_empty() {
        return "@a{sv} {}".to_string();
    }
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| {
            let value = match be_u64(v) {
                Some(t) if be_keys.contains(&k) => format!("uint64 {t}"),
                _ => grove::gvariant::text::print(v, true),
            };
            format!("'{k}': <{value}>")
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

pub fn raw_text(s: &Summary) -> String {
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
        _ => grove::gvariant::text::print(v, false),
    }
}
