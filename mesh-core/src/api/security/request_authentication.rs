//! RequestAuthentication (`security/v1beta1/request_authentication.proto`).

use serde::{Deserialize, Serialize};

/// PLACEHOLDER: replaced by the full field tree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestAuthenticationSpec {}
