//! Gateway (router proxy) translation: listeners per server port, TLS termination with
//! credentials, passthrough by SNI, TCP, httpsRedirect, routes from bound VirtualServices;
//! accepted by real Envoy 1.40, and real requests routed through a running Envoy.

mod support;

use mesh_core::api::Object;
use mesh_core::dump;
use mesh_core::load;
use mesh_core::model::{MeshOptions, Proxy, Snapshot, Store};
use mesh_core::translate::bootstrap::{BootstrapOptions, static_bootstrap};
use mesh_core::translate::gateway::translate_gateway;
use mesh_core::translate::sidecar::{ProxyResources, SidecarOptions};

fn snapshot(yaml: &str) -> Snapshot {
    let objects: Vec<Object> = load::from_str(yaml, "inline.yaml")
        .expect("loads")
        .into_iter()
        .map(|l| l.object)
        .collect();
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objects);
    store.snapshot()
}

fn ingress() -> Proxy {
    Proxy::router(
        "istio-ingressgateway-0",
        "istio-system",
        "10.244.9.9".parse().expect("ip"),
        [("istio".to_string(), "ingressgateway".to_string())].into(),
        "cluster.local",
    )
}

const MESH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{name: http, port: 8080}], selector: {app: web}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
status: {podIP: 10.244.1.10}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {ports: [{name: http, port: 9000}], selector: {app: api}}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: data}
spec: {ports: [{name: tcp, port: 5432}], selector: {app: db}}
---
apiVersion: v1
kind: Service
metadata: {name: tls-app, namespace: shop}
spec: {ports: [{name: https, port: 443}], selector: {app: tls-app}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["shop.example.com", "api.example.com"]
    tls: {httpsRedirect: true}
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["shop.example.com"]
    tls: {mode: SIMPLE, credentialName: shop-cert}
  - port: {number: 443, name: https-api, protocol: HTTPS}
    hosts: ["api.example.com"]
    tls: {mode: MUTUAL, credentialName: api-cert}
  - port: {number: 8443, name: tls, protocol: TLS}
    hosts: ["*.passthrough.example.com"]
    tls: {mode: PASSTHROUGH}
  - port: {number: 5432, name: tcp, protocol: TCP}
    hosts: ["data/*"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other, namespace: shop}
spec:
  selector: {istio: egressgateway}
  servers: [{port: {number: 9999, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: shop}
spec:
  hosts: [shop.example.com]
  gateways: [public]
  http:
  - route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop-api, namespace: shop}
spec:
  hosts: [shop.example.com, api.example.com]
  gateways: [shop/public, mesh]
  http:
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: api}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tls-app, namespace: shop}
spec:
  hosts: ["app.passthrough.example.com"]
  gateways: [public]
  tls:
  - match: [{sniHosts: [app.passthrough.example.com], port: 8443}]
    route: [{destination: {host: tls-app, port: {number: 443}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: data}
spec:
  hosts: ["db.data.svc.cluster.local"]
  gateways: [shop/public]
  tcp:
  - match: [{port: 5432}]
    route: [{destination: {host: db}}]
"#;

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_string()).collect()
}

fn translate() -> (ProxyResources, Proxy) {
    let snap = snapshot(MESH);
    let proxy = ingress();
    (
        translate_gateway(&snap, &proxy, &SidecarOptions::default()),
        proxy,
    )
}

