//! Endpoints (EDS): which workloads back a service port, as a `ClusterLoadAssignment`.
//!
//! Selection follows istiod: a Kubernetes Service selects pods and WorkloadEntries in its
//! namespace by its selector (no selector, no endpoints); a ServiceEntry has its inline
//! endpoints, or the workloads its `workloadSelector` picks in its namespace, or, resolved by
//! DNS with neither, its own hostname. A subset narrows by labels. Finished pods and workloads
//! without an address are left out; a named target port no container declares drops the
//! workload, as Kubernetes does.
//!
//! Each endpoint carries the metadata istiod writes: `envoy.transport_socket_match`
//! `{tlsMode: istio}` for workloads that take mutual TLS (what the cluster's auto-mTLS
//! transport socket matches read) and `istio.workload` (`name;namespace;canonical
//! service;canonical revision;cluster`). Endpoints are grouped by locality, localities and
//! endpoints in a stable order, each endpoint weighted by its WorkloadEntry weight (1 when
//! unset) and each locality by the sum.

use crate::dump::proto_map;
use crate::translate::wire;
use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{
    Address, HealthStatus, Locality, Metadata, Pipe, address,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::google::protobuf::{Struct, UInt32Value, Value, value};

use crate::model::{Port, Registry, Resolution, Service, TlsMode, Workload};
use crate::translate::listener::socket;

/// Options for endpoint metadata.
#[derive(Debug, Clone)]
pub struct EndpointOptions {
    /// The cluster id in `istio.workload` metadata (`Kubernetes` by default, as istiod).
    pub cluster_id: String,
}

impl Default for EndpointOptions {
    fn default() -> Self {
        EndpointOptions {
            cluster_id: "Kubernetes".to_string(),
        }
    }
}

/// One endpoint of a service port: a workload (or, for a DNS ServiceEntry without
/// endpoints, the hostname) and the port traffic goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceEndpoint<'a> {
    /// The address: an IP, a DNS name or a `unix://` path.
    pub address: &'a str,
    /// The port on the workload (0 for a `unix://` socket).
    pub port: u32,
    /// The workload, if the endpoint is one.
    pub workload: Option<&'a Workload>,
}

/// The workloads behind a service, before subsets and ports: see the module docs.
pub fn service_workloads<'a>(service: &'a Service, workloads: &'a [Workload]) -> Vec<&'a Workload> {
    let in_namespace_matching = |w: &&Workload| {
        w.namespace == service.namespace && !w.is_terminated() && w.matches(&service.selector)
    };
    match service.registry {
        Registry::Kubernetes if service.selector.is_empty() => Vec::new(),
        Registry::Kubernetes => workloads.iter().filter(in_namespace_matching).collect(),
        Registry::External if !service.inline_endpoints.is_empty() => {
            service.inline_endpoints.iter().collect()
        }
        Registry::External if !service.selector.is_empty() => {
            workloads.iter().filter(in_namespace_matching).collect()
        }
        Registry::External => Vec::new(),
    }
}

/// The endpoints of one service port, narrowed to a subset's labels (empty: all).
pub fn port_endpoints<'a>(
    service: &'a Service,
    port: &Port,
    subset: &BTreeMap<String, String>,
    workloads: &'a [Workload],
) -> Vec<ServiceEndpoint<'a>> {
    selected_port_endpoints(service, port, subset, service_workloads(service, workloads))
}

/// [`port_endpoints`] over workloads already selected for the service (as
/// [`service_workloads`] or `Snapshot::service_workloads` select them).
pub fn selected_port_endpoints<'a>(
    service: &'a Service,
    port: &Port,
    subset: &BTreeMap<String, String>,
    selected: Vec<&'a Workload>,
) -> Vec<ServiceEndpoint<'a>> {
    let dns = matches!(
        service.resolution,
        Resolution::DnsLb | Resolution::DnsRoundRobinLb
    );
    if selected.is_empty()
        && dns
        && service.registry == Registry::External
        && service.selector.is_empty()
    {
        let port_number = match port.target {
            crate::model::TargetPort::Number(n) => n,
            _ => port.number,
        };
        return vec![ServiceEndpoint {
            address: &service.hostname,
            port: port_number,
            workload: None,
        }];
    }
    let mut out = Vec::new();
    for w in selected.into_iter().filter(|w| w.matches(subset)) {
        let Some(target) = w.target_port(port) else {
            continue;
        };
        for address in &w.addresses {
            // Hostnames only make sense where the cluster resolves them.
            if !dns
                && !address.starts_with("unix://")
                && address.parse::<std::net::IpAddr>().is_err()
            {
                continue;
            }
            out.push(ServiceEndpoint {
                address,
                port: target,
                workload: Some(w),
            });
        }
    }
    out
}

