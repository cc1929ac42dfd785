//! Human-readable values as ostree prints them.

pub use grove::objects::text::format_size as size;

/// Prints a typed report as `--json` does: pretty, keys in sorted order at
/// every level (the order grove's JSON has always had).
pub fn print_json(report: &impl serde::Serialize) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::to_value(report)?)?
    );
    Ok(())
}
