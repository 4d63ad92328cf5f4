//! `telemetry.istio.io`: Telemetry (`telemetry/v1alpha1/telemetry.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::{Duration, PolicyTargetReference, WorkloadSelector, is_default};

/// Metrics, access logging and tracing settings for the mesh, a namespace or some workloads.
///
/// ```
/// use mesh_core::api::telemetry::TelemetrySpec;
/// let spec: TelemetrySpec = serde_json::from_str(
///     r#"{"tracing": [{"providers": [{"name": "zipkin"}], "randomSamplingPercentage": 10}]}"#)?;
/// assert_eq!(spec.tracing[0].random_sampling_percentage, Some(10.0));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TelemetrySpec {
    /// Workloads the settings apply to; unset means every workload in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// A single resource (Gateway, Service, ServiceEntry) the settings attach to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<PolicyTargetReference>,
    /// Resources the settings attach to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// Tracing settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracing: Vec<Tracing>,
    /// Metrics settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metrics>,
    /// Access logging settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_logging: Vec<AccessLogging>,
}

/// Tracing settings for the selected workloads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracing {
    /// Which traffic (client, server or both sides) the settings apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<TracingSelector>,
    /// The tracing provider to use (only one is supported).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    /// Percentage of requests sampled, 0.0 to 100.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_sampling_percentage: Option<f64>,
    /// Stop reporting spans to the provider (context propagation continues).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_span_reporting: Option<bool>,
    /// Extra tags added to spans, by tag name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_tags: BTreeMap<String, CustomTag>,
    /// Base the sampling decision on `x-request-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_request_id_for_trace_sampling: Option<bool>,
    /// Add Istio's own tags to spans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_istio_tags: Option<bool>,
    /// Stop propagating trace context headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_context_propagation: Option<bool>,
}

/// `Tracing.TracingSelector`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TracingSelector {
    /// Client side, server side, or both.
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: WorkloadMode,
}

/// Which side of the traffic a setting applies to (`WorkloadMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkloadMode {
    /// Both outbound (client) and inbound (server) traffic.
    #[default]
    ClientAndServer,
    /// Outbound traffic only.
    Client,
    /// Inbound traffic only.
    Server,
}

/// A span tag and where its value comes from (`Tracing.CustomTag`, whose `type` is a oneof).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CustomTagWire", into = "CustomTagWire")]
pub struct CustomTag {
    /// The source of the value; `None` when the object sets none.
    pub tag: Option<CustomTagType>,
}

/// The source of a custom tag's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomTagType {
    /// A fixed value.
    Literal(TagLiteral),
    /// An environment variable of the proxy.
    Environment(TagEnvironment),
    /// A request header.
    Header(TagRequestHeader),
    /// An Envoy command operator (`%REQ(...)%`).
    Formatter(TagFormatter),
}

/// `Tracing.Literal`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagLiteral {
    /// The value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// `Tracing.Environment`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagEnvironment {
    /// Name of the environment variable.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Value when the variable is unset.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_value: String,
}

/// `Tracing.RequestHeader`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagRequestHeader {
    /// Name of the header.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Value when the header is absent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_value: String,
}

/// `Tracing.Formatter`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagFormatter {
    /// The command operator expression.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomTagWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    literal: Option<TagLiteral>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    environment: Option<TagEnvironment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    header: Option<TagRequestHeader>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    formatter: Option<TagFormatter>,
}

impl TryFrom<CustomTagWire> for CustomTag {
    type Error = String;
    fn try_from(w: CustomTagWire) -> Result<Self, String> {
        let mut set = Vec::new();
        if let Some(v) = w.literal {
            set.push(CustomTagType::Literal(v));
        }
        if let Some(v) = w.environment {
            set.push(CustomTagType::Environment(v));
        }
        if let Some(v) = w.header {
            set.push(CustomTagType::Header(v));
        }
        if let Some(v) = w.formatter {
            set.push(CustomTagType::Formatter(v));
        }
        if set.len() > 1 {
            return Err("only one of literal, environment, header, formatter may be set".into());
        }
        Ok(CustomTag { tag: set.pop() })
    }
}