/// The `ClusterLoadAssignment` for `cluster_name`, from [`port_endpoints`].
///
/// ```
/// use mesh_core::model::{Service, Workload};
/// use mesh_core::translate::endpoints::{EndpointOptions, cluster_load_assignment};
///
/// let svc: mesh_core::api::k8s::Service = serde_json::from_value(serde_json::json!({
///     "apiVersion": "v1", "kind": "Service", "metadata": {"name": "reviews", "namespace": "default"},
///     "spec": {"clusterIP": "10.96.0.20", "selector": {"app": "reviews"},
///              "ports": [{"name": "http", "port": 9080}]}}))?;
/// let pod: mesh_core::api::k8s::Pod = serde_json::from_value(serde_json::json!({
///     "apiVersion": "v1", "kind": "Pod",
///     "metadata": {"name": "reviews-v1-abc", "namespace": "default",
///                  "labels": {"app": "reviews", "version": "v1", "security.istio.io/tlsMode": "istio"}},
///     "status": {"podIP": "10.8.0.11"}}))?;
/// let service = Service::from_kubernetes(&svc, "cluster.local");
/// let workloads = [Workload::from_pod(&pod)];
/// let cla = cluster_load_assignment(
///     "outbound|9080|v1|reviews.default.svc.cluster.local", &service, &service.ports[0],
///     &[("version".to_string(), "v1".to_string())].into(), &workloads, &EndpointOptions::default());
/// let json = mesh_core::dump::message_to_json(&cla)?;
/// let ep = &json["endpoints"][0]["lb_endpoints"][0];
/// assert_eq!(ep["endpoint"]["address"]["socket_address"]["address"], "10.8.0.11");
/// assert_eq!(ep["metadata"]["filter_metadata"]["envoy.transport_socket_match"]["tlsMode"], "istio");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn cluster_load_assignment(
    cluster_name: &str,
    service: &Service,
    port: &Port,
    subset: &BTreeMap<String, String>,
    workloads: &[Workload],
    options: &EndpointOptions,
) -> ClusterLoadAssignment {
    selected_cluster_load_assignment(
        cluster_name,
        service,
        port,
        subset,
        service_workloads(service, workloads),
        options,
    )
}

