//! PLACEHOLDER: rules not yet written.

use super::Ctx;
use crate::api::{AuthorizationPolicy, PeerAuthentication, RequestAuthentication};

pub(super) fn authorization_policy(_obj: &AuthorizationPolicy, _cx: &mut Ctx) {}
pub(super) fn peer_authentication(_obj: &PeerAuthentication, _cx: &mut Ctx) {}
pub(super) fn request_authentication(_obj: &RequestAuthentication, _cx: &mut Ctx) {}
