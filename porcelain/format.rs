//! Human-readable values as ostree prints them.

pub use grove::objects::text::format_size as size;
