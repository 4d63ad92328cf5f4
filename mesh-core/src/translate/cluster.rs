//! DestinationRule traffic policy to Envoy cluster settings (istiod's `cluster_traffic_policy.go`
//! and `MergeSubsetTrafficPolicy`).
//!
//! ```
//! use mesh_core::api::networking::DestinationRuleSpec;
//! use mesh_core::translate::cluster::{ClusterDefaults, apply_traffic_policy, effective_traffic_policy};
//! use envoy_types::pb::envoy::config::cluster::v3::Cluster;
//!
//! let dr: DestinationRuleSpec = serde_json::from_value(serde_json::json!({
//!     "host": "reviews",
//!     "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 100}}},
//!     "subsets": [{"name": "v2", "labels": {"version": "v2"},
//!                  "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}}]
//! }))?;
//! let policy = effective_traffic_policy(&dr, Some("v2"), 9080);
//! let mut cluster = Cluster { name: "outbound|9080|v2|reviews.default.svc.cluster.local".into(), ..Default::default() };
//! apply_traffic_policy(&mut cluster, policy.as_ref(), &ClusterDefaults::default());
//! let limits = &cluster.circuit_breakers.as_ref().unwrap().thresholds[0];
//! assert_eq!(limits.max_connections.as_ref().map(|v| v.value), Some(100));
//! # Ok::<(), serde_json::Error>(())
//! ```

use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster, OutlierDetection as EnvoyOutlierDetection, UpstreamConnectionOptions,
    circuit_breakers::{Thresholds, thresholds::RetryBudget as EnvoyRetryBudget},
    cluster::{self as envoy_cluster, CommonLbConfig, LbPolicy, SlowStartConfig},
};
use envoy_types::pb::envoy::config::core::v3::{
    Http1ProtocolOptions, Http2ProtocolOptions, HttpProtocolOptions as CommonHttpProtocolOptions,
    KeepaliveSettings, RuntimeDouble, TcpKeepalive as EnvoyTcpKeepalive,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions,
    http_protocol_options::{self, ExplicitHttpConfig, explicit_http_config},
};
use envoy_types::pb::envoy::r#type::v3::Percent;
use envoy_types::pb::google::protobuf::{Duration as PbDuration, UInt32Value};

use crate::api::Duration;
use crate::api::networking::{
    ConnectionPoolSettings, DestinationRuleSpec, H2UpgradePolicy, HashAlgorithm,
    LbPolicy as IstioLbPolicy, LoadBalancerSettings, OutlierDetection, RetryBudget, SimpleLb,
    TrafficPolicy,
};
use crate::dump::to_any;

/// The cluster that drops everything (`REGISTRY_ONLY` traffic to unknown destinations).
pub const BLACKHOLE_CLUSTER: &str = "BlackHoleCluster";
/// The cluster that forwards to the original destination (`ALLOW_ANY`).
pub const PASSTHROUGH_CLUSTER: &str = "PassthroughCluster";

/// `model.BuildSubsetKey` for outbound clusters: `outbound|9080|v1|reviews.default.svc.cluster.local`.
pub fn outbound_cluster_name(port: u32, subset: &str, host: &str) -> String {
    let port = super::text::Decimal::new(port);
    super::text::concat(&["outbound|", port.as_str(), "|", subset, "|", host])
}

/// `util.DelimitedStatsPrefix`: a cluster's `alt_stat_name`.
pub(crate) fn stat_name(name: &str) -> String {
    super::text::concat(&[name, ";"])
}

