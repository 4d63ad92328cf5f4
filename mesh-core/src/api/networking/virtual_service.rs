//! VirtualService (`networking/v1alpha3/virtual_service.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::{Duration, PortSelector, is_default};

/// Routing rules for traffic sent to a set of hosts: HTTP, TLS (by SNI) and plain TCP routes.
///
/// ```
/// use mesh_core::api::networking::{StringMatch, VirtualServiceSpec};
/// let spec: VirtualServiceSpec = serde_json::from_str(
///     r#"{"hosts": ["reviews"],
///         "http": [{"match": [{"uri": {"prefix": "/v2"}}],
///                   "route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]}"#)?;
/// assert_eq!(spec.http[0].r#match[0].uri, Some(StringMatch::Prefix("/v2".into())));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    /// Destination hosts the rules apply to (names, wildcards or IPs); empty for a delegate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Gateways (`namespace/name`) and sidecars (`mesh`) that apply these routes; empty means `mesh`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Ordered HTTP routing rules; the first that matches wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
    /// Ordered routing rules for TLS and HTTPS passthrough traffic, by SNI.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<TlsRoute>,
    /// Ordered routing rules for opaque TCP traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<TcpRoute>,
    /// Namespaces the service is visible to (`.` own namespace, `*` all); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
}

/// One HTTP routing rule: conditions and the action taken when they match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    /// Name of the route, used in logs and for delegate merging.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Conditions, any of which activates the rule; empty matches everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub r#match: Vec<HttpMatchRequest>,
    /// Weighted destinations the request is forwarded to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<HttpRouteDestination>,
    /// Answers with an HTTP redirect instead of forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<HttpRedirect>,
    /// Answers with a fixed response instead of forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_response: Option<HttpDirectResponse>,
    /// Hands the routing decision to another (delegate) VirtualService.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate: Option<Delegate>,
    /// Rewrites the URI or authority before forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<HttpRewrite>,
    /// Timeout for the whole request, retries included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Retry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetry>,
    /// Faults (delays, aborts) injected on the client side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<HttpFaultInjection>,
    /// A destination that receives a copy of the traffic (use `mirrors` for several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Destination>,
    /// Destinations that receive a copy of the traffic, each with its own percentage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<HttpMirrorPolicy>,
    /// Deprecated: percentage (0-100) of traffic mirrored to `mirror`; use `mirrorPercentage`.
    #[serde(
        default,
        alias = "mirror_percent",
        skip_serializing_if = "Option::is_none"
    )]
    pub mirror_percent: Option<u32>,
    /// Percentage of traffic mirrored to `mirror`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<Percent>,
    /// Cross-origin resource sharing policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_policy: Option<CorsPolicy>,
    /// Request and response header changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// Header changes for requests and responses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Headers {
    /// Changes to the request before it is forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    /// Changes to the response before it is returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
}

/// Set, add and remove operations on headers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderOperations {
    /// Headers overwritten with the given values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Headers appended with the given values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Headers removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// Conditions on a request; all set fields must hold for the match to apply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMatchRequest {
    /// Name of the match, appended to the route's name in logs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Condition on the request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    /// Condition on the URI scheme (`http`, `https`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<StringMatch>,
    /// Condition on the HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    /// Condition on the authority (`Host`) header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<StringMatch>,
    /// Conditions on request headers (lower-case names); an empty match tests presence.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    /// Port the request is addressed to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub port: u32,
    /// Labels of the client workloads the rule applies to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways the match applies to, overriding the VirtualService's `gateways`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Conditions on query parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_params: BTreeMap<String, StringMatch>,
    /// Match the URI case-insensitively (exact and prefix only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub ignore_uri_case: bool,
    /// Headers that must not match (the negation of `headers`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub without_headers: BTreeMap<String, StringMatch>,
    /// Namespace of the client workloads the rule applies to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_namespace: String,
    /// Prefix of the statistics Envoy generates for this route.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stat_prefix: String,
}

/// How a string is matched: exactly, by prefix, or by an RE2 regular expression.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "StringMatchWire", into = "StringMatchWire")]
pub enum StringMatch {
    /// No match type (`{}`): for headers, only presence is tested.
    #[default]
    Unset,
    /// Exact string.
    Exact(String),
    /// Prefix of the string.
    Prefix(String),
    /// RE2 regular expression matching the whole string.
    Regex(String),
}

