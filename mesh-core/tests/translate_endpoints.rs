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

/// Locality load balancing on a whole sidecar: with outlier detection, endpoint groups get
/// failover priorities from the client's locality (the mesh default); a DestinationRule's
/// `distribute` weighs them instead and turns on Envoy's locality-weighted balancing.
#[test]
fn locality_failover_and_distribute_from_the_clients_locality() {
    use mesh_core::model::{MeshOptions, Proxy, ProxyType, Store};
    use mesh_core::translate::sidecar::{SidecarOptions, translate_sidecar};
    let yaml = |dr_lb: &str| {
        format!(
            r#"
apiVersion: v1
kind: Service
metadata: {{name: api, namespace: shop}}
spec: {{ports: [{{name: http, port: 8080}}], selector: {{app: api}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: api-a, namespace: shop, labels: {{app: api, istio-locality: us.a.1}}}}
status: {{podIP: 10.1.0.1}}
---
apiVersion: v1
kind: Pod
metadata: {{name: api-b, namespace: shop, labels: {{app: api, version: v2, istio-locality: us.b.1}}}}
status: {{podIP: 10.1.0.2}}
---
apiVersion: v1
kind: Pod
metadata: {{name: api-eu, namespace: shop, labels: {{app: api, istio-locality: eu.a.1}}}}
status: {{podIP: 10.1.0.3}}
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: shop, labels: {{app: client, istio-locality: us.a.1}}}}
status: {{podIP: 10.1.0.9}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: api, namespace: shop}}
spec:
  host: api.shop.svc.cluster.local
  trafficPolicy:
    outlierDetection: {{consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s}}
{dr_lb}
"#
        )
    };
    let translate = |text: &str| {
        let mut store = Store::new(MeshOptions::default());
        store.apply_all(
            mesh_core::load::from_str(text, "mesh.yaml")
                .expect("loads")
                .into_iter()
                .map(|l| l.object),
        );
        let snap = store.snapshot();
        let w = snap
            .workloads()
            .iter()
            .find(|w| w.name == "client")
            .expect("client")
            .clone();
        let proxy = Proxy::for_workload(&w, ProxyType::Sidecar, "cluster.local");
        assert_eq!(proxy.locality, "us/a/1");
        let out = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
        let cla = out
            .endpoints
            .iter()
            .find(|e| e.cluster_name == "outbound|8080||api.shop.svc.cluster.local")
            .expect("assignment")
            .clone();
        let cluster = out
            .clusters
            .iter()
            .find(|c| c.name == "outbound|8080||api.shop.svc.cluster.local")
            .expect("cluster")
            .clone();
        let by_region: Vec<(String, u32, Option<u32>, usize)> = cla
            .endpoints
            .iter()
            .map(|g| {
                let l = g.locality.clone().unwrap_or_default();
                (
                    format!("{}/{}", l.region, l.zone),
                    g.priority,
                    g.load_balancing_weight.as_ref().map(|w| w.value),
                    g.lb_endpoints.len(),
                )
            })
            .collect();
        let weighted = cluster
            .common_lb_config
            .as_ref()
            .is_some_and(|c| c.locality_config_specifier.is_some());
        (by_region, weighted, out)
    };

    // The mesh default: failover by locality (outlier detection is set).
    let (groups, weighted, _) = translate(&yaml(""));
    let priority = |groups: &[(String, u32, Option<u32>, usize)], l: &str| {
        groups.iter().find(|g| g.0 == l).map(|g| g.1)
    };
    assert_eq!(priority(&groups, "us/a"), Some(0), "{groups:?}");
    assert_eq!(priority(&groups, "us/b"), Some(1), "{groups:?}");
    assert_eq!(priority(&groups, "eu/a"), Some(2), "{groups:?}");
    assert!(!weighted);

    // distribute: 70% to the own zone, 30% to eu; us/b is left out.
    let (groups, weighted, out) = translate(&yaml(
        "    loadBalancer:\n      localityLbSetting:\n        distribute:\n        - from: us/a/*\n          to: {\"us/a/*\": 70, \"eu/*\": 30}\n",
    ));
    assert!(weighted, "locality-weighted balancing on");
    let get = |l: &str| groups.iter().find(|g| g.0 == l).cloned().expect("group");
    assert_eq!(get("us/a").2, Some(70), "{groups:?}");
    assert_eq!(get("eu/a").2, Some(30), "{groups:?}");
    assert_eq!(get("us/b").3, 0, "no endpoints for an unlisted locality");
    assert!(
        groups.iter().all(|g| g.1 == 0),
        "no failover with distribute"
    );
    let b = mesh_core::translate::bootstrap::static_bootstrap(
        &out,
        "sidecar~10.1.0.9~client.shop~shop.svc.cluster.local",
        &mesh_core::translate::bootstrap::BootstrapOptions::default(),
    );
    support::envoy::assert_accepts(&b, "locality distribute");

    // failoverPriority: endpoints whose `version` is v2 first, wherever they are; no locality
    // failover on top without `failover` rules.
    let (groups, _, _) = translate(&yaml(
        "    loadBalancer:\n      localityLbSetting:\n        failoverPriority: [version=v2]\n",
    ));
    assert_eq!(priority(&groups, "us/b"), Some(0), "{groups:?}");
    assert_eq!(priority(&groups, "us/a"), Some(1), "{groups:?}");
    assert_eq!(priority(&groups, "eu/a"), Some(1), "{groups:?}");

    // Turned off in the DestinationRule: nothing of it.
    let (groups, _, _) = translate(&yaml(
        "    loadBalancer:\n      localityLbSetting: {enabled: false}\n",
    ));
    assert!(groups.iter().all(|g| g.1 == 0), "{groups:?}");
}
