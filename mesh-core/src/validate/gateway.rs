//! PLACEHOLDER: rules not yet written.

use super::Ctx;
use crate::api::Gateway;

pub(super) fn validate(_obj: &Gateway, _cx: &mut Ctx) {}
