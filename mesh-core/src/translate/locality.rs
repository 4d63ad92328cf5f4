//! Locality load balancing (istiod's `networking/core/loadbalancer`): a DestinationRule's (or
//! the mesh's) `localityLbSetting` applied to one proxy's endpoint assignments.
//!
//! - `distribute`: for the first rule whose `from` matches the proxy's locality, each `to`
//!   locality's endpoint groups get its share as `load_balancing_weight` (split over the
//!   groups a wildcard matches, by their weights); groups no `to` names are emptied.
//! - otherwise failover, when the traffic policy has outlier detection (without it Envoy
//!   never fails over): each group gets a priority by how much of the proxy's locality it
//!   shares (0: region, zone and subzone; 1: region and zone; 2: region; 3: none), 4 when a
//!   `failover` rule sends the proxy's region elsewhere and the group is not there; the
//!   priorities are then renumbered from 0 without gaps, as Envoy requires.
//!
//! The mesh setting (`MeshConfig.localityLbSetting`, on by default) applies where a
//! DestinationRule sets none; `enabled: false` turns it off.
//!
//! ```
//! use envoy_types::pb::envoy::config::core::v3::Locality;
//! use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, LocalityLbEndpoints};
//! use mesh_core::api::networking::LocalityLoadBalancerSetting;
//! use mesh_core::translate::locality::apply_locality_lb;
//!
//! let group = |region: &str, zone: &str| LocalityLbEndpoints {
//!     locality: Some(Locality { region: region.into(), zone: zone.into(), ..Default::default() }),
//!     ..Default::default()
//! };
//! let mut cla = ClusterLoadAssignment {
//!     endpoints: vec![group("us", "a"), group("us", "b"), group("eu", "a")],
//!     ..Default::default()
//! };
//! apply_locality_lb(&mut cla, "us/a/", &LocalityLoadBalancerSetting::default(), true);
//! let priorities: Vec<u32> = cla.endpoints.iter().map(|e| e.priority).collect();
//! assert_eq!(priorities, [0, 1, 2]);
//! ```

use envoy_types::pb::envoy::config::core::v3::Locality;
use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, LbEndpoint};
use envoy_types::pb::google::protobuf::UInt32Value;

use crate::api::networking::{LocalityDistribute, LocalityFailover, LocalityLoadBalancerSetting};

/// `GetLocalityLbSetting`: the DestinationRule's setting, else the mesh's; `None` when the one
/// that applies is disabled.
pub fn effective_setting<'a>(
    mesh: Option<&'a LocalityLoadBalancerSetting>,
    destination_rule: Option<&'a LocalityLoadBalancerSetting>,
) -> Option<&'a LocalityLoadBalancerSetting> {
    match destination_rule {
        Some(dr) => (dr.enabled != Some(false)).then_some(dr),
        None => mesh.filter(|m| m.enabled != Some(false)),
    }
}

/// Whether the cluster needs Envoy's locality-weighted balancing (`common_lb_config`): with
/// `distribute`, or with failover rules when outlier detection is on.
pub fn needs_locality_weighted_config(
    setting: &LocalityLoadBalancerSetting,
    outlier_detection: bool,
) -> bool {
    !setting.distribute.is_empty()
        || (outlier_detection
            && (!setting.failover.is_empty() || !setting.failover_priority.is_empty()))
}

fn parts(locality: &str) -> (&str, &str, &str) {
    let mut it = locality.splitn(3, '/');
    (
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
        it.next().unwrap_or_default(),
    )
}

/// `LocalityMatch`: whether `locality` is covered by `rule` (`region/zone/subzone`, `*` for
/// any, missing parts match anything).
fn locality_match(locality: Option<&Locality>, rule: &str) -> bool {
    let (region, zone, subzone) = parts(rule);
    let l = locality.cloned().unwrap_or_default();
    (region == "*" || l.region == region)
        && (zone.is_empty() || zone == "*" || l.zone == zone)
        && (subzone.is_empty() || subzone == "*" || l.sub_zone == subzone)
}

/// `LbPriority`: 0 when region, zone and subzone are the proxy's; 1 region and zone; 2 region;
/// 3 otherwise.
fn lb_priority(proxy: &Locality, group: Option<&Locality>) -> u32 {
    let g = group.cloned().unwrap_or_default();
    if proxy.region != g.region {
        3
    } else if proxy.zone != g.zone {
        2
    } else if proxy.sub_zone != g.sub_zone {
        1
    } else {
        0
    }
}

