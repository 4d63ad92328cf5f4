//! DestinationRule (`networking/v1alpha3/destination_rule.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::{Duration, PortSelector, WorkloadSelector, is_default};

/// Policies applied to traffic for a service after routing: load balancing, connection pool
/// sizes, outlier detection, TLS to the upstream, and named subsets of its endpoints.
///
/// ```
/// use mesh_core::api::networking::{DestinationRuleSpec, LbPolicy, SimpleLb};
/// let spec: DestinationRuleSpec = serde_json::from_str(
///     r#"{"host": "reviews", "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}},
///         "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}"#)?;
/// let lb = spec.traffic_policy.and_then(|t| t.load_balancer).and_then(|l| l.lb_policy);
/// assert_eq!(lb, Some(LbPolicy::Simple(SimpleLb::Random)));
/// assert_eq!(spec.subsets[0].name, "v1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    /// The service the rule applies to, from the service registry (short names resolve in the
    /// rule's namespace).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Policies for all traffic to the service (load balancing, pools, outlier detection, TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
    /// Named groups of the service's endpoints, selected by label, each with optional policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
    /// Namespaces the rule is visible to (`.` own, `*` all); empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Workloads (clients) the rule applies to; unset means every workload in its scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
}

/// Traffic policies for a destination or one of its subsets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    /// Load-balancing algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection pool limits toward the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Ejection of unhealthy hosts from the load-balancing pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS settings for connections to the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
    /// Per-port overrides of the policies above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_level_settings: Vec<PortTrafficPolicy>,
    /// Tunnels TCP traffic through another proxy (HTTP CONNECT or POST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelSettings>,
    /// Sends a PROXY protocol header to the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Limits retries to a share of active requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_budget: Option<RetryBudget>,
}

/// Traffic policies for one port of the destination.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortTrafficPolicy {
    /// The port the policies apply to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
    /// Load-balancing algorithm for the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection pool limits for the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Outlier detection for the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS settings for the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
}

/// Tunnel settings: wrap TCP connections in HTTP CONNECT/POST to a proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelSettings {
    /// `CONNECT` (default) or `POST`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// Host (FQDN or IP) the tunnel is opened to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_host: String,
    /// Port the tunnel is opened to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub target_port: u32,
}

/// PROXY protocol settings for upstream connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyProtocol {
    /// The PROXY protocol version.
    #[serde(default, skip_serializing_if = "is_default")]
    pub version: ProxyProtocolVersion,
}

/// `TrafficPolicy.ProxyProtocol.VERSION`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProxyProtocolVersion {
    /// The human-readable version 1.
    #[default]
    V1,
    /// The binary version 2.
    V2,
}

/// A retry budget: the share of active requests that may be retries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryBudget {
    /// Percentage (0-100) of active requests that may be retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Retries always allowed regardless of the percentage.
    #[serde(default, skip_serializing_if = "is_default")]
    pub min_retry_concurrency: u32,
    /// Window over which the budget is computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_interval: Option<Duration>,
}

/// A named subset of the service's endpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subset {
    /// Name used by routes to refer to the subset (a DNS label).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Endpoint labels selecting the subset's members.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Policies overriding the rule-level ones for this subset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_policy: Option<TrafficPolicy>,
}

/// Load-balancing settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LoadBalancerWire", into = "LoadBalancerWire")]
pub struct LoadBalancerSettings {
    /// The algorithm (`simple`, `consistentHash` or `backendUtilization`); unset means the default.
    pub lb_policy: Option<LbPolicy>,
    /// Locality-weighted load balancing and failover.
    pub locality_lb_setting: Option<LocalityLoadBalancerSetting>,
    /// Zone-aware load balancing (Envoy's own region/zone routing).
    pub zone_aware_lb_setting: Option<ZoneAwareLoadBalancerSetting>,
    /// Slow-start window for new endpoints (deprecated in favour of `warmup`).
    pub warmup_duration_secs: Option<Duration>,
    /// Slow-start settings for new endpoints.
    pub warmup: Option<WarmupConfiguration>,
}

