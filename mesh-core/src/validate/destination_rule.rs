//! DestinationRule: istiod's `ValidateDestinationRule` (with `validateTrafficPolicy`,
//! `validateConnectionPool`, `validateLoadBalancer`, `validateOutlierDetection`, and
//! `ValidateTLS` / `ValidateLocalityLbSetting` / `ValidateZoneAwareLbSetting` from
//! `agent/validation.go`), plus the CRD schema's constraints.

use std::collections::{BTreeMap, BTreeSet};

use super::{Ctx, common};
use crate::api::networking::{
    ClientTlsMode, ClientTlsSettings, ConnectionPoolSettings, HashAlgorithm, HashKey, LbPolicy,
    LoadBalancerSettings, LocalityLoadBalancerSetting, OutlierDetection, PortTrafficPolicy,
    ProxyProtocol, RetryBudget, Subset, TrafficPolicy, TunnelSettings,
    ZoneAwareLoadBalancerSetting,
};
use crate::api::{DestinationRule, Duration};

const TOPOLOGY_LABELS: [&str; 3] = [
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
];

pub(super) fn validate(obj: &DestinationRule, cx: &mut Ctx) {
    let spec = &obj.spec;
    let ns = if obj.metadata.namespace.is_empty() {
        "default"
    } else {
        obj.metadata.namespace.as_str()
    };
    cx.field("spec", |cx| {
        cx.check_at("host", common::wildcard_domain(&spec.host));
        if let Some(tp) = &spec.traffic_policy {
            cx.field("trafficPolicy", |cx| traffic_policy(cx, ns, tp));
        }
        let mut names = BTreeSet::new();
        cx.each("subsets", &spec.subsets, |cx, s: &Subset| {
            if !names.insert(s.name.clone()) {
                cx.error_at("name", format!("duplicate subset names: {}", s.name));
            }
            subset(cx, ns, s);
        });
        common::export_to(
            cx,
            ns,
            &spec.export_to,
            false,
            spec.workload_selector.is_some(),
        );
        common::workload_selector(cx, "workloadSelector", spec.workload_selector.as_ref());
    });
}

/// `validateSubset`.
fn subset(cx: &mut Ctx, ns: &str, s: &Subset) {
    cx.check_at("name", subset_name(&s.name));
    cx.field("labels", |cx| {
        for (k, v) in &s.labels {
            cx.key(k, |cx| {
                cx.check(common::label_key(k));
                cx.check(common::label_value(v));
            });
        }
    });
    if let Some(tp) = &s.traffic_policy {
        cx.field("trafficPolicy", |cx| traffic_policy(cx, ns, tp));
    }
}

/// `validateSubsetName`.
pub(super) fn subset_name(name: &str) -> common::Rule {
    if name.is_empty() {
        return Err("subset name cannot be empty".into());
    }
    if !common::is_dns1123_label(name) {
        return Err(format!("subset name is invalid: {name}"));
    }
    Ok(())
}

/// `validateTrafficPolicy`.
fn traffic_policy(cx: &mut Ctx, ns: &str, p: &TrafficPolicy) {
    if p.outlier_detection.is_none()
        && p.connection_pool.is_none()
        && p.load_balancer.is_none()
        && p.tls.is_none()
        && p.port_level_settings.is_empty()
        && p.tunnel.is_none()
        && p.proxy_protocol.is_none()
        && p.retry_budget.is_none()
    {
        cx.error("traffic policy must have at least one field");
        return;
    }
    if p.tunnel.is_some() && p.proxy_protocol.is_some() {
        cx.error("tunnel and proxyProtocol must not be set together");
        return;
    }
    if let Some(o) = &p.outlier_detection {
        cx.field("outlierDetection", |cx| outlier_detection(cx, o));
    }
    if let Some(c) = &p.connection_pool {
        cx.field("connectionPool", |cx| connection_pool(cx, c));
    }
    if let Some(lb) = &p.load_balancer {
        cx.field("loadBalancer", |cx| {
            load_balancer(cx, lb, p.outlier_detection.as_ref())
        });
    }
    if let Some(t) = &p.tls {
        cx.field("tls", |cx| client_tls(cx, ns, t));
    }
    if p.port_level_settings.len() > 4096 {
        cx.error_at("portLevelSettings", "must have at most 4096 items");
    }
    cx.each("portLevelSettings", &p.port_level_settings, |cx, pl| {
        port_traffic_policy(cx, ns, pl)
    });
    if let Some(t) = &p.tunnel {
        cx.field("tunnel", |cx| tunnel(cx, t));
    }
    if let Some(pp) = &p.proxy_protocol {
        cx.field("proxyProtocol", |cx| proxy_protocol(cx, pp));
    }
    if let Some(rb) = &p.retry_budget {
        cx.field("retryBudget", |cx| retry_budget(cx, rb));
    }
}

/// `validatePortTrafficPolicies` (one entry).
fn port_traffic_policy(cx: &mut Ctx, ns: &str, p: &PortTrafficPolicy) {
    if p.port.is_none() {
        cx.error_at("port", "portTrafficPolicy must have valid port");
    }
    if p.outlier_detection.is_none()
        && p.connection_pool.is_none()
        && p.load_balancer.is_none()
        && p.tls.is_none()
    {
        cx.error("port traffic policy must have at least one field");
        return;
    }
    if let Some(o) = &p.outlier_detection {
        cx.field("outlierDetection", |cx| outlier_detection(cx, o));
    }
    if let Some(c) = &p.connection_pool {
        cx.field("connectionPool", |cx| connection_pool(cx, c));
    }
    if let Some(lb) = &p.load_balancer {
        cx.field("loadBalancer", |cx| {
            load_balancer(cx, lb, p.outlier_detection.as_ref())
        });
    }
    if let Some(t) = &p.tls {
        cx.field("tls", |cx| client_tls(cx, ns, t));
    }
}

/// `validateTunnelSettings`, plus the schema's required fields.
fn tunnel(cx: &mut Ctx, t: &TunnelSettings) {
    if !t.protocol.is_empty() && t.protocol != "CONNECT" && t.protocol != "POST" {
        cx.error_at(
            "protocol",
            "tunnel protocol must be \"CONNECT\" or \"POST\"",
        );
    }
    if let (Err(f), Err(i)) = (
        common::fqdn(&t.target_host),
        common::ip_address(&t.target_host),
    ) {
        cx.error_at(
            "targetHost",
            format!("tunnel target host must be valid FQDN or IP address: {f}; {i}"),
        );
    }
    if let Err(e) = common::port(i64::from(t.target_port)) {
        cx.error_at("targetPort", format!("tunnel target port is invalid: {e}"));
    }
}

/// `validateProxyProtocol`: the enum admits only V1 and V2, which the loader enforces.
fn proxy_protocol(_cx: &mut Ctx, _p: &ProxyProtocol) {}