/// [`cluster_load_assignment`] over workloads already selected for the service.
pub fn selected_cluster_load_assignment(
    cluster_name: &str,
    service: &Service,
    port: &Port,
    subset: &BTreeMap<String, String>,
    selected: Vec<&Workload>,
    options: &EndpointOptions,
) -> ClusterLoadAssignment {
    let mut eps = selected_port_endpoints(service, port, subset, selected);
    sort_by_locality(&mut eps);
    let endpoints = eps
        .chunk_by(|a, b| locality_of(a) == locality_of(b))
        .map(|eps| {
            let (region, zone, sub_zone) = locality_parts(locality_of(&eps[0]));
            LocalityLbEndpoints {
                locality: Some(Locality {
                    region: region.to_string(),
                    zone: zone.to_string(),
                    sub_zone: sub_zone.to_string(),
                }),
                load_balancing_weight: Some(UInt32Value {
                    value: total_weight(eps.iter()),
                }),
                lb_endpoints: eps
                    .iter()
                    .map(|ep| LbEndpoint {
                        health_status: HealthStatus::Healthy as i32,
                        metadata: ep.workload.map(|w| endpoint_metadata(w, options)),
                        load_balancing_weight: Some(UInt32Value { value: weight(ep) }),
                        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                            address: Some(endpoint_address(ep.address, ep.port)),
                            ..Default::default()
                        })),
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    ClusterLoadAssignment {
        cluster_name: cluster_name.to_string(),
        endpoints,
        ..Default::default()
    }
}

/// [`selected_cluster_load_assignment`] as protobuf bytes, written directly rather than built
/// as a `ClusterLoadAssignment` and encoded: what an xDS server sends, without the dozen
/// allocations (and frees) per endpoint the typed message costs. Decodes to the same message;
/// fields in tag order as prost writes them, metadata entries in name order. For several
/// clusters of one service, [`encoded_service_assignments`] encodes each endpoint once.
pub fn encoded_cluster_load_assignment(
    cluster_name: &str,
    service: &Service,
    port: &Port,
    subset: &BTreeMap<String, String>,
    selected: Vec<&Workload>,
    options: &EndpointOptions,
) -> Vec<u8> {
    let cluster = AssignmentOf {
        cluster_name,
        port,
        subset: Some(subset),
    };
    encoded_service_assignments(service, &[cluster], selected, options)
        .pop()
        .unwrap_or_default()
}

/// One cluster of a service for [`encoded_service_assignments`].
#[derive(Debug, Clone, Copy)]
pub struct AssignmentOf<'a> {
    /// The cluster's name.
    pub cluster_name: &'a str,
    /// The service port.
    pub port: &'a Port,
    /// The subset's labels (empty: every endpoint); `None` for a subset no DestinationRule
    /// defines, whose assignment istiod sends empty.
    pub subset: Option<&'a BTreeMap<String, String>>,
}

/// The encoded assignments of `clusters`, clusters of `service` over workloads already
/// selected for it, in order: each endpoint is selected, sorted and encoded once per port,
/// then copied into the assignment of every subset that holds it.
pub fn encoded_service_assignments(
    service: &Service,
    clusters: &[AssignmentOf<'_>],
    selected: Vec<&Workload>,
    options: &EndpointOptions,
) -> Vec<Vec<u8>> {
    static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();
    // Per port: the endpoints in (locality, address, port) order, each encoded once.
    let mut ports: Vec<PortEndpoints<'_>> = Vec::new();
    let mut out = Vec::with_capacity(clusters.len());
    for cluster in clusters {
        let mut bytes = Vec::with_capacity(cluster.cluster_name.len() + 2);
        wire::put_str(&mut bytes, 1, cluster.cluster_name);
        let Some(subset) = cluster.subset else {
            out.push(bytes);
            continue;
        };
        let at = match ports.iter().position(|p| p.0 == cluster.port.number) {
            Some(at) => at,
            None => {
                let mut eps =
                    selected_port_endpoints(service, cluster.port, &NO_LABELS, selected.clone());
                sort_by_locality(&mut eps);
                let mut arena = Vec::with_capacity(eps.len() * 160);
                let mut ends = Vec::with_capacity(eps.len());
                for ep in &eps {
                    put_lb_endpoint(&mut arena, ep, options);
                    ends.push(arena.len());
                }
                ports.push((cluster.port.number, eps, arena, ends));
                ports.len() - 1
            }
        };
        let (_, eps, arena, ends) = &ports[at];
        // The endpoints of the subset, as ranges of the arena, grouped by locality.
        let held: Vec<usize> = (0..eps.len())
            .filter(|i| eps[*i].workload.is_none_or(|w| w.matches(subset)))
            .collect();
        let range = |i: usize| (if i == 0 { 0 } else { ends[i - 1] })..ends[i];
        // The endpoints and, per group, the locality and weight.
        bytes.reserve(held.iter().map(|i| range(*i).len() + 4).sum::<usize>() + 64);
        for group in held.chunk_by(|a, b| locality_of(&eps[*a]) == locality_of(&eps[*b])) {
            let (region, zone, sub_zone) = locality_parts(locality_of(&eps[group[0]]));
            let locality_len =
                wire::str_len(1, region) + wire::str_len(2, zone) + wire::str_len(3, sub_zone);
            let total = u64::from(total_weight(group.iter().map(|i| &eps[*i])));
            let group_len = wire::len_field(1, locality_len)
                + group
                    .iter()
                    .map(|i| wire::len_field(2, range(*i).len()))
                    .sum::<usize>()
                + wire::len_field(3, wire::uint_len(1, total));
            bytes.reserve(wire::len_field(2, group_len));
            // LocalityLbEndpoints: locality (1), lb_endpoints (2), load_balancing_weight (3).
            wire::put_len(&mut bytes, 2, group_len);
            wire::put_len(&mut bytes, 1, locality_len);
            wire::put_str(&mut bytes, 1, region);
            wire::put_str(&mut bytes, 2, zone);
            wire::put_str(&mut bytes, 3, sub_zone);
            for i in group {
                wire::put_field(&mut bytes, 2, &arena[range(*i)]);
            }
            wire::put_len(&mut bytes, 3, wire::uint_len(1, total));
            wire::put_uint(&mut bytes, 1, total);
        }
        out.push(bytes);
    }
    out
}

/// A port's number, its endpoints, and their `LbEndpoint` encodings one after the other (an
/// arena, and where each ends).
type PortEndpoints<'a> = (u32, Vec<ServiceEndpoint<'a>>, Vec<u8>, Vec<usize>);

fn locality_of<'a>(ep: &ServiceEndpoint<'a>) -> &'a str {
    ep.workload.map_or("", |w| w.locality.as_str())
}

