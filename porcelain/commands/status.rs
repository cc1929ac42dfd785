//! `grove status`: what a release engineer checks before and after a
//! release. The report is the library's `grove::lifecycle::status::RepoStatus`
//! (signatures judged with the repository's keys and the configured signing
//! key); `--json` is that value serialised, the default a few lines per ref.

use std::io::Write as _;
use std::time::SystemTime;

use grove::lifecycle::config::ReleaseConfig;
use grove::lifecycle::status::{RepoStatus, SignatureState, SummaryState};
use grove::trust::keys::KeySelection;

use crate::ctx::Ctx;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the status as JSON
    #[arg(long)]
    json: bool,
    /// Also each ref's size on disk (walks every commit's tree: slow on large repositories)
    #[arg(long)]
    sizes: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let repo = ctx.open_repo()?;
    let config = ReleaseConfig::read(&repo)?;
    let mut keyring = crate::keys::trusted(&repo, &KeySelection::repository())?;
    if let Some(k) = crate::keys::configured_public_keys(&config)? {
        keyring.extend(k);
    }
    let status =
        grove::lifecycle::status::status(&repo, &config, &keyring, SystemTime::now(), args.sizes)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_human(&status, args.sizes)?;
    }
    Ok(())
}

fn age_text(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s >= 86400 => (s / 86400, "day"),
        s if s >= 3600 => (s / 3600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        _ => return "just now".into(),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

fn print_human(st: &RepoStatus, sizes: bool) -> std::io::Result<()> {
    // One write per line would be 10,000 writes for 5,000 refs.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "repository {} ({})", st.repo, st.mode)?;
    if st.refs.is_empty() {
        writeln!(out, "no refs")?;
    }
    for r in &st.refs {
        let version = r
            .version
            .as_ref()
            .map(|v| format!(" version {v}"))
            .unwrap_or_default();
        let age = r
            .age_seconds
            .map(age_text)
            .unwrap_or_else(|| "commit missing".into());
        let sig = match (&r.signed_by, &r.signature_error) {
            (Some(k), _) if r.signature == SignatureState::Signed => format!("signed by {k}"),
            (Some(why), _) | (None, Some(why)) => format!("{} ({why})", r.signature),
            (None, None) => r.signature.to_string(),
        };
        let size = match (sizes, r.size) {
            (false, _) => String::new(),
            (true, Some(n)) => format!("  {}", crate::format::size(n)),
            (true, None) => "  ?".into(),
        };
        writeln!(
            out,
            "{}  {}{version}  {age}  {sig}{size}",
            r.spec,
            r.commit.short()
        )?;
        for src in &r.sources {
            let dirty = if src.dirty { ", dirty" } else { "" };
            writeln!(
                out,
                "    source {}: {}{dirty}",
                src.name,
                src.revision_text()
            )?;
        }
        for d in &r.deltas {
            let state = if d.present { "present" } else { "missing" };
            writeln!(out, "    delta from {}: {state}", d.from.short())?;
        }
    }
    let s = &st.summary;
    let signed = if s.signed { ", signed" } else { "" };
    let why = match (&s.reasons, s.state) {
        (Some(why), SummaryState::Stale) => {
            let why: Vec<String> = why.iter().map(ToString::to_string).collect();
            format!(" ({})", why.join("; "))
        }
        _ => String::new(),
    };
    writeln!(out, "summary: {}{signed}{why}", s.state)?;
    let hooks = if st.hooks.is_empty() {
        "none".to_string()
    } else {
        st.hooks.join(", ")
    };
    writeln!(out, "hooks: {hooks}")?;
    out.flush()
}
