//! PLACEHOLDER: rules not yet written.

use super::Ctx;
use crate::api::VirtualService;

pub(super) fn validate(_obj: &VirtualService, _cx: &mut Ctx) {}
