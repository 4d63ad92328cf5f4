//! Whole-sidecar translation (`translate::sidecar`) on Istio's sample applications: names and
//! shapes as istiod gives them, Sidecar scoping, delegates, TCP routes, determinism, and every
//! workload's configuration accepted by real Envoy 1.40 as a static bootstrap.

mod support;

use mesh_core::api::Object;
use mesh_core::dump;
use mesh_core::load;
use mesh_core::model::{MeshOptions, Proxy, ProxyType, Snapshot, Store};
use mesh_core::translate::bootstrap::{BootstrapOptions, static_bootstrap};
use mesh_core::translate::sidecar::{ProxyResources, SidecarOptions, translate_sidecar};
use prost::Message;

fn objects(rels: &[&str]) -> Vec<Object> {
    let root = support::corpus_root();
    let mut out = Vec::new();
    for rel in rels {
        let text = std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        out.extend(
            load::from_str(&text, rel)
                .expect("loads")
                .into_iter()
                .map(|l| l.object),
        );
    }
    out
}

fn snapshot_of(objects: Vec<Object>) -> Snapshot {
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objects);
    store.snapshot()
}

fn inline(yaml: &str) -> Vec<Object> {
    load::from_str(yaml, "inline.yaml")
        .expect("loads")
        .into_iter()
        .map(|l| l.object)
        .collect()
}

fn proxy_for(snapshot: &Snapshot, pod: &str) -> Proxy {
    let w = snapshot
        .workloads()
        .iter()
        .find(|w| w.name == pod)
        .unwrap_or_else(|| panic!("workload {pod}"));
    Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local")
}

/// The objects of `examples/config/shop`.
fn shop_objects() -> Vec<Object> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/shop");
    let mut objects = Vec::new();
    for e in std::fs::read_dir(&dir).expect("dir").flatten() {
        let text = std::fs::read_to_string(e.path()).expect("file");
        objects.extend(
            load::from_str(&text, &e.path().display().to_string())
                .expect("loads")
                .into_iter()
                .map(|l| l.object),
        );
    }
    objects
}

/// Asserts that the shared clusters and assignments are the plain translation's.
fn assert_shares_plain(
    shared: &mesh_core::translate::sidecar::SharedResources,
    plain: &ProxyResources,
    what: &str,
) {
    use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
    // Typed clusters, or encoded ones (the bytes of the typed).
    if shared.encoded_clusters.is_empty() {
        let clusters: Vec<_> = shared.clusters.iter().map(|c| (**c).clone()).collect();
        assert_eq!(clusters, plain.clusters, "{what}");
    } else {
        assert!(shared.clusters.is_empty(), "{what}");
        assert_encoded(
            shared.encoded_clusters.iter().map(|(n, b)| (&**n, &**b)),
            &plain.clusters,
            |c| &c.name,
            what,
        );
    }
    // Typed assignments, or encoded ones (which must decode to the typed).
    let endpoints: Vec<_> = if shared.encoded_endpoints.is_empty() {
        shared.endpoints.iter().map(|e| (**e).clone()).collect()
    } else {
        assert!(shared.endpoints.is_empty(), "{what}");
        shared
            .encoded_endpoints
            .iter()
            .map(|(_, bytes)| ClusterLoadAssignment::decode(&bytes[..]).expect("decodes"))
            .collect()
    };
    assert_eq!(endpoints, plain.endpoints, "{what}");
}

/// Asserts that the encoded route configurations are the plain translation's, encoded.
fn assert_routes_encode_plain(
    shared: &mesh_core::translate::sidecar::SharedResources,
    plain: &ProxyResources,
    what: &str,
) {
    assert_encoded(
        shared
            .encoded_routes
            .iter()
            .map(|(n, r)| (n.as_str(), &**r)),
        &plain.routes,
        |r| &r.name,
        what,
    );
}

/// Asserts that the `(name, bytes)` pairs are `typed`, each named and encoded, in order.
fn assert_encoded<'a, T: Message>(
    encoded: impl Iterator<Item = (&'a str, &'a [u8])>,
    typed: &[T],
    name: impl Fn(&T) -> &str,
    what: &str,
) {
    let encoded: Vec<(String, Vec<u8>)> = encoded
        .map(|(n, bytes)| (n.to_string(), bytes.to_vec()))
        .collect();
    let expected: Vec<(String, Vec<u8>)> = typed
        .iter()
        .map(|t| (name(t).to_string(), t.encode_to_vec()))
        .collect();
    assert_eq!(encoded, expected, "{what}");
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_string()).collect()
}

const BOOKINFO: &str = "istio/samples/bookinfo/platform/kube/bookinfo.yaml";
const BOOKINFO_DR: &str = "istio/samples/bookinfo/networking/destination-rule-all.yaml";
const BOOKINFO_VS: &str =
    "istio/samples/bookinfo/networking/virtual-service-reviews-jason-v2-v3.yaml";

fn bookinfo() -> Snapshot {
    snapshot_of(objects(&[BOOKINFO, BOOKINFO_DR, BOOKINFO_VS]))
}

#[test]
fn bookinfo_productpage_sidecar() {
    let snap = bookinfo();
    let proxy = proxy_for(&snap, "productpage-v1-0");
    let out = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(
        names(&out.listeners, |l| &l.name),
        ["0.0.0.0_9080", "virtualInbound", "virtualOutbound"]
    );
    assert_eq!(names(&out.routes, |r| &r.name), ["9080"]);
    let clusters = names(&out.clusters, |c| &c.name);
    for expected in [
        "BlackHoleCluster",
        "InboundPassthroughCluster",
        "PassthroughCluster",
        "inbound|9080||",
        "outbound|9080||reviews.default.svc.cluster.local",
        "outbound|9080|v1|reviews.default.svc.cluster.local",
        "outbound|9080|v3|reviews.default.svc.cluster.local",
        "outbound|9080|v2|ratings.default.svc.cluster.local",
        "outbound|9080||details.default.svc.cluster.local",
        "outbound|9080||productpage.default.svc.cluster.local",
    ] {
        assert!(
            clusters.iter().any(|c| c == expected),
            "{expected} in {clusters:?}"
        );
    }
    // Every EDS cluster has an assignment; reviews v2 has the one v2 pod.
    assert_eq!(
        out.endpoints.len(),
        out.clusters
            .iter()
            .filter(|c| c.eds_cluster_config.is_some())
            .count()
    );
    let v2 = out
        .endpoints
        .iter()
        .find(|e| e.cluster_name == "outbound|9080|v2|reviews.default.svc.cluster.local")
        .expect("v2 endpoints");
    assert_eq!(
        v2.endpoints
            .iter()
            .map(|l| l.lb_endpoints.len())
            .sum::<usize>(),
        1
    );

    let rc = dump::message_to_json(&out.routes[0]).expect("dumps");
    let vhosts: Vec<&str> = rc["virtual_hosts"]
        .as_array()
        .expect("vhosts")
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        vhosts,
        [
            "details.default.svc.cluster.local:9080",
            "productpage.default.svc.cluster.local:9080",
            "ratings.default.svc.cluster.local:9080",
            "reviews.default.svc.cluster.local:9080",
            "allow_any"
        ]
    );
    let reviews = &rc["virtual_hosts"][3];
    assert_eq!(reviews["domains"][0], "reviews.default.svc.cluster.local");
    assert_eq!(reviews["domains"][2], "reviews");
    assert_eq!(
        reviews["routes"][0]["match"]["headers"][0]["name"],
        "end-user"
    );
    assert_eq!(
        reviews["routes"][0]["route"]["cluster"],
        "outbound|9080|v2|reviews.default.svc.cluster.local"
    );
    assert_eq!(rc["virtual_hosts"][0]["routes"][0]["name"], "default");
    // Auto mTLS: bookinfo pods have no tlsMode label here, but the cluster offers both.
    let c = out
        .clusters
        .iter()
        .find(|c| c.name == "outbound|9080||reviews.default.svc.cluster.local")
        .expect("cluster");
    assert_eq!(c.transport_socket_matches.len(), 2);
}