#[test]
fn listeners_and_routes_as_istiod_names_them() {
    let (out, proxy) = translate();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(
        names(&out.listeners, |l| &l.name),
        ["0.0.0.0_80", "0.0.0.0_443", "0.0.0.0_5432", "0.0.0.0_8443"]
    );
    assert_eq!(
        names(&out.routes, |r| &r.name),
        [
            "http.80",
            "https.443.https-api.public.shop",
            "https.443.https.public.shop"
        ]
    );
    // Port 80: both hosts redirect to HTTPS; shop.example.com merges two VirtualServices with
    // the catch-all last.
    let http = dump::message_to_json(&out.routes[0]).expect("dumps");
    let vhosts = http["virtual_hosts"].as_array().expect("vhosts");
    assert_eq!(vhosts.len(), 2);
    assert_eq!(vhosts[0]["name"], "api.example.com:80");
    assert_eq!(vhosts[0]["require_tls"], "ALL");
    let shop = &vhosts[1];
    assert_eq!(shop["name"], "shop.example.com:80");
    assert_eq!(shop["domains"][0], "shop.example.com");
    assert_eq!(shop["routes"][0]["match"]["prefix"], "/api");
    assert_eq!(
        shop["routes"][0]["route"]["cluster"],
        "outbound|9000||api.shop.svc.cluster.local"
    );
    assert_eq!(
        shop["routes"][1]["route"]["cluster"],
        "outbound|8080||web.shop.svc.cluster.local"
    );
    // Port 443: a chain per server, by SNI, with the credential secrets over ADS.
    let l443 = dump::message_to_json(&out.listeners[1]).expect("dumps");
    let chains = l443["filter_chains"].as_array().expect("chains");
    assert_eq!(chains.len(), 2);
    assert_eq!(
        chains[0]["filter_chain_match"]["server_names"][0],
        "shop.example.com"
    );
    let tls = &chains[0]["transport_socket"]["typed_config"];
    assert_eq!(
        tls["common_tls_context"]["tls_certificate_sds_secret_configs"][0]["name"],
        "kubernetes://shop-cert"
    );
    assert_eq!(tls["require_client_certificate"], false);
    let mtls = &chains[1]["transport_socket"]["typed_config"];
    assert_eq!(mtls["require_client_certificate"], true);
    assert_eq!(
        mtls["common_tls_context"]["combined_validation_context"]["validation_context_sds_secret_config"]
            ["name"],
        "kubernetes://api-cert-cacert"
    );
    assert_eq!(
        l443["listener_filters"][0]["name"],
        "envoy.filters.listener.tls_inspector"
    );
    // Passthrough by SNI to the service port, and TCP to the database.
    let l8443 = dump::message_to_json(&out.listeners[3]).expect("dumps");
    assert_eq!(
        l8443["filter_chains"][0]["filter_chain_match"]["server_names"][0],
        "app.passthrough.example.com"
    );
    assert_eq!(
        l8443["filter_chains"][0]["filters"][0]["typed_config"]["cluster"],
        "outbound|443||tls-app.shop.svc.cluster.local"
    );
    let l5432 = dump::message_to_json(&out.listeners[2]).expect("dumps");
    assert_eq!(
        l5432["filter_chains"][0]["filters"][0]["typed_config"]["cluster"],
        "outbound|5432||db.data.svc.cluster.local"
    );
    // Clusters for every visible service, no inbound side.
    assert!(out.clusters.iter().all(|c| !c.name.starts_with("inbound|")));
    assert!(
        out.clusters
            .iter()
            .any(|c| c.name == "outbound|8080||web.shop.svc.cluster.local")
    );

    let b = static_bootstrap(&out, &proxy.node_id(), &BootstrapOptions::default());
    support::envoy::assert_accepts(&b, "the gateway");
}

#[test]
fn unbound_port_gets_the_blackhole_host() {
    let snap = snapshot(MESH);
    let egress = Proxy::router(
        "egress-0",
        "istio-system",
        "10.244.9.8".parse().expect("ip"),
        [("istio".to_string(), "egressgateway".to_string())].into(),
        "cluster.local",
    );
    let out = translate_gateway(&snap, &egress, &SidecarOptions::default());
    assert_eq!(names(&out.listeners, |l| &l.name), ["0.0.0.0_9999"]);
    let rc = dump::message_to_json(&out.routes[0]).expect("dumps");
    assert_eq!(rc["virtual_hosts"][0]["name"], "blackhole:9999");
    assert_eq!(rc["virtual_hosts"][0]["domains"][0], "*");
    assert!(rc["virtual_hosts"][0].get("routes").is_none());
}

fn get(port: u16, host: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    )
    .expect("send");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

/// Real requests through a running Envoy configured by the gateway translation: routed by
/// host and path to an upstream on 127.0.0.1 (a ServiceEntry's endpoint), redirected to HTTPS,
/// or refused with 404 for unknown hosts.
#[test]
fn real_envoy_routes_requests_through_the_gateway() {
    let upstream = support::envoy::ok_upstream();
    let port = support::envoy::free_port();
    let yaml = format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: backend, namespace: shop}}
