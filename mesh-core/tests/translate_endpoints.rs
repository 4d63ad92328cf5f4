//! Endpoints through real Envoy: the load assignment we build for a subset reaches only the
//! subset's workloads, at the ports they declare.

mod support;

use std::collections::BTreeMap;

use mesh_core::api::Resource;
use mesh_core::api::networking::ServiceEntrySpec;
use mesh_core::model::Service;
use mesh_core::translate::endpoints::{EndpointOptions, cluster_load_assignment};
use mesh_core::translate::inbound::inbound_route_configuration;
use support::envoy;

#[test]
fn a_subset_reaches_only_its_workloads() {
    let live = envoy::ok_upstream();
    // Nothing listens here: a request sent to v2 would fail.
    let dead = envoy::free_port();
    let se: Resource<ServiceEntrySpec> = serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
        "metadata": {"name": "app", "namespace": "ns"},
        "spec": {"hosts": ["app.internal"], "resolution": "STATIC", "location": "MESH_INTERNAL",
                 "ports": [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 1}],
                 "endpoints": [
                    {"address": "127.0.0.1", "ports": {"http": live}, "labels": {"version": "v1"},
                     "locality": "r/z"},
                    {"address": "127.0.0.1", "ports": {"http": dead}, "labels": {"version": "v2"}}
                 ]}
    }))
    .expect("a ServiceEntry");
    let svc = &Service::from_service_entry(&se)[0];
    let name = "outbound|80|v1|app.internal";
    let v1 = BTreeMap::from([("version".to_string(), "v1".to_string())]);
    let cla = cluster_load_assignment(
        name,
        svc,
        &svc.ports[0],
        &v1,
        &[],
        &EndpointOptions::default(),
    );
    assert_eq!(cla.endpoints.len(), 1);
    assert_eq!(cla.endpoints[0].lb_endpoints.len(), 1);

    let mut cluster = envoy::static_cluster(name, None);
    cluster.load_assignment = Some(cla);
    let port = envoy::free_port();
    let listener =
        envoy::inline_routes_listener(u32::from(port), inbound_route_configuration(80, name));
    let running = envoy::start(
        &envoy::bootstrap(vec![listener], vec![cluster], false),
        port,
    );
    let statuses: Vec<u16> = (0..6)
        .map(|_| envoy::request(port, "GET", "/", &[]))
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{statuses:?}\n{}",
        std::fs::read_to_string(&running.log).unwrap_or_default()
    );
}

#[test]
fn envoy_accepts_every_endpoint_shape() {
    let se: Resource<ServiceEntrySpec> = serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
        "metadata": {"name": "mixed", "namespace": "ns"},
        "spec": {"hosts": ["mixed.internal"], "resolution": "STATIC", "location": "MESH_INTERNAL",
                 "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                 "endpoints": [
                    {"address": "10.0.0.1", "locality": "us/east/a", "weight": 5, "serviceAccount": "sa",
                     "labels": {"app": "mixed", "version": "v1"}},
                    {"address": "fd00::1", "locality": "us/east/b"},
                    {"address": "unix:///tmp/mixed.sock"}
                 ]}
    }))
    .expect("a ServiceEntry");
    let svc = &Service::from_service_entry(&se)[0];
    let name = "outbound|80||mixed.internal";
    let mut cluster = envoy::static_cluster(name, None);
    cluster.load_assignment = Some(cluster_load_assignment(
        name,
        svc,
        &svc.ports[0],
        &BTreeMap::new(),
        &[],
        &EndpointOptions::default(),
    ));
    assert_eq!(
        cluster.load_assignment.as_ref().map(|c| c.endpoints.len()),
        Some(3)
    );
    envoy::assert_accepts(
        &envoy::bootstrap(Vec::new(), vec![cluster], false),
        "endpoints",
    );
}
