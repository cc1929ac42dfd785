//! `grove config`: get, set or unset repository configuration keys
//! (upstream `ot-builtin-config.c`). Keys are `section.key`, split at the
//! first dot, or a bare key with `--group`.

use crate::ctx::{usage_error, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Group name
    #[arg(long)]
    group: Option<String>,

    /// get KEY | set KEY VALUE | unset KEY
    #[arg(value_name = "OPERATION")]
    args: Vec<String>,
}

/// Splits `section.key` at the first dot.
fn split_key(k: &str) -> anyhow::Result<(String, String)> {
    match k.split_once('.') {
        Some((s, k)) => Ok((s.to_string(), k.to_string())),
        None => anyhow::bail!("Key must be of the form \"sectionname.keyname\""),
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let Some(op) = args.args.first().map(String::as_str) else {
        return Err(usage_error("config", "OPERATION must be specified"));
    };
    let max = if op == "set" { 3 } else { 2 };
    if args.args.len() > max {
        return Err(usage_error("config", "Too many arguments given"));
    }
    let key_arg = args.args.get(1);
    let (section, key) = match op {
        "set" | "get" | "unset" => match (&args.group, key_arg) {
            (Some(g), Some(k)) => (g.clone(), k.clone()),
            (None, Some(k)) => split_key(k)?,
            (Some(_), None) if op == "set" => {
                anyhow::bail!("GROUP name, KEY and VALUE must be specified")
            }
            (None, None) if op == "set" => anyhow::bail!("KEY and VALUE must be specified"),
            (Some(_), None) => anyhow::bail!("Group name and key must be specified"),
            (None, None) => anyhow::bail!("KEY must be specified"),
        },
        other => anyhow::bail!("Unknown operation {other}"),
    };
    let mut repo = ctx.open_repo()?;
    match op {
        "get" => {
            let config = repo.config();
            if !config.has_group(&section) {
                anyhow::bail!("Key file does not have group “{section}”");
            }
            match config.get(&section, &key) {
                Some(v) => println!("{v}"),
                None => anyhow::bail!("Key file does not have key “{key}” in group “{section}”"),
            }
        }
        "set" => {
            let Some(value) = args.args.get(2) else {
                if args.group.is_some() {
                    anyhow::bail!("GROUP name, KEY and VALUE must be specified");
                }
                anyhow::bail!("KEY and VALUE must be specified");
            };
            let mut config = repo.config().clone();
            config.set(&section, &key, value);
            repo.write_config(config)?;
        }
        _ => {
            let mut config = repo.config().clone();
            if config.remove(&section, &key) {
                repo.write_config(config)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_at_first_dot() {
        assert_eq!(
            split_key("core.mode").unwrap(),
            ("core".into(), "mode".into())
        );
        assert_eq!(
            split_key("remote \"a.b\".url").unwrap(),
            ("remote \"a".into(), "b\".url".into())
        );
        assert!(split_key("nodot").is_err());
    }
}
