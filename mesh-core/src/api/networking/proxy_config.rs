//! ProxyConfig (`networking/v1beta1/proxy_config.proto`).

use serde::{Deserialize, Serialize};

/// PLACEHOLDER: replaced by the full field tree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfigSpec {}