fn assert_envoy_accepts(out: &ProxyResources, proxy: &Proxy, what: &str) {
    let b = static_bootstrap(out, &proxy.node_id(), &BootstrapOptions::default());
    support::envoy::assert_accepts(&b, what);
}

#[test]
fn bookinfo_every_sidecar_is_accepted_by_envoy() {
    let snap = bookinfo();
    assert!(snap.workloads().len() >= 6);
    for w in snap.workloads() {
        let proxy = Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local");
        let out = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
        assert!(out.warnings.is_empty(), "{}: {:?}", w.name, out.warnings);
        assert_envoy_accepts(&out, &proxy, &w.name);
    }
}

#[test]
fn translation_is_deterministic() {
    let encode = |out: &ProxyResources| {
        let mut bytes = Vec::new();
        for l in &out.listeners {
            bytes.extend(l.encode_to_vec());
        }
        for r in &out.routes {
            bytes.extend(r.encode_to_vec());
        }
        for c in &out.clusters {
            bytes.extend(c.encode_to_vec());
        }
        for e in &out.endpoints {
            bytes.extend(e.encode_to_vec());
        }
        bytes
    };
    let a = bookinfo();
    let b = bookinfo();
    let pa = proxy_for(&a, "reviews-v2-0");
    let pb = proxy_for(&b, "reviews-v2-0");
    let ra = translate_sidecar(&a, &pa, &SidecarOptions::default());
    let rb = translate_sidecar(&b, &pb, &SidecarOptions::default());
    assert_eq!(encode(&ra), encode(&rb));
    assert_eq!(
        ra.config_dump("1").to_json().expect("dump"),
        rb.config_dump("1").to_json().expect("dump")
    );
}

const MESH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{name: http, port: 8080, targetPort: 80}], selector: {app: web}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: web}
status: {podIP: 10.244.1.10}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {ports: [{name: http-api, port: 8080}], selector: {app: cart}}
---
apiVersion: v1
kind: Pod
metadata: {name: cart-0, namespace: shop, labels: {app: cart, version: v1}}
status: {podIP: 10.244.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: cart-1, namespace: shop, labels: {app: cart, version: v2}}
status: {podIP: 10.244.1.12}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec: {clusterIP: 10.96.5.5, ports: [{name: tcp-pg, port: 5432}], selector: {app: db}}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: data, labels: {app: db}}
status: {podIP: 10.244.2.10}
---
apiVersion: v1
kind: Service
metadata: {name: db-replica, namespace: data}
spec: {clusterIP: 10.96.5.6, ports: [{name: tcp-pg, port: 5432}], selector: {app: db-replica}}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: data}
spec: {clusterIP: 10.96.5.7, ports: [{port: 7000}], selector: {app: legacy}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments, namespace: shop}
spec:
  hosts: [api.payments.example]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart, namespace: shop}
