//! `grove summary`: regenerate (`-u`), sign and show the summary file.
//! `-u` (or its porcelain spelling `--publish`) signs with the key configured
//! in `[grove]` (`grove::lifecycle::config`) when no `--gpg-sign`/`--sign-key`
//! is given, and runs the `post-summary` hook.
//! Publication is `grove::lifecycle::summary`'s; `--view` and `--raw` text
//! is `grove::objects::text`'s.

use anyhow::{bail, Context as _};
use grove::lifecycle::config::ReleaseConfig;
use grove::lifecycle::summary::Published;
use grove::objects::summary::{RawValue, Summary};
use grove::trust::gpg::SigningKey;
use grove::Repo;

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
        grove::objects::text::summary_raw_text(&s)
    } else {
        grove::objects::text::summary_view_text(&s)
    };
    print!("{text}");
    Ok(())
}

/// Regenerates, signs with `keys` and publishes the summary
/// (`grove::lifecycle::summary::publish`), then runs the `post-summary`
/// hook (no input lines).
pub fn publish(
    repo: &mut Repo,
    config: &ReleaseConfig,
    keys: &mut [SigningKey],
    additional: Vec<(String, RawValue)>,
    delay: Option<std::time::Duration>,
) -> anyhow::Result<Published> {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let published = grove::lifecycle::summary::publish(repo, config, keys, additional, delay, now)
        .context("updating summary")?;
    crate::hooks::run(repo, "post-summary", &[])?;
    Ok(published)
}
