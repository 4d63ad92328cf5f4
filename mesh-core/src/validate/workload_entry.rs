//! PLACEHOLDER: rules not yet written.

use super::Ctx;
use crate::api::{WorkloadEntry, WorkloadGroup};

pub(super) fn validate_entry(_obj: &WorkloadEntry, _cx: &mut Ctx) {}
pub(super) fn validate_group(_obj: &WorkloadGroup, _cx: &mut Ctx) {}
