//! DestinationRule traffic policy to Envoy cluster settings: Istio's inheritance rules, its
//! defaults, and real Envoy accepting every cluster produced.

mod support;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use mesh_core::api::networking::DestinationRuleSpec;
use mesh_core::dump;
use mesh_core::translate::cluster::{
    ClusterDefaults, HTTP_PROTOCOL_OPTIONS, apply_traffic_policy, effective_traffic_policy,
};
use serde_json::{Value, json};

fn dr(spec: Value) -> DestinationRuleSpec {
    serde_json::from_value(spec).expect("valid DestinationRule spec")
}

/// The cluster for `subset`/`port` as JSON (what `istioctl proxy-config cluster -o json` shows).
fn cluster_json(
    spec: &DestinationRuleSpec,
    subset: Option<&str>,
    port: u32,
    defaults: &ClusterDefaults,
) -> (Cluster, Value) {
    let mut c = support::envoy::static_cluster(
        &format!(
            "outbound|{port}|{}|reviews.default.svc.cluster.local",
            subset.unwrap_or("")
        ),
        Some(("127.0.0.1", 9080)),
    );
    apply_traffic_policy(
        &mut c,
        effective_traffic_policy(spec, subset, port).as_ref(),
        defaults,
    );
    let json = dump::message_to_json(&c).expect("dumps");
    (c, json)
}

#[test]
fn defaults_when_no_destination_rule() {
    let (_, j) = cluster_json(
        &dr(json!({"host": "reviews"})),
        None,
        9080,
        &ClusterDefaults::default(),
    );
    assert_eq!(j["connect_timeout"], "10s");
    assert_eq!(j["lb_policy"], "LEAST_REQUEST");
    let t = &j["circuit_breakers"]["thresholds"][0];
    for f in [
        "max_connections",
        "max_pending_requests",
        "max_requests",
        "max_retries",
    ] {
        assert_eq!(t[f], 4294967295u32, "{f}");
    }
    assert_eq!(t["track_remaining"], true);
    assert!(j.get("outlier_detection").is_none());
    assert!(j.get("typed_extension_protocol_options").is_none());
}

#[test]
fn lb_policy_is_least_request() {
    let (c, _) = cluster_json(
        &dr(json!({"host": "reviews"})),
        None,
        9080,
        &ClusterDefaults::default(),
    );
    assert_eq!(c.lb_policy, cluster::LbPolicy::LeastRequest as i32);
}