spec:
  host: cart
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart-root, namespace: shop}
spec:
  hosts: [cart]
  http:
  - match: [{uri: {prefix: /api}}]
    delegate: {name: cart-api, namespace: team}
  - route: [{destination: {host: cart, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart-api, namespace: team}
spec:
  http:
  - name: v2
    match: [{uri: {prefix: /api/v2}}]
    route: [{destination: {host: cart.shop.svc.cluster.local, subset: v2}}]
  - name: outside
    match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: cart.shop.svc.cluster.local, subset: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: data}
spec:
  hosts: [db]
  tcp:
  - route:
    - {destination: {host: db}, weight: 80}
    - {destination: {host: db-replica}, weight: 20}
"#;

#[test]
fn delegates_tcp_routes_and_protocols() {
    let snap = snapshot_of(inline(MESH));
    let proxy = proxy_for(&snap, "web-0");
    let out = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(
        names(&out.listeners, |l| &l.name),
        [
            "0.0.0.0_443",
            "0.0.0.0_8080",
            "10.96.5.5_5432",
            "10.96.5.6_5432",
            "10.96.5.7_7000",
            "virtualInbound",
            "virtualOutbound"
        ]
    );
    // The sniffed port (no protocol in its name) gets its own route configuration.
    assert_eq!(
        names(&out.routes, |r| &r.name),
        ["8080", "legacy.data.svc.cluster.local:7000"]
    );
    let rc = dump::message_to_json(&out.routes[0]).expect("dumps");
    let cart = &rc["virtual_hosts"][0];
    assert_eq!(cart["name"], "cart.shop.svc.cluster.local:8080");
    // The delegate's /api/v2 rule narrowed by the root; /admin conflicts and is dropped.
    let routes = cart["routes"].as_array().expect("routes");
    assert_eq!(routes.len(), 2, "{cart:#}");
    assert_eq!(routes[0]["match"]["prefix"], "/api/v2");
    assert_eq!(
        routes[0]["route"]["cluster"],
        "outbound|8080|v2|cart.shop.svc.cluster.local"
    );
    assert_eq!(
        routes[1]["route"]["cluster"],
        "outbound|8080|v1|cart.shop.svc.cluster.local"
    );
    // Weighted TCP route on the db VIP listener.
    let db = out
        .listeners
        .iter()
        .find(|l| l.name == "10.96.5.5_5432")
        .expect("db");
    let json = dump::message_to_json(db).expect("dumps");
    let proxy_cfg = &json["filter_chains"][0]["filters"][0]["typed_config"];
    assert_eq!(
        proxy_cfg["weighted_clusters"]["clusters"][0]["name"],
        "outbound|5432||db.data.svc.cluster.local"
    );
    assert_eq!(proxy_cfg["weighted_clusters"]["clusters"][1]["weight"], 20);
    // The external TLS service is a STRICT_DNS cluster with its hostname as the endpoint and no
    // auto mTLS; the in-mesh one has ISTIO_MUTUAL for the pod's identity.
    let ext = out
        .clusters
        .iter()
        .find(|c| c.name == "outbound|443||api.payments.example")
        .expect("ext");
    let ext = dump::message_to_json(ext).expect("dumps");
    assert_eq!(ext["type"], "STRICT_DNS");
    assert!(ext.get("transport_socket_matches").is_none());
    assert_eq!(
        ext["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
            ["address"],
        "api.payments.example"
    );
    // Inbound: the pod's target port 80 with its own cluster.
    assert!(out.clusters.iter().any(|c| c.name == "inbound|80||"));
    assert_envoy_accepts(&out, &proxy, "the shop mesh");
}

#[test]
fn sidecar_resource_scopes_what_a_proxy_sees() {
    let mut objects = inline(MESH);
    objects.extend(inline(
        r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress: [{hosts: ["./*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"#,
    ));
    let snap = snapshot_of(objects);
    let proxy = proxy_for(&snap, "web-0");
    let out = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
    let listeners = names(&out.listeners, |l| &l.name);
    assert_eq!(
        listeners,
        [
            "0.0.0.0_443",
            "0.0.0.0_8080",
            "virtualInbound",
            "virtualOutbound"
        ]
    );
    assert!(
        !out.clusters.iter().any(|c| c.name.contains("data.svc")),
        "no cluster of another namespace"
    );
    let rc = dump::message_to_json(&out.routes[0]).expect("dumps");
    let last = rc["virtual_hosts"]
        .as_array()
        .and_then(|v| v.last())
        .expect("catch-all");
    assert_eq!(last["name"], "block_all");
    let vo = out
        .listeners
        .iter()
        .find(|l| l.name == "virtualOutbound")
        .expect("vo");
    let vo = dump::message_to_json(vo).expect("dumps");
    assert_eq!(
        vo["filter_chains"][1]["filters"][0]["typed_config"]["cluster"],
        "BlackHoleCluster"
    );
    assert_envoy_accepts(&out, &proxy, "the scoped sidecar");
}

/// `outboundTrafficPolicy.egressProxy` (ALLOW_ANY): traffic to unknown destinations goes to
/// the egress proxy's cluster instead of `PassthroughCluster`, from the virtual outbound
/// listener's catch-all chain and from the `allow_any` virtual host; accepted by Envoy.
#[test]
fn sidecar_egress_proxy_takes_unknown_traffic() {
    let mut objects = inline(MESH);
    objects.extend(inline(
        r#"
apiVersion: v1
kind: Service
metadata: {name: istio-egressgateway, namespace: istio-system}
spec: {ports: [{name: http2, port: 80}], selector: {istio: egressgateway}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress: [{hosts: ["./*", "istio-system/*"]}]
  outboundTrafficPolicy:
    mode: ALLOW_ANY
    egressProxy: {host: istio-egressgateway.istio-system.svc.cluster.local, port: {number: 80}}
"#,
    ));
    let snap = snapshot_of(objects);
    let proxy = proxy_for(&snap, "web-0");
    let out = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
    let egress = "outbound|80||istio-egressgateway.istio-system.svc.cluster.local";
    assert!(
        out.clusters.iter().any(|c| c.name == egress),
        "the egress proxy's cluster is there"
    );
    let vo = out
        .listeners
        .iter()
        .find(|l| l.name == "virtualOutbound")
        .expect("vo");
    let vo = dump::message_to_json(vo).expect("dumps");
    assert_eq!(
        vo["filter_chains"][1]["filters"][0]["typed_config"]["cluster"],
        egress
    );
    for rc in &out.routes {
        let rc = dump::message_to_json(rc).expect("dumps");
        let last = rc["virtual_hosts"]
            .as_array()
            .and_then(|v| v.last())
            .expect("catch-all");
        assert_eq!(last["name"], "allow_any");
        assert_eq!(last["routes"][0]["route"]["cluster"], egress);
    }
    assert_envoy_accepts(&out, &proxy, "the sidecar with an egress proxy");

    // Without the egress proxy: the passthrough cluster, as before.
    let plain = snapshot_of(inline(MESH));
    let out = translate_sidecar(
        &plain,
        &proxy_for(&plain, "web-0"),
        &SidecarOptions::default(),
    );
    let rc = dump::message_to_json(&out.routes[0]).expect("dumps");
    let last = rc["virtual_hosts"]
        .as_array()
        .and_then(|v| v.last())
        .expect("catch-all");
    assert_eq!(last["routes"][0]["route"]["cluster"], "PassthroughCluster");
}

#[test]
fn inbound_policies_reach_the_chains() {
    let signer = support::jwt::Signer::new();
    let mut objects = inline(MESH);
    objects.extend(inline(
        &r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  rules: [{from: [{source: {namespaces: [shop]}}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  jwtRules: [{issuer: "https://issuer.example", jwks: 'JWKS'}]
"#
        .replace("JWKS", &signer.jwks),
    ));
    let snap = snapshot_of(objects);
    let proxy = proxy_for(&snap, "web-0");
    let out = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
    let vi = out
        .listeners
        .iter()
        .find(|l| l.name == "virtualInbound")
        .expect("vi");
    let json = dump::message_to_json(vi).expect("dumps");
    let chains = json["filter_chains"].as_array().expect("chains");
    let port80: Vec<&serde_json::Value> = chains
        .iter()
        .filter(|c| c["name"] == "0.0.0.0_80")
        .collect();
    assert!(!port80.is_empty());
    for c in &port80 {
        // STRICT: only TLS chains for the port.
        assert_eq!(c["filter_chain_match"]["transport_protocol"], "tls");
        let hcm = &c["filters"][0]["typed_config"];
        let filters: Vec<&str> = hcm["http_filters"]
            .as_array()
            .expect("filters")
            .iter()
            .map(|f| f["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            filters,
            [
                "envoy.filters.http.jwt_authn",
                "envoy.filters.http.rbac",
                "envoy.filters.http.router"
            ]
        );
    }
    // Another workload in the namespace is not selected.
    let other = proxy_for(&snap, "cart-0");
    let out2 = translate_sidecar(&snap, &other, &SidecarOptions::default());
    let vi = out2
        .listeners
        .iter()
        .find(|l| l.name == "virtualInbound")
        .expect("vi");
    let text = dump::message_to_json(vi).expect("dumps").to_string();
    assert!(!text.contains("envoy.filters.http.rbac"));
    assert_envoy_accepts(&out, &proxy, "the policy sidecar");
}

/// Every workload of every corpus file that has workloads (Pods, Deployments, StatefulSets,
/// WorkloadEntries), and of Bookinfo with each of its networking samples applied: the sidecar
/// config has no conflicts to report and real Envoy accepts it.
#[test]
fn corpus_sidecars_are_accepted_by_envoy() {
    let files = support::corpus_files();
    let mut meshes: Vec<(String, Vec<Object>)> = Vec::new();
    let base = objects(&[BOOKINFO]);
    for f in files.iter().filter(|f| {
        f.rel.starts_with("istio/samples/bookinfo/networking/") && f.rel.ends_with(".yaml")
    }) {
        let mut all = base.clone();
        all.extend(
            load::from_str(&f.text, &f.rel)
                .expect("loads")
                .into_iter()
                .map(|l| l.object),
        );
        meshes.push((format!("bookinfo + {}", f.rel), all));
    }
    for f in &files {
        let has_workloads = [
            "kind: Pod",
            "kind: Deployment",
            "kind: StatefulSet",
            "kind: WorkloadEntry",
        ]
        .iter()
        .any(|k| f.text.contains(k));
        if !has_workloads || !f.rel.ends_with(".yaml") || f.rel.contains("validation/testdata") {
            continue;
        }
        let Ok(loaded) = load::from_str(&f.text, &f.rel) else {
            continue; // files that do not load are covered by the loader's tests
        };
        meshes.push((
            f.rel.clone(),
            loaded.into_iter().map(|l| l.object).collect(),
        ));
    }
    let mut cases: Vec<(String, Snapshot)> = Vec::new();
    for (name, objs) in meshes {
        cases.push((name, snapshot_of(objs)));
    }
    let total: usize = cases.iter().map(|(_, s)| s.workloads().len()).sum();
    assert!(
        cases.len() > 40 && total > 150,
        "{} meshes, {total} workloads",
        cases.len()
    );
    eprintln!("{} meshes, {total} workloads", cases.len());
    let validated = support::envoy::assert_all_accepted(&cases, |(name, snap)| {
        snap.workloads()
            .iter()
            .map(|w| {
                let proxy = Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local");
                let out = translate_sidecar(snap, &proxy, &SidecarOptions::default());
                (
                    format!("{name} / {}", w.name),
                    static_bootstrap(&out, &proxy.node_id(), &BootstrapOptions::default()),
                )
            })
            .collect()
    });
    assert_eq!(validated, total);
}

/// A service `echo` in namespace `a` with one pod, `echo-0`.
const ECHO: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: a}
spec: {ports: [{name: http, port: 8080}], selector: {app: echo}}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-0, namespace: a, labels: {app: echo}}
status: {podIP: 10.244.1.1}
"#;

/// The cached, encoded route configuration is byte for byte the encoding of the typed one:
/// cold, warm, and after an edit (which must not serve the stale routes).
#[test]
fn cached_routes_encode_identically() {
    use mesh_core::translate::cache::RouteCache;
    use mesh_core::translate::sidecar::SidecarTranslator;
    let cache = RouteCache::default();
    let check = |snap: &Snapshot, pod: &str| {
        let proxy = proxy_for(snap, pod);
        let t = SidecarTranslator::new(snap, &proxy, &SidecarOptions::default());
        let names = t.route_names();
        assert!(!names.is_empty());
        for name in names {
            let typed = t.route(&name).expect("route").encode_to_vec();
            let cached = t.route_encoded(&name, &cache).expect("route");
            assert_eq!(typed, cached, "{pod} route {name}");
        }
    };
    let snap = snapshot_of(inline(MESH));
    check(&snap, "web-0");
    let (hits_before, _) = cache.stats();
    check(&snap, "web-0");
    let (hits_after, _) = cache.stats();
    assert!(hits_after > hits_before, "the second pass hits the cache");
    check(&snap, "cart-0");
    let b = bookinfo();
    for w in b.workloads() {
        check(&b, &w.name);
    }
    // Edit the cart VirtualService: the route must change, not come from the cache.
    let edited = MESH.replace("subset: v1}}]\n---", "subset: v2}}]\n---");
    assert_ne!(edited, MESH);
    let snap2 = snapshot_of(inline(&edited));
    check(&snap2, "web-0");
    let proxy = proxy_for(&snap2, "web-0");
    let t = SidecarTranslator::new(&snap2, &proxy, &SidecarOptions::default());
    let rc = t.route_encoded("8080", &cache).expect("route");
    let rc = envoy_types::pb::envoy::config::route::v3::RouteConfiguration::decode(rc.as_slice())
        .expect("decodes");
    let json = dump::message_to_json(&rc).expect("dumps");
    assert_eq!(
        json["virtual_hosts"][0]["routes"][1]["route"]["cluster"],
        "outbound|8080|v2|cart.shop.svc.cluster.local"
    );
    // Every kind of action (the VirtualService's metadata is written after it), and the
    // fields written after the metadata.
    let actions = snapshot_of(inline(
        &[
            ECHO,
            r#"---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: a}
spec:
  hosts: [echo]
  http:
  - name: moved
    match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, redirectCode: 301}
  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: short and stout}}
    headers: {response: {set: {x-pot: tea}}}
  - match: [{uri: {prefix: /slow}}]
    fault: {delay: {fixedDelay: 1s, percentage: {value: 10}}}
    corsPolicy: {allowOrigins: [{exact: "https://example.com"}]}
    route: [{destination: {host: echo}}]
    headers: {request: {add: {x-a: b}, remove: [x-c]}}
  - route: [{destination: {host: echo}, weight: 50}, {destination: {host: echo}, weight: 50}]
    mirror: {host: echo}
    timeout: 2s
"#,
        ]
        .concat(),
    ));
    check(&actions, "echo-0");
}

/// Routes cached for one proxy are reused by proxies of other namespaces only where the
/// VirtualService does not match on the source: with `sourceNamespace`, a proxy of each
/// namespace gets its own routes from the same cache, each equal to the typed route.
#[test]
fn cached_routes_respect_source_namespace() {
    use mesh_core::translate::cache::RouteCache;
    use mesh_core::translate::sidecar::SidecarTranslator;
    let snap = snapshot_of(inline(
        &[
            ECHO,
            r#"---
apiVersion: v1
kind: Pod
metadata: {name: client-0, namespace: b, labels: {app: client}}
status: {podIP: 10.244.2.1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: a}
spec:
  hosts: [echo]
  http:
  - match: [{sourceNamespace: b}]
    route: [{destination: {host: echo, subset: from-b}}]
  - route: [{destination: {host: echo, subset: others}}]
"#,
        ]
        .concat(),
    ));
    let cache = RouteCache::default();
    let mut seen = Vec::new();
    for pod in ["echo-0", "client-0", "echo-0"] {
        let proxy = proxy_for(&snap, pod);
        let t = SidecarTranslator::new(&snap, &proxy, &SidecarOptions::default());
        let typed = t.route("8080").expect("route").encode_to_vec();
        let cached = t.route_encoded("8080", &cache).expect("route");
        assert_eq!(typed, cached, "{pod}");
        let text = String::from_utf8_lossy(&cached).into_owned();
        seen.push(text.contains("outbound|8080|from-b|echo.a.svc.cluster.local"));
    }
    assert_eq!(
        seen,
        [false, true, false],
        "only the proxy of namespace b matches"
    );
}

/// The cached encoding also when de-duplication drops a name or some domains (two
/// ServiceEntries sharing an address, the same host in two of them) and for a VirtualService
/// host that names no service (port 80): byte for byte the typed route's encoding.
#[test]
fn cached_routes_encode_identically_with_duplicates() {
    use mesh_core::translate::cache::RouteCache;
    use mesh_core::translate::sidecar::SidecarTranslator;
    let snap = snapshot_of(inline(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: app-0, namespace: shop, labels: {app: app}}
status: {podIP: 10.244.7.7}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a, namespace: shop}
spec:
  hosts: [a.example.com]
  addresses: [240.240.0.1]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b, namespace: shop}
spec:
  hosts: [b.example.com]
  addresses: [240.240.0.1]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: elsewhere, namespace: shop}
spec:
  hosts: [nowhere.example.org, a.example.com]
  http: [{route: [{destination: {host: a.example.com}}]}]
"#,
    ));
    let proxy = proxy_for(&snap, "app-0");
    let t = SidecarTranslator::new(&snap, &proxy, &SidecarOptions::default());
    let typed = t.route("80").expect("route 80");
    let names: Vec<&str> = typed
        .virtual_hosts
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert!(names.contains(&"nowhere.example.org:80"), "{names:?}");
    let b = typed
        .virtual_hosts
        .iter()
        .find(|v| v.name == "b.example.com:80")
        .expect("b");
    assert!(
        !b.domains.iter().any(|d| d.starts_with("240.240.0.1")),
        "the shared address stays with the first host: {:?}",
        b.domains
    );
    let cache = RouteCache::default();
    for _ in 0..2 {
        let cached = t.route_encoded("80", &cache).expect("route");
        assert_eq!(typed.encode_to_vec(), cached);
    }
}

/// Sidecar ingress listeners with a `defaultEndpoint`: the inbound cluster goes to that
/// address (loopback, the workload's own IP for `0.0.0.0`, or a unix socket) instead of the
/// original destination; accepted by real Envoy.
#[test]
fn sidecar_ingress_default_endpoints() {
    let snap = snapshot_of(inline(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: app-0, namespace: shop, labels: {app: app}}
status: {podIP: 10.244.7.7}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: app, namespace: shop}
spec:
  workloadSelector: {labels: {app: app}}
  ingress:
  - {port: {number: 9080, protocol: HTTP, name: http}, defaultEndpoint: "127.0.0.1:8080"}
  - {port: {number: 9090, protocol: TCP, name: tcp}, defaultEndpoint: "unix:///var/run/app.sock"}
  - {port: {number: 9091, protocol: HTTP, name: http-pod}, defaultEndpoint: "0.0.0.0:7070"}
  - {port: {number: 9092, protocol: HTTP, name: http-redirect}}
"#,
    ));
    let proxy = proxy_for(&snap, "app-0");
    let out = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
    let cluster = |port: u32| {
        let name = format!("inbound|{port}||");
        let c = out
            .clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name}"));
        dump::message_to_json(c).expect("dumps")
    };
    let address = |c: &serde_json::Value| {
        c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"].clone()
    };
    let c = cluster(9080);
    assert_eq!(c["type"], "STATIC", "{c}");
    assert_eq!(address(&c)["socket_address"]["address"], "127.0.0.1");
    assert_eq!(address(&c)["socket_address"]["port_value"], 8080);
    let c = cluster(9090);
    assert_eq!(address(&c)["pipe"]["path"], "/var/run/app.sock", "{c}");
    assert!(
        c.get("upstream_bind_config").is_none(),
        "no bind for a pipe"
    );
    let c = cluster(9091);
    assert_eq!(
        address(&c)["socket_address"]["address"],
        "10.244.7.7",
        "{c}"
    );
    let c = cluster(9092);
    assert_eq!(c["type"], "ORIGINAL_DST", "no defaultEndpoint: {c}");
    assert_envoy_accepts(&out, &proxy, "sidecar ingress default endpoints");
}