/// The schema's bounds on `retryBudget`.
fn retry_budget(cx: &mut Ctx, rb: &RetryBudget) {
    if let Some(p) = rb.percent
        && !(0.0..=100.0).contains(&p)
    {
        cx.error_at("percent", "percent must be between 0 and 100");
    }
}

/// `ValidateDuration` at a child field, when set.
pub(super) fn duration_at(cx: &mut Ctx, field: &str, d: Option<&Duration>) {
    if let Some(d) = d {
        cx.check_at(field, common::duration(d));
    }
}

/// `validateOutlierDetection`, plus the schema's bounds on HTTP error codes.
fn outlier_detection(cx: &mut Ctx, o: &OutlierDetection) {
    duration_at(cx, "baseEjectionTime", o.base_ejection_time.as_ref());
    if o.consecutive_errors != 0 {
        cx.warn_at(
            "consecutiveErrors",
            "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead",
        );
    }
    if !o.split_external_local_origin_errors && o.consecutive_local_origin_failures.unwrap_or(0) > 0
    {
        cx.error_at(
            "consecutiveLocalOriginFailures",
            "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false",
        );
    }
    duration_at(cx, "interval", o.interval.as_ref());
    cx.check_at(
        "maxEjectionPercent",
        common::percent(i64::from(o.max_ejection_percent)),
    );
    cx.check_at(
        "minHealthPercent",
        common::percent(i64::from(o.min_health_percent)),
    );
    cx.field("outlierDetectionHttpErrorCodes", |cx| {
        for (i, c) in o.outlier_detection_http_error_codes.iter().enumerate() {
            if !(100..=599).contains(c) {
                cx.index(i, |cx| {
                    cx.error(format!("HTTP error code {c} must be between 100 and 599"))
                });
            }
        }
    });
}

/// `validateConnectionPool`.
pub(super) fn connection_pool(cx: &mut Ctx, c: &ConnectionPoolSettings) {
    if c.http.is_none() && c.tcp.is_none() {
        cx.error("connection pool must have at least one field");
        return;
    }
    if let Some(h) = &c.http {
        cx.field("http", |cx| {
            if h.http1_max_pending_requests < 0 {
                cx.error_at(
                    "http1MaxPendingRequests",
                    "http1 max pending requests must be non-negative",
                );
            }
            if h.http2_max_requests < 0 {
                cx.error_at(
                    "http2MaxRequests",
                    "http2 max requests must be non-negative",
                );
            }
            if h.max_requests_per_connection < 0 {
                cx.error_at(
                    "maxRequestsPerConnection",
                    "max requests per connection must be non-negative",
                );
            }
            if h.max_retries < 0 {
                cx.error_at("maxRetries", "max retries must be non-negative");
            }
            duration_at(cx, "idleTimeout", h.idle_timeout.as_ref());
            if h.h2_upgrade_policy == crate::api::networking::H2UpgradePolicy::Upgrade
                && h.use_client_protocol
            {
                cx.error_at(
                    "useClientProtocol",
                    "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
                );
            }
            if h.max_concurrent_streams < 0 {
                cx.error_at(
                    "maxConcurrentStreams",
                    "max concurrent streams must be non-negative",
                );
            }
            if let Some(ka) = &h.http2_keep_alive {
                cx.field("http2KeepAlive", |cx| {
                    match &ka.interval {
                        None => cx.error_at("interval", "http2 keepalive interval is required"),
                        Some(d) => cx.check_at("interval", common::duration(d)),
                    }
                    match &ka.timeout {
                        None => cx.error_at("timeout", "http2 keepalive timeout is required"),
                        Some(d) => cx.check_at("timeout", common::duration(d)),
                    }
                });
            }
        });
    }
    if let Some(t) = &c.tcp {
        cx.field("tcp", |cx| {
            if t.max_connections < 0 {
                cx.error_at("maxConnections", "max connections must be non-negative");
            }
            duration_at(cx, "connectTimeout", t.connect_timeout.as_ref());
            duration_at(
                cx,
                "maxConnectionDuration",
                t.max_connection_duration.as_ref(),
            );
            if let Some(d) = &t.idle_timeout {
                // 0s disables the timeout.
                if d.as_nanos() / 1_000_000 != 0 {
                    cx.check_at("idleTimeout", common::duration(d));
                }
            }
            if let Some(ka) = &t.tcp_keepalive {
                cx.field("tcpKeepalive", |cx| {
                    duration_at(cx, "time", ka.time.as_ref());
                    duration_at(cx, "interval", ka.interval.as_ref());
                });
            }
        });
    }
}

/// Envoy's primality test for Maglev table sizes.
fn is_prime(x: u64) -> bool {
    if x != 0 && x < 4 {
        return true;
    }
    if x & 1 == 0 {
        return false;
    }
    let mut f = 3u64;
    while f.saturating_mul(f) <= x {
        if x.is_multiple_of(f) {
            return false;
        }
        f += 2;
    }
    true
}

/// `validateLoadBalancer`.
fn load_balancer(cx: &mut Ctx, lb: &LoadBalancerSettings, outlier: Option<&OutlierDetection>) {
    if let Some(LbPolicy::ConsistentHash(ch)) = &lb.lb_policy {
        cx.field("consistentHash", |cx| {
            if let Some(HashKey::HttpCookie(c)) = &ch.hash_key {
                cx.field("httpCookie", |cx| {
                    if c.name.is_empty() {
                        cx.error_at("name", "name required for HttpCookie");
                    }
                    let mut seen = BTreeSet::new();
                    cx.each("attributes", &c.attributes, |cx, a| {
                        if a.name.is_empty() {
                            cx.error_at("name", "cookie attribute name cannot be empty");
                        } else if !seen.insert(a.name.clone()) {
                            cx.error_at(
                                "name",
                                format!("duplicate cookie attribute name: {}", a.name),
                            );
                        }
                    });
                });
            }
            if ch.minimum_ring_size != 0 {
                cx.warn_at(
                    "minimumRingSize",
                    "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
                );
                if ch.hash_algorithm.is_some() {
                    cx.error("only one of MinimumRingSize or Maglev/Ringhash can be specified");
                }
            }
            if let Some(HashAlgorithm::Maglev(m)) = &ch.hash_algorithm {
                cx.field("maglev", |cx| {
                    cx.field("tableSize", |cx| {
                        if m.table_size == 0 {
                            cx.error("tableSize must be set for maglev");
                        }
                        if m.table_size >= 5_000_011 {
                            cx.error("tableSize must be less than 5000011 for maglev");
                        }
                        if !is_prime(m.table_size) {
                            cx.error("tableSize must be a prime number for maglev");
                        }
                    })
                });
            }
        });
    }
    if lb.locality_lb_setting.is_some() && lb.zone_aware_lb_setting.is_some() {
        cx.error("only one of localityLbSetting and zoneAwareLbSetting can be set");
    }
    if let Some(l) = &lb.locality_lb_setting {
        cx.field("localityLbSetting", |cx| {
            locality_lb_setting(cx, l, outlier)
        });
    }
    if let Some(z) = &lb.zone_aware_lb_setting {
        cx.field("zoneAwareLbSetting", |cx| {
            zone_aware_lb_setting(cx, z, outlier)
        });
    }
    // Only the schema's CEL rule applies here (istiod does not check this field).
    if let Some(d) = &lb.warmup_duration_secs {
        cx.check_at("warmupDurationSecs", common::duration_at_least_1ms(d));
    }
    if let Some(w) = &lb.warmup {
        cx.field("warmup", |cx| {
            match &w.duration {
                None => cx.error_at("duration", "duration is required"),
                Some(d) => cx.check_at("duration", common::duration(d)),
            }
            if let Some(p) = w.minimum_percent {
                if p > 100.0 {
                    cx.error_at(
                        "minimumPercent",
                        "minimumPercent value should be less than or equal to 100",
                    );
                } else if p < 0.0 {
                    cx.error_at("minimumPercent", "minimumPercent must be at least 0");
                }
            }
            if let Some(a) = w.aggression
                && a <= 0.0
            {
                cx.error_at("aggression", "aggression should be greater than 0");
            }
        });
    }
}