/// The `lb_policy` oneof of [`LoadBalancerSettings`].
#[derive(Clone, Debug, PartialEq)]
pub enum LbPolicy {
    /// A standard algorithm.
    Simple(SimpleLb),
    /// Hash-based affinity.
    ConsistentHash(ConsistentHashLb),
    /// Weighted round robin by endpoint-reported utilization.
    BackendUtilization(BackendUtilizationLb),
}

/// `LoadBalancerSettings.SimpleLB`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SimpleLb {
    /// The default chosen by Istio (least request).
    #[default]
    Unspecified,
    /// Deprecated alias of `LEAST_REQUEST`.
    LeastConn,
    /// A random healthy host.
    Random,
    /// Forward to the original destination address.
    Passthrough,
    /// Round robin.
    RoundRobin,
    /// Fewest outstanding requests among two random hosts.
    LeastRequest,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoadBalancerWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    simple: Option<SimpleLb>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    consistent_hash: Option<ConsistentHashLb>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backend_utilization: Option<BackendUtilizationLb>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    locality_lb_setting: Option<LocalityLoadBalancerSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone_aware_lb_setting: Option<ZoneAwareLoadBalancerSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    warmup_duration_secs: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    warmup: Option<WarmupConfiguration>,
}

impl TryFrom<LoadBalancerWire> for LoadBalancerSettings {
    type Error = String;
    fn try_from(w: LoadBalancerWire) -> Result<Self, String> {
        let set = [
            w.simple.is_some(),
            w.consistent_hash.is_some(),
            w.backend_utilization.is_some(),
        ];
        if set.iter().filter(|b| **b).count() > 1 {
            return Err("only one of simple, consistentHash, backendUtilization may be set".into());
        }
        let lb_policy = match (w.simple, w.consistent_hash, w.backend_utilization) {
            (Some(s), _, _) => Some(LbPolicy::Simple(s)),
            (_, Some(c), _) => Some(LbPolicy::ConsistentHash(c)),
            (_, _, Some(b)) => Some(LbPolicy::BackendUtilization(b)),
            _ => None,
        };
        Ok(Self {
            lb_policy,
            locality_lb_setting: w.locality_lb_setting,
            zone_aware_lb_setting: w.zone_aware_lb_setting,
            warmup_duration_secs: w.warmup_duration_secs,
            warmup: w.warmup,
        })
    }
}

impl From<LoadBalancerSettings> for LoadBalancerWire {
    fn from(s: LoadBalancerSettings) -> Self {
        let (mut simple, mut consistent_hash, mut backend_utilization) = (None, None, None);
        match s.lb_policy {
            Some(LbPolicy::Simple(v)) => simple = Some(v),
            Some(LbPolicy::ConsistentHash(v)) => consistent_hash = Some(v),
            Some(LbPolicy::BackendUtilization(v)) => backend_utilization = Some(v),
            None => {}
        }
        Self {
            simple,
            consistent_hash,
            backend_utilization,
            locality_lb_setting: s.locality_lb_setting,
            zone_aware_lb_setting: s.zone_aware_lb_setting,
            warmup_duration_secs: s.warmup_duration_secs,
            warmup: s.warmup,
        }
    }
}

/// Consistent-hash load balancing: requests with the same key go to the same host.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ConsistentHashWire", into = "ConsistentHashWire")]
pub struct ConsistentHashLb {
    /// What the hash is computed from.
    pub hash_key: Option<HashKey>,
    /// The hashing algorithm (ring hash or Maglev).
    pub hash_algorithm: Option<HashAlgorithm>,
    /// Deprecated: minimum ring size; use `ringHash.minimumRingSize`.
    pub minimum_ring_size: u64,
}