/// Endpoints in locality order, each locality's by address and port (stable): the order of
/// an assignment's groups and of the endpoints in each.
fn sort_by_locality(eps: &mut [ServiceEndpoint<'_>]) {
    eps.sort_by(|a, b| {
        (locality_of(a), &a.address, a.port).cmp(&(locality_of(b), &b.address, b.port))
    });
}

/// `region/zone/sub_zone`, missing parts empty.
fn locality_parts(locality: &str) -> (&str, &str, &str) {
    let mut parts = locality.splitn(3, '/');
    (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    )
}

/// A locality's weight: the sum of its endpoints', at most `u32::MAX` (the field's range).
fn total_weight<'a, 'w: 'a>(eps: impl Iterator<Item = &'a ServiceEndpoint<'w>>) -> u32 {
    eps.map(weight).fold(0, u32::saturating_add)
}

/// An endpoint's weight: its WorkloadEntry's, 1 when unset.
fn weight(ep: &ServiceEndpoint<'_>) -> u32 {
    ep.workload.map_or(1, |w| w.weight.max(1))
}

/// The encoded `Address` of an endpoint: which field (socket address 1, pipe 2) and the
/// length of its message.
fn address_field(ep: &ServiceEndpoint<'_>) -> (u32, usize) {
    match ep.address.strip_prefix("unix://") {
        // Pipe: path (1); mode 0 is left out.
        Some(path) => (2, wire::str_len(1, path)),
        // SocketAddress: address (2), port_value (3, a oneof member: written even when 0).
        None => (
            1,
            wire::str_len(2, ep.address) + wire::uint_len_always(3, ep.port.into()),
        ),
    }
}

/// An `LbEndpoint`'s fields: endpoint (1), health_status (2), metadata (3),
/// load_balancing_weight (4).
fn put_lb_endpoint(out: &mut Vec<u8>, ep: &ServiceEndpoint<'_>, options: &EndpointOptions) {
    let (field, address) = address_field(ep);
    let address_message = wire::len_field(field, address);
    wire::put_len(out, 1, wire::len_field(1, address_message));
    wire::put_len(out, 1, address_message);
    wire::put_len(out, field, address);
    match ep.address.strip_prefix("unix://") {
        Some(path) => wire::put_str(out, 1, path),
        None => {
            wire::put_str(out, 2, ep.address);
            wire::put_uint_always(out, 3, ep.port.into());
        }
    }
    wire::put_uint(out, 2, HealthStatus::Healthy as u64);
    if let Some(w) = ep.workload {
        put_metadata(out, 3, w, options);
    }
    let weight = weight(ep).into();
    wire::put_len(out, 4, wire::uint_len(1, weight));
    wire::put_uint(out, 1, weight);
}

/// The parts of `istio.workload`: `name;namespace;canonical service;canonical
/// revision;cluster`.
fn workload_parts<'a>(w: &'a Workload, options: &'a EndpointOptions) -> [&'a str; 9] {
    // The labels that name the canonical service and revision, by precedence, found in one
    // walk over the labels (a match on a key compares its length first).
    let (mut name, mut revision): ([Option<&str>; 3], [Option<&str>; 3]) = Default::default();
    for (k, v) in &w.labels {
        match k.as_str() {
            "service.istio.io/canonical-name" => name[0] = Some(v),
            "app.kubernetes.io/name" => name[1] = Some(v),
            "app" => name[2] = Some(v),
            "service.istio.io/canonical-revision" => revision[0] = Some(v),
            "app.kubernetes.io/version" => revision[1] = Some(v),
            "version" => revision[2] = Some(v),
            _ => {}
        }
    }
    let canonical_name = name.into_iter().flatten().next().unwrap_or(&w.name);
    let revision = revision.into_iter().flatten().next().unwrap_or("latest");
    [
        &w.name,
        ";",
        &w.namespace,
        ";",
        canonical_name,
        ";",
        revision,
        ";",
        &options.cluster_id,
    ]
}