impl From<CustomTag> for CustomTagWire {
    fn from(t: CustomTag) -> Self {
        let mut w = CustomTagWire::default();
        match t.tag {
            Some(CustomTagType::Literal(v)) => w.literal = Some(v),
            Some(CustomTagType::Environment(v)) => w.environment = Some(v),
            Some(CustomTagType::Header(v)) => w.header = Some(v),
            Some(CustomTagType::Formatter(v)) => w.formatter = Some(v),
            None => {}
        }
        w
    }
}

/// A reference to a provider declared in `meshConfig.extensionProviders`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRef {
    /// Name of the provider.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Metrics settings for the selected workloads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// The metrics providers the settings apply to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    /// Changes to metrics and their tags, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<MetricsOverrides>,
    /// How often metrics are reported (Prometheus ignores it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_interval: Option<Duration>,
}

/// Changes to the selected metrics: disable them or change their tags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsOverrides {
    /// The metrics and traffic side this override applies to; unset means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<MetricSelector>,
    /// Stop generating the selected metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Tags to add, change or remove, by tag name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tag_overrides: BTreeMap<String, TagOverride>,
}

/// Selects metrics by name and traffic side (`MetricSelector`, whose `metric_match` is a oneof).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MetricSelectorWire", into = "MetricSelectorWire")]
pub struct MetricSelector {
    /// The metric: a standard Istio metric or a custom one; `None` selects all.
    pub metric: Option<MetricMatch>,
    /// Client side, server side, or both.
    pub mode: WorkloadMode,
}

/// The `metric_match` oneof of a [`MetricSelector`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricMatch {
    /// One of Istio's standard metrics.
    Metric(IstioMetric),
    /// A custom metric, by name (without the `istio_` prefix).
    CustomMetric(String),
}

/// `MetricSelector.IstioMetric`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IstioMetric {
    /// Every metric.
    #[default]
    AllMetrics,
    /// `istio_requests_total`.
    RequestCount,
    /// `istio_request_duration_milliseconds`.
    RequestDuration,
    /// `istio_request_bytes`.
    RequestSize,
    /// `istio_response_bytes`.
    ResponseSize,
    /// `istio_tcp_connections_opened_total`.
    TcpOpenedConnections,
    /// `istio_tcp_connections_closed_total`.
    TcpClosedConnections,
    /// `istio_tcp_sent_bytes_total`.
    TcpSentBytes,
    /// `istio_tcp_received_bytes_total`.
    TcpReceivedBytes,
    /// `istio_request_messages_total`.
    GrpcRequestMessages,
    /// `istio_response_messages_total`.
    GrpcResponseMessages,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricSelectorWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metric: Option<IstioMetric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    custom_metric: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    mode: WorkloadMode,
}

impl TryFrom<MetricSelectorWire> for MetricSelector {
    type Error = String;
    fn try_from(w: MetricSelectorWire) -> Result<Self, String> {
        let metric = match (w.metric, w.custom_metric) {
            (Some(_), Some(_)) => return Err("only one of metric, customMetric may be set".into()),
            (Some(m), None) => Some(MetricMatch::Metric(m)),
            (None, Some(c)) => Some(MetricMatch::CustomMetric(c)),
            (None, None) => None,
        };
        Ok(MetricSelector {
            metric,
            mode: w.mode,
        })
    }
}

impl From<MetricSelector> for MetricSelectorWire {
    fn from(s: MetricSelector) -> Self {
        let (metric, custom_metric) = match s.metric {
            Some(MetricMatch::Metric(m)) => (Some(m), None),
            Some(MetricMatch::CustomMetric(c)) => (None, Some(c)),
            None => (None, None),
        };
        MetricSelectorWire {
            metric,
            custom_metric,
            mode: s.mode,
        }
    }
}