/// `ValidateLocalityLbSetting`.
pub(super) fn locality_lb_setting(
    cx: &mut Ctx,
    lb: &LocalityLoadBalancerSetting,
    outlier: Option<&OutlierDetection>,
) {
    if !lb.distribute.is_empty() && !lb.failover.is_empty() {
        cx.error("can not simultaneously specify 'distribute' and 'failover'");
        return;
    }
    if !lb.failover.is_empty()
        && let Some(l) = lb
            .failover_priority
            .iter()
            .find(|l| TOPOLOGY_LABELS.contains(&l.as_str()))
    {
        cx.error_at(
                "failoverPriority",
                format!("can not simultaneously set 'failover' and topology label '{l}' in 'failover_priority'"),
            );
        return;
    }
    let mut sources = Vec::new();
    let mut stop = false;
    cx.each("distribute", &lb.distribute, |cx, d| {
        if stop {
            return;
        }
        sources.push(d.from.clone());
        let mut total: u64 = 0;
        for w in d.to.values() {
            if *w == 0 || *w > 100 {
                cx.error_at("to", "locality weight must be in range [1, 100]");
                stop = true;
                return;
            }
            total += u64::from(*w);
        }
        if total != 100 {
            cx.error_at("to", format!("total locality weight {total} != 100"));
            stop = true;
            return;
        }
        let dests: Vec<&str> = d.to.keys().map(String::as_str).collect();
        cx.check_at("to", localities(&dests));
    });
    if stop {
        return;
    }
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    cx.check_at("distribute", localities(&sources));
    if (!lb.failover.is_empty() || !lb.failover_priority.is_empty()) && outlier.is_none() {
        cx.warn("outlier detection policy must be provided for failover");
    }
    cx.each("failover", &lb.failover, |cx, f| {
        if f.from == f.to {
            cx.error("locality lb failover settings must specify different regions");
        }
        if f.from.contains('/') || f.to.contains('/') {
            cx.error("locality lb failover only specify region");
        }
        if f.from.contains('*') || f.to.contains('*') {
            cx.error("locality lb failover region should not contain '*' wildcard");
        }
    });
}

/// `ValidateZoneAwareLbSetting`, plus the schema's minimum on `minClusterSize`.
fn zone_aware_lb_setting(
    cx: &mut Ctx,
    lb: &ZoneAwareLoadBalancerSetting,
    outlier: Option<&OutlierDetection>,
) {
    cx.field("failoverPriority", |cx| {
        for (i, l) in lb.failover_priority.iter().enumerate() {
            if TOPOLOGY_LABELS.contains(&l.as_str()) {
                cx.index(i, |cx| cx.error(format!(
                    "'failover_priority' for zone aware lb must not use topology label '{l}'; region- and zone-level routing are handled automatically"
                )));
            }
        }
    });
    if (!lb.failover.is_empty() || !lb.failover_priority.is_empty()) && outlier.is_none() {
        cx.warn("outlier detection policy must be provided for failover");
    }
    cx.each("failover", &lb.failover, |cx, f| {
        if f.from == f.to {
            cx.error("zone aware lb failover settings must specify different regions");
        }
        if f.from.contains('/') || f.to.contains('/') {
            cx.error("zone aware lb failover only specifies region; zone and subzone failover are handled automatically");
        }
        if f.from.contains('*') || f.to.contains('*') {
            cx.error("zone aware lb failover region should not contain '*' wildcard");
        }
    });
    if lb.min_cluster_size == Some(0) {
        cx.error_at("minClusterSize", "minClusterSize must be at least 1");
    }
}

/// `validateLocalities`: wildcards only at the end, no empty parts, no overlaps.
fn localities(list: &[&str]) -> common::Rule {
    // region -> zone -> subzones; "*" marks "everything below".
    let mut map: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    for loc in list {
        let n = loc.matches('*').count();
        if n > 0 && (n > 1 || !loc.ends_with('*')) {
            return Err(format!(
                "locality {loc} wildcard '*' number can not exceed 1 and must be in the end"
            ));
        }
        let overlap = || {
            Err(format!(
                "locality {loc} overlap with previous specified ones"
            ))
        };
        if map.contains_key("*") {
            return overlap();
        }
        let items: Vec<&str> = loc.splitn(3, '/').collect();
        if items.iter().any(|i| i.is_empty()) {
            return Err(format!(
                "locality {loc} must not contain empty region/zone/subzone info"
            ));
        }
        let region = items[0];
        match items.len() {
            1 => {
                if map.contains_key(region) {
                    return overlap();
                }
                map.insert(region, BTreeMap::from([("*", BTreeSet::from(["*"]))]));
            }
            2 => {
                let zone = items[1];
                let zones = map.entry(region).or_default();
                if zones.contains_key("*") || zones.contains_key(zone) {
                    return overlap();
                }
                zones.insert(zone, BTreeSet::from(["*"]));
            }
            _ => {
                let (zone, sub) = (items[1], items[2]);
                let zones = map.entry(region).or_default();
                if zones.contains_key("*") {
                    return overlap();
                }
                let subs = zones.entry(zone).or_default();
                if subs.contains("*") || subs.contains(sub) {
                    return overlap();
                }
                subs.insert(sub);
            }
        }
    }
    Ok(())
}

