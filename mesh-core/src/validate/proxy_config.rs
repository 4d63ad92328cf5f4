//! PLACEHOLDER: rules not yet written.

use super::Ctx;
use crate::api::ProxyConfig;

pub(super) fn validate(_obj: &ProxyConfig, _cx: &mut Ctx) {}