impl StringMatch {
    /// The pattern text, whatever the match type (empty when unset).
    pub fn value(&self) -> &str {
        match self {
            StringMatch::Unset => "",
            StringMatch::Exact(s) | StringMatch::Prefix(s) | StringMatch::Regex(s) => s,
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StringMatchWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    regex: Option<String>,
}

impl TryFrom<StringMatchWire> for StringMatch {
    type Error = String;
    fn try_from(w: StringMatchWire) -> Result<Self, String> {
        match (w.exact, w.prefix, w.regex) {
            (None, None, None) => Ok(StringMatch::Unset),
            (Some(s), None, None) => Ok(StringMatch::Exact(s)),
            (None, Some(s), None) => Ok(StringMatch::Prefix(s)),
            (None, None, Some(s)) => Ok(StringMatch::Regex(s)),
            _ => Err("only one of exact, prefix, regex may be set".into()),
        }
    }
}

impl From<StringMatch> for StringMatchWire {
    fn from(m: StringMatch) -> Self {
        let mut w = StringMatchWire::default();
        match m {
            StringMatch::Unset => {}
            StringMatch::Exact(s) => w.exact = Some(s),
            StringMatch::Prefix(s) => w.prefix = Some(s),
            StringMatch::Regex(s) => w.regex = Some(s),
        }
        w
    }
}

/// A weighted destination of an HTTP route, with its own header changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteDestination {
    /// Where the request is forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// Relative share of the traffic (the weights of a route add up to 100).
    #[serde(default, skip_serializing_if = "is_default")]
    pub weight: i32,
    /// Header changes applied when this destination is chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// A weighted destination of a TLS or TCP route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDestination {
    /// Where the connection is forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// Relative share of the traffic (the weights of a route add up to 100).
    #[serde(default, skip_serializing_if = "is_default")]
    pub weight: i32,
}

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

/// An HTTP redirect sent back instead of forwarding the request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HttpRedirectWire", into = "HttpRedirectWire")]
pub struct HttpRedirect {
    /// Replaces the whole path.
    pub uri: String,
    /// Replaces the authority (host).
    pub authority: String,
    /// Port of the redirect URL: fixed, or derived from the request.
    pub redirect_port: Option<RedirectPort>,
    /// Replaces the scheme (`http` or `https`).
    pub scheme: String,
    /// Status code of the redirect (default 301).
    pub redirect_code: u32,
    /// Replaces the matched prefix of the path.
    pub prefix_rewrite: String,
}

/// The port of a redirect (`HTTPRedirect.redirect_port`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RedirectPort {
    /// A fixed port number.
    Port(u32),
    /// A port derived from the request.
    DerivePort(RedirectPortSelection),
}

/// How a redirect's port is derived.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RedirectPortSelection {
    /// 80 for HTTP, 443 for HTTPS.
    #[default]
    FromProtocolDefault,
    /// The port the request came in on.
    FromRequestPort,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpRedirectWire {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    uri: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    authority: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    derive_port: Option<RedirectPortSelection>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    scheme: String,
    #[serde(default, skip_serializing_if = "is_default")]
    redirect_code: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    prefix_rewrite: String,
}

impl TryFrom<HttpRedirectWire> for HttpRedirect {
    type Error = String;
    fn try_from(w: HttpRedirectWire) -> Result<Self, String> {
        let redirect_port = match (w.port, w.derive_port) {
            (Some(_), Some(_)) => return Err("only one of port, derivePort may be set".into()),
            (Some(p), None) => Some(RedirectPort::Port(p)),
            (None, Some(d)) => Some(RedirectPort::DerivePort(d)),
            (None, None) => None,
        };
        Ok(HttpRedirect {
            uri: w.uri,
            authority: w.authority,
            redirect_port,
            scheme: w.scheme,
            redirect_code: w.redirect_code,
            prefix_rewrite: w.prefix_rewrite,
        })
    }
}