/// `buildCluster` + `maybeApplyEdsConfig`: a cluster of the given discovery type with Istio's
/// `alt_stat_name`, an empty `common_lb_config`, and for EDS the endpoints over ADS
/// (`initial_fetch_timeout` 0, so a cluster never waits for its endpoints).
pub fn base_cluster(name: &str, discovery: envoy_cluster::DiscoveryType) -> Cluster {
    use envoy_types::pb::envoy::config::core::v3::{
        AggregatedConfigSource, ApiVersion, ConfigSource, config_source,
    };
    let mut c = Cluster {
        name: name.to_string(),
        alt_stat_name: stat_name(name),
        cluster_discovery_type: Some(envoy_cluster::ClusterDiscoveryType::Type(discovery as i32)),
        common_lb_config: Some(CommonLbConfig::default()),
        ..Default::default()
    };
    if discovery == envoy_cluster::DiscoveryType::Eds {
        c.eds_cluster_config = Some(envoy_cluster::EdsClusterConfig {
            service_name: name.to_string(),
            eds_config: Some(ConfigSource {
                config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
                    AggregatedConfigSource {},
                )),
                initial_fetch_timeout: Some(PbDuration::default()),
                resource_api_version: ApiVersion::V3 as i32,
                ..Default::default()
            }),
        });
    }
    c
}

/// `buildBlackHoleCluster`.
pub fn blackhole_cluster(defaults: &ClusterDefaults) -> Cluster {
    Cluster {
        name: BLACKHOLE_CLUSTER.into(),
        alt_stat_name: stat_name(BLACKHOLE_CLUSTER),
        cluster_discovery_type: Some(envoy_cluster::ClusterDiscoveryType::Type(
            envoy_cluster::DiscoveryType::Static as i32,
        )),
        connect_timeout: Some(pb(&defaults.connect_timeout)),
        lb_policy: LbPolicy::RoundRobin as i32,
        ..Default::default()
    }
}

/// `buildDefaultPassthroughCluster`: original destination, the downstream's HTTP protocol,
/// a 5-minute idle timeout, and the default circuit breakers.
pub fn passthrough_cluster(defaults: &ClusterDefaults) -> Cluster {
    let mut c = Cluster {
        name: PASSTHROUGH_CLUSTER.into(),
        alt_stat_name: stat_name(PASSTHROUGH_CLUSTER),
        cluster_discovery_type: Some(envoy_cluster::ClusterDiscoveryType::Type(
            envoy_cluster::DiscoveryType::OriginalDst as i32,
        )),
        lb_policy: LbPolicy::ClusterProvided as i32,
        ..Default::default()
    };
    let options = HttpProtocolOptions {
        common_http_protocol_options: Some(CommonHttpProtocolOptions {
            idle_timeout: Some(PbDuration {
                seconds: 300,
                nanos: 0,
            }),
            ..Default::default()
        }),
        upstream_protocol_options: Some(
            http_protocol_options::UpstreamProtocolOptions::UseDownstreamProtocolConfig(
                http_protocol_options::UseDownstreamHttpConfig {
                    http_protocol_options: Some(Http1ProtocolOptions::default()),
                    http2_protocol_options: Some(Http2ProtocolOptions::default()),
                    ..Default::default()
                },
            ),
        ),
        ..Default::default()
    };
    c.typed_extension_protocol_options
        .insert(HTTP_PROTOCOL_OPTIONS.to_string(), to_any(&options));
    let mut no_upgrade = defaults.clone();
    no_upgrade.h2_upgrade = false;
    apply_connection_pool(
        &mut c,
        &ConnectionPoolSettings::default(),
        None,
        &no_upgrade,
        false,
    );
    c
}

/// The key of the upstream HTTP options in `typed_extension_protocol_options`.
pub const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// Mesh-wide settings that feed cluster building.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ClusterDefaults {
    /// `meshConfig.connectTimeout` (10s by default).
    pub connect_timeout: Duration,
    /// `meshConfig.h2UpgradePolicy` is `UPGRADE`.
    pub h2_upgrade: bool,
    /// The port's protocol is HTTP (only HTTP ports are upgraded by the mesh default).
    pub port_is_http: bool,
    /// The port's protocol is HTTP/2 or gRPC (the cluster speaks h2 upstream).
    pub port_is_http2: bool,
}

impl Default for ClusterDefaults {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            h2_upgrade: false,
            port_is_http: true,
            port_is_http2: false,
        }
    }
}