spec:
  hosts: [backend.shop.internal]
  ports: [{{number: 8000, name: http, protocol: HTTP, targetPort: {upstream}}}]
  resolution: STATIC
  location: MESH_EXTERNAL
  endpoints: [{{address: 127.0.0.1}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: public, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {port}, name: http, protocol: HTTP}}
    hosts: ["shop.example.com", "secure.example.com"]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: secure, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {port}, name: http2, protocol: HTTP}}
    hosts: ["secure.example.com"]
    tls: {{httpsRedirect: true}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: shop}}
spec:
  hosts: [shop.example.com]
  gateways: [public]
  http:
  - match: [{{uri: {{prefix: /teapot}}}}]
    directResponse: {{status: 418, body: {{string: "short and stout"}}}}
  - route: [{{destination: {{host: backend.shop.internal, port: {{number: 8000}}}}}}]
"#
    );
    let snap = snapshot(&yaml);
    let proxy = ingress();
    let out = translate_gateway(&snap, &proxy, &SidecarOptions::default());
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let mut options = BootstrapOptions::default();
    options.admin_port = u32::from(support::envoy::free_port());
    let b = static_bootstrap(&out, &proxy.node_id(), &options);
    let _envoy = support::envoy::start(&b, port);
    let (code, text) = get(port, "shop.example.com", "/anything");
    assert_eq!(code, 200, "{text}");
    assert!(text.ends_with("ok"), "{text}");
    let (code, text) = get(port, "shop.example.com", "/teapot");
    assert_eq!(code, 418, "{text}");
    assert!(text.contains("short and stout"));
    let (code, text) = get(port, "secure.example.com", "/x");
    assert_eq!(code, 301, "{text}");
    assert!(
        text.to_lowercase()
            .contains("location: https://secure.example.com/x"),
        "{text}"
    );
    let (code, _) = get(port, "unknown.example.com", "/");
    assert_eq!(code, 404);

    // The simulator predicts what real Envoy just did, call for call.
    use mesh_core::simulate::{Call, CallMode, SimulationError, simulate};
    let call = |host: &str, path: &str| {
        Call::http("127.0.0.1", u32::from(port), host, path).mode(CallMode::Gateway)
    };
    let hit = simulate(&out, &call("shop.example.com", "/anything")).expect("routes");
    assert_eq!(
        hit.cluster.as_deref(),
        Some("outbound|8000||backend.shop.internal")
    );
    let hit = simulate(&out, &call("shop.example.com", "/teapot")).expect("routes");
    assert_eq!(hit.direct_response, Some(418));
    let hit = simulate(&out, &call("secure.example.com", "/x")).expect("routes");
    assert!(hit.redirect);
    assert!(matches!(
        simulate(&out, &call("unknown.example.com", "/")),
        Err(SimulationError::NoVirtualHost(..))
    ));
}

/// Every Gateway in the corpus, translated for a gateway proxy its selector picks (with the
/// rest of its file as the mesh): real Envoy accepts every one.
#[test]
fn corpus_gateways_are_accepted_by_envoy() {
    let mut cases = Vec::new();
    for f in support::corpus_files() {
        if !f.text.contains("kind: Gateway")
            || !f.rel.ends_with(".yaml")
            || f.rel.contains("validation/testdata")
        {
            continue;
        }
        let Ok(loaded) = load::from_str(&f.text, &f.rel) else {
            continue;
        };
        let objects: Vec<Object> = loaded.into_iter().map(|l| l.object).collect();
        let selectors: Vec<(String, std::collections::BTreeMap<String, String>)> = objects
            .iter()
            .filter_map(|o| match o {
                Object::Gateway(g) => Some((g.metadata.name.clone(), g.spec.selector.clone())),
                _ => None,
            })
            .collect();
        if selectors.is_empty() {
            continue;
        }
        let mut store = Store::new(MeshOptions::default());
        store.apply_all(objects);
        let snap = store.snapshot();
        for (name, labels) in selectors {
            cases.push((format!("{} / {name}", f.rel), snap.clone(), labels));
        }
    }
    eprintln!("{} gateways", cases.len());
    assert!(cases.len() > 60, "{} gateways", cases.len());
    support::envoy::assert_all_accepted(&cases, |(name, snap, labels)| {
        let proxy = Proxy::router(
            "gw-0",
            "istio-system",
            "10.244.9.9".parse().expect("ip"),
            labels.clone(),
            "cluster.local",
        );
        let out = translate_gateway(snap, &proxy, &SidecarOptions::default());
        vec![(
            name.clone(),
            static_bootstrap(&out, &proxy.node_id(), &BootstrapOptions::default()),
        )]
    });
}