/// The `hash_key` oneof of [`ConsistentHashLb`].
#[derive(Clone, Debug, PartialEq)]
pub enum HashKey {
    /// Hash on a request header.
    HttpHeaderName(String),
    /// Hash on a cookie (generated when absent).
    HttpCookie(HttpCookie),
    /// Hash on the client's source IP.
    UseSourceIp(bool),
    /// Hash on a query parameter.
    HttpQueryParameterName(String),
}

/// The `hash_algorithm` oneof of [`ConsistentHashLb`].
#[derive(Clone, Debug, PartialEq)]
pub enum HashAlgorithm {
    /// Ketama ring hash.
    RingHash(RingHash),
    /// Maglev hashing.
    Maglev(MagLev),
}

/// Ring-hash settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RingHash {
    /// Minimum number of virtual nodes on the ring.
    #[serde(default, skip_serializing_if = "is_default")]
    pub minimum_ring_size: u64,
}

/// Maglev settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MagLev {
    /// Lookup table size; must be prime.
    #[serde(default, skip_serializing_if = "is_default")]
    pub table_size: u64,
}

/// The cookie used as hash key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCookie {
    /// Cookie name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Path set on a generated cookie.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Lifetime of a generated cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
    /// Extra attributes set on a generated cookie.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<CookieAttribute>,
}

/// An attribute of a generated cookie.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CookieAttribute {
    /// Attribute name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Attribute value (empty for flags such as `Secure`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistentHashWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http_header_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http_cookie: Option<HttpCookie>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    use_source_ip: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http_query_parameter_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ring_hash: Option<RingHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    maglev: Option<MagLev>,
    #[serde(default, skip_serializing_if = "is_default")]
    minimum_ring_size: u64,
}

impl TryFrom<ConsistentHashWire> for ConsistentHashLb {
    type Error = String;
    fn try_from(w: ConsistentHashWire) -> Result<Self, String> {
        let keys = [
            w.http_header_name.is_some(),
            w.http_cookie.is_some(),
            w.use_source_ip.is_some(),
            w.http_query_parameter_name.is_some(),
        ];
        if keys.iter().filter(|b| **b).count() > 1 {
            return Err("only one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName may be set".into());
        }
        if w.ring_hash.is_some() && w.maglev.is_some() {
            return Err("only one of ringHash, maglev may be set".into());
        }
        let hash_key = if let Some(h) = w.http_header_name {
            Some(HashKey::HttpHeaderName(h))
        } else if let Some(c) = w.http_cookie {
            Some(HashKey::HttpCookie(c))
        } else if let Some(b) = w.use_source_ip {
            Some(HashKey::UseSourceIp(b))
        } else {
            w.http_query_parameter_name
                .map(HashKey::HttpQueryParameterName)
        };
        let hash_algorithm = match (w.ring_hash, w.maglev) {
            (Some(r), _) => Some(HashAlgorithm::RingHash(r)),
            (_, Some(m)) => Some(HashAlgorithm::Maglev(m)),
            _ => None,
        };
        Ok(Self {
            hash_key,
            hash_algorithm,
            minimum_ring_size: w.minimum_ring_size,
        })
    }
}

impl From<ConsistentHashLb> for ConsistentHashWire {
    fn from(c: ConsistentHashLb) -> Self {
        let mut w = ConsistentHashWire {
            http_header_name: None,
            http_cookie: None,
            use_source_ip: None,
            http_query_parameter_name: None,
            ring_hash: None,
            maglev: None,
            minimum_ring_size: c.minimum_ring_size,
        };
        match c.hash_key {
            Some(HashKey::HttpHeaderName(h)) => w.http_header_name = Some(h),
            Some(HashKey::HttpCookie(k)) => w.http_cookie = Some(k),
            Some(HashKey::UseSourceIp(b)) => w.use_source_ip = Some(b),
            Some(HashKey::HttpQueryParameterName(q)) => w.http_query_parameter_name = Some(q),
            None => {}
        }
        match c.hash_algorithm {
            Some(HashAlgorithm::RingHash(r)) => w.ring_hash = Some(r),
            Some(HashAlgorithm::Maglev(m)) => w.maglev = Some(m),
            None => {}
        }
        w
    }
}

