//! ostree's own installed test suite (Debian `ostree-tests`) with grove in
//! ostree's place: every test listed in `tests/ostree-suite/expected.txt`
//! must reach ostree's count of passing checks. The runner prints a table
//! (test, ostree's count, grove's count); see docs/compat.md.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn ostree_suite_passes_with_grove_in_place() {
    common::ostree_bin();
    let suite = Path::new("/usr/libexec/installed-tests/libostree");
    assert!(
        suite.is_dir(),
        "ostree's installed tests are missing: install the Debian package ostree-tests (.ci/run does). Refusing to skip."
    );
    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ostree-suite/run.sh");
    let out = common::output(Command::new(runner).env("GROVE_BIN", common::grove_bin()));
    let table = String::from_utf8_lossy(&out.stdout);
    println!("{table}");
    assert!(
        out.status.success(),
        "tests of ostree's suite fell below ostree's count with grove in place:\n{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
