//! PLACEHOLDER: rules not yet written.

use super::Ctx;
use crate::api::Telemetry;

pub(super) fn validate(_obj: &Telemetry, _cx: &mut Ctx) {}