/// Weighted round robin driven by the load endpoints report (ORCA).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendUtilizationLb {
    /// How often endpoint weights are recomputed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_update_period: Option<Duration>,
    /// How long a weight stays valid without a new report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_expiration_period: Option<Duration>,
    /// How long a new endpoint waits before its weight is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_stabilization_period: Option<Duration>,
    /// Penalty applied for the error rate, in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_utilization_penalty_percent: Option<u32>,
    /// Named metrics used to compute utilization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_names_for_computing_utilization: Vec<String>,
}

/// Slow start for newly added endpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarmupConfiguration {
    /// Length of the warmup window (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// Minimum share of traffic (percent) a warming endpoint receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_percent: Option<f64>,
    /// How fast traffic ramps up (1.0 is linear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggression: Option<f64>,
}

/// Locality-weighted load balancing: weights per locality, or failover order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalityLoadBalancerSetting {
    /// Traffic shares from a source locality to destination localities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribute: Vec<LocalityDistribute>,
    /// Region to fail over to when a region has no healthy endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<LocalityFailover>,
    /// Ordered labels used to prioritise endpoints on failover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
    /// Turns locality load balancing on or off for this destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Traffic distribution from one locality.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalityDistribute {
    /// Source locality (`region/zone/subzone`, `*` allowed at the end).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// Destination localities and their weights (summing to 100).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub to: BTreeMap<String, u32>,
}

/// A region-to-region failover.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalityFailover {
    /// Region that fails.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// Region that takes its traffic.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
}

/// Zone-aware load balancing: Envoy routes by region and zone itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneAwareLoadBalancerSetting {
    /// Turns zone-aware load balancing on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Cross-region failover order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<LocalityFailover>,
    /// Ordered labels (not topology labels) used to prioritise endpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
    /// Minimum cluster size for zone-aware routing to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_cluster_size: Option<u32>,
}

/// Connection pool limits toward the upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPoolSettings {
    /// Settings common to TCP and HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpSettings>,
    /// HTTP-specific settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSettings>,
}

/// TCP connection pool settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpSettings {
    /// Maximum connections to a host.
    #[serde(default, skip_serializing_if = "is_default")]
    pub max_connections: i32,
    /// TCP connect timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Duration>,
    /// TCP keepalive on the socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Maximum lifetime of a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connection_duration: Option<Duration>,
    /// Idle timeout of a TCP connection (`0s` disables it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
}

/// TCP keepalive settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpKeepalive {
    /// Unanswered probes before the connection is dropped.
    #[serde(default, skip_serializing_if = "is_default")]
    pub probes: u32,
    /// Idle time before probes start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Duration>,
    /// Time between probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
}

/// HTTP connection pool settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpSettings {
    /// Maximum queued requests waiting for a connection.
    #[serde(default, skip_serializing_if = "is_default")]
    pub http1_max_pending_requests: i32,
    /// Maximum active requests to a destination.
    #[serde(default, skip_serializing_if = "is_default")]
    pub http2_max_requests: i32,
    /// Maximum requests per connection (1 disables keep-alive).
    #[serde(default, skip_serializing_if = "is_default")]
    pub max_requests_per_connection: i32,
    /// Maximum outstanding retries to the cluster.
    #[serde(default, skip_serializing_if = "is_default")]
    pub max_retries: i32,
    /// Idle timeout of an upstream connection pool connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
    /// Whether HTTP/1.1 connections are upgraded to HTTP/2.
    #[serde(default, skip_serializing_if = "is_default")]
    pub h2_upgrade_policy: H2UpgradePolicy,
    /// Use the client's protocol (HTTP/1.1 or HTTP/2) toward the upstream.
    #[serde(default, skip_serializing_if = "is_default")]
    pub use_client_protocol: bool,
    /// Maximum concurrent streams per HTTP/2 connection.
    #[serde(default, skip_serializing_if = "is_default")]
    pub max_concurrent_streams: i32,
    /// HTTP/2 keepalive pings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2_keep_alive: Option<Http2KeepAlive>,
}

