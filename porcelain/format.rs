//! Human-readable values as ostree prints them.

/// A size as GLib's `g_format_size` prints it for ostree: SI units, one
/// decimal, the unit joined by a no-break space (`19 bytes`, `1.2 kB`).
pub fn size(n: u64) -> String {
    if n < 1000 {
        return if n == 1 {
            "1 byte".into()
        } else {
            format!("{n} bytes")
        };
    }
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64 / 1000.0;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1}\u{a0}{}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_glib() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(19), "19 bytes");
        assert_eq!(size(999), "999 bytes");
        assert_eq!(size(1000), "1.0\u{a0}kB");
        assert_eq!(size(1234), "1.2\u{a0}kB");
        assert_eq!(size(5_500_000), "5.5\u{a0}MB");
    }
}