/// The shared path gives every proxy exactly what the plain path gives it, whichever proxy
/// filled the cache first (namespaces, localities and Sidecar scopes differ across them).
#[test]
fn shared_translation_equals_the_plain_one() {
    use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
    use mesh_core::translate::cache::TranslationCache;
    use mesh_core::translate::sidecar::SidecarTranslator;
    let mut objects = shop_objects();
    objects.extend(self::objects(&[BOOKINFO, BOOKINFO_DR]));
    // Routes that depend on the client's labels must not be shared across labels.
    objects.extend(inline(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings-by-source, namespace: default}
spec:
  hosts: [ratings]
  http:
  - match: [{sourceLabels: {app: reviews, version: v2}}]
    route: [{destination: {host: ratings, subset: v2}}]
  - route: [{destination: {host: ratings, subset: v1}}]
---
# Workloads in localities, behind a service with outlier detection: locality-weighted
# assignments, which differ by the proxy's locality.
apiVersion: v1
kind: Service
metadata: {name: geo, namespace: default}
spec: {clusterIP: 10.96.9.9, selector: {app: geo}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: geo-eu, namespace: default, labels: {app: geo, istio-locality: eu-west1.eu-west1-b}}
status: {podIP: 10.244.9.1}
---
apiVersion: v1
kind: Pod
metadata: {name: geo-us, namespace: default, labels: {app: geo, istio-locality: us-east1.us-east1-a}}
status: {podIP: 10.244.9.2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: geo, namespace: default}
spec: {host: geo, trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}}}
"#,
    ));
    let snap = snapshot_of(objects);
    let options = SidecarOptions::default();
    let cache = TranslationCache::new();
    // The encoded variant: its own per-snapshot cache, a route cache kept across snapshots.
    let encoded_cache = TranslationCache::new();
    let route_cache = mesh_core::translate::cache::RouteCache::default();
    let mut compared = 0;
    let (mut endpoints, mut localities) = (0, 0);
    for w in snap.workloads() {
        let proxy = Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local");
        let t = SidecarTranslator::new(&snap, &proxy, &options);
        let plain = t.translate();
        let encoded = mesh_core::translate::translate_proxy_shared_encoded(
            &snap,
            &proxy,
            &options,
            &encoded_cache,
            &route_cache,
        );
        assert!(encoded.routes.is_empty());
        assert_routes_encode_plain(&encoded, &plain, &w.name);
        assert_shares_plain(&encoded, &plain, &w.name);
        // Assignments written directly decode to the typed ones.
        assert!(encoded.endpoints.is_empty());
        let decoded: Vec<ClusterLoadAssignment> = encoded
            .encoded_endpoints
            .iter()
            .map(|(n, bytes)| {
                let cla = ClusterLoadAssignment::decode(&bytes[..]).expect("decodes");
                assert_eq!(cla.cluster_name, &**n);
                cla
            })
            .collect();
        assert_eq!(decoded, plain.endpoints, "{}", w.name);
        endpoints += decoded.iter().map(|c| c.endpoints.len()).sum::<usize>();
        localities += usize::from(!proxy.locality.is_empty());
        if w.name == "geo-eu" {
            // Locality failover: the proxy's own locality first.
            let geo = decoded
                .iter()
                .find(|c| c.cluster_name == "outbound|80||geo.default.svc.cluster.local")
                .expect("geo");
            let priorities: Vec<(String, u32)> = geo
                .endpoints
                .iter()
                .map(|l| (l.locality.clone().unwrap_or_default().region, l.priority))
                .collect();
            assert_eq!(
                priorities,
                [("eu-west1".to_string(), 0), ("us-east1".to_string(), 1)]
            );
        }
        assert_eq!(encoded.warnings, plain.warnings, "{}", w.name);
        assert_eq!(encoded.listeners, plain.listeners, "{}", w.name);
        let shared = t.translate_shared(&cache);
        assert_eq!(shared.listeners, plain.listeners, "{}", w.name);
        let routes: Vec<_> = shared.routes.iter().map(|r| (**r).clone()).collect();
        assert_eq!(routes, plain.routes, "{}", w.name);
        assert_eq!(shared.warnings, plain.warnings, "{}", w.name);
        assert_shares_plain(&shared, &plain, &w.name);
        compared += 1;
    }
    assert!(compared > 10, "{compared} proxies");
    assert!(endpoints > 100, "{endpoints} locality groups compared");
    assert_eq!(localities, 2, "proxies with a locality");
    assert!(cache.len().0 > 0, "the cache was used");
}