const TLS_MATCH_KEY: &str = "envoy.transport_socket_match";

/// The length of a `filter_metadata` entry `key` holding a Struct with the one string field
/// `field` of `value_len` bytes.
fn struct_entry_len(key: &str, field: &str, value_len: usize) -> usize {
    let value = wire::len_field(3, value_len);
    let entry = wire::str_len(1, field) + wire::len_field(2, value);
    let strukt = wire::len_field(1, entry);
    wire::str_len(1, key) + wire::len_field(2, strukt)
}

/// A `filter_metadata` entry (Metadata field 1, a map entry: key 1, Struct 2) whose Struct
/// holds the one field `field` (map entry: key 1, Value 2), a string (Value field 3) made of
/// `parts`.
fn put_struct_entry(out: &mut Vec<u8>, key: &str, field: &str, parts: &[&str]) {
    let value_len: usize = parts.iter().map(|p| p.len()).sum();
    let value = wire::len_field(3, value_len);
    let entry = wire::str_len(1, field) + wire::len_field(2, value);
    let strukt = wire::len_field(1, entry);
    wire::put_len(out, 1, struct_entry_len(key, field, value_len));
    wire::put_str(out, 1, key);
    wire::put_len(out, 2, strukt);
    wire::put_len(out, 1, entry);
    wire::put_str(out, 1, field);
    wire::put_len(out, 2, value);
    wire::put_len(out, 3, value_len);
    for p in parts {
        out.extend_from_slice(p.as_bytes());
    }
}

/// The endpoint's `Metadata` as field `field`: `envoy.transport_socket_match` (for mutual
/// TLS workloads) and `istio.workload`.
fn put_metadata(out: &mut Vec<u8>, field: u32, w: &Workload, options: &EndpointOptions) {
    let parts = workload_parts(w, options);
    let workload: usize = parts.iter().map(|p| p.len()).sum();
    let tls = w.tls_mode == TlsMode::Istio;
    let tls_len = if tls {
        wire::len_field(1, struct_entry_len(TLS_MATCH_KEY, "tlsMode", "istio".len()))
    } else {
        0
    };
    wire::put_len(
        out,
        field,
        tls_len + wire::len_field(1, struct_entry_len("istio", "workload", workload)),
    );
    if tls {
        put_struct_entry(out, TLS_MATCH_KEY, "tlsMode", &["istio"]);
    }
    put_struct_entry(out, "istio", "workload", &parts);
}

/// An endpoint's address: a socket, or a pipe for `unix://path`.
pub fn endpoint_address(address: &str, port: u32) -> Address {
    match address.strip_prefix("unix://") {
        Some(path) => Address {
            address: Some(address::Address::Pipe(Pipe {
                path: path.to_string(),
                mode: 0,
            })),
        },
        None => socket(address, port),
    }
}

fn string_value(s: &str) -> Value {
    Value {
        kind: Some(value::Kind::StringValue(s.to_string())),
    }
}

