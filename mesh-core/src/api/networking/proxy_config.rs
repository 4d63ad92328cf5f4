//! ProxyConfig (`networking/v1beta1/proxy_config.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::WorkloadSelector;

/// Per-workload overrides of proxy settings (worker threads, environment, image flavour).
///
/// ```
/// use mesh_core::api::networking::ProxyConfigSpec;
/// let pc: ProxyConfigSpec = serde_json::from_str(
///     r#"{"concurrency": 0, "image": {"imageType": "distroless"}}"#)?;
/// assert_eq!(pc.concurrency, Some(0));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfigSpec {
    /// Workloads the settings apply to; unset means the whole namespace (or mesh, in the root
    /// namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// Number of Envoy worker threads; `0` means one per CPU core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<i32>,
    /// Extra environment variables for the proxy process.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment_variables: BTreeMap<String, String>,
    /// Which build of the proxy image to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ProxyImage>,
}

/// The proxy image flavour (`networking.v1beta1.ProxyImage`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyImage {
    /// Image type (`default`, `debug`, `distroless`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_type: String,
}

#[cfg(test)]
mod tests {
    use crate::api::Object;
    use crate::load;

    #[test]
    fn full_object_round_trips() {
        let y = r#"
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata: {name: pc, namespace: ns}
spec:
  selector: {matchLabels: {app: a}}
  concurrency: 2
  environmentVariables: {FOO: bar}
  image: {imageType: debug}
"#;
        let objs = load::from_str(y, "pc.yaml").unwrap();
        let Object::ProxyConfig(pc) = &objs[0].object else {
            panic!("not a ProxyConfig")
        };
        assert_eq!(pc.spec.concurrency, Some(2));
        assert_eq!(pc.spec.image.as_ref().unwrap().image_type, "debug");
        let json = serde_json::to_value(pc).unwrap();
        let back: crate::api::ProxyConfig = serde_json::from_value(json).unwrap();
        assert_eq!(&back, pc);
        assert!(load::from_str(&y.replace("imageType", "type"), "pc.yaml").is_err());
    }
}