/// A `TranslationCache` carried over to the next snapshot gives every proxy exactly what a
/// fresh translation of that snapshot gives it, edit after edit, and keeps what the edit
/// cannot have touched: everything after a VirtualService edit, all but one host after a
/// DestinationRule or Service edit, all but one namespace after a new workload.
#[test]
fn carried_over_cache_equals_a_fresh_translation() {
    use mesh_core::translate::cache::TranslationCache;
    use mesh_core::translate::sidecar::SidecarTranslator;
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(shop_objects());
    store.apply_all(objects(&[BOOKINFO, BOOKINFO_DR]));
    let options = SidecarOptions::default();
    let routes = mesh_core::translate::cache::RouteCache::default();
    // Fills `cache` through every proxy of `snapshot`, checking each against a fresh
    // translation.
    let check = |snapshot: &Snapshot, cache: &TranslationCache, edit: &str| {
        for w in snapshot.workloads() {
            let proxy = Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local");
            let t = SidecarTranslator::new(snapshot, &proxy, &options);
            let plain = t.translate();
            let shared = t.translate_shared(cache);
            assert_shares_plain(&shared, &plain, &format!("{edit}: {}", w.name));
            // The encoded assignments share the cache too.
            let encoded = t.translate_shared_encoded(cache, &routes);
            assert_shares_plain(&encoded, &plain, &format!("{edit}, encoded: {}", w.name));
        }
    };
    let mut snapshot = store.snapshot();
    let mut cache = TranslationCache::new();
    check(&snapshot, &cache, "initial");
    let full = cache.len();
    let mut edit = |yaml: &str, name: &str| {
        let changes = store.apply_all(inline(yaml));
        assert!(!changes.is_empty(), "{name} changes something");
        let next = store.snapshot();
        let carried = cache.carry_over(&snapshot, &next, &changes);
        let kept = carried.len();
        check(&next, &carried, name);
        snapshot = next;
        cache = carried;
        (kept, cache.len())
    };

    let (kept, after) = edit(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v2}}]}]