impl From<HttpRedirect> for HttpRedirectWire {
    fn from(r: HttpRedirect) -> Self {
        let (port, derive_port) = match r.redirect_port {
            Some(RedirectPort::Port(p)) => (Some(p), None),
            Some(RedirectPort::DerivePort(d)) => (None, Some(d)),
            None => (None, None),
        };
        HttpRedirectWire {
            uri: r.uri,
            authority: r.authority,
            port,
            derive_port,
            scheme: r.scheme,
            redirect_code: r.redirect_code,
            prefix_rewrite: r.prefix_rewrite,
        }
    }
}

/// A fixed response sent back instead of forwarding the request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpDirectResponse {
    /// HTTP status code of the response.
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: u32,
    /// Body of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<HttpBody>,
}

/// The body of a direct response: text or binary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HttpBodyWire", into = "HttpBodyWire")]
pub enum HttpBody {
    /// No body specifier set (`{}`).
    #[default]
    Unset,
    /// A text body.
    String(String),
    /// A binary body, base64-encoded as in the YAML.
    Bytes(String),
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpBodyWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bytes: Option<String>,
}

impl TryFrom<HttpBodyWire> for HttpBody {
    type Error = String;
    fn try_from(w: HttpBodyWire) -> Result<Self, String> {
        match (w.string, w.bytes) {
            (None, None) => Ok(HttpBody::Unset),
            (Some(s), None) => Ok(HttpBody::String(s)),
            (None, Some(b)) => Ok(HttpBody::Bytes(b)),
            _ => Err("only one of string, bytes may be set".into()),
        }
    }
}

impl From<HttpBody> for HttpBodyWire {
    fn from(b: HttpBody) -> Self {
        match b {
            HttpBody::Unset => HttpBodyWire::default(),
            HttpBody::String(s) => HttpBodyWire {
                string: Some(s),
                bytes: None,
            },
            HttpBody::Bytes(b) => HttpBodyWire {
                string: None,
                bytes: Some(b),
            },
        }
    }
}

/// A reference to the delegate VirtualService that holds the routes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delegate {
    /// Name of the delegate VirtualService.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace of the delegate; defaults to the root's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// Rewrites applied to a request before it is forwarded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRewrite {
    /// Replaces the matched path (or prefix) with this value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
    /// Replaces the authority (host) header.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub authority: String,
    /// Rewrites the path with a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// A regex-based path rewrite.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegexRewrite {
    /// RE2 expression to match in the path.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub r#match: String,
    /// Replacement, which may use capture groups (`\1`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rewrite: String,
}

/// When and how often a failed request is retried.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRetry {
    /// Maximum number of retries; 0 disables retries.
    #[serde(default, skip_serializing_if = "is_default")]
    pub attempts: i32,
    /// Timeout of each attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Comma-separated conditions (`5xx`, `connect-failure`, status codes...) that trigger a retry.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub retry_on: String,
    /// Whether retries may go to other localities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_remote_localities: Option<bool>,
    /// Whether retries avoid hosts already tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_ignore_previous_hosts: Option<bool>,
    /// Base interval between retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Duration>,
}

/// Faults injected into requests to test resilience.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpFaultInjection {
    /// Delays requests before forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<FaultDelay>,
    /// Aborts requests with an error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<FaultAbort>,
}

/// A delay injected before forwarding (`HTTPFaultInjection.Delay`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FaultDelayWire", into = "FaultDelayWire")]
pub struct FaultDelay {
    /// How long to wait.
    pub http_delay_type: Option<DelayType>,
    /// Deprecated: percentage (0-100) of requests delayed; use `percentage`.
    pub percent: i32,
    /// Percentage of requests delayed.
    pub percentage: Option<Percent>,
}

/// The kind of injected delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DelayType {
    /// A fixed wait.
    FixedDelay(Duration),
    /// An exponential wait (not supported by Istio yet).
    ExponentialDelay(Duration),
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultDelayWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed_delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exponential_delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "is_default")]
    percent: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    percentage: Option<Percent>,
}

impl TryFrom<FaultDelayWire> for FaultDelay {
    type Error = String;
    fn try_from(w: FaultDelayWire) -> Result<Self, String> {
        let http_delay_type = match (w.fixed_delay, w.exponential_delay) {
            (Some(_), Some(_)) => {
                return Err("only one of fixedDelay, exponentialDelay may be set".into());
            }
            (Some(d), None) => Some(DelayType::FixedDelay(d)),
            (None, Some(d)) => Some(DelayType::ExponentialDelay(d)),
            (None, None) => None,
        };
        Ok(FaultDelay {
            http_delay_type,
            percent: w.percent,
            percentage: w.percentage,
        })
    }
}