/// A change to one tag of the selected metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagOverride {
    /// Add/replace (`UPSERT`, the default) or remove the tag.
    #[serde(default, skip_serializing_if = "is_default")]
    pub operation: TagOperation,
    /// The tag's value, a CEL expression over request attributes (for `UPSERT`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// `MetricsOverrides.TagOverride.Operation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagOperation {
    /// Insert the tag, or replace its value.
    #[default]
    Upsert,
    /// Remove the tag.
    Remove,
}

/// Access logging settings for the selected workloads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogging {
    /// Which traffic (client, server or both sides) the settings apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#match: Option<LogSelector>,
    /// The logging providers to use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderRef>,
    /// Turn access logging off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Log only the requests this filter selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<LogFilter>,
}

/// `AccessLogging.LogSelector`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSelector {
    /// Client side, server side, or both.
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: WorkloadMode,
}

/// `AccessLogging.Filter`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFilter {
    /// A CEL expression over request attributes; the entry is logged when it is true.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expression: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Object;
    use crate::load;

    fn load_one(yaml: &str) -> crate::api::Telemetry {
        let objs = load::from_str(yaml, "t.yaml").unwrap();
        let Object::Telemetry(t) = &objs[0].object else {
            panic!("wrong kind")
        };
        t.clone()
    }

    #[test]
    fn full_object_loads_and_round_trips() {
        let t = load_one(
            r#"
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: t, namespace: istio-system}
spec:
  targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gw}
  tracing:
  - match: {mode: SERVER}
    providers: [{name: zipkin}]
    randomSamplingPercentage: 12.5
    disableSpanReporting: false
    useRequestIdForTraceSampling: true
    enableIstioTags: true
    disableContextPropagation: false
    customTags:
      a: {literal: {value: v}}
      b: {environment: {name: POD, defaultValue: x}}
      c: {header: {name: x-h, defaultValue: y}}
      d: {formatter: {value: "%REQ(:PATH)%"}}
      e: {}
  metrics:
  - providers: [{name: prometheus}]
    reportingInterval: 10s
    overrides:
    - match: {metric: REQUEST_COUNT, mode: CLIENT}
      disabled: true
      tagOverrides:
        x: {operation: REMOVE}
        y: {value: request.host}
    - match: {customMetric: my_metric}
  accessLogging:
  - match: {mode: CLIENT}
    providers: [{name: envoy}]
    disabled: false
    filter: {expression: "response.code >= 400"}
"#,
        );
        let tr = &t.spec.tracing[0];
        assert_eq!(
            tr.custom_tags["d"].tag,
            Some(CustomTagType::Formatter(TagFormatter {
                value: "%REQ(:PATH)%".into()
            }))
        );
        assert_eq!(tr.custom_tags["e"].tag, None);
        let o = &t.spec.metrics[0].overrides;
        assert_eq!(
            o[1].r#match.as_ref().and_then(|m| m.metric.clone()),
            Some(MetricMatch::CustomMetric("my_metric".into()))
        );
        assert_eq!(
            o[0].r#match.as_ref().map(|m| m.mode),
            Some(WorkloadMode::Client)
        );
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(
            json["spec"]["tracing"][0]["customTags"]["a"]["literal"]["value"],
            "v"
        );
        let back: crate::api::Telemetry = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn oneof_conflicts_fail_with_a_path() {
        let base =
            "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: t}\nspec:\n";
        let tag = format!(
            "{base}  tracing:\n  - customTags:\n      a: {{literal: {{value: v}}, header: {{name: h}}}}\n"
        );
        let err = load::from_str(&tag, "t.yaml").unwrap_err().to_string();
        assert!(err.contains("only one of literal"), "{err}");
        assert!(err.contains("tracing[0].customTags"), "{err}");
        let metric = format!(
            "{base}  metrics:\n  - overrides:\n    - match: {{metric: REQUEST_COUNT, customMetric: x}}\n"
        );
        let err = load::from_str(&metric, "t.yaml").unwrap_err().to_string();
        assert!(err.contains("only one of metric, customMetric"), "{err}");
    }
}