"#,
        "a VirtualService",
    );
    assert_eq!(kept, full, "a VirtualService drops nothing");
    assert_eq!(after, full);

    // The v1 subset now selects v3's pods: reviews' assignments change, nothing else does.
    let (kept, after) = edit(
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}
  subsets:
  - {name: v1, labels: {version: v3}}
  - {name: v2, labels: {version: v2}}
"#,
        "a DestinationRule",
    );
    assert!(
        kept.0 < full.0 && kept.0 > full.0 / 2,
        "only reviews' clusters are dropped: {kept:?} of {full:?}"
    );
    assert!(
        kept.1 < after.1 && kept.1 > after.1 / 2,
        "{kept:?} {after:?}"
    );

    // A Service's new port: only that host is rebuilt.
    let (kept, after) = edit(
        r#"
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default, labels: {app: ratings}}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}, {name: grpc-admin, port: 9443}]
"#,
        "a Service",
    );
    assert!(
        kept.0 < after.0 && kept.0 > after.0 / 2,
        "{kept:?} {after:?}"
    );

    // A new pod in `default` (an unscheduled one, whose address is allocated): the
    // services of `default` are rebuilt, those of `shop` and `data` kept.
    let (kept, after) = edit(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: ratings-v9, namespace: default, labels: {app: ratings, version: v9}}
spec:
  serviceAccountName: bookinfo-ratings
  containers: [{name: ratings, image: ratings, ports: [{containerPort: 9080}]}]
"#,
        "a Pod",
    );
    assert!(kept.0 > 0 && kept.0 < after.0, "{kept:?} {after:?}");
    assert!(kept.1 > 0 && kept.1 < after.1, "{kept:?} {after:?}");

    // A deleted Service: its clusters go, the cache does not keep them.
    let key = mesh_core::model::ObjectKey {
        kind: "Service".into(),
        namespace: "default".into(),
        name: "details".into(),
    };
    let changes = store.delete(&key);
    let next = store.snapshot();
    let carried = cache.carry_over(&snapshot, &next, &changes);
    assert!(carried.len().0 < cache.len().0);
    check(&next, &carried, "a deleted Service");
}