impl From<FaultDelay> for FaultDelayWire {
    fn from(d: FaultDelay) -> Self {
        let (fixed_delay, exponential_delay) = match d.http_delay_type {
            Some(DelayType::FixedDelay(x)) => (Some(x), None),
            Some(DelayType::ExponentialDelay(x)) => (None, Some(x)),
            None => (None, None),
        };
        FaultDelayWire {
            fixed_delay,
            exponential_delay,
            percent: d.percent,
            percentage: d.percentage,
        }
    }
}

/// An error returned instead of forwarding (`HTTPFaultInjection.Abort`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "FaultAbortWire", into = "FaultAbortWire")]
pub struct FaultAbort {
    /// The error returned.
    pub error_type: Option<AbortError>,
    /// Percentage of requests aborted.
    pub percentage: Option<Percent>,
}

/// The gRPC status names an abort may use, in code order (`OK` is 0, `UNAUTHENTICATED` 16).
pub const GRPC_STATUS_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The code of a gRPC status name (`UNAVAILABLE` is 14), as Istio's `SupportedGRPCStatus`.
///
/// ```
/// assert_eq!(mesh_core::api::networking::grpc_status_code("UNAVAILABLE"), Some(14));
/// assert_eq!(mesh_core::api::networking::grpc_status_code("unavailable"), None);
/// ```
pub fn grpc_status_code(name: &str) -> Option<u32> {
    GRPC_STATUS_NAMES
        .iter()
        .position(|n| *n == name)
        .and_then(|i| u32::try_from(i).ok())
}

/// The error an injected abort returns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AbortError {
    /// An HTTP status code.
    HttpStatus(i32),
    /// A gRPC status name (`UNAVAILABLE`).
    GrpcStatus(String),
    /// An HTTP/2 error (not supported by Istio yet).
    Http2Error(String),
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultAbortWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http_status: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grpc_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http2_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    percentage: Option<Percent>,
}

impl TryFrom<FaultAbortWire> for FaultAbort {
    type Error = String;
    fn try_from(w: FaultAbortWire) -> Result<Self, String> {
        let error_type = match (w.http_status, w.grpc_status, w.http2_error) {
            (None, None, None) => None,
            (Some(s), None, None) => Some(AbortError::HttpStatus(s)),
            (None, Some(s), None) => Some(AbortError::GrpcStatus(s)),
            (None, None, Some(s)) => Some(AbortError::Http2Error(s)),
            _ => return Err("only one of httpStatus, grpcStatus, http2Error may be set".into()),
        };
        Ok(FaultAbort {
            error_type,
            percentage: w.percentage,
        })
    }
}

impl From<FaultAbort> for FaultAbortWire {
    fn from(a: FaultAbort) -> Self {
        let mut w = FaultAbortWire {
            percentage: a.percentage,
            ..Default::default()
        };
        match a.error_type {
            Some(AbortError::HttpStatus(s)) => w.http_status = Some(s),
            Some(AbortError::GrpcStatus(s)) => w.grpc_status = Some(s),
            Some(AbortError::Http2Error(s)) => w.http2_error = Some(s),
            None => {}
        }
        w
    }
}

/// A destination receiving a copy of the traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMirrorPolicy {
    /// Where the copies go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// Percentage of traffic copied; unset means all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

/// A percentage as a fraction-capable number (0.0 to 100.0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Percent {
    /// The percentage.
    #[serde(default, skip_serializing_if = "is_default")]
    pub value: f64,
}

/// Cross-origin resource sharing (CORS) settings of a route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsPolicy {
    /// Deprecated: exact origins allowed; use `allowOrigins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origin: Vec<String>,
    /// Origins allowed, as string matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<StringMatch>,
    /// HTTP methods allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// Request headers allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Response headers the browser may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// How long a preflight answer may be cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Duration>,
    /// Whether the request may carry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// What happens to preflight requests whose origin is not allowed.
    #[serde(default, skip_serializing_if = "is_default")]
    pub unmatched_preflights: UnmatchedPreflights,
}

