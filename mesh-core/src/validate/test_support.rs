//! Helpers for table tests: load one YAML object strictly and validate it.

use super::{Report, validate};
use crate::load;

/// Loads exactly one object from `yaml` (panicking with the load error otherwise) and validates it.
pub(crate) fn check(yaml: &str) -> Report {
    let objects = match load::from_str(yaml, "test.yaml") {
        Ok(o) => o,
        Err(e) => panic!("test input does not load:\n{e}\n---\n{yaml}"),
    };
    assert_eq!(objects.len(), 1, "expected one object");
    validate(&objects[0].object)
}

/// Asserts that validating `yaml` yields an error containing `needle` (or no error when
/// `needle` is `None`), and returns the report.
#[track_caller]
pub(crate) fn expect(name: &str, yaml: &str, needle: Option<&str>) -> Report {
    let report = check(yaml);
    match needle {
        None => assert!(
            report.is_ok(),
            "case {name:?}: expected valid, got:\n{report}"
        ),
        Some(n) => assert!(
            report.has_error(n),
            "case {name:?}: expected an error containing {n:?}, got:\n{report}"
        ),
    }
    report
}