/// The traffic policy that applies to one port of one subset: the DestinationRule's policy with
/// its port-level settings for `port`, overridden by the subset's (with the subset's port-level
/// settings), as istiod's `MergeSubsetTrafficPolicy` does.
///
/// Port-level settings replace the policy's top-level settings wholesale: a field the port level
/// leaves out falls back to the default, not to the top level.
pub fn effective_traffic_policy(
    dr: &DestinationRuleSpec,
    subset: Option<&str>,
    port: u32,
) -> Option<TrafficPolicy> {
    let original = dr.traffic_policy.as_ref().map(|p| port_level(p, port).0);
    let subset_policy = subset
        .and_then(|name| dr.subsets.iter().find(|s| s.name == name))
        .and_then(|s| s.traffic_policy.as_ref());
    let Some(subset_policy) = subset_policy else {
        return original;
    };
    let (subset_policy, has_port_level) = port_level(subset_policy, port);
    let Some(mut merged) = original else {
        return Some(subset_policy);
    };
    if subset_policy.connection_pool.is_some() || has_port_level {
        merged.connection_pool = subset_policy.connection_pool;
    }
    if subset_policy.outlier_detection.is_some() || has_port_level {
        merged.outlier_detection = subset_policy.outlier_detection;
    }
    if subset_policy.load_balancer.is_some() || has_port_level {
        merged.load_balancer = subset_policy.load_balancer;
    }
    if subset_policy.tls.is_some() || has_port_level {
        merged.tls = subset_policy.tls;
    }
    if subset_policy.tunnel.is_some() {
        merged.tunnel = subset_policy.tunnel;
    }
    if subset_policy.proxy_protocol.is_some() {
        merged.proxy_protocol = subset_policy.proxy_protocol;
    }
    if subset_policy.retry_budget.is_some() {
        merged.retry_budget = subset_policy.retry_budget;
    }
    Some(merged)
}

/// `GetPortLevelTrafficPolicy`: the policy for `port` (port-level settings replace the four
/// port-settable parts), and whether a port-level entry matched. Port-level settings are
/// dropped from the result.
fn port_level(policy: &TrafficPolicy, port: u32) -> (TrafficPolicy, bool) {
    let mut out = TrafficPolicy {
        port_level_settings: Vec::new(),
        ..policy.clone()
    };
    let matched = policy
        .port_level_settings
        .iter()
        .find(|p| p.port.as_ref().is_some_and(|s| s.number == port));
    match matched {
        Some(p) => {
            out.connection_pool = p.connection_pool.clone();
            out.outlier_detection = p.outlier_detection.clone();
            out.load_balancer = p.load_balancer.clone();
            out.tls = p.tls.clone();
            (out, true)
        }
        None => (out, false),
    }
}

/// Applies connection pool, outlier detection and load balancer settings to an outbound
/// cluster, with Istio's defaults where the policy is silent. TLS and locality settings are
/// applied by the cluster builder (not here yet).
pub fn apply_traffic_policy(
    cluster: &mut Cluster,
    policy: Option<&TrafficPolicy>,
    defaults: &ClusterDefaults,
) {
    let empty = ConnectionPoolSettings::default();
    let pool = policy
        .and_then(|p| p.connection_pool.as_ref())
        .unwrap_or(&empty);
    let retry_budget = policy.and_then(|p| p.retry_budget.as_ref());
    let h2 = defaults.port_is_http2 || should_h2_upgrade(pool, defaults);
    apply_connection_pool(cluster, pool, retry_budget, defaults, h2);
    if let Some(o) = policy.and_then(|p| p.outlier_detection.as_ref()) {
        apply_outlier_detection(cluster, o);
    }
    apply_load_balancer(cluster, policy.and_then(|p| p.load_balancer.as_ref()));
    if cluster.cluster_discovery_type
        == Some(envoy_cluster::ClusterDiscoveryType::Type(
            envoy_cluster::DiscoveryType::OriginalDst as i32,
        ))
    {
        cluster.lb_policy = LbPolicy::ClusterProvided as i32;
    }
}

/// The connection pool defaults of an inbound cluster (circuit breakers at their maxima, the
/// mesh connect timeout); inbound clusters get no outlier detection or load balancer.
pub fn apply_inbound_connection_pool(cluster: &mut Cluster, defaults: &ClusterDefaults) {
    apply_connection_pool(
        cluster,
        &ConnectionPoolSettings::default(),
        None,
        defaults,
        false,
    );
}

