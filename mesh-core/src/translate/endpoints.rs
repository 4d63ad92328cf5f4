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
    pub address: String,
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
            address: service.hostname.clone(),
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
            let is_ip = address.parse::<std::net::IpAddr>().is_ok();
            if !is_ip && !address.starts_with("unix://") && !dns {
                continue;
            }
            out.push(ServiceEndpoint {
                address: address.clone(),
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
    let mut by_locality: BTreeMap<String, Vec<(String, u32, LbEndpoint)>> = BTreeMap::new();
    for ep in selected_port_endpoints(service, port, subset, selected) {
        let locality = ep.workload.map(|w| w.locality.clone()).unwrap_or_default();
        let weight = ep.workload.map_or(1, |w| w.weight.max(1));
        let lb = LbEndpoint {
            health_status: HealthStatus::Healthy as i32,
            metadata: ep.workload.map(|w| endpoint_metadata(w, options)),
            load_balancing_weight: Some(UInt32Value { value: weight }),
            host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                address: Some(endpoint_address(&ep.address, ep.port)),
                ..Default::default()
            })),
        };
        by_locality
            .entry(locality)
            .or_default()
            .push((ep.address, ep.port, lb));
    }
    let endpoints = by_locality
        .into_iter()
        .map(|(locality, mut eps)| {
            eps.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
            let total: u32 = eps
                .iter()
                .map(|(_, _, e)| e.load_balancing_weight.as_ref().map_or(1, |w| w.value))
                .sum();
            let mut parts = locality.splitn(3, '/').map(String::from);
            LocalityLbEndpoints {
                locality: Some(Locality {
                    region: parts.next().unwrap_or_default(),
                    zone: parts.next().unwrap_or_default(),
                    sub_zone: parts.next().unwrap_or_default(),
                }),
                lb_endpoints: eps.into_iter().map(|(_, _, e)| e).collect(),
                load_balancing_weight: Some(UInt32Value { value: total }),
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
        filter_metadata.insert(
            "envoy.transport_socket_match".to_string(),
            Struct { fields },
        );
    }
    let canonical_name = first_label(
        w,
        &[
            "service.istio.io/canonical-name",
            "app.kubernetes.io/name",
            "app",
        ],
    )
    .unwrap_or(&w.name);
    let revision = first_label(
        w,
        &[
            "service.istio.io/canonical-revision",
            "app.kubernetes.io/version",
            "version",
        ],
    )
    .unwrap_or("latest");
    let workload = format!(
        "{};{};{canonical_name};{revision};{}",
        w.name, w.namespace, options.cluster_id
    );
    let mut fields = proto_map();
    fields.insert("workload".to_string(), string_value(&workload));
    filter_metadata.insert("istio".to_string(), Struct { fields });
    Metadata {
        filter_metadata,
        ..Default::default()
    }
}

fn first_label<'a>(w: &'a Workload, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| w.labels.get(*k).map(String::as_str))
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
        let all = cluster_load_assignment(
            "c",
            &svc,
            &svc.ports[0],
            &BTreeMap::new(),
            &workloads,
            &EndpointOptions::default(),
        );
        assert_eq!(
            addresses(&all),
            ["10.1.0.1:8080", "10.1.0.2:8080"],
            "sorted, same namespace, selected"
        );
        let v1 = BTreeMap::from([("version".to_string(), "v1".to_string())]);
        let sub = cluster_load_assignment(
            "c",
            &svc,
            &svc.ports[0],
            &v1,
            &workloads,
            &EndpointOptions::default(),
        );
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
        let cla = cluster_load_assignment(
            "c",
            svc,
            &svc.ports[0],
            &BTreeMap::new(),
            &[],
            &EndpointOptions::default(),
        );
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
    fn dns_entries_without_endpoints_resolve_their_host() {
        let se: Resource<ServiceEntrySpec> = serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": "ext", "namespace": "ns"},
            "spec": {"hosts": ["api.example.com"], "resolution": "DNS",
                     "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]}
        }))
        .expect("ServiceEntry");
        let svc = &Service::from_service_entry(&se)[0];
        let cla = cluster_load_assignment(
            "c",
            svc,
            &svc.ports[0],
            &BTreeMap::new(),
            &[],
            &EndpointOptions::default(),
        );
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
        let cla = cluster_load_assignment(
            "c",
            svc,
            &svc.ports[0],
            &BTreeMap::new(),
            &[],
            &EndpointOptions::default(),
        );
        let json = crate::dump::message_to_json(&cla).expect("dumps");
        assert_eq!(
            json["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["pipe"]["path"],
            "/var/run/app.sock"
        );
    }
}
