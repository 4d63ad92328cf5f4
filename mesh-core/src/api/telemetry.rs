//! `telemetry.istio.io`: Telemetry (`telemetry/v1alpha1/telemetry.proto`).

use serde::{Deserialize, Serialize};

/// PLACEHOLDER: replaced by the full field tree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetrySpec {}
