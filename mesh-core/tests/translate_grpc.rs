//! Proxyless gRPC clients: what istiod's `grpcgen` serves them, from the sidecar translation
//! of the same proxy (see `mesh-xds/tests/grpc_proxyless.rs` for grpcio using it).

use mesh_core::dump::message_to_json;
use mesh_core::model::{MeshOptions, Proxy, Snapshot, Store};
use mesh_core::translate::sidecar::SidecarOptions;
use mesh_core::translate::translate_proxy;

const MESH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  clusterIP: 10.96.0.20
  selector: {app: echo}
  ports:
  - {name: grpc, port: 7070}
  - {name: tcp-raw, port: 9000}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-1, namespace: default, labels: {app: echo, version: v1}}
spec: {containers: [{name: echo, image: echo}]}
status: {podIP: 10.8.0.5}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo.default.svc.cluster.local
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
  subsets:
  - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo]
  http:
  - match: [{headers: {x-canary: {exact: "1"}}}]
    route: [{destination: {host: echo, subset: v1}}]
    corsPolicy: {allowOrigins: [{exact: "https://a.example"}]}
    fault: {abort: {httpStatus: 503, percentage: {value: 1}}}
  - route: [{destination: {host: echo}}]
"#;

fn snapshot() -> Snapshot {
    let objects = mesh_core::load::from_str(MESH, "mesh.yaml")
        .expect("loads")
        .into_iter()
        .map(|l| l.object);
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objects);
    store.snapshot()
}

fn grpc_proxy(namespace: &str) -> Proxy {
    let node = format!("sidecar~10.8.0.9~client.{namespace}~{namespace}.svc.cluster.local");
    Proxy::from_node(
        &node,
        &serde_json::json!({"GENERATOR": "grpc", "NAMESPACE": namespace}),
    )
    .expect("node")
}

#[test]
fn api_listeners_routes_clusters_as_grpcgen_serves_them() {
    let r = translate_proxy(
        &snapshot(),
        &grpc_proxy("default"),
        &SidecarOptions::default(),
    );

    // One listener per name the client may dial, HTTP ports only; each an ApiListener.
    let names: Vec<&str> = r.listeners.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "echo.default.svc.cluster.local:7070",
            "echo.default.svc:7070",
            "echo.default:7070",
            "echo:7070",
        ]
    );
    for l in &r.listeners {
        let j = message_to_json(l).expect("json");
        let hcm = &j["api_listener"]["api_listener"];
        assert_eq!(
            hcm["rds"]["route_config_name"], "outbound|7070||echo.default.svc.cluster.local",
            "{j}"
        );
        assert!(hcm["rds"]["config_source"]["ads"].is_object(), "{j}");
        let filters: Vec<&str> = hcm["http_filters"]
            .as_array()
            .expect("filters")
            .iter()
            .filter_map(|f| f["name"].as_str())
            .collect();
        assert_eq!(
            filters,
            ["envoy.filters.http.fault", "envoy.filters.http.router"]
        );
        assert_eq!(j["address"]["socket_address"]["address"], "10.96.0.20");
        assert!(j.get("filter_chains").is_none(), "no filter chains: {j}");
    }

    // The route configuration: the service's virtual host only, VirtualService rules kept,
    // domains with the port, CORS (which gRPC lacks) dropped, fault kept.
    assert_eq!(r.routes.len(), 1);
    let rc = message_to_json(&r.routes[0]).expect("json");
    assert_eq!(rc["name"], "outbound|7070||echo.default.svc.cluster.local");
    let vhosts = rc["virtual_hosts"].as_array().expect("vhosts");
    assert_eq!(vhosts.len(), 1, "{rc}");
    let domains: Vec<&str> = vhosts[0]["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    for d in [
        "echo.default.svc.cluster.local",
        "echo.default.svc.cluster.local:7070",
        "echo:7070",
        "10.96.0.20:7070",
    ] {
        assert!(domains.contains(&d), "{d} in {domains:?}");
    }
    let routes = vhosts[0]["routes"].as_array().expect("routes");
    assert_eq!(routes.len(), 2, "{rc}");
    assert_eq!(
        routes[0]["route"]["cluster"],
        "outbound|7070|v1|echo.default.svc.cluster.local"
    );
    let per_filter = routes[0]["typed_per_filter_config"]
        .as_object()
        .expect("per-filter config");
    assert!(per_filter.contains_key("envoy.filters.http.fault"), "{rc}");
    assert!(!per_filter.contains_key("envoy.filters.http.cors"), "{rc}");
    assert_eq!(
        routes[1]["route"]["cluster"],
        "outbound|7070||echo.default.svc.cluster.local"
    );

    // Clusters: plain EDS over ADS (no TLS), the ring hash kept; every port and subset.
    let clusters: Vec<&str> = r.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        clusters,
        [
            "outbound|7070|v1|echo.default.svc.cluster.local",
            "outbound|7070||echo.default.svc.cluster.local",
            "outbound|9000|v1|echo.default.svc.cluster.local",
            "outbound|9000||echo.default.svc.cluster.local",
        ]
    );
    for c in &r.clusters {
        let j = message_to_json(c).expect("json");
        assert_eq!(j["type"], "EDS", "{j}");
        assert_eq!(j["eds_cluster_config"]["service_name"], c.name);
        assert!(j.get("transport_socket").is_none(), "no TLS: {j}");
        assert_eq!(j["lb_policy"], "RING_HASH", "{j}");
    }

    // Assignments: the pod, with a locality (gRPC refuses endpoints without one).
    let cla = r
        .endpoints
        .iter()
        .find(|e| e.cluster_name == "outbound|7070||echo.default.svc.cluster.local")
        .expect("assignment");
    let j = message_to_json(cla).expect("json");
    assert!(j["endpoints"][0]["locality"].is_object(), "{j}");
    assert_eq!(
        j["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["address"],
        "10.8.0.5"
    );
}

#[test]
fn short_names_follow_the_clients_namespace() {
    let r = translate_proxy(
        &snapshot(),
        &grpc_proxy("other"),
        &SidecarOptions::default(),
    );
    let names: Vec<&str> = r.listeners.iter().map(|l| l.name.as_str()).collect();
    // From another namespace the bare name is not the service's.
    assert!(names.contains(&"echo.default:7070"), "{names:?}");
    assert!(!names.contains(&"echo:7070"), "{names:?}");
}

#[test]
fn only_grpc_nodes_get_api_listeners() {
    let envoy = Proxy::from_node(
        "sidecar~10.8.0.9~client.default~default.svc.cluster.local",
        &serde_json::json!({"NAMESPACE": "default"}),
    )
    .expect("node");
    assert!(!envoy.is_proxyless_grpc());
    let r = translate_proxy(&snapshot(), &envoy, &SidecarOptions::default());
    assert!(r.listeners.iter().all(|l| l.api_listener.is_none()));
    assert!(r.listeners.iter().any(|l| l.name == "virtualOutbound"));
}