/// What happens to preflight requests that match no allowed origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnmatchedPreflights {
    /// Default: forwarded to the upstream.
    #[default]
    Unspecified,
    /// Forwarded to the upstream.
    Forward,
    /// Answered by Envoy without forwarding.
    Ignore,
}

/// A routing rule for TLS traffic, by SNI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRoute {
    /// Conditions, any of which activates the rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub r#match: Vec<TlsMatchAttributes>,
    /// Weighted destinations the connection is forwarded to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
}

/// Conditions on a TLS connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsMatchAttributes {
    /// SNI values to match (wildcards allowed); each must be covered by the VirtualService's hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sni_hosts: Vec<String>,
    /// Destination IPs or subnets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_subnets: Vec<String>,
    /// Port the connection is addressed to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub port: u32,
    /// Labels of the client workloads the rule applies to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways the match applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Namespace of the client workloads the rule applies to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_namespace: String,
}

/// A routing rule for opaque TCP traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpRoute {
    /// Conditions, any of which activates the rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub r#match: Vec<L4MatchAttributes>,
    /// Weighted destinations the connection is forwarded to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
}

/// Conditions on a TCP connection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L4MatchAttributes {
    /// Destination IPs or subnets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_subnets: Vec<String>,
    /// Port the connection is addressed to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub port: u32,
    /// Source IP or subnet (reserved, not implemented by Istio).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_subnet: String,
    /// Labels of the client workloads the rule applies to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways the match applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Namespace of the client workloads the rule applies to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_namespace: String,
}

#[cfg(test)]
mod tests {
    use crate::api::{Object, VirtualService};
    use crate::load;

    use super::*;

    const FULL: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews.bookinfo.svc.cluster.local, "*.example.com"]
  gateways: [mesh, istio-system/ingress]
  exportTo: ["."]
  http:
  - name: main
    match:
    - name: m1
      uri: {prefix: /v2}
      scheme: {exact: https}
      method: {regex: "GET|POST"}
      authority: {exact: example.com}
      headers: {x-user: {exact: jason}, x-present: {}}
      withoutHeaders: {x-debug: {prefix: "1"}}
      queryParams: {v: {exact: "2"}}
      port: 8080
      sourceLabels: {app: productpage}
      gateways: [mesh]
      ignoreUriCase: true
      sourceNamespace: bookinfo
      statPrefix: reviews-v2
    route:
    - destination: {host: reviews, subset: v2, port: {number: 9080}}
      weight: 80
      headers:
        request: {set: {x-a: b}, add: {x-c: d}, remove: [x-e]}
        response: {remove: [server]}
    - destination: {host: reviews, subset: v1}
      weight: 20
    rewrite: {authority: reviews.internal, uriRegexRewrite: {match: "^/v2(.*)", rewrite: "/\\1"}}
    timeout: 10s
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,connect-failure", retryRemoteLocalities: true, retryIgnorePreviousHosts: false, backoff: 25ms}
    fault:
      delay: {fixedDelay: 5s, percent: 10, percentage: {value: 0.5}}
      abort: {httpStatus: 503, percentage: {value: 1}}
    mirrors:
    - destination: {host: mirror}
      percentage: {value: 50}
    corsPolicy:
      allowOrigin: [a.com]
      allowOrigins: [{exact: "https://example.com"}, {regex: ".*"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-foo]
      exposeHeaders: [x-bar]
      maxAge: 24h
      allowCredentials: true
      unmatchedPreflights: IGNORE
    headers:
      response: {set: {x-b: c}}
  - name: redirect
    match: [{uri: {exact: /old}}]
    redirect: {uri: /new, authority: new.example.com, derivePort: FROM_REQUEST_PORT, scheme: https, redirectCode: 302}
  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "I'm a teapot"}}
  - match: [{uri: {exact: /bin}}]
    directResponse: {status: 200, body: {bytes: "aGVsbG8="}}
  - match: [{uri: {prefix: /delegated}}]
    delegate: {name: sub, namespace: other}
  - route: [{destination: {host: reviews}}]
    mirror: {host: mirror, subset: v1}
    mirror_percent: 5
    mirrorPercentage: {value: 12.5}
    fault: {abort: {grpcStatus: UNAVAILABLE}, delay: {exponentialDelay: 1s}}
  tls:
  - match: [{sniHosts: [a.example.com], destinationSubnets: [10.0.0.0/8], port: 443, sourceLabels: {a: b}, gateways: [mesh], sourceNamespace: ns}]
    route: [{destination: {host: a.example.com}, weight: 100}]
  tcp:
  - match: [{destinationSubnets: [10.0.0.1], port: 3306, sourceSubnet: 10.1.0.0/16, sourceLabels: {a: b}, gateways: [mesh], sourceNamespace: ns}]
    route: [{destination: {host: mysql, port: {number: 3306}}}]