/// `shouldH2Upgrade`: the DR's `h2UpgradePolicy` decides; else the mesh default, for HTTP ports
/// only; never with `useClientProtocol`.
fn should_h2_upgrade(pool: &ConnectionPoolSettings, defaults: &ClusterDefaults) -> bool {
    if let Some(http) = &pool.http {
        if http.use_client_protocol {
            return false;
        }
        match http.h2_upgrade_policy {
            H2UpgradePolicy::Upgrade => return true,
            H2UpgradePolicy::DoNotUpgrade => return false,
            H2UpgradePolicy::Default => {}
        }
    }
    defaults.port_is_http && defaults.h2_upgrade
}

fn pb(d: &Duration) -> PbDuration {
    PbDuration {
        seconds: d.seconds(),
        nanos: d.subsec_nanos(),
    }
}

fn u32v(value: u32) -> Option<UInt32Value> {
    Some(UInt32Value { value })
}

/// A positive `int32` limit from the API as Envoy's `uint32`.
fn positive(v: i32) -> Option<u32> {
    u32::try_from(v).ok().filter(|v| *v > 0)
}

/// `applyConnectionPool`: circuit breaker thresholds (every limit at 2^32-1 unless set, with
/// `track_remaining`), connect timeout, TCP keepalive, and the upstream HTTP protocol options.
fn apply_connection_pool(
    cluster: &mut Cluster,
    pool: &ConnectionPoolSettings,
    retry_budget: Option<&RetryBudget>,
    defaults: &ClusterDefaults,
    h2: bool,
) {
    let mut threshold = Thresholds {
        max_connections: u32v(u32::MAX),
        max_pending_requests: u32v(u32::MAX),
        max_requests: u32v(u32::MAX),
        max_retries: u32v(u32::MAX),
        track_remaining: true,
        ..Default::default()
    };
    if let Some(budget) = retry_budget {
        threshold.retry_budget = Some(EnvoyRetryBudget {
            budget_percent: Some(Percent {
                value: budget.percent.unwrap_or(20.0),
            }),
            min_retry_concurrency: u32v(if budget.min_retry_concurrency > 0 {
                budget.min_retry_concurrency
            } else {
                3
            }),
            budget_interval: budget.budget_interval.as_ref().map(pb),
        });
    }
    cluster.connect_timeout = Some(pb(&defaults.connect_timeout));

    let mut idle_timeout = None;
    let mut max_requests_per_connection = None;
    let mut max_concurrent_streams = None;
    let mut keepalive = None;
    let mut max_connection_duration = None;
    if let Some(http) = &pool.http {
        if let Some(v) = positive(http.http2_max_requests) {
            threshold.max_requests = u32v(v);
        }
        if let Some(v) = positive(http.http1_max_pending_requests) {
            threshold.max_pending_requests = u32v(v);
        }
        if let Some(v) = positive(http.max_retries) {
            threshold.max_retries = u32v(v);
        }
        idle_timeout = http.idle_timeout;
        max_requests_per_connection = positive(http.max_requests_per_connection);
        max_concurrent_streams = positive(http.max_concurrent_streams);
        keepalive = http.http2_keep_alive.clone();
    }
    if let Some(tcp) = &pool.tcp {
        if let Some(t) = &tcp.connect_timeout {
            cluster.connect_timeout = Some(pb(t));
        }
        if let Some(v) = positive(tcp.max_connections) {
            threshold.max_connections = u32v(v);
        }
        max_connection_duration = tcp.max_connection_duration;
        if idle_timeout.is_none() {
            idle_timeout = tcp.idle_timeout;
        }
        if let Some(k) = &tcp.tcp_keepalive {
            cluster.upstream_connection_options = Some(UpstreamConnectionOptions {
                tcp_keepalive: Some(EnvoyTcpKeepalive {
                    keepalive_probes: (k.probes > 0).then_some(k.probes).and_then(u32v),
                    keepalive_time: k
                        .time
                        .as_ref()
                        .map(|d| d.seconds().max(1))
                        .and_then(|s| u32v(u32::try_from(s).unwrap_or(u32::MAX))),
                    keepalive_interval: k
                        .interval
                        .as_ref()
                        .map(|d| d.seconds().max(1))
                        .and_then(|s| u32v(u32::try_from(s).unwrap_or(u32::MAX))),
                }),
                ..Default::default()
            });
        }
    }
    cluster.circuit_breakers = Some(CircuitBreakers {
        thresholds: vec![threshold],
        ..Default::default()
    });

    let use_client_protocol = pool.http.as_ref().is_some_and(|h| h.use_client_protocol);
    let needs_options = h2
        || use_client_protocol
        || idle_timeout.is_some()
        || max_requests_per_connection.is_some()
        || max_connection_duration.is_some();
    if !needs_options {
        return;
    }
    let common = (idle_timeout.is_some()
        || max_requests_per_connection.is_some()
        || max_connection_duration.is_some())
    .then(|| CommonHttpProtocolOptions {
        idle_timeout: idle_timeout.as_ref().map(pb),
        max_requests_per_connection: max_requests_per_connection.and_then(u32v),
        max_connection_duration: max_connection_duration.as_ref().map(pb),
        ..Default::default()
    });
    let protocol = if use_client_protocol {
        http_protocol_options::UpstreamProtocolOptions::UseDownstreamProtocolConfig(
            http_protocol_options::UseDownstreamHttpConfig {
                http_protocol_options: Some(Http1ProtocolOptions::default()),
                http2_protocol_options: Some(Http2ProtocolOptions::default()),
                ..Default::default()
            },
        )
    } else if h2 {
        http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(ExplicitHttpConfig {
            protocol_config: Some(explicit_http_config::ProtocolConfig::Http2ProtocolOptions(
                Http2ProtocolOptions {
                    max_concurrent_streams: max_concurrent_streams.and_then(u32v),
                    connection_keepalive: keepalive.map(|k| KeepaliveSettings {
                        interval: k.interval.as_ref().map(pb),
                        timeout: k.timeout.as_ref().map(pb),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )),
        })
    } else {
        http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(ExplicitHttpConfig {
            protocol_config: Some(explicit_http_config::ProtocolConfig::HttpProtocolOptions(
                Http1ProtocolOptions::default(),
            )),
        })
    };
    let options = HttpProtocolOptions {
        common_http_protocol_options: common,
        upstream_protocol_options: Some(protocol),
        ..Default::default()
    };
    cluster
        .typed_extension_protocol_options
        .insert(HTTP_PROTOCOL_OPTIONS.to_string(), to_any(&options));
}

/// `applyOutlierDetection`: set only when the DestinationRule asks for it. Success-rate
/// ejection is off; what is configured is enforced at 100%. The panic threshold is set to
/// `minHealthPercent` (0, which disables panic mode, when unset), as Istio does.
fn apply_outlier_detection(cluster: &mut Cluster, o: &OutlierDetection) {
    let enforce = |n: u32| u32v(if n > 0 { 100 } else { 0 });
    let mut out = EnvoyOutlierDetection {
        enforcing_success_rate: u32v(0),
        interval: o.interval.as_ref().map(pb),
        base_ejection_time: o.base_ejection_time.as_ref().map(pb),
        max_ejection_percent: positive(o.max_ejection_percent).and_then(u32v),
        ..Default::default()
    };
    if let Some(n) = o.consecutive_5xx_errors {
        out.consecutive_5xx = u32v(n);
        out.enforcing_consecutive_5xx = enforce(n);
    }
    if let Some(n) = o.consecutive_gateway_errors {
        out.consecutive_gateway_failure = u32v(n);
        out.enforcing_consecutive_gateway_failure = enforce(n);
    }
    if o.split_external_local_origin_errors {
        out.split_external_local_origin_errors = true;
        if let Some(n) = o.consecutive_local_origin_failures.filter(|n| *n > 0) {
            out.consecutive_local_origin_failure = u32v(n);
            out.enforcing_consecutive_local_origin_failure = u32v(100);
        }
        out.enforcing_local_origin_success_rate = u32v(0);
    }
    cluster.outlier_detection = Some(out);
    if let Ok(min_health) = u32::try_from(o.min_health_percent) {
        let common = cluster
            .common_lb_config
            .get_or_insert_with(CommonLbConfig::default);
        common.healthy_panic_threshold = Some(Percent {
            value: f64::from(min_health),
        });
    }
}

/// `applyLoadBalancer` (without locality): LEAST_REQUEST by default; ROUND_ROBIN, RANDOM,
/// LEAST_REQUEST one to one; consistent hash as RING_HASH (minimum ring size 1024 by default) or
/// MAGLEV; warmup as slow start.
fn apply_load_balancer(cluster: &mut Cluster, lb: Option<&LoadBalancerSettings>) {
    cluster.lb_policy = LbPolicy::LeastRequest as i32;
    let slow_start = lb.and_then(slow_start_config);
    match lb.and_then(|l| l.lb_policy.as_ref()) {
        Some(IstioLbPolicy::Simple(SimpleLb::RoundRobin)) => {
            cluster.lb_policy = LbPolicy::RoundRobin as i32;
            if let Some(s) = slow_start {
                cluster.lb_config = Some(envoy_cluster::LbConfig::RoundRobinLbConfig(
                    envoy_cluster::RoundRobinLbConfig {
                        slow_start_config: Some(s),
                    },
                ));
            }
        }
        Some(IstioLbPolicy::Simple(SimpleLb::Random)) => {
            cluster.lb_policy = LbPolicy::Random as i32
        }
        Some(IstioLbPolicy::ConsistentHash(hash)) => match &hash.hash_algorithm {
            Some(HashAlgorithm::Maglev(m)) => {
                cluster.lb_policy = LbPolicy::Maglev as i32;
                cluster.lb_config = Some(envoy_cluster::LbConfig::MaglevLbConfig(
                    envoy_cluster::MaglevLbConfig {
                        table_size: (m.table_size > 0).then_some(
                            envoy_types::pb::google::protobuf::UInt64Value {
                                value: m.table_size,
                            },
                        ),
                    },
                ));
            }
            other => {
                let size = match other {
                    Some(HashAlgorithm::RingHash(r)) if r.minimum_ring_size > 0 => {
                        r.minimum_ring_size
                    }
                    _ if hash.minimum_ring_size > 0 => hash.minimum_ring_size,
                    _ => 1024,
                };
                cluster.lb_policy = LbPolicy::RingHash as i32;
                cluster.lb_config = Some(envoy_cluster::LbConfig::RingHashLbConfig(
                    envoy_cluster::RingHashLbConfig {
                        minimum_ring_size: Some(envoy_types::pb::google::protobuf::UInt64Value {
                            value: size,
                        }),
                        ..Default::default()
                    },
                ));
            }
        },
        // LEAST_REQUEST, the deprecated LEAST_CONN, UNSPECIFIED and anything not mapped here.
        _ => {
            if let Some(s) = slow_start {
                cluster.lb_config = Some(envoy_cluster::LbConfig::LeastRequestLbConfig(
                    envoy_cluster::LeastRequestLbConfig {
                        slow_start_config: Some(s),
                        ..Default::default()
                    },
                ));
            }
        }
    }
}

/// Warmup as Envoy's slow start: `warmup` (duration, aggression default 1, minimum percent
/// default 10) or the older `warmupDurationSecs`.
fn slow_start_config(lb: &LoadBalancerSettings) -> Option<SlowStartConfig> {
    let (window, aggression, min_percent) = match (&lb.warmup, &lb.warmup_duration_secs) {
        (Some(w), _) => (
            w.duration?,
            w.aggression.unwrap_or(1.0),
            w.minimum_percent.unwrap_or(10.0),
        ),
        (None, Some(d)) => (*d, 1.0, 10.0),
        (None, None) => return None,
    };
    Some(SlowStartConfig {
        slow_start_window: Some(pb(&window)),
        aggression: Some(RuntimeDouble {
            default_value: aggression,
            runtime_key: "global.slow_start.aggression".into(),
        }),
        min_weight_percent: Some(Percent { value: min_percent }),
    })
}
