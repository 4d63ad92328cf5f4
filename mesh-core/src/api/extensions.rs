//! `extensions.istio.io`: WasmPlugin (`extensions/v1alpha1/wasm.proto`).

use serde::{Deserialize, Serialize};

/// PLACEHOLDER: replaced by the full field tree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmPluginSpec {}
