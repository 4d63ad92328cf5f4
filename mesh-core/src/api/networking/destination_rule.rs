//! DestinationRule (`networking/v1alpha3/destination_rule.proto`).

use serde::{Deserialize, Serialize};

/// PLACEHOLDER: replaced by the full field tree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {}