/// `ValidateTLS` (client side).
fn client_tls(cx: &mut Ctx, ns: &str, t: &ClientTlsSettings) {
    if let Some(rest) = t.credential_name.strip_prefix("configmap://") {
        let parts: Vec<&str> = rest.split('/').collect();
        let err = if parts.len() <= 1 {
            Some("Expected namespace and name")
        } else if parts[0].is_empty() {
            Some("Expected namespace")
        } else if parts[1].is_empty() {
            Some("Expected name")
        } else {
            None
        };
        match err {
            Some(e) => cx.error_at(
                "credentialName",
                format!(
                    "invalid configmap:// credentialName: invalid resource name {:?}. {e}",
                    t.credential_name
                ),
            ),
            None if parts[0] != ns => cx.error_at(
                "credentialName",
                format!("invalid configmap:// credentialName: namespace must match the configuration namespace {ns:?}"),
            ),
            None => {}
        }
    }
    if t.insecure_skip_verify == Some(true) {
        if t.mode == ClientTlsMode::Simple
            && (!t.ca_certificates.is_empty()
                || !t.credential_name.is_empty()
                || !t.subject_alt_names.is_empty())
        {
            cx.error("cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true");
        }
        if t.mode == ClientTlsMode::Mutual
            && (!t.ca_certificates.is_empty() || !t.subject_alt_names.is_empty())
        {
            cx.error(
                "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true",
            );
        }
    }
    if matches!(t.mode, ClientTlsMode::Simple | ClientTlsMode::Mutual)
        && !t.credential_name.is_empty()
    {
        if !t.client_certificate.is_empty()
            || !t.ca_certificates.is_empty()
            || !t.private_key.is_empty()
            || !t.ca_crl.is_empty()
        {
            cx.error("cannot specify client certificates or CA certificate or CA CRL If credentialName is set");
        }
        return;
    }
    if t.mode == ClientTlsMode::Mutual {
        if t.client_certificate.is_empty() {
            cx.error_at(
                "clientCertificate",
                "client certificate required for mutual tls",
            );
        }
        if t.private_key.is_empty() {
            cx.error_at("privateKey", "private key required for mutual tls");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::{check, expect};

    fn dr(spec: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: reviews, namespace: default}}\nspec: {spec}\n"
        )
    }

    /// `trafficPolicy` wrapped into a rule for `reviews`.
    fn tp(policy: &str) -> String {
        dr(&format!("{{host: reviews, trafficPolicy: {policy}}}"))
    }

    fn run(rows: &[(&str, String, Option<&str>)]) {
        for (name, yaml, want) in rows {
            expect(name, yaml, *want);
        }
    }

    #[test]
    fn destination_rule() {
        let rows = [
            (
                "simple destination rule",
                dr("{host: reviews, subsets: [{name: v1, labels: {version: v1}}]}"),
                None,
            ),
            (
                "empty selector labels",
                dr("{host: reviews, workloadSelector: {}, exportTo: [.]}"),
                None,
            ),
            (
                "missing destination name",
                dr("{subsets: [{name: v1}]}"),
                Some("empty domain name not allowed"),
            ),
            ("bad host", dr("{host: 'foo..bar'}"), Some("invalid")),
            ("wildcard host", dr("{host: '*.bar.com'}"), None),
            (
                "missing subset name",
                dr("{host: reviews, subsets: [{labels: {version: v1}}]}"),
                Some("subset name cannot be empty"),
            ),
            (
                "invalid subset name",
                dr("{host: reviews, subsets: [{name: V_1}]}"),
                Some("subset name is invalid: V_1"),
            ),
            (
                "duplicate subset names",
                dr("{host: reviews, subsets: [{name: v1}, {name: v1}]}"),
                Some("duplicate subset names: v1"),
            ),
            (
                "bad subset label key",
                dr("{host: reviews, subsets: [{name: v1, labels: {'-bad': v1}}]}"),
                Some("invalid label key"),
            ),
            (
                "bad subset label value",
                dr("{host: reviews, subsets: [{name: v1, labels: {version: 'v 1'}}]}"),
                Some("invalid label value"),
            ),
            (
                "valid traffic policy, top level",
                tp(
                    "{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11, maxRequestsPerConnection: 5}}, outlierDetection: {minHealthPercent: 20}}",
                ),
                None,
            ),
            (
                "invalid traffic policy, top level",
                tp(
                    "{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {}, outlierDetection: {minHealthPercent: 20}}",
                ),
                Some("connection pool must have at least one field"),
            ),
            (
                "valid traffic policy, subset level",
                dr(
                    "{host: reviews, subsets: [{name: v1, trafficPolicy: {loadBalancer: {simple: RANDOM}, outlierDetection: {minHealthPercent: 20}}}]}",
                ),
                None,
            ),
            (
                "invalid traffic policy, subset level",
                dr(
                    "{host: reviews, subsets: [{name: v1, trafficPolicy: {outlierDetection: {minHealthPercent: -1}}}]}",
                ),
                Some("percentage -1 is not in range 0..100"),
            ),
            (
                "empty subset traffic policy",
                dr("{host: reviews, subsets: [{name: v1, trafficPolicy: {}}]}"),
                Some("traffic policy must have at least one field"),
            ),
            (
                "tls simple with caCertificates",
                tp("{tls: {mode: SIMPLE, caCertificates: /ca.pem}}"),
                None,
            ),
            (
                "tls simple with credentialName",
                tp("{tls: {mode: SIMPLE, credentialName: cred}}"),
                None,
            ),
            (
                "insecureSkipVerify false, simple, ca",
                tp("{tls: {mode: SIMPLE, caCertificates: /ca.pem, insecureSkipVerify: false}}"),
                None,
            ),
            (
                "insecureSkipVerify false, simple, credential",
                tp("{tls: {mode: SIMPLE, credentialName: c, insecureSkipVerify: false}}"),
                None,
            ),
            (
                "insecureSkipVerify true, simple, ca",
                tp("{tls: {mode: SIMPLE, caCertificates: /ca.pem, insecureSkipVerify: true}}"),
                Some("cannot specify CaCertificates or CredentialName or SubjectAltNames"),
            ),
            (
                "insecureSkipVerify true, simple, credential",
                tp("{tls: {mode: SIMPLE, credentialName: c, insecureSkipVerify: true}}"),
                Some("cannot specify CaCertificates or CredentialName or SubjectAltNames"),
            ),
            (
                "insecureSkipVerify true, simple, san",
                tp("{tls: {mode: SIMPLE, subjectAltNames: [a], insecureSkipVerify: true}}"),
                Some("cannot specify CaCertificates or CredentialName or SubjectAltNames"),
            ),
            (
                "insecureSkipVerify true, simple alone",
                tp("{tls: {mode: SIMPLE, insecureSkipVerify: true}}"),
                None,
            ),
            (
                "mutual with ca",
                tp(
                    "{tls: {mode: MUTUAL, caCertificates: /ca, clientCertificate: /c, privateKey: /k}}",
                ),
                None,
            ),
            (
                "mutual with credential",
                tp("{tls: {mode: MUTUAL, credentialName: c}}"),
                None,
            ),
            (
                "mutual insecure false with ca",
                tp(
                    "{tls: {mode: MUTUAL, caCertificates: /ca, clientCertificate: /c, privateKey: /k, insecureSkipVerify: false}}",
                ),
                None,
            ),
            (
                "mutual insecure true with ca",
                tp(
                    "{tls: {mode: MUTUAL, caCertificates: /ca, clientCertificate: /c, privateKey: /k, insecureSkipVerify: true}}",
                ),
                Some("cannot specify CaCertificates or SubjectAltNames"),
            ),
            (
                "mutual insecure true with credential",
                tp("{tls: {mode: MUTUAL, credentialName: c, insecureSkipVerify: true}}"),
                None,
            ),
            (
                "mutual insecure true without ca",
                tp(
                    "{tls: {mode: MUTUAL, clientCertificate: /c, privateKey: /k, insecureSkipVerify: true}}",
                ),
                None,
            ),
            (
                "mutual insecure true with san",
                tp(
                    "{tls: {mode: MUTUAL, clientCertificate: /c, privateKey: /k, subjectAltNames: [a], insecureSkipVerify: true}}",
                ),
                Some("cannot specify CaCertificates or SubjectAltNames"),
            ),
            (
                "simple credential with client cert",
                tp("{tls: {mode: SIMPLE, credentialName: c, clientCertificate: /c}}"),
                Some(
                    "cannot specify client certificates or CA certificate or CA CRL If credentialName is set",
                ),
            ),
            (
                "simple credential with key",
                tp("{tls: {mode: SIMPLE, credentialName: c, privateKey: /k}}"),
                Some("If credentialName is set"),
            ),
            (
                "simple credential with ca",
                tp("{tls: {mode: SIMPLE, credentialName: c, caCertificates: /ca}}"),
                Some("If credentialName is set"),
            ),
            (
                "mutual credential with client cert",
                tp("{tls: {mode: MUTUAL, credentialName: c, clientCertificate: /c}}"),
                Some("If credentialName is set"),
            ),
            (
                "mutual credential with ca crl",
                tp("{tls: {mode: MUTUAL, credentialName: c, caCrl: /crl}}"),
                Some("If credentialName is set"),
            ),
            (
                "mutual without key",
                tp("{tls: {mode: MUTUAL, clientCertificate: /c}}"),
                Some("private key required for mutual tls"),
            ),
            (
                "mutual without cert",
                tp("{tls: {mode: MUTUAL, privateKey: /k}}"),
                Some("client certificate required for mutual tls"),
            ),
            (
                "istio mutual",
                tp("{tls: {mode: ISTIO_MUTUAL, sni: a.b}}"),
                None,
            ),
            (
                "configmap credential same namespace",
                tp("{tls: {mode: SIMPLE, credentialName: 'configmap://default/ca'}}"),
                None,
            ),
            (
                "configmap credential other namespace",
                tp("{tls: {mode: SIMPLE, credentialName: 'configmap://other/ca'}}"),
                Some("namespace must match the configuration namespace"),
            ),
            (
                "configmap credential without namespace",
                tp("{tls: {mode: SIMPLE, credentialName: 'configmap://ca'}}"),
                Some("Expected namespace and name"),
            ),
            (
                "exportTo valid",
                dr("{host: reviews, exportTo: [., ns1]}"),
                None,
            ),
            (
                "exportTo bad entry",
                dr("{host: reviews, exportTo: [Bad_NS]}"),
                Some("only . or * or valid DNS labels"),
            ),
            (
                "exportTo duplicate",
                dr("{host: reviews, exportTo: [ns1, ns1]}"),
                Some("duplicate entries in exportTo"),
            ),
            (
                "exportTo own namespace and .",
                dr("{host: reviews, exportTo: [default, .]}"),
                Some("duplicate entries in exportTo: . and current namespace"),
            ),
            (
                "exportTo * with others",
                dr("{host: reviews, exportTo: ['*', ns1]}"),
                Some("cannot have both public (*)"),
            ),
            (
                "exportTo ~ not for rules",
                dr("{host: reviews, exportTo: ['~']}"),
                Some("only . or * or valid DNS labels"),
            ),
            (
                "selector with exportTo beyond namespace",
                dr("{host: reviews, workloadSelector: {matchLabels: {app: a}}, exportTo: [ns1]}"),
                Some("cannot have exportTo beyond current namespace"),
            ),
            (
                "selector with multiple exportTo",
                dr(
                    "{host: reviews, workloadSelector: {matchLabels: {app: a}}, exportTo: [., ns1]}",
                ),
                Some("cannot have multiple entries in exportTo"),
            ),
            (
                "selector with own exportTo",
                dr("{host: reviews, workloadSelector: {matchLabels: {app: a}}, exportTo: [.]}"),
                None,
            ),
            (
                "selector with * exportTo",
                dr("{host: reviews, workloadSelector: {matchLabels: {app: a}}, exportTo: ['*']}"),
                Some("beyond current namespace"),
            ),
            (
                "selector wildcard label",
                dr("{host: reviews, workloadSelector: {matchLabels: {app: 'a*'}}}"),
                Some("wildcard is not supported in selector"),
            ),
        ];
        run(&rows);
    }

    #[test]
    fn destination_rule_warnings() {
        let r = check(&dr("{host: reviews, workloadSelector: {}}"));
        assert!(
            r.is_ok() && r.has_warning("workload selector specified without labels"),
            "{r}"
        );
        let r = check(&tp("{outlierDetection: {consecutiveErrors: 5}}"));
        assert!(
            r.is_ok() && r.has_warning("consecutive errors is deprecated"),
            "{r}"
        );
        let r = check(&tp(
            "{loadBalancer: {consistentHash: {useSourceIp: true, minimumRingSize: 1024}}}",
        ));
        assert!(
            r.is_ok() && r.has_warning("MinimumRingSize is deprecated"),
            "{r}"
        );
        let r = check(&tp(
            "{loadBalancer: {localityLbSetting: {failover: [{from: us-east, to: eu-west}]}}}",
        ));
        assert!(
            r.is_ok() && r.has_warning("outlier detection policy must be provided for failover"),
            "{r}"
        );
        let r = check(&tp(
            "{loadBalancer: {localityLbSetting: {failoverPriority: [a]}}}",
        ));
        assert!(
            r.has_warning("outlier detection policy must be provided for failover"),
            "{r}"
        );
        let r = check(&tp(
            "{loadBalancer: {zoneAwareLbSetting: {failover: [{from: a, to: b}]}}}",
        ));
        assert!(
            r.has_warning("outlier detection policy must be provided for failover"),
            "{r}"
        );
        let r = check(&tp(
            "{loadBalancer: {localityLbSetting: {failover: [{from: a, to: b}]}}, outlierDetection: {consecutive5xxErrors: 3}}",
        ));
        assert!(r.is_ok() && r.warnings.is_empty(), "{r}");
    }

    #[test]
    fn traffic_policy() {
        let rows = [
            (
                "valid traffic policy",
                tp(
                    "{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}}, outlierDetection: {minHealthPercent: 20}}",
                ),
                None,
            ),
            (
                "nil entries",
                tp("{}"),
                Some("traffic policy must have at least one field"),
            ),
            (
                "missing port in port level settings",
                tp("{portLevelSettings: [{loadBalancer: {simple: ROUND_ROBIN}}]}"),
                Some("portTrafficPolicy must have valid port"),
            ),
            (
                "empty port level settings entry",
                tp("{portLevelSettings: [{port: {number: 80}}]}"),
                Some("port traffic policy must have at least one field"),
            ),
            (
                "port level bad connection pool",
                tp("{portLevelSettings: [{port: {number: 80}, connectionPool: {}}]}"),
                Some("connection pool must have at least one field"),
            ),
            (
                "port level bad tls",
                tp("{portLevelSettings: [{port: {number: 80}, tls: {mode: MUTUAL}}]}"),
                Some("client certificate required"),
            ),
            (
                "port level valid",
                tp(
                    "{portLevelSettings: [{port: {number: 80}, loadBalancer: {simple: LEAST_REQUEST}, tls: {mode: ISTIO_MUTUAL}}]}",
                ),
                None,
            ),
            (
                "bad connection pool",
                tp("{connectionPool: {}}"),
                Some("connection pool must have at least one field"),
            ),
            (
                "bad max connection duration",
                tp("{connectionPool: {tcp: {maxConnectionDuration: 0.5ms}}}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "panic threshold too low",
                tp("{outlierDetection: {minHealthPercent: -1}}"),
                Some("percentage -1 is not in range 0..100"),
            ),
            (
                "both upgrade and use client protocol set",
                tp("{connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}}"),
                Some("use client protocol must not be true when H2UpgradePolicy is UPGRADE"),
            ),
            (
                "tunnel and proxy protocol",
                tp("{tunnel: {targetHost: a.b, targetPort: 80}, proxyProtocol: {version: V2}}"),
                Some("tunnel and proxyProtocol must not be set together"),
            ),
            (
                "tunnel valid connect",
                tp(
                    "{tunnel: {protocol: CONNECT, targetHost: proxy.example.com, targetPort: 8080}}",
                ),
                None,
            ),
            (
                "tunnel valid post ip",
                tp("{tunnel: {protocol: POST, targetHost: 10.0.0.1, targetPort: 8080}}"),
                None,
            ),
            (
                "tunnel bad protocol",
                tp("{tunnel: {protocol: GET, targetHost: a.b, targetPort: 80}}"),
                Some("tunnel protocol must be \"CONNECT\" or \"POST\""),
            ),
            (
                "tunnel bad host",
                tp("{tunnel: {targetHost: 'a..b', targetPort: 80}}"),
                Some("tunnel target host must be valid FQDN or IP address"),
            ),
            (
                "tunnel missing port",
                tp("{tunnel: {targetHost: a.b}}"),
                Some("tunnel target port is invalid"),
            ),
            (
                "tunnel port out of range",
                tp("{tunnel: {targetHost: a.b, targetPort: 70000}}"),
                Some("tunnel target port is invalid"),
            ),
            (
                "proxy protocol only",
                tp("{proxyProtocol: {version: V1}}"),
                None,
            ),
            (
                "retry budget only",
                tp("{retryBudget: {percent: 20, minRetryConcurrency: 3}}"),
                None,
            ),
            (
                "retry budget percent too high",
                tp("{retryBudget: {percent: 120}}"),
                Some("percent must be between 0 and 100"),
            ),
        ];
        run(&rows);
    }

    fn cp(pool: &str) -> String {
        tp(&format!("{{connectionPool: {pool}}}"))
    }

    #[test]
    fn connection_pool() {
        let rows = [
            (
                "tcp and http",
                cp(
                    "{tcp: {maxConnections: 7, connectTimeout: 2s}, http: {http1MaxPendingRequests: 2, http2MaxRequests: 11, maxRequestsPerConnection: 5, maxRetries: 4, idleTimeout: 30s, maxConcurrentStreams: 5}}",
                ),
                None,
            ),
            (
                "tcp only",
                cp("{tcp: {maxConnections: 7, connectTimeout: 2s}}"),
                None,
            ),
            (
                "http only",
                cp("{http: {http1MaxPendingRequests: 2, http2MaxRequests: 11}}"),
                None,
            ),
            (
                "http only with empty idle timeout",
                cp("{http: {http1MaxPendingRequests: 2}}"),
                None,
            ),
            (
                "http2 keepalive",
                cp("{http: {http2KeepAlive: {interval: 10s, timeout: 3s}}}"),
                None,
            ),
            (
                "empty",
                cp("{}"),
                Some("connection pool must have at least one field"),
            ),
            (
                "bad max connections",
                cp("{tcp: {maxConnections: -1}}"),
                Some("max connections must be non-negative"),
            ),
            (
                "bad connect timeout",
                cp("{tcp: {connectTimeout: 0.1ms}}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "sub-ms connect timeout",
                cp("{tcp: {connectTimeout: 1.5ms}}"),
                Some("only durations to ms precision are supported"),
            ),
            (
                "bad max pending requests",
                cp("{http: {http1MaxPendingRequests: -1}}"),
                Some("http1 max pending requests must be non-negative"),
            ),
            (
                "bad max requests",
                cp("{http: {http2MaxRequests: -1}}"),
                Some("http2 max requests must be non-negative"),
            ),
            (
                "bad max requests per connection",
                cp("{http: {maxRequestsPerConnection: -1}}"),
                Some("max requests per connection must be non-negative"),
            ),
            (
                "bad max retries",
                cp("{http: {maxRetries: -1}}"),
                Some("max retries must be non-negative"),
            ),
            (
                "bad idle timeout",
                cp("{http: {idleTimeout: 0s}}"),
                Some("duration must be greater than 1ms"),
            ),
            ("tcp timeout disabled", cp("{tcp: {idleTimeout: 0s}}"), None),
            (
                "tcp idle timeout sub-ms",
                cp("{tcp: {idleTimeout: 1.5ms}}"),
                Some("only durations to ms precision"),
            ),
            (
                "bad max concurrent streams",
                cp("{http: {maxConcurrentStreams: -1}}"),
                Some("max concurrent streams must be non-negative"),
            ),
            (
                "http2 keepalive without interval",
                cp("{http: {http2KeepAlive: {timeout: 3s}}}"),
                Some("http2 keepalive interval is required"),
            ),
            (
                "http2 keepalive without timeout",
                cp("{http: {http2KeepAlive: {interval: 3s}}}"),
                Some("http2 keepalive timeout is required"),
            ),
            (
                "bad http2 keepalive interval",
                cp("{http: {http2KeepAlive: {interval: 0s, timeout: 3s}}}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "bad tcp keepalive time",
                cp("{tcp: {tcpKeepalive: {time: 0s}}}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "bad tcp keepalive interval",
                cp("{tcp: {tcpKeepalive: {interval: 0s, probes: 3}}}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "valid tcp keepalive",
                cp("{tcp: {tcpKeepalive: {probes: 3, time: 7200s, interval: 75s}}}"),
                None,
            ),
            (
                "upgrade with client protocol false",
                cp("{http: {h2UpgradePolicy: UPGRADE, useClientProtocol: false}}"),
                None,
            ),
            (
                "do not upgrade with client protocol",
                cp("{http: {h2UpgradePolicy: DO_NOT_UPGRADE, useClientProtocol: true}}"),
                None,
            ),
        ];
        run(&rows);
    }

    fn lb(settings: &str) -> String {
        tp(&format!(
            "{{loadBalancer: {settings}, outlierDetection: {{consecutive5xxErrors: 5}}}}"
        ))
    }

    #[test]
    fn load_balancer() {
        let rows = [
            ("simple", lb("{simple: ROUND_ROBIN}"), None),
            (
                "consistent hash header",
                lb("{consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 1024}}}"),
                None,
            ),
            (
                "consistent hash cookie",
                lb("{consistentHash: {httpCookie: {name: test, ttl: 0s}}}"),
                None,
            ),
            (
                "consistent hash cookie missing name",
                lb("{consistentHash: {httpCookie: {ttl: 0s}}}"),
                Some("name required for HttpCookie"),
            ),
            (
                "maglev not prime",
                lb("{consistentHash: {useSourceIp: true, maglev: {tableSize: 1000}}}"),
                Some("tableSize must be a prime number for maglev"),
            ),
            (
                "maglev prime",
                lb("{consistentHash: {useSourceIp: true, maglev: {tableSize: 65537}}}"),
                None,
            ),
            (
                "maglev unset table size",
                lb("{consistentHash: {useSourceIp: true, maglev: {}}}"),
                Some("tableSize must be set for maglev"),
            ),
            (
                "maglev too large",
                lb("{consistentHash: {useSourceIp: true, maglev: {tableSize: 5000011}}}"),
                Some("tableSize must be less than 5000011 for maglev"),
            ),
            (
                "unique cookie attributes",
                lb(
                    "{consistentHash: {httpCookie: {name: c, attributes: [{name: SameSite, value: Strict}, {name: Secure}]}}}",
                ),
                None,
            ),
            (
                "duplicate cookie attribute names",
                lb(
                    "{consistentHash: {httpCookie: {name: c, attributes: [{name: Secure}, {name: Secure}]}}}",
                ),
                Some("duplicate cookie attribute name: Secure"),
            ),
            (
                "empty cookie attribute name",
                lb("{consistentHash: {httpCookie: {name: c, attributes: [{value: x}]}}}"),
                Some("cookie attribute name cannot be empty"),
            ),
            (
                "minimum ring size with algorithm",
                lb(
                    "{consistentHash: {useSourceIp: true, minimumRingSize: 10, ringHash: {minimumRingSize: 10}}}",
                ),
                Some("only one of MinimumRingSize or Maglev/Ringhash can be specified"),
            ),
            (
                "query parameter",
                lb("{consistentHash: {httpQueryParameterName: user}}"),
                None,
            ),
            (
                "locality and zone aware both set",
                lb("{localityLbSetting: {enabled: true}, zoneAwareLbSetting: {enabled: true}}"),
                Some("only one of localityLbSetting and zoneAwareLbSetting can be set"),
            ),
            (
                "zone aware only",
                lb(
                    "{simple: LEAST_REQUEST, zoneAwareLbSetting: {enabled: true, minClusterSize: 2}}",
                ),
                None,
            ),
            (
                "zone aware min cluster size 0",
                lb("{zoneAwareLbSetting: {minClusterSize: 0}}"),
                Some("minClusterSize must be at least 1"),
            ),
            (
                "warmup valid",
                lb(
                    "{simple: ROUND_ROBIN, warmup: {duration: 10s, minimumPercent: 10, aggression: 1}}",
                ),
                None,
            ),
            (
                "warmup missing duration",
                lb("{warmup: {aggression: 1}}"),
                Some("duration is required"),
            ),
            (
                "warmup bad duration",
                lb("{warmup: {duration: 0s}}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "warmup minimum percent too high",
                lb("{warmup: {duration: 1s, minimumPercent: 101}}"),
                Some("minimumPercent value should be less than or equal to 100"),
            ),
            (
                "warmup aggression zero",
                lb("{warmup: {duration: 1s, aggression: 0}}"),
                Some("aggression should be greater than 0"),
            ),
            (
                "warmup duration secs",
                lb("{simple: ROUND_ROBIN, warmupDurationSecs: 60s}"),
                None,
            ),
            (
                "warmup duration secs below ms precision",
                lb("{simple: RANDOM, warmupDurationSecs: 1.5ms}"),
                None,
            ),
            (
                "warmup duration secs too short",
                lb("{warmupDurationSecs: 0s}"),
                Some("must be a valid duration greater than 1ms"),
            ),
            (
                "backend utilization",
                lb(
                    "{backendUtilization: {weightUpdatePeriod: 1s, errorUtilizationPenaltyPercent: 10}}",
                ),
                None,
            ),
        ];
        run(&rows);
    }

    #[test]
    fn outlier_detection() {
        let od = |o: &str| tp(&format!("{{outlierDetection: {o}}}"));
        let rows = [
            (
                "valid",
                od(
                    "{interval: 10s, baseEjectionTime: 10s, consecutive5xxErrors: 5, maxEjectionPercent: 10}",
                ),
                None,
            ),
            (
                "bad interval",
                od("{interval: 0s}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "bad base ejection time",
                od("{baseEjectionTime: 0s}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "bad max ejection percent",
                od("{maxEjectionPercent: 105}"),
                Some("percentage 105 is not in range 0..100"),
            ),
            (
                "panic threshold too low",
                od("{minHealthPercent: -1}"),
                Some("percentage -1 is not in range 0..100"),
            ),
            (
                "panic threshold too high",
                od("{minHealthPercent: 101}"),
                Some("percentage 101 is not in range 0..100"),
            ),
            (
                "deprecated consecutive errors",
                od("{consecutiveErrors: 3}"),
                None,
            ),
            (
                "local origin without split",
                od("{consecutiveLocalOriginFailures: 3}"),
                Some(
                    "consecutive local origin failures is specified, but split external local origin errors is set to false",
                ),
            ),
            (
                "local origin with split",
                od("{consecutiveLocalOriginFailures: 3, splitExternalLocalOriginErrors: true}"),
                None,
            ),
            (
                "http error codes valid",
                od("{outlierDetectionHttpErrorCodes: [500, 503]}"),
                None,
            ),
            (
                "http error code out of range",
                od("{outlierDetectionHttpErrorCodes: [99]}"),
                Some("HTTP error code 99 must be between 100 and 599"),
            ),
        ];
        run(&rows);
    }

    #[test]
    fn locality_lb_setting() {
        let loc = |l: &str| lb(&format!("{{localityLbSetting: {l}}}"));
        let rows = [
            (
                "valid distribute",
                loc("{distribute: [{from: 'a/b/c', to: {'a/b/c': 80, 'a/b1': 20}}]}"),
                None,
            ),
            (
                "total weight > 100",
                loc("{distribute: [{from: 'a/b/c', to: {'a/b/c': 80, 'a/b1': 25}}]}"),
                Some("total locality weight 105 != 100"),
            ),
            (
                "total weight < 100",
                loc("{distribute: [{from: 'a/b/c', to: {'a/b/c': 80, 'a/b1': 15}}]}"),
                Some("total locality weight 95 != 100"),
            ),
            (
                "weight = 0",
                loc("{distribute: [{from: 'a/b/c', to: {'a/b/c': 0, 'a/b1': 100}}]}"),
                Some("locality weight must be in range [1, 100]"),
            ),
            (
                "both distribute and failover",
                loc(
                    "{distribute: [{from: 'a/b/c', to: {'a/b/c': 100}}], failover: [{from: region1, to: region2}]}",
                ),
                Some("can not simultaneously specify 'distribute' and 'failover'"),
            ),
            (
                "failover same region",
                loc("{failover: [{from: region1, to: region1}]}"),
                Some("locality lb failover settings must specify different regions"),
            ),
            (
                "failover src wildcard",
                loc("{failover: [{from: 'region*', to: region2}]}"),
                Some("locality lb failover region should not contain '*' wildcard"),
            ),
            (
                "failover dst wildcard",
                loc("{failover: [{from: region1, to: 'region*'}]}"),
                Some("should not contain '*' wildcard"),
            ),
            (
                "failover src slash",
                loc("{failover: [{from: 'region1/zone1', to: region2}]}"),
                Some("locality lb failover only specify region"),
            ),
            (
                "failover dst slash",
                loc("{failover: [{from: region1, to: 'region2/zone1'}]}"),
                Some("locality lb failover only specify region"),
            ),
            (
                "failover with region priority",
                loc(
                    "{failover: [{from: region1, to: region2}], failoverPriority: [topology.kubernetes.io/region]}",
                ),
                Some(
                    "can not simultaneously set 'failover' and topology label 'topology.kubernetes.io/region'",
                ),
            ),
            (
                "failover with custom priority",
                loc("{failover: [{from: region1, to: region2}], failoverPriority: [custom]}"),
                None,
            ),
            (
                "multi wildcard locality",
                loc("{distribute: [{from: 'a/*/*', to: {'a/b': 100}}]}"),
                Some("wildcard '*' number can not exceed 1 and must be in the end"),
            ),
            (
                "wildcard not in suffix",
                loc("{distribute: [{from: 'a/*/c', to: {'a/b': 100}}]}"),
                Some("must be in the end"),
            ),
            (
                "explicit wildcard region overlap",
                loc(
                    "{distribute: [{from: '*', to: {'a/b': 100}}, {from: 'a/b', to: {'a/b': 100}}]}",
                ),
                Some("overlap with previous specified ones"),
            ),
            (
                "implicit wildcard region overlap",
                loc("{distribute: [{from: a, to: {'a/b': 100}}, {from: 'a/b', to: {'a/b': 100}}]}"),
                Some("overlap"),
            ),
            (
                "zone overlap",
                loc(
                    "{distribute: [{from: 'a/b', to: {'a/b': 100}}, {from: 'a/b/c', to: {'a/b': 100}}]}",
                ),
                Some("overlap"),
            ),
            (
                "subzone duplicate",
                loc(
                    "{distribute: [{from: 'a/b/c', to: {'a/b': 100}}, {from: 'a/b/c', to: {'a/b': 100}}]}",
                ),
                Some("overlap"),
            ),
            (
                "empty zone",
                loc("{distribute: [{from: 'a//c', to: {'a/b': 100}}]}"),
                Some("must not contain empty region/zone/subzone info"),
            ),
            (
                "distinct subzones",
                loc(
                    "{distribute: [{from: 'a/b/c', to: {'a/b': 100}}, {from: 'a/b/d', to: {'a/b': 100}}]}",
                ),
                None,
            ),
        ];
        run(&rows);
    }

    #[test]
    fn zone_aware_lb_setting() {
        let za = |l: &str| lb(&format!("{{zoneAwareLbSetting: {l}}}"));
        let rows = [
            ("enabled only", za("{enabled: true}"), None),
            (
                "region-level failover",
                za("{failover: [{from: us-east, to: us-west}]}"),
                None,
            ),
            (
                "same src and dst",
                za("{failover: [{from: us-east, to: us-east}]}"),
                Some("zone aware lb failover settings must specify different regions"),
            ),
            (
                "src has slash",
                za("{failover: [{from: 'us-east/a', to: us-west}]}"),
                Some("zone aware lb failover only specifies region"),
            ),
            (
                "dst has slash",
                za("{failover: [{from: us-east, to: 'us-west/b'}]}"),
                Some("zone aware lb failover only specifies region"),
            ),
            (
                "src wildcard",
                za("{failover: [{from: 'us-*', to: us-west}]}"),
                Some("zone aware lb failover region should not contain '*' wildcard"),
            ),
            (
                "dst wildcard",
                za("{failover: [{from: us-east, to: 'us-*'}]}"),
                Some("should not contain '*' wildcard"),
            ),
            (
                "region label priority",
                za("{failoverPriority: [topology.kubernetes.io/region]}"),
                Some("must not use topology label 'topology.kubernetes.io/region'"),
            ),
            (
                "zone label priority",
                za("{failoverPriority: [topology.kubernetes.io/zone]}"),
                Some("must not use topology label 'topology.kubernetes.io/zone'"),
            ),
            (
                "subzone label priority",
                za("{failoverPriority: [topology.istio.io/subzone]}"),
                Some("must not use topology label 'topology.istio.io/subzone'"),
            ),
            (
                "non-topology labels",
                za("{failoverPriority: [topology.istio.io/network, custom]}"),
                None,
            ),
        ];
        run(&rows);
    }

    #[test]
    fn finding_paths() {
        let r = check(&tp("{connectionPool: {http: {maxRetries: -1}}}"));
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.trafficPolicy.connectionPool.http.maxRetries"
        );
        let r = check(&dr(
            "{host: reviews, subsets: [{name: v1}, {name: v2, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, maglev: {tableSize: 4}}}}}]}",
        ));
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.subsets[1].trafficPolicy.loadBalancer.consistentHash.maglev.tableSize"
        );
    }
}