/// Applies `setting` to `cla` for a proxy in `proxy_locality` (`region/zone/subzone`);
/// `failover_enabled` is whether the traffic policy has outlier detection. Without endpoint
/// labels, `failoverPriority` is not applied (see [`apply_locality_lb_with_labels`]).
pub fn apply_locality_lb(
    cla: &mut ClusterLoadAssignment,
    proxy_locality: &str,
    setting: &LocalityLoadBalancerSetting,
    failover_enabled: bool,
) {
    apply_locality_lb_with_labels(
        cla,
        proxy_locality,
        &BTreeMap::new(),
        &|_| None,
        setting,
        failover_enabled,
    );
}

/// [`apply_locality_lb`] with `failoverPriority`: `proxy_labels` are the client's labels and
/// `endpoint_labels` gives an endpoint's workload labels. Endpoints are ordered by how many of
/// the listed labels (in order) they share with the proxy (`label=value` entries compare with
/// that value instead of the proxy's); locality failover then applies within that only when
/// `failover` rules are also set, as istiod does.
pub fn apply_locality_lb_with_labels(
    cla: &mut ClusterLoadAssignment,
    proxy_locality: &str,
    proxy_labels: &BTreeMap<String, String>,
    endpoint_labels: &dyn Fn(&LbEndpoint) -> Option<BTreeMap<String, String>>,
    setting: &LocalityLoadBalancerSetting,
    failover_enabled: bool,
) {
    let (region, zone, subzone) = parts(proxy_locality);
    let proxy = Locality {
        region: region.to_string(),
        zone: zone.to_string(),
        sub_zone: subzone.to_string(),
    };
    if !setting.distribute.is_empty() {
        apply_weights(cla, &proxy, &setting.distribute);
    } else if failover_enabled {
        if setting.failover_priority.is_empty() {
            apply_failover(cla, &proxy, &setting.failover);
        } else {
            apply_priority_failover(
                cla,
                proxy_labels,
                endpoint_labels,
                &setting.failover_priority,
            );
            if !setting.failover.is_empty() {
                apply_failover(cla, &proxy, &setting.failover);
            }
        }
    }
}

/// istiod's `applyPriorityFailover`: each locality group split by label priority (0 when
/// every listed label matches the proxy's, `n - i` when the `i`-th is the first that does
/// not), the groups' weights recomputed, priorities renumbered without gaps.
fn apply_priority_failover(
    cla: &mut ClusterLoadAssignment,
    proxy_labels: &BTreeMap<String, String>,
    endpoint_labels: &dyn Fn(&LbEndpoint) -> Option<BTreeMap<String, String>>,
    failover_priority: &[String],
) {
    if proxy_labels.is_empty() {
        return;
    }
    let (names, overrides): (Vec<&str>, BTreeMap<&str, &str>) = {
        let mut names = Vec::new();
        let mut overrides = BTreeMap::new();
        for entry in failover_priority {
            match entry.split_once('=') {
                Some((k, v)) => {
                    names.push(k);
                    overrides.insert(k, v);
                }
                None => names.push(entry.as_str()),
            }
        }
        (names, overrides)
    };
    let lowest = names.len() as u32;
    let mut out = Vec::new();
    for group in std::mem::take(&mut cla.endpoints) {
        let mut by_priority: BTreeMap<u32, Vec<LbEndpoint>> = BTreeMap::new();
        for ep in &group.lb_endpoints {
            let labels = endpoint_labels(ep).unwrap_or_default();
            let priority = names
                .iter()
                .enumerate()
                .find(|(_, name)| {
                    let wanted = overrides
                        .get(*name)
                        .copied()
                        .or_else(|| proxy_labels.get(**name).map(String::as_str));
                    wanted != labels.get(**name).map(String::as_str)
                })
                .map_or(0, |(i, _)| lowest - i as u32);
            by_priority.entry(priority).or_default().push(ep.clone());
        }
        for (priority, eps) in by_priority {
            let weight = eps
                .iter()
                .map(|e| e.load_balancing_weight.as_ref().map_or(0, |w| w.value))
                .sum();
            let mut g = group.clone();
            g.lb_endpoints = eps;
            g.priority = priority;
            g.load_balancing_weight = Some(UInt32Value { value: weight });
            out.push(g);
        }
    }
    let mut distinct: Vec<u32> = out.iter().map(|g| g.priority).collect();
    distinct.sort_unstable();
    distinct.dedup();
    for g in &mut out {
        g.priority = distinct
            .iter()
            .position(|d| *d == g.priority)
            .unwrap_or_default() as u32;
    }
    cla.endpoints = out;
}