/// A Sidecar's egress listeners each keep their own port, bind and hosts, as istiod's
/// `buildSidecarOutboundListeners` builds them: a listener with a port takes it (its route
/// configuration holds only its hosts and their VirtualServices), a `captureMode: NONE`
/// listener binds to its address itself, and the catch-all listener gets every other port of
/// its services; clusters cover everything imported.
#[test]
fn sidecar_egress_listeners_keep_their_ports_and_hosts() {
    let objects = inline(
        r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec: {clusterIP: 10.96.1.1, selector: {app: web}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: app}
spec: {clusterIP: 10.96.1.2, selector: {app: api}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: app}
spec: {clusterIP: 10.96.1.3, selector: {app: cache}, ports: [{name: tcp-redis, port: 6379}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec: {clusterIP: 10.96.2.1, selector: {app: db}, ports: [{name: tcp-pg, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: db2, namespace: data}
spec: {clusterIP: 10.96.2.2, selector: {app: db2}, ports: [{name: tcp-pg, port: 5432}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client-0, namespace: app, labels: {app: client}}
spec: {containers: [{name: c, image: c}]}
status: {podIP: 10.244.1.9}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: app}
spec: {hosts: [api], http: [{timeout: 3s, route: [{destination: {host: api}}]}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: app}
spec: {hosts: [web], http: [{timeout: 7s, route: [{destination: {host: web}}]}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: app}
spec:
  egress:
  - port: {number: 8080, protocol: HTTP, name: http}
    hosts: ["./api.app.svc.cluster.local"]
  - port: {number: 5432, protocol: TCP, name: pg}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: ["data/db.data.svc.cluster.local"]
  - port: {number: 0, protocol: HTTP, name: uds}
    bind: unix:///var/run/app.sock
    hosts: ["./*"]
  - port: {number: 0, protocol: TCP, name: uds-tcp}
    bind: unix:///var/run/tcp.sock
    hosts: ["./*"]
  - hosts: ["./*", "data/*"]
"#,
    );
    let snap = snapshot_of(objects);
    let proxy = proxy_for(&snap, "client-0");
    let out = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
    let listeners = names(&out.listeners, |l| &l.name);
    assert_eq!(
        listeners,
        [
            "0.0.0.0_8080",
            // The catch-all's TCP services: db2 and db on their VIPs (the port listener holds
            // 127.0.0.1:5432 only), and cache.
            "10.96.1.3_6379",
            "10.96.2.1_5432",
            "10.96.2.2_5432",
            "127.0.0.1_5432",
            "unix:///var/run/app.sock_0",
            "virtualInbound",
            "virtualOutbound",
        ]
    );
    let listener = |name: &str| {
        let l = out.listeners.iter().find(|l| l.name == name).expect(name);
        dump::message_to_json(l).expect("dumps")
    };
    // captureMode NONE: the listener binds 127.0.0.1:5432 itself.
    let pg = listener("127.0.0.1_5432");
    assert!(pg.get("bind_to_port").is_none(), "{pg}");
    assert_eq!(pg["address"]["socket_address"]["address"], "127.0.0.1");
    assert_eq!(
        pg["filter_chains"][0]["filters"][0]["typed_config"]["cluster"],
        "outbound|5432||db.data.svc.cluster.local"
    );
    assert_eq!(listener("0.0.0.0_8080")["bind_to_port"], false);
    assert_eq!(listener("10.96.2.2_5432")["bind_to_port"], false);

    // Route 8080 is the first listener's: api and its VirtualService only; web, imported by
    // the catch-all, has no port 8080 here.
    let rc = out
        .routes
        .iter()
        .find(|r| r.name == "8080")
        .expect("route 8080");
    let vhosts = names(&rc.virtual_hosts, |v| &v.name);
    assert_eq!(vhosts, ["api.app.svc.cluster.local:8080", "allow_any"]);
    let api = dump::message_to_json(&rc.virtual_hosts[0]).expect("dumps");
    assert_eq!(api["routes"][0]["route"]["timeout"], "3s", "{api}");
    assert_eq!(
        names(&out.routes, |r| &r.name),
        ["8080", "unix:///var/run/app.sock"]
    );

    // The Unix domain socket listener: a pipe the proxy binds itself, routes of every HTTP
    // port of its hosts (here both services of `app`, with web's VirtualService), by
    // `host:port` domains only.
    let uds = listener("unix:///var/run/app.sock_0");
    assert_eq!(uds["address"]["pipe"]["path"], "/var/run/app.sock", "{uds}");
    assert!(uds.get("bind_to_port").is_none(), "{uds}");
    assert_eq!(
        uds["filter_chains"][0]["filters"][0]["typed_config"]["rds"]["route_config_name"],
        "unix:///var/run/app.sock"
    );
    let rc = out
        .routes
        .iter()
        .find(|r| r.name == "unix:///var/run/app.sock")
        .expect("uds route");
    assert_eq!(
        names(&rc.virtual_hosts, |v| &v.name),
        [
            "api.app.svc.cluster.local:8080",
            "web.app.svc.cluster.local:8080",
            "allow_any"
        ]
    );
    for vh in &rc.virtual_hosts[..2] {
        assert!(
            vh.domains.iter().all(|d| d.contains(':')),
            "{:?}",
            vh.domains
        );
    }
    let web = dump::message_to_json(&rc.virtual_hosts[1]).expect("dumps");
    assert_eq!(web["routes"][0]["route"]["timeout"], "7s", "{web}");

    // Clusters: everything any egress listener imports.
    for host in [
        "outbound|8080||web.app.svc.cluster.local",
        "outbound|8080||api.app.svc.cluster.local",
        "outbound|6379||cache.app.svc.cluster.local",
        "outbound|5432||db.data.svc.cluster.local",
        "outbound|5432||db2.data.svc.cluster.local",
    ] {
        assert!(out.clusters.iter().any(|c| c.name == host), "{host}");
    }
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("egress listener 3") && w.contains("Unix domain socket")),
        "{:?}",
        out.warnings
    );
    assert_envoy_accepts(&out, &proxy, "a Sidecar with egress listeners per port");

    // Simulated calls agree: api is routed by its VirtualService; web, seen only by the
    // catch-all whose port 8080 the first listener took, passes through as unknown traffic.
    use mesh_core::simulate::{Call, simulate};
    let api = simulate(
        &out,
        &Call::http("10.96.1.2", 8080, "api.app.svc.cluster.local", "/"),
    )
    .expect("api is routed");
    assert_eq!(
        api.cluster.as_deref(),
        Some("outbound|8080||api.app.svc.cluster.local")
    );
    let web = simulate(
        &out,
        &Call::http("10.96.1.1", 8080, "web.app.svc.cluster.local", "/"),
    )
    .expect("web passes through");
    assert_eq!(web.virtual_host.as_deref(), Some("allow_any"));
    assert_eq!(web.cluster.as_deref(), Some("PassthroughCluster"));
    let db2 = simulate(&out, &Call::tcp("10.96.2.2", 5432)).expect("db2");
    assert_eq!(
        db2.cluster.as_deref(),
        Some("outbound|5432||db2.data.svc.cluster.local")
    );
}

/// Encodings are stable: prost writes a map in its iteration order, so every map the
/// translation fills (endpoint metadata, RBAC policies, JWT providers, per-route filter configs)
/// must encode the same way each time, or the same resource gets a new version on every
/// translation and is resent to Envoy unchanged.
#[test]
fn encodings_do_not_depend_on_map_order() {
    let mut objects = inline(MESH);
    objects.extend(inline(
        r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  rules:
  - from: [{source: {namespaces: [shop]}}]
  - to: [{operation: {methods: [GET]}}]
  - from: [{source: {principals: [cluster.local/ns/data/sa/db]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: web-deny, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  action: DENY
  rules:
  - to: [{operation: {paths: [/admin]}}]
  - to: [{operation: {paths: [/debug]}}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  jwtRules:
  - {issuer: one.example, jwks: '{"keys":[]}'}
  - {issuer: two.example, jwks: '{"keys":[]}'}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart-faults, namespace: shop}
spec:
  hosts: [cart]
  http:
  - fault: {abort: {httpStatus: 503, percentage: {value: 5}}}
    corsPolicy: {allowOrigins: [{exact: "https://shop.example"}], allowMethods: [GET]}
    route: [{destination: {host: cart}}]
"#,
    ));
    let encode = |out: &ProxyResources| -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        all.extend(out.listeners.iter().map(|m| m.encode_to_vec()));
        all.extend(out.routes.iter().map(|m| m.encode_to_vec()));
        all.extend(out.clusters.iter().map(|m| m.encode_to_vec()));
        all.extend(out.endpoints.iter().map(|m| m.encode_to_vec()));
        all
    };
    let snap = snapshot_of(objects);
    let proxy = proxy_for(&snap, "web-0");
    let first = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
    // Every map kind is there with more than one entry.
    let web = first
        .endpoints
        .iter()
        .find(|e| e.cluster_name.contains("web.shop"))
        .expect("web's assignment");
    let metadata = web.endpoints[0].lb_endpoints[0]
        .metadata
        .as_ref()
        .expect("metadata");
    assert_eq!(metadata.filter_metadata.len(), 2);
    let expected = encode(&first);
    for round in 0..20 {
        let again = translate_sidecar(&snap, &proxy, &SidecarOptions::default());
        assert!(
            encode(&again) == expected,
            "round {round}: an encoding changed"
        );
    }
}

/// Proxies of namespaces that change no DestinationRule or service choice share one set of
/// clusters and assignments; a namespace with its own rule, or named by one's `exportTo`,
/// keeps its own; duplicate hostnames turn the sharing off. Each proxy still gets exactly what
/// the plain translation gives it.
#[test]
fn namespaces_without_rules_share_clusters() {
    use mesh_core::translate::cache::TranslationCache;
    use mesh_core::translate::sidecar::SidecarTranslator;
    let mut yaml = String::from(
        r#"
apiVersion: v1
kind: Service
metadata: {name: svc, namespace: x}
spec: {clusterIP: 10.96.9.1, selector: {app: svc}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: svc-0, namespace: x, labels: {app: svc, version: v1, security.istio.io/tlsMode: istio}}
status: {podIP: 10.244.9.1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc, namespace: x}
spec: {host: svc, exportTo: ["."], subsets: [{name: v1, labels: {version: v1}}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-for-z, namespace: x}
spec:
  host: svc.x.svc.cluster.local
  exportTo: [z]
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 3}}}
"#,
    );
    for ns in ["p", "q", "z"] {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: client-{ns}, namespace: {ns}, labels: {{app: client}}}}\nstatus: {{podIP: 10.244.8.{}}}\n",
            ns.as_bytes()[0]
        ));
    }
    let check = |snap: &Snapshot, expect_shared: bool| {
        let options = SidecarOptions::default();
        let cache = TranslationCache::new();
        let mut seen: Vec<(
            String,
            std::sync::Arc<envoy_types::pb::envoy::config::cluster::v3::Cluster>,
        )> = Vec::new();
        for pod in ["client-p", "client-q", "client-z", "svc-0"] {
            let proxy = proxy_for(snap, pod);
            let t = SidecarTranslator::new(snap, &proxy, &options);
            let plain = t.translate();
            let shared = t.translate_shared(&cache);
            assert_shares_plain(&shared, &plain, pod);
            let c = shared
                .clusters
                .iter()
                .find(|c| c.name == "outbound|8080||svc.x.svc.cluster.local")
                .expect("svc's cluster")
                .clone();
            seen.push((pod.to_string(), c));
        }
        let same = |a: usize, b: usize| std::sync::Arc::ptr_eq(&seen[a].1, &seen[b].1);
        assert_eq!(same(0, 1), expect_shared, "p and q share");
        assert!(!same(0, 2), "z, named by an exportTo, has its own");
        assert!(!same(0, 3), "x, with its own rules, has its own");
    };
    check(&snapshot_of(inline(&yaml)), true);
    // The same hostname from two ServiceEntries: which one a proxy gets depends on its
    // namespace, so nothing is shared across namespaces.
    yaml.push_str(
        r#"---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: p}
spec: {hosts: [api.example], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: q}
spec: {hosts: [api.example], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS, endpoints: [{address: 10.1.1.1}]}
"#,
    );
    check(&snapshot_of(inline(&yaml)), false);
}