#[test]
fn subset_and_port_level_inheritance() {
    let spec = dr(json!({
        "host": "reviews",
        "trafficPolicy": {
            "connectionPool": {"tcp": {"maxConnections": 10}},
            "loadBalancer": {"simple": "RANDOM"},
            "outlierDetection": {"consecutive5xxErrors": 3},
            "portLevelSettings": [{"port": {"number": 9443}, "loadBalancer": {"simple": "ROUND_ROBIN"}}]
        },
        "subsets": [
            {"name": "v1", "labels": {"version": "v1"}},
            {"name": "v2", "labels": {"version": "v2"}, "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 20}}}},
            {"name": "v3", "labels": {"version": "v3"}, "trafficPolicy": {
                "portLevelSettings": [{"port": {"number": 9080}, "connectionPool": {"http": {"http2MaxRequests": 7}}}]
            }}
        ]
    }));
    let max_conn = |j: &Value| j["circuit_breakers"]["thresholds"][0]["max_connections"].clone();
    let d = ClusterDefaults::default();
    // No subset: the top-level policy.
    let (c, j) = cluster_json(&spec, None, 9080, &d);
    assert_eq!(max_conn(&j), 10);
    assert_eq!(c.lb_policy, cluster::LbPolicy::Random as i32);
    assert_eq!(j["outlier_detection"]["consecutive_5xx"], 3);
    // A subset without a policy inherits everything.
    let (_, j) = cluster_json(&spec, Some("v1"), 9080, &d);
    assert_eq!(max_conn(&j), 10);
    // A subset policy overrides its part, the rest is inherited.
    let (c, j) = cluster_json(&spec, Some("v2"), 9080, &d);
    assert_eq!(max_conn(&j), 20);
    assert_eq!(c.lb_policy, cluster::LbPolicy::Random as i32);
    assert_eq!(j["outlier_detection"]["consecutive_5xx"], 3);
    // Port-level settings replace the four port-settable parts wholesale: unset ones fall back to
    // defaults, not to the top level.
    let (c, j) = cluster_json(&spec, None, 9443, &d);
    assert_eq!(c.lb_policy, cluster::LbPolicy::RoundRobin as i32);
    assert_eq!(max_conn(&j), 4294967295u32);
    assert!(j.get("outlier_detection").is_none());
    // The same inside a subset: v3's port-level 9080 entry drops the inherited outlier
    // detection and load balancer.
    let (c, j) = cluster_json(&spec, Some("v3"), 9080, &d);
    assert_eq!(j["circuit_breakers"]["thresholds"][0]["max_requests"], 7);
    assert!(j.get("outlier_detection").is_none());
    assert_eq!(c.lb_policy, cluster::LbPolicy::LeastRequest as i32);
    // ... but only on that port.
    let (c, _) = cluster_json(&spec, Some("v3"), 9443, &d);
    assert_eq!(c.lb_policy, cluster::LbPolicy::RoundRobin as i32);
}

#[test]
fn connection_pool_to_circuit_breakers_and_protocol_options() {
    let spec = dr(json!({"host": "reviews", "trafficPolicy": {
        "connectionPool": {
            "tcp": {"maxConnections": 100, "connectTimeout": "30ms", "maxConnectionDuration": "1h",
                    "tcpKeepalive": {"probes": 3, "time": "7200s", "interval": "75s"}},
            "http": {"http1MaxPendingRequests": 5, "http2MaxRequests": 1000, "maxRequestsPerConnection": 10,
                     "maxRetries": 4, "idleTimeout": "30s"}
        },
        "retryBudget": {"percent": 25.5, "minRetryConcurrency": 5}
    }}));
    let (_, j) = cluster_json(&spec, None, 9080, &ClusterDefaults::default());
    assert_eq!(j["connect_timeout"], "0.030s");
    let t = &j["circuit_breakers"]["thresholds"][0];
    assert_eq!(
        (
            t["max_connections"].clone(),
            t["max_pending_requests"].clone()
        ),
        (json!(100), json!(5))
    );
    assert_eq!(
        (t["max_requests"].clone(), t["max_retries"].clone()),
        (json!(1000), json!(4))
    );
    assert_eq!(t["retry_budget"]["budget_percent"]["value"], 25.5);
    assert_eq!(t["retry_budget"]["min_retry_concurrency"], 5);
    let ka = &j["upstream_connection_options"]["tcp_keepalive"];
    assert_eq!(
        (
            ka["keepalive_probes"].clone(),
            ka["keepalive_time"].clone(),
            ka["keepalive_interval"].clone()
        ),
        (json!(3), json!(7200), json!(75))
    );
    let opts = &j["typed_extension_protocol_options"][HTTP_PROTOCOL_OPTIONS];
    assert_eq!(
        opts["@type"],
        "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    );
    let common = &opts["common_http_protocol_options"];
    assert_eq!(
        (
            common["idle_timeout"].clone(),
            common["max_requests_per_connection"].clone()
        ),
        (json!("30s"), json!(10))
    );
    assert_eq!(common["max_connection_duration"], "3600s");
    assert!(opts["explicit_http_config"]["http_protocol_options"].is_object());
}

#[test]
fn h2_upgrade_rules() {
    let upgrade_dr = |policy: &str| {
        dr(
            json!({"host": "reviews", "trafficPolicy": {"connectionPool": {"http": {"h2UpgradePolicy": policy}}}}),
        )
    };
    let is_h2 = |j: &Value| {
        j["typed_extension_protocol_options"][HTTP_PROTOCOL_OPTIONS]["explicit_http_config"]["http2_protocol_options"].is_object()
    };
    let mut mesh_upgrade = ClusterDefaults::default();
    mesh_upgrade.h2_upgrade = true;
    assert!(is_h2(
        &cluster_json(
            &upgrade_dr("UPGRADE"),
            None,
            9080,
            &ClusterDefaults::default()
        )
        .1
    ));
    assert!(!is_h2(
        &cluster_json(&upgrade_dr("DO_NOT_UPGRADE"), None, 9080, &mesh_upgrade).1
    ));
    assert!(is_h2(
        &cluster_json(&dr(json!({"host": "reviews"})), None, 9080, &mesh_upgrade).1
    ));
    // The mesh default upgrades HTTP ports only.
    let mut tcp = mesh_upgrade.clone();
    tcp.port_is_http = false;
    assert!(!is_h2(
        &cluster_json(&dr(json!({"host": "reviews"})), None, 9080, &tcp).1
    ));
    // useClientProtocol never upgrades, and follows the downstream protocol.
    let client = dr(
        json!({"host": "reviews", "trafficPolicy": {"connectionPool": {"http": {"useClientProtocol": true, "h2UpgradePolicy": "UPGRADE"}}}}),
    );
    let (_, j) = cluster_json(&client, None, 9080, &ClusterDefaults::default());
    assert!(!is_h2(&j));
    assert!(j["typed_extension_protocol_options"][HTTP_PROTOCOL_OPTIONS]["use_downstream_protocol_config"].is_object());
}

#[test]
fn outlier_detection_as_istio_writes_it() {
    let spec = dr(
        json!({"host": "reviews", "trafficPolicy": {"outlierDetection": {
            "consecutive5xxErrors": 7, "consecutiveGatewayErrors": 0, "interval": "5m", "baseEjectionTime": "15m",
            "maxEjectionPercent": 30, "minHealthPercent": 40,
            "splitExternalLocalOriginErrors": true, "consecutiveLocalOriginFailures": 2
        }}}),
    );
    let (_, j) = cluster_json(&spec, None, 9080, &ClusterDefaults::default());
    let o = &j["outlier_detection"];
    assert_eq!(
        (
            o["consecutive_5xx"].clone(),
            o["enforcing_consecutive_5xx"].clone()
        ),
        (json!(7), json!(100))
    );
    // An explicit 0 is written, with enforcement 0.
    assert_eq!(
        (
            o["consecutive_gateway_failure"].clone(),
            o["enforcing_consecutive_gateway_failure"].clone()
        ),
        (json!(0), json!(0))
    );
    assert_eq!(o["enforcing_success_rate"], 0);
    assert_eq!(
        (o["interval"].clone(), o["base_ejection_time"].clone()),
        (json!("300s"), json!("900s"))
    );
    assert_eq!(o["max_ejection_percent"], 30);
    assert_eq!(
        (
            o["split_external_local_origin_errors"].clone(),
            o["consecutive_local_origin_failure"].clone()
        ),
        (json!(true), json!(2))
    );
    assert_eq!(
        j["common_lb_config"]["healthy_panic_threshold"]["value"],
        40.0
    );
    // Unset minHealthPercent writes 0: panic mode off, as Istio does.
    let (_, j) = cluster_json(
        &dr(json!({"host": "r", "trafficPolicy": {"outlierDetection": {"interval": "1s"}}})),
        None,
        9080,
        &ClusterDefaults::default(),
    );
    assert!(j["common_lb_config"]["healthy_panic_threshold"].is_object());
    assert!(
        j["common_lb_config"]["healthy_panic_threshold"]
            .get("value")
            .is_none()
    );
}

#[test]
fn load_balancers() {
    let lb = |v: Value| dr(json!({"host": "reviews", "trafficPolicy": {"loadBalancer": v}}));
    let d = ClusterDefaults::default();
    let (c, j) = cluster_json(
        &lb(json!({"consistentHash": {"httpHeaderName": "x-user"}})),
        None,
        9080,
        &d,
    );
    assert_eq!(c.lb_policy, cluster::LbPolicy::RingHash as i32);
    assert_eq!(j["ring_hash_lb_config"]["minimum_ring_size"], "1024");
    let (_, j) = cluster_json(
        &lb(
            json!({"consistentHash": {"useSourceIp": true, "ringHash": {"minimumRingSize": 2048}}}),
        ),
        None,
        9080,
        &d,
    );
    assert_eq!(j["ring_hash_lb_config"]["minimum_ring_size"], "2048");
    let (c, j) = cluster_json(
        &lb(
            json!({"consistentHash": {"httpCookie": {"name": "u", "ttl": "0s"}, "maglev": {"tableSize": 65537}}}),
        ),
        None,
        9080,
        &d,
    );
    assert_eq!(c.lb_policy, cluster::LbPolicy::Maglev as i32);
    assert_eq!(j["maglev_lb_config"]["table_size"], "65537");
    let (c, j) = cluster_json(
        &lb(
            json!({"simple": "ROUND_ROBIN", "warmup": {"duration": "60s", "minimumPercent": 20, "aggression": 2}}),
        ),
        None,
        9080,
        &d,
    );
    assert_eq!(c.lb_policy, cluster::LbPolicy::RoundRobin as i32);
    let ss = &j["round_robin_lb_config"]["slow_start_config"];
    assert_eq!(
        (
            ss["slow_start_window"].clone(),
            ss["min_weight_percent"]["value"].clone()
        ),
        (json!("60s"), json!(20.0))
    );
    assert_eq!(ss["aggression"]["default_value"], 2.0);
    let (_, j) = cluster_json(
        &lb(json!({"simple": "LEAST_REQUEST", "warmupDurationSecs": "30s"})),
        None,
        9080,
        &d,
    );
    assert_eq!(
        j["least_request_lb_config"]["slow_start_config"]["slow_start_window"],
        "30s"
    );
}

#[test]
fn special_clusters_and_eds_clusters() {
    use mesh_core::translate::cluster::{
        base_cluster, blackhole_cluster, outbound_cluster_name, passthrough_cluster,
    };
    let d = ClusterDefaults::default();
    let bh = dump::message_to_json(&blackhole_cluster(&d)).unwrap();
    // ROUND_ROBIN is the enum's default, which proto3 JSON leaves out.
    assert_eq!(
        bh,
        json!({"name": "BlackHoleCluster", "alt_stat_name": "BlackHoleCluster;", "type": "STATIC", "connect_timeout": "10s"})
    );
    let pt = dump::message_to_json(&passthrough_cluster(&d)).unwrap();
    assert_eq!(pt["type"], "ORIGINAL_DST");
    assert_eq!(pt["lb_policy"], "CLUSTER_PROVIDED");
    let opts = &pt["typed_extension_protocol_options"][HTTP_PROTOCOL_OPTIONS];
    assert_eq!(opts["common_http_protocol_options"]["idle_timeout"], "300s");
    assert!(opts["use_downstream_protocol_config"]["http2_protocol_options"].is_object());
    assert_eq!(
        pt["circuit_breakers"]["thresholds"][0]["max_connections"],
        4294967295u32
    );
    let name = outbound_cluster_name(9080, "v1", "reviews.default.svc.cluster.local");
    assert_eq!(name, "outbound|9080|v1|reviews.default.svc.cluster.local");
    let eds = dump::message_to_json(&base_cluster(&name, cluster::DiscoveryType::Eds)).unwrap();
    assert_eq!(
        eds["alt_stat_name"],
        "outbound|9080|v1|reviews.default.svc.cluster.local;"
    );
    assert_eq!(
        eds["eds_cluster_config"],
        json!({"service_name": name, "eds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}})
    );
}

#[test]
fn envoy_accepts_every_cluster() {
    let specs = [
        json!({"host": "reviews"}),
        json!({"host": "reviews", "trafficPolicy": {
            "connectionPool": {"tcp": {"maxConnections": 100, "connectTimeout": "30ms", "tcpKeepalive": {"probes": 3, "time": "10s", "interval": "5s"}},
                               "http": {"http1MaxPendingRequests": 5, "http2MaxRequests": 10, "maxRequestsPerConnection": 10, "idleTimeout": "30s",
                                        "h2UpgradePolicy": "UPGRADE", "maxConcurrentStreams": 50, "http2KeepAlive": {"interval": "10s", "timeout": "3s"}}},
            "outlierDetection": {"consecutive5xxErrors": 7, "interval": "5m", "baseEjectionTime": "15m", "maxEjectionPercent": 30,
                                 "splitExternalLocalOriginErrors": true, "consecutiveLocalOriginFailures": 2},
            "loadBalancer": {"consistentHash": {"httpHeaderName": "x-user", "maglev": {"tableSize": 65537}}},
            "retryBudget": {"percent": 10, "minRetryConcurrency": 2, "budgetInterval": "10s"}}}),
        json!({"host": "reviews", "trafficPolicy": {"connectionPool": {"http": {"useClientProtocol": true}},
            "loadBalancer": {"simple": "ROUND_ROBIN", "warmup": {"duration": "60s"}}}}),
        json!({"host": "reviews", "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST", "warmupDurationSecs": "30s"},
            "outlierDetection": {"minHealthPercent": 50}}}),
        json!({"host": "reviews", "trafficPolicy": {"loadBalancer": {"consistentHash": {"useSourceIp": true}}}}),
    ];
    let clusters: Vec<Cluster> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut c = support::envoy::static_cluster(
                &format!("outbound|9080|v{i}|reviews.default.svc.cluster.local"),
                Some(("127.0.0.1", 9080)),
            );
            apply_traffic_policy(
                &mut c,
                effective_traffic_policy(&dr(s.clone()), None, 9080).as_ref(),
                &ClusterDefaults::default(),
            );
            c
        })
        .collect();
    support::envoy::assert_accepts(
        &support::envoy::bootstrap(vec![], clusters, false),
        "the clusters",
    );
}

#[test]
fn envoy_accepts_special_and_eds_clusters() {
    use mesh_core::translate::cluster::{
        base_cluster, blackhole_cluster, outbound_cluster_name, passthrough_cluster,
    };
    let d = ClusterDefaults::default();
    let mut eds = base_cluster(
        &outbound_cluster_name(9080, "", "reviews.default.svc.cluster.local"),
        cluster::DiscoveryType::Eds,
    );
    apply_traffic_policy(&mut eds, None, &d);
    let clusters = vec![blackhole_cluster(&d), passthrough_cluster(&d), eds];
    support::envoy::assert_accepts(
        &support::envoy::bootstrap(vec![], clusters, true),
        "the special and EDS clusters",
    );
}