fn apply_weights(
    cla: &mut ClusterLoadAssignment,
    proxy: &Locality,
    distribute: &[LocalityDistribute],
) {
    let Some(rule) = distribute
        .iter()
        .find(|d| locality_match(Some(proxy), &d.from))
    else {
        return;
    };
    let mut unmatched: std::collections::BTreeSet<usize> = (0..cla.endpoints.len()).collect();
    for (to, weight) in &rule.to {
        let matched: Vec<(usize, u32)> = cla
            .endpoints
            .iter()
            .enumerate()
            .filter(|(i, g)| unmatched.contains(i) && locality_match(g.locality.as_ref(), to))
            .map(|(i, g)| (i, g.load_balancing_weight.as_ref().map_or(1, |w| w.value)))
            .collect();
        let total: u32 = matched.iter().map(|(_, w)| w).sum();
        for (i, original) in matched {
            unmatched.remove(&i);
            let share = f64::from(original) * f64::from(*weight) / f64::from(total.max(1));
            if share > 0.0 {
                cla.endpoints[i].load_balancing_weight = Some(UInt32Value {
                    value: share.ceil() as u32,
                });
            }
        }
    }
    for i in unmatched {
        cla.endpoints[i].lb_endpoints.clear();
    }
}

fn apply_failover(
    cla: &mut ClusterLoadAssignment,
    proxy: &Locality,
    failover: &[LocalityFailover],
) {
    let mut raw = Vec::with_capacity(cla.endpoints.len());
    for g in &cla.endpoints {
        let mut p = lb_priority(proxy, g.locality.as_ref());
        if p == 3
            && let Some(f) = failover.iter().find(|f| f.from == proxy.region)
            && g.locality.as_ref().is_none_or(|l| l.region != f.to)
        {
            p = 4;
        }
        // Room for priorities already set (failoverPriority), five locality levels each.
        raw.push(g.priority * 5 + p);
    }
    let mut distinct = raw.clone();
    distinct.sort_unstable();
    distinct.dedup();
    for (g, p) in cla.endpoints.iter_mut().zip(raw) {
        g.priority = distinct.iter().position(|d| *d == p).unwrap_or_default() as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::endpoint::v3::{LbEndpoint, LocalityLbEndpoints};

    fn group(l: &str) -> LocalityLbEndpoints {
        let (r, z, s) = parts(l);
        LocalityLbEndpoints {
            locality: Some(Locality {
                region: r.into(),
                zone: z.into(),
                sub_zone: s.into(),
            }),
            lb_endpoints: vec![LbEndpoint::default()],
            load_balancing_weight: Some(UInt32Value { value: 1 }),
            ..Default::default()
        }
    }

    fn cla(groups: &[&str]) -> ClusterLoadAssignment {
        ClusterLoadAssignment {
            endpoints: groups.iter().map(|g| group(g)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn failover_priorities_as_istiod_orders_them() {
        // istiod's TestApplyLocalityFailover idea: same subzone, zone, region, elsewhere.
        let mut c = cla(&["r1/z1/s1", "r1/z1/s2", "r1/z2/s1", "r2/z1/s1", "r3/z1/s1"]);
        apply_locality_lb(
            &mut c,
            "r1/z1/s1",
            &LocalityLoadBalancerSetting::default(),
            true,
        );
        let p: Vec<u32> = c.endpoints.iter().map(|e| e.priority).collect();
        assert_eq!(p, [0, 1, 2, 3, 3]);
        // A failover rule: region r1 fails over to r3 only, r2 drops behind it.
        let setting = LocalityLoadBalancerSetting {
            failover: vec![LocalityFailover {
                from: "r1".into(),
                to: "r3".into(),
            }],
            ..Default::default()
        };
        let mut c = cla(&["r1/z1/s1", "r2/z1/s1", "r3/z1/s1"]);
        apply_locality_lb(&mut c, "r1/z1/s1", &setting, true);
        let p: Vec<u32> = c.endpoints.iter().map(|e| e.priority).collect();
        assert_eq!(p, [0, 2, 1]);
        // Without outlier detection nothing changes.
        let mut c = cla(&["r1/z1/s1", "r2/z1/s1"]);
        apply_locality_lb(&mut c, "r1/z1/s1", &setting, false);
        assert!(c.endpoints.iter().all(|e| e.priority == 0));
    }

    #[test]
    fn distribute_weights_and_drops_the_rest() {
        let setting = LocalityLoadBalancerSetting {
            distribute: vec![LocalityDistribute {
                from: "r1/z1/*".into(),
                to: [("r1/z1/*".to_string(), 80), ("r2/*".to_string(), 20)].into(),
            }],
            ..Default::default()
        };
        let mut c = cla(&["r1/z1/s1", "r1/z1/s2", "r2/z1/s1", "r3/z1/s1"]);
        apply_locality_lb(&mut c, "r1/z1/s9", &setting, false);
        let w: Vec<Option<u32>> = c
            .endpoints
            .iter()
            .map(|e| e.load_balancing_weight.as_ref().map(|w| w.value))
            .collect();
        assert_eq!(w, [Some(40), Some(40), Some(20), Some(1)]);
        assert!(c.endpoints[3].lb_endpoints.is_empty(), "r3 gets nothing");
        // A proxy no rule covers: untouched.
        let mut c = cla(&["r1/z1/s1", "r3/z1/s1"]);
        apply_locality_lb(&mut c, "r9/z1/s1", &setting, false);
        assert!(c.endpoints.iter().all(|e| !e.lb_endpoints.is_empty()));
    }

    #[test]
    fn failover_priority_by_labels() {
        use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address};
        use envoy_types::pb::envoy::config::endpoint::v3::{Endpoint, lb_endpoint};
        let ep = |ip: &str| LbEndpoint {
            host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                address: Some(Address {
                    address: Some(address::Address::SocketAddress(SocketAddress {
                        address: ip.into(),
                        ..Default::default()
                    })),
                }),
                ..Default::default()
            })),
            load_balancing_weight: Some(UInt32Value { value: 1 }),
            ..Default::default()
        };
        let ip_of = |e: &LbEndpoint| match &e.host_identifier {
            Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                address:
                    Some(Address {
                        address: Some(address::Address::SocketAddress(s)),
                    }),
                ..
            })) => s.address.clone(),
            _ => String::new(),
        };
        // Endpoints: same network and cluster; same network only; neither.
        let labels = |e: &LbEndpoint| -> Option<BTreeMap<String, String>> {
            let (net, cl) = match ip_of(e).as_str() {
                "1" => ("n1", "c1"),
                "2" => ("n1", "c2"),
                _ => ("n2", "c2"),
            };
            Some(
                [
                    ("topology.istio.io/network".to_string(), net.to_string()),
                    ("topology.istio.io/cluster".to_string(), cl.to_string()),
                ]
                .into(),
            )
        };
        let mut c = ClusterLoadAssignment {
            endpoints: vec![LocalityLbEndpoints {
                locality: Some(Locality::default()),
                lb_endpoints: vec![ep("3"), ep("1"), ep("2")],
                ..Default::default()
            }],
            ..Default::default()
        };
        let setting = LocalityLoadBalancerSetting {
            failover_priority: vec![
                "topology.istio.io/network".into(),
                "topology.istio.io/cluster".into(),
            ],
            ..Default::default()
        };
        let proxy: BTreeMap<String, String> = [
            ("topology.istio.io/network".to_string(), "n1".to_string()),
            ("topology.istio.io/cluster".to_string(), "c1".to_string()),
        ]
        .into();
        apply_locality_lb_with_labels(&mut c, "", &proxy, &labels, &setting, true);
        let groups: Vec<(u32, Vec<String>)> = c
            .endpoints
            .iter()
            .map(|g| (g.priority, g.lb_endpoints.iter().map(ip_of).collect()))
            .collect();
        assert_eq!(
            groups,
            [
                (0, vec!["1".to_string()]),
                (1, vec!["2".to_string()]),
                (2, vec!["3".to_string()])
            ]
        );
        assert!(
            c.endpoints
                .iter()
                .all(|g| g.load_balancing_weight.as_ref().map(|w| w.value) == Some(1))
        );
    }

    #[test]
    fn the_rule_that_applies() {
        let mesh = LocalityLoadBalancerSetting {
            enabled: Some(true),
            ..Default::default()
        };
        let off = LocalityLoadBalancerSetting {
            enabled: Some(false),
            ..Default::default()
        };
        assert_eq!(effective_setting(Some(&mesh), None), Some(&mesh));
        assert_eq!(effective_setting(Some(&mesh), Some(&off)), None);
        assert_eq!(effective_setting(Some(&off), None), None);
        assert_eq!(effective_setting(None, None), None);
    }
}
