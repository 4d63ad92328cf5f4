//! PLACEHOLDER: rules not yet written.

use super::Ctx;
use crate::api::WasmPlugin;

pub(super) fn validate(_obj: &WasmPlugin, _cx: &mut Ctx) {}