fn endpoint_metadata(w: &Workload, options: &EndpointOptions) -> Metadata {
    let mut filter_metadata = proto_map();
    if w.tls_mode == TlsMode::Istio {
        let mut fields = proto_map();
        fields.insert("tlsMode".to_string(), string_value("istio"));
        filter_metadata.insert(TLS_MATCH_KEY.to_string(), Struct { fields });
    }
    let mut fields = proto_map();
    fields.insert(
        "workload".to_string(),
        string_value(&workload_parts(w, options).concat()),
    );
    filter_metadata.insert("istio".to_string(), Struct { fields });
    Metadata {
        filter_metadata,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Resource;
    use crate::api::networking::ServiceEntrySpec;
    use serde_json::json;

    fn kube(v: serde_json::Value) -> Service {
        Service::from_kubernetes(
            &serde_json::from_value(v).expect("Service"),
            "cluster.local",
        )
    }

    fn pod(name: &str, ns: &str, ip: &str, labels: serde_json::Value) -> Workload {
        Workload::from_pod(
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {"containers": [{"name": "app", "ports": [{"name": "web", "containerPort": 8080}]}]},
                "status": {"podIP": ip}
            }))
            .expect("Pod"),
        )
    }

    /// The assignment both ways: typed, and written directly (which must decode to it).
    fn both(
        name: &str,
        service: &Service,
        subset: &BTreeMap<String, String>,
        workloads: &[Workload],
    ) -> ClusterLoadAssignment {
        let options = EndpointOptions::default();
        let port = &service.ports[0];
        let typed = cluster_load_assignment(name, service, port, subset, workloads, &options);
        let selected = service_workloads(service, workloads);
        let bytes =
            encoded_cluster_load_assignment(name, service, port, subset, selected, &options);
        use prost::Message;
        let decoded = ClusterLoadAssignment::decode(&bytes[..]).expect("decodes");
        assert_eq!(decoded, typed);
        // Field for field as prost writes them, but for the order of map entries.
        assert_eq!(bytes.len(), typed.encoded_len());
        typed
    }

    /// `istio.workload` names the canonical service and revision by istiod's label
    /// precedence, the workload's name and `latest` without them.
    #[test]
    fn workload_metadata_follows_the_label_precedence() {
        let options = EndpointOptions::default();
        for (labels, expected) in [
            (json!({}), "w;ns;w;latest;Kubernetes"),
            (json!({"app": "a", "version": "v1"}), "w;ns;a;v1;Kubernetes"),
            (
                json!({"app": "a", "app.kubernetes.io/name": "k", "version": "v1",
                       "app.kubernetes.io/version": "kv"}),
                "w;ns;k;kv;Kubernetes",
            ),
            (
                json!({"app": "a", "app.kubernetes.io/name": "k",
                       "service.istio.io/canonical-name": "c", "version": "v1",
                       "service.istio.io/canonical-revision": "cr", "zzz": "z"}),
                "w;ns;c;cr;Kubernetes",
            ),
            (
                json!({"version": "v2", "other": "x"}),
                "w;ns;w;v2;Kubernetes",
            ),
        ] {
            let w = pod("w", "ns", "10.0.0.1", labels.clone());
            assert_eq!(workload_parts(&w, &options).concat(), expected, "{labels}");
        }
    }

    fn addresses(cla: &ClusterLoadAssignment) -> Vec<String> {
        let json = crate::dump::message_to_json(cla).expect("dumps");
        json["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| l["lb_endpoints"].as_array().cloned().unwrap_or_default())
            .map(|e| {
                let a = &e["endpoint"]["address"]["socket_address"];
                format!(
                    "{}:{}",
                    a["address"].as_str().unwrap_or(""),
                    a["port_value"]
                )
            })
            .collect()
    }

    #[test]
    fn kubernetes_selection_subsets_and_target_ports() {
        let svc = kube(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "a"},
            "spec": {"clusterIP": "10.0.0.1", "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}
        }));
        let workloads = vec![
            pod(
                "web-1",
                "a",
                "10.1.0.2",
                json!({"app": "web", "version": "v1"}),
            ),
            pod(
                "web-2",
                "a",
                "10.1.0.1",
                json!({"app": "web", "version": "v2"}),
            ),
            pod(
                "web-3",
                "b",
                "10.1.0.3",
                json!({"app": "web", "version": "v1"}),
            ),
            pod("db-1", "a", "10.1.0.4", json!({"app": "db"})),
        ];
        let all = both("c", &svc, &BTreeMap::new(), &workloads);
        assert_eq!(
            addresses(&all),
            ["10.1.0.1:8080", "10.1.0.2:8080"],
            "sorted, same namespace, selected"
        );
        let v1 = BTreeMap::from([("version".to_string(), "v1".to_string())]);
        let sub = both("c", &svc, &v1, &workloads);
        assert_eq!(addresses(&sub), ["10.1.0.2:8080"]);

        let no_selector = kube(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "a"},
            "spec": {"clusterIP": "10.0.0.2", "ports": [{"name": "http", "port": 80}]}
        }));
        assert!(service_workloads(&no_selector, &workloads).is_empty());
    }

    #[test]
    fn localities_weights_and_metadata() {
        let se: Resource<ServiceEntrySpec> = serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": "vms", "namespace": "ns"},
            "spec": {"hosts": ["vm.example"], "resolution": "STATIC", "location": "MESH_INTERNAL",
                     "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 8000}],
                     "endpoints": [
                        {"address": "10.2.0.1", "locality": "us/east/1", "weight": 3, "serviceAccount": "vm",
                         "labels": {"app": "vm", "version": "v2"}},
                        {"address": "10.2.0.2", "locality": "us/east/1", "ports": {"http": 9000}},
                        {"address": "10.2.0.3", "locality": "eu/west"},
                        {"address": "not-an-ip.example"}
                     ]}
        }))
        .expect("ServiceEntry");
        let svc = &Service::from_service_entry(&se)[0];
        let cla = both("c", svc, &BTreeMap::new(), &[]);
        let json = crate::dump::message_to_json(&cla).expect("dumps");
        let localities = json["endpoints"].as_array().expect("localities");
        assert_eq!(localities.len(), 2, "{json:#}");
        assert_eq!(localities[0]["locality"]["region"], "eu");
        assert_eq!(localities[1]["locality"]["sub_zone"], "1");
        assert_eq!(localities[1]["load_balancing_weight"], 4);
        assert_eq!(
            addresses(&cla),
            ["10.2.0.3:8000", "10.2.0.1:8000", "10.2.0.2:9000"],
            "the hostname is dropped: STATIC"
        );
        let first = &localities[1]["lb_endpoints"][0];
        assert_eq!(first["load_balancing_weight"], 3);
        assert_eq!(
            first["metadata"]["filter_metadata"]["envoy.transport_socket_match"]["tlsMode"],
            "istio"
        );
        assert_eq!(
            first["metadata"]["filter_metadata"]["istio"]["workload"],
            "vms-0;ns;vm;v2;Kubernetes"
        );
        let plain = &localities[1]["lb_endpoints"][1];
        assert!(
            plain["metadata"]["filter_metadata"]
                .get("envoy.transport_socket_match")
                .is_none()
        );
        assert_eq!(
            plain["metadata"]["filter_metadata"]["istio"]["workload"],
            "vms-1;ns;vms-1;latest;Kubernetes"
        );
    }

    #[test]
    fn locality_weights_saturate() {
        let se: Resource<ServiceEntrySpec> = serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": "heavy", "namespace": "ns"},
            "spec": {"hosts": ["heavy.example"], "resolution": "STATIC",
                     "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                     "endpoints": [{"address": "10.3.0.1", "weight": 4_294_967_295u32},
                                   {"address": "10.3.0.2", "weight": 5}]}
        }))
        .expect("ServiceEntry");
        let svc = &Service::from_service_entry(&se)[0];
        let cla = both("c", svc, &BTreeMap::new(), &[]);
        assert_eq!(
            cla.endpoints[0].load_balancing_weight,
            Some(UInt32Value { value: u32::MAX })
        );
    }

    #[test]
    fn dns_entries_without_endpoints_resolve_their_host() {
        let se: Resource<ServiceEntrySpec> = serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": "ext", "namespace": "ns"},
            "spec": {"hosts": ["api.example.com"], "resolution": "DNS",
                     "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]}
        }))
        .expect("ServiceEntry");
        let svc = &Service::from_service_entry(&se)[0];
        let cla = both("c", svc, &BTreeMap::new(), &[]);
        assert_eq!(addresses(&cla), ["api.example.com:443"]);
    }

    #[test]
    fn unix_sockets_become_pipes() {
        let se: Resource<ServiceEntrySpec> = serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": "uds", "namespace": "ns"},
            "spec": {"hosts": ["uds.local"], "resolution": "STATIC",
                     "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                     "endpoints": [{"address": "unix:///var/run/app.sock"}]}
        }))
        .expect("ServiceEntry");
        let svc = &Service::from_service_entry(&se)[0];
        let cla = both("c", svc, &BTreeMap::new(), &[]);
        let json = crate::dump::message_to_json(&cla).expect("dumps");
        assert_eq!(
            json["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["pipe"]["path"],
            "/var/run/app.sock"
        );
    }
}
