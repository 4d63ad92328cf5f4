//! VirtualService (`networking/v1alpha3/virtual_service.proto`).

use serde::{Deserialize, Serialize};

use crate::api::PortSelector;

/// PLACEHOLDER: replaced by the full field tree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {}

/// Where traffic goes: a service in the registry, a subset of it and a port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// Service name from the registry (short names resolve in the rule's namespace).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Subset defined in the service's DestinationRule.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subset: String,
    /// Port of the destination service; needed when it exposes several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
}
