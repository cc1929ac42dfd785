//! Option values as ostree's command line reads them, shared by commands.

use std::path::Path;

use anyhow::{bail, Context as _};

/// GLib's `ot_parse_boolean`: 1/true/yes and 0/false/no/none, any case.
pub fn parse_bool(s: &str) -> anyhow::Result<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" | "none" => Ok(false),
        _ => bail!("Invalid boolean argument '{s}'"),
    }
}

/// A new commit's time: `--timestamp` (GNU date syntax), else
/// `SOURCE_DATE_EPOCH`, else now.
pub fn timestamp(arg: Option<&str>) -> anyhow::Result<i64> {
    Ok(match (arg, std::env::var("SOURCE_DATE_EPOCH")) {
        (Some(t), _) => grove::lifecycle::date::parse_date(t)?,
        (None, Ok(v)) => grove::lifecycle::date::parse_source_date_epoch(&v)?,
        (None, Err(_)) => chrono::Utc::now().timestamp(),
    })
}

/// A commit message body: the contents of `--body-file` when given, else `--body`.
pub fn body(body: Option<String>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
    match file {
        Some(f) => std::fs::read_to_string(f)
            .map(Some)
            .with_context(|| format!("reading {}", f.display())),
        None => Ok(body),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    #[test]
    fn booleans() {
        assert!(parse_bool("YES").unwrap());
        assert!(!parse_bool("none").unwrap());
        assert_eq!(
            parse_bool("bogus").unwrap_err().to_string(),
            "Invalid boolean argument 'bogus'"
        );
    }
}