/// `ConnectionPoolSettings.HTTPSettings.H2UpgradePolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum H2UpgradePolicy {
    /// Use the mesh-wide default.
    #[default]
    Default,
    /// Never upgrade.
    DoNotUpgrade,
    /// Upgrade to HTTP/2.
    Upgrade,
}

/// HTTP/2 keepalive ping settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Http2KeepAlive {
    /// Time between pings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Time to wait for a ping response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// Ejection of hosts that keep failing from the load-balancing pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDetection {
    /// Deprecated: consecutive errors before ejection.
    #[serde(default, skip_serializing_if = "is_default")]
    pub consecutive_errors: i32,
    /// Count locally originated failures separately from upstream ones.
    #[serde(default, skip_serializing_if = "is_default")]
    pub split_external_local_origin_errors: bool,
    /// Consecutive locally originated failures before ejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_local_origin_failures: Option<u32>,
    /// Consecutive gateway errors (502, 503, 504) before ejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_gateway_errors: Option<u32>,
    /// Consecutive 5xx errors before ejection.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "consecutive5xxErrors"
    )]
    pub consecutive_5xx_errors: Option<u32>,
    /// Time between ejection sweeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Minimum ejection duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<Duration>,
    /// Maximum share (percent) of hosts that may be ejected.
    #[serde(default, skip_serializing_if = "is_default")]
    pub max_ejection_percent: i32,
    /// Outlier detection stops when fewer hosts than this percentage are healthy.
    #[serde(default, skip_serializing_if = "is_default")]
    pub min_health_percent: i32,
    /// HTTP status codes counted as errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outlier_detection_http_error_codes: Vec<u32>,
}

/// TLS settings for connections to the upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTlsSettings {
    /// Whether and how to originate TLS.
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: ClientTlsMode,
    /// Client certificate file (`MUTUAL`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_certificate: String,
    /// Client private key file (`MUTUAL`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub private_key: String,
    /// CA bundle file used to verify the server.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_certificates: String,
    /// Secret holding the client certificate, key and CA.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credential_name: String,
    /// Identities accepted in the server certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// SNI sent during the handshake.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sni: String,
    /// Skip verification of the server certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
    /// Certificate revocation list file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_crl: String,
}

/// `ClientTLSSettings.TLSmode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientTlsMode {
    /// Plaintext.
    #[default]
    Disable,
    /// TLS, verifying the server.
    Simple,
    /// Mutual TLS with the given client certificate.
    Mutual,
    /// Mutual TLS with Istio's workload certificates.
    IstioMutual,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DestinationRule, Object};

    const FULL: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews.default.svc.cluster.local
  exportTo: ["."]
  workloadSelector: {matchLabels: {app: productpage}}
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpCookie: {name: user, ttl: 10s, path: /, attributes: [{name: Secure}]}
        maglev: {tableSize: 65537}
      localityLbSetting:
        enabled: true
        failover: [{from: us-east, to: us-west}]
      warmup: {duration: 10s, minimumPercent: 10, aggression: 1.5}
    connectionPool:
      tcp: {maxConnections: 100, connectTimeout: 30ms, tcpKeepalive: {probes: 3, time: 7200s, interval: 75s}, maxConnectionDuration: 1h, idleTimeout: 0s}
      http: {http1MaxPendingRequests: 10, http2MaxRequests: 100, maxRequestsPerConnection: 1, maxRetries: 3, idleTimeout: 1s, h2UpgradePolicy: UPGRADE, maxConcurrentStreams: 5, http2KeepAlive: {interval: 1s, timeout: 2s}}
    outlierDetection: {consecutive5xxErrors: 7, consecutiveGatewayErrors: 3, interval: 5m, baseEjectionTime: 15m, maxEjectionPercent: 50, minHealthPercent: 10, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2, outlierDetectionHttpErrorCodes: [503]}
    tls: {mode: SIMPLE, sni: reviews, subjectAltNames: [a], insecureSkipVerify: false, caCertificates: /ca.pem}
    portLevelSettings:
    - port: {number: 80}
      loadBalancer: {simple: LEAST_REQUEST, zoneAwareLbSetting: {enabled: true, minClusterSize: 3}}
    retryBudget: {percent: 20, minRetryConcurrency: 3, budgetInterval: 1s}
    tunnel: {protocol: CONNECT, targetHost: proxy.example.com, targetPort: 8080}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {backendUtilization: {weightUpdatePeriod: 1s, metricNamesForComputingUtilization: [cpu]}}}
