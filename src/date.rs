//! Dates as `ostree` accepts them (`commit --timestamp`, `prune
//! --keep-younger-than`): GNU `date -d` syntax, via `parse_datetime`, which
//! follows the same gnulib grammar OSTree links.

/// A date that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("Could not parse '{0}'")]
pub struct DateError(pub String);

/// Seconds since the epoch for a date such as `2020-01-01T00:00:00Z`,
/// `@1700000000` or `6 months ago`.
pub fn parse_date(s: &str) -> Result<i64, DateError> {
    match parse_datetime::parse_datetime(s) {
        Ok(parse_datetime::ParsedDateTime::InRange(z)) => Ok(z.timestamp().as_second()),
        _ => Err(DateError(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(parse_date("2020-01-01T00:00:00Z").unwrap(), 1577836800);
        assert_eq!(parse_date("@1700000000").unwrap(), 1700000000);
        assert!(parse_date("6 months ago").unwrap() < parse_date("now").unwrap());
        assert!(parse_date("not a date at all").is_err());
    }
}