/// The first proxy of a large mesh fills the cache on several threads: its resources, typed and
/// encoded, are exactly those of the plain translation, and so are the next proxies'.
#[test]
fn translations_spread_over_threads_equal_the_plain_one() {
    use mesh_core::translate::cache::{RouteCache, TranslationCache};
    use mesh_core::translate::sidecar::SidecarTranslator;
    let mut yaml = String::new();
    for i in 0..150 {
        let ns = ["a", "b", "c"][i % 3];
        yaml.push_str(&format!(
            r#"---
apiVersion: v1
kind: Service
metadata: {{name: s{i}, namespace: {ns}}}
spec: {{clusterIP: 10.96.{}.{}, selector: {{app: s{i}}}, ports: [{{name: http, port: 8080}}, {{name: tcp, port: 9000}}]}}
---
apiVersion: v1
kind: Pod
metadata: {{name: s{i}-0, namespace: {ns}, labels: {{app: s{i}, version: v{}, security.istio.io/tlsMode: istio}}}}
spec: {{serviceAccountName: sa{}}}
status: {{podIP: 10.244.{}.{}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: s{i}, namespace: {ns}}}
spec:
  host: s{i}
  trafficPolicy: {{connectionPool: {{http: {{http1MaxPendingRequests: {}}}}}}}
  subsets:
  - {{name: v0, labels: {{version: v0}}}}
  - {{name: v1, labels: {{version: v1}}, trafficPolicy: {{tls: {{mode: DISABLE}}}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: s{i}, namespace: {ns}}}
spec:
  hosts: [s{i}]
  http:
  - match: [{{uri: {{prefix: /v1}}}}]
    route: [{{destination: {{host: s{i}, subset: v1}}}}]
  - route: [{{destination: {{host: s{i}, subset: v0}}, weight: 90}}, {{destination: {{host: s{}.{}.svc.cluster.local}}, weight: 10}}]
"#,
            i / 250,
            i % 250 + 1,
            i % 2,
            i % 7,
            i / 250,
            i % 250 + 1,
            i + 1,
            (i + 1) % 150,
            ["a", "b", "c"][(i + 1) % 3],
        ));
    }
    // Two hosts on one address: the route configuration's warnings (a duplicate domain) come
    // through the threads too.
    for host in ["x", "y"] {
        yaml.push_str(&format!(
            r#"---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {host}, namespace: a}}
spec:
  hosts: [{host}.example.com]
  addresses: [240.240.0.1]
  ports: [{{number: 8080, name: http, protocol: HTTP}}]
  resolution: DNS
"#
        ));
    }
    let snap = snapshot_of(inline(&yaml));
    let options = SidecarOptions::default();
    let (typed, one) = (
        TranslationCache::with_threads(4),
        TranslationCache::with_threads(1),
    );
    let encoded = TranslationCache::with_threads(4);
    let routes = RouteCache::default();
    let mut warned = false;
    for pod in ["s0-0", "s1-0", "s2-0", "s3-0"] {
        let proxy = proxy_for(&snap, pod);
        let t = SidecarTranslator::new(&snap, &proxy, &options);
        let plain = t.translate();
        warned |= !plain.warnings.is_empty();
        let shared = t.translate_shared(&typed);
        assert_shares_plain(&shared, &plain, pod);
        let routes_of = |r: &[std::sync::Arc<
            envoy_types::pb::envoy::config::route::v3::RouteConfiguration,
        >]| { r.iter().map(|r| (**r).clone()).collect::<Vec<_>>() };
        assert_eq!(routes_of(&shared.routes), plain.routes, "{pod}");
        assert_eq!(shared.warnings, plain.warnings, "{pod}");
        assert_eq!(shared.listeners, plain.listeners, "{pod}");
        assert_eq!(t.translate_shared(&one), shared, "{pod}: one thread");
        let e = t.translate_shared_encoded(&encoded, &routes);
        assert_shares_plain(&e, &plain, pod);
        assert_routes_encode_plain(&e, &plain, pod);
        assert_eq!(e.warnings, plain.warnings, "{pod}");
    }
    assert!(warned, "the mesh gives warnings");
    // Namespaces a, b and c have DestinationRules: each one's first proxy spread (s3-0 is in
    // a again, and found everything built).
    assert_eq!(typed.parallel_fills(), 3);
    assert_eq!(encoded.parallel_fills(), 3);
    assert_eq!(one.parallel_fills(), 0);
}