"#;

    fn load_vs(yaml: &str) -> VirtualService {
        let objs = load::from_str(yaml, "vs.yaml").unwrap();
        match &objs[0].object {
            Object::VirtualService(vs) => vs.clone(),
            other => panic!("not a VirtualService: {other:?}"),
        }
    }

    #[test]
    fn full_object_loads_and_round_trips() {
        let vs = load_vs(FULL);
        let http = &vs.spec.http;
        assert_eq!(http.len(), 6);
        assert_eq!(http[0].r#match[0].headers["x-present"], StringMatch::Unset);
        assert_eq!(
            http[0].r#match[0].method,
            Some(StringMatch::Regex("GET|POST".into()))
        );
        assert_eq!(
            http[1].redirect.as_ref().unwrap().redirect_port,
            Some(RedirectPort::DerivePort(
                RedirectPortSelection::FromRequestPort
            ))
        );
        assert_eq!(
            http[2].direct_response.as_ref().unwrap().body,
            Some(HttpBody::String("I'm a teapot".into()))
        );
        assert_eq!(http[5].mirror_percent, Some(5));
        assert_eq!(
            http[5]
                .fault
                .as_ref()
                .unwrap()
                .abort
                .as_ref()
                .unwrap()
                .error_type,
            Some(AbortError::GrpcStatus("UNAVAILABLE".into()))
        );
        assert_eq!(
            http[0].cors_policy.as_ref().unwrap().unmatched_preflights,
            UnmatchedPreflights::Ignore
        );
        let json = serde_json::to_value(&vs).unwrap();
        assert_eq!(json["spec"]["http"][5]["mirrorPercent"], 5);
        assert_eq!(
            json["spec"]["http"][0]["fault"]["delay"]["fixedDelay"],
            "5s"
        );
        let back: VirtualService = serde_json::from_value(json).unwrap();
        assert_eq!(back, vs);
    }

    #[test]
    fn oneof_conflicts_fail_with_path() {
        let cases = [
            (
                "http: [{match: [{uri: {exact: /a, prefix: /b}}], route: [{destination: {host: a}}]}]",
                "only one of exact, prefix, regex",
                "spec.http[0].match[0].uri",
            ),
            (
                "http: [{redirect: {port: 8080, derivePort: FROM_REQUEST_PORT}}]",
                "only one of port, derivePort",
                "spec.http[0].redirect",
            ),
            (
                "http: [{directResponse: {status: 200, body: {string: a, bytes: YQ==}}}]",
                "only one of string, bytes",
                "spec.http[0].directResponse.body",
            ),
            (
                "http: [{route: [{destination: {host: a}}], fault: {delay: {fixedDelay: 1s, exponentialDelay: 1s}}}]",
                "only one of fixedDelay, exponentialDelay",
                "spec.http[0].fault.delay",
            ),
            (
                "http: [{route: [{destination: {host: a}}], fault: {abort: {httpStatus: 500, grpcStatus: INTERNAL}}}]",
                "only one of httpStatus, grpcStatus, http2Error",
                "spec.http[0].fault.abort",
            ),
        ];
        for (spec, msg, path) in cases {
            let yaml = format!(
                "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: a}}\nspec:\n  hosts: [a]\n  {spec}\n"
            );
            let err = load::from_str(&yaml, "vs.yaml").unwrap_err().to_string();
            assert!(err.contains(msg), "{spec}: {err}");
            assert!(err.contains(path), "{spec}: {err}");
        }
    }

    #[test]
    fn unknown_field_is_reported() {
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [a]\n  http: [{route: [{destination: {host: a}}], retries: {attempt: 3}}]\n";
        let err = load::from_str(yaml, "vs.yaml").unwrap_err().to_string();
        assert!(err.contains("attempt"), "{err}");
    }
}
