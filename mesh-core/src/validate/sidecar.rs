//! PLACEHOLDER: rules not yet written.

use super::Ctx;
use crate::api::Sidecar;

pub(super) fn validate(_obj: &Sidecar, _cx: &mut Ctx) {}
