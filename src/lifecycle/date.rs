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

/// A `SOURCE_DATE_EPOCH` value that is no number of seconds.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EpochError {
    #[error("Failed to convert SOURCE_DATE_EPOCH")]
    NotANumber,
    #[error("Parsing SOURCE_DATE_EPOCH: Numerical result out of range")]
    OutOfRange,
}

/// Reads a `SOURCE_DATE_EPOCH` value as ostree does (C `strtoll`, base 10):
/// leading blanks and a sign are allowed, anything after the digits is
/// ignored; no digits at all, or a value beyond 64 bits, is an error.
pub fn parse_source_date_epoch(s: &str) -> Result<i64, EpochError> {
    let t = s.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(EpochError::NotANumber);
    }
    let mut v: i64 = 0;
    for b in t[..digits].bytes() {
        let d = i64::from(b - b'0');
        v = v
            .checked_mul(10)
            .and_then(|v| {
                if negative {
                    v.checked_sub(d)
                } else {
                    v.checked_add(d)
                }
            })
            .ok_or(EpochError::OutOfRange)?;
    }
    Ok(v)
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

    #[test]
    fn source_date_epoch_like_strtoll() {
        assert_eq!(parse_source_date_epoch("1234567890"), Ok(1234567890));
        assert_eq!(parse_source_date_epoch(" 12abc"), Ok(12));
        assert_eq!(parse_source_date_epoch("-5"), Ok(-5));
        assert_eq!(
            parse_source_date_epoch("invalid"),
            Err(EpochError::NotANumber)
        );
        assert_eq!(parse_source_date_epoch(""), Err(EpochError::NotANumber));
        assert_eq!(
            parse_source_date_epoch("12345678901234567890"),
            Err(EpochError::OutOfRange)
        );
    }
}
