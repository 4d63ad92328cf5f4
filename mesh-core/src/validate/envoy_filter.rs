//! PLACEHOLDER: rules not yet written.

use super::Ctx;
use crate::api::EnvoyFilter;

pub(super) fn validate(_obj: &EnvoyFilter, _cx: &mut Ctx) {}
