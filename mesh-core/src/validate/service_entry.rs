//! PLACEHOLDER: rules not yet written.

use super::Ctx;
use crate::api::ServiceEntry;

pub(super) fn validate(_obj: &ServiceEntry, _cx: &mut Ctx) {}