"#;

    fn load_one(yaml: &str) -> DestinationRule {
        let objs = crate::load::from_str(yaml, "dr.yaml").unwrap();
        match &objs[0].object {
            Object::DestinationRule(dr) => dr.clone(),
            o => panic!("unexpected {o:?}"),
        }
    }

    #[test]
    fn full_object_loads_and_round_trips() {
        let dr = load_one(FULL);
        let tp = dr.spec.traffic_policy.clone().unwrap();
        let lb = tp.load_balancer.unwrap();
        let Some(LbPolicy::ConsistentHash(ch)) = lb.lb_policy else {
            panic!()
        };
        assert!(matches!(ch.hash_key, Some(HashKey::HttpCookie(ref c)) if c.name == "user"));
        assert_eq!(
            ch.hash_algorithm,
            Some(HashAlgorithm::Maglev(MagLev { table_size: 65537 }))
        );
        assert_eq!(
            tp.outlier_detection.unwrap().consecutive_5xx_errors,
            Some(7)
        );
        let http = tp.connection_pool.unwrap().http.unwrap();
        assert_eq!(http.h2_upgrade_policy, H2UpgradePolicy::Upgrade);
        assert_eq!(http.http1_max_pending_requests, 10);
        let json = serde_json::to_value(&dr).unwrap();
        assert_eq!(
            json["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"],
            7
        );
        assert_eq!(
            json["spec"]["trafficPolicy"]["loadBalancer"]["consistentHash"]["maglev"]["tableSize"],
            65537
        );
        let back: DestinationRule = serde_json::from_value(json).unwrap();
        assert_eq!(back, dr);
    }

    #[test]
    fn oneof_conflicts_fail_with_path() {
        let err = crate::load::from_str(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec:\n  host: a\n  trafficPolicy:\n    loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}\n",
            "x.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only one of simple, consistentHash"), "{err}");
        assert!(err.contains("spec.trafficPolicy.loadBalancer"), "{err}");
        let err = crate::load::from_str(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec:\n  host: a\n  trafficPolicy:\n    loadBalancer: {consistentHash: {useSourceIp: true, httpHeaderName: x}}\n",
            "x.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only one of httpHeaderName"), "{err}");
        let err = crate::load::from_str(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec:\n  host: a\n  trafficPolicy:\n    loadBalancer: {consistentHash: {ringHash: {}, maglev: {}}}\n",
            "x.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only one of ringHash, maglev"), "{err}");
    }

    #[test]
    fn unknown_field_in_oneof_wrapper_is_reported() {
        let r = crate::load::from_str(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec:\n  host: a\n  trafficPolicy:\n    loadBalancer: {simpel: RANDOM}\n",
            "x.yaml",
        );
        assert!(r.is_err());
    }
}