#[test]
fn hosts_with_identical_routes_share_a_virtual_host() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: web}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: both, namespace: web}
spec:
  hosts: [b.example.com, a.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: site.web.svc.cluster.local}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other, namespace: web}
spec:
  hosts: [c.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: other.web.svc.cluster.local}}]}]
"#;
    let out = translate_gateway(&snapshot(yaml), &ingress(), &SidecarOptions::default());
    let rc = dump::message_to_json(&out.routes[0]).expect("dumps");
    let vhosts = rc["virtual_hosts"].as_array().expect("vhosts");
    assert_eq!(vhosts.len(), 2);
    assert_eq!(vhosts[0]["name"], "a.example.com:80");
    assert_eq!(
        vhosts[0]["domains"],
        serde_json::json!(["a.example.com", "b.example.com"])
    );
    assert_eq!(vhosts[1]["name"], "c.example.com:80");
}

/// AUTO_PASSTHROUGH (the east-west gateway's server): a chain per mesh cluster the hosts
/// cover, matched on the SNI an Istio mTLS client sends and Istio's ALPNs, to SNI-DNAT
/// clusters that pass the client's TLS through; accepted by real Envoy.
#[test]
fn auto_passthrough_routes_by_the_istio_sni() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: cross-network, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 15443, name: tls, protocol: TLS}
    tls: {mode: AUTO_PASSTHROUGH}
    hosts: ["*.local"]
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec: {ports: [{name: http, port: 8000}], selector: {app: httpbin}}
---
apiVersion: v1
kind: Pod
metadata: {name: httpbin-0, namespace: foo, labels: {app: httpbin, version: v1}}
status: {podIP: 10.244.4.4}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: foo}
spec:
  host: httpbin.foo.svc.cluster.local
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: foo}
spec:
  hosts: [api.external.local]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
"#;
    let snap = snapshot(yaml);
    let proxy = ingress();
    let out = translate_gateway(&snap, &proxy, &SidecarOptions::default());
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let l = out
        .listeners
        .iter()
        .find(|l| l.name == "0.0.0.0_15443")
        .expect("the listener");
    let json = dump::message_to_json(l).expect("dumps");
    let chains = json["filter_chains"].as_array().expect("chains");
    let snis: Vec<&str> = chains
        .iter()
        .filter_map(|c| c["filter_chain_match"]["server_names"][0].as_str())
        .collect();
    assert_eq!(
        snis,
        [
            "outbound_.8000_._.httpbin.foo.svc.cluster.local",
            "outbound_.8000_.v1_.httpbin.foo.svc.cluster.local"
        ],
        "mesh services only (not the MESH_EXTERNAL entry), default and subset"
    );
    for c in chains {
        assert_eq!(
            c["filter_chain_match"]["application_protocols"][0], "istio",
            "{c}"
        );
        let sni = c["filter_chain_match"]["server_names"][0]
            .as_str()
            .expect("sni");
        assert_eq!(c["filters"][0]["typed_config"]["cluster"], sni, "{c}");
    }
    assert_eq!(
        json["listener_filters"][0]["name"],
        "envoy.filters.listener.tls_inspector"
    );
    // The SNI-DNAT clusters: the outbound clusters' endpoints, no TLS origination.
    for name in snis {
        let c = out
            .clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("cluster {name}"));
        assert!(c.transport_socket.is_none(), "{name}: passes TLS through");
        let cla = out
            .endpoints
            .iter()
            .find(|e| e.cluster_name == name)
            .unwrap_or_else(|| panic!("endpoints of {name}"));
        assert_eq!(cla.endpoints[0].lb_endpoints.len(), 1);
    }
    let outbound = out
        .clusters
        .iter()
        .find(|c| c.name == "outbound|8000||httpbin.foo.svc.cluster.local")
        .expect("the outbound cluster stays");
    assert!(
        outbound.transport_socket.is_some(),
        "ISTIO_MUTUAL origination"
    );
    let b = static_bootstrap(&out, &proxy.node_id(), &BootstrapOptions::default());
    support::envoy::assert_accepts(&b, "AUTO_PASSTHROUGH gateway");
}
