//! The traffic simulator over translated configuration, in the style of istiod's simulation
//! tests: a call in, the listener, chain, route and cluster out.

mod support;

use mesh_core::api::Object;
use mesh_core::load;
use mesh_core::model::{MeshOptions, Proxy, ProxyType, Snapshot, Store};
use mesh_core::simulate::{Call, CallMode, CallProtocol, SimulationError, simulate};
use mesh_core::translate::sidecar::{ProxyResources, SidecarOptions};
use mesh_core::translate::translate_proxy;

fn snapshot(files: &[&str], extra: &str) -> Snapshot {
    let root = support::corpus_root();
    let mut objects: Vec<Object> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(root.join(f)).expect("corpus file");
        objects.extend(
            load::from_str(&text, f)
                .expect("loads")
                .into_iter()
                .map(|l| l.object),
        );
    }
    if !extra.is_empty() {
        objects.extend(
            load::from_str(extra, "extra.yaml")
                .expect("loads")
                .into_iter()
                .map(|l| l.object),
        );
    }
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objects);
    store.snapshot()
}

fn config(snap: &Snapshot, pod: &str, options: &SidecarOptions) -> ProxyResources {
    let w = snap
        .workloads()
        .iter()
        .find(|w| w.name == pod)
        .expect("workload");
    let proxy = Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local");
    translate_proxy(snap, &proxy, options)
}

fn vip(snap: &Snapshot, host: &str) -> String {
    snap.services_for_host(host)
        .next()
        .expect("service")
        .address
        .clone()
}

const BOOKINFO: &str = "istio/samples/bookinfo/platform/kube/bookinfo.yaml";
const DRS: &str = "istio/samples/bookinfo/networking/destination-rule-all.yaml";
const JASON: &str = "istio/samples/bookinfo/networking/virtual-service-reviews-jason-v2-v3.yaml";

#[test]
fn bookinfo_outbound_calls() {
    let snap = snapshot(&[BOOKINFO, DRS, JASON], "");
    let out = config(&snap, "productpage-v1-0", &SidecarOptions::default());
    let reviews = vip(&snap, "reviews.default.svc.cluster.local");

    let jason = simulate(
        &out,
        &Call::http(&reviews, 9080, "reviews:9080", "/reviews/0").header("end-user", "jason"),
    )
    .expect("routes");
    assert_eq!(jason.listener, "0.0.0.0_9080");
    assert_eq!(jason.route_config.as_deref(), Some("9080"));
    assert_eq!(
        jason.virtual_host.as_deref(),
        Some("reviews.default.svc.cluster.local:9080")
    );
    assert_eq!(
        jason.cluster.as_deref(),
        Some("outbound|9080|v2|reviews.default.svc.cluster.local")
    );
    let other = simulate(
        &out,
        &Call::http(&reviews, 9080, "reviews", "/reviews/0").header("end-user", "mike"),
    )
    .expect("routes");
    assert_eq!(
        other.cluster.as_deref(),
        Some("outbound|9080|v3|reviews.default.svc.cluster.local")
    );
    // Short names, FQDN with trailing dot, and the VIP all reach the same virtual host.
    for host in [
        "reviews.default",
        "reviews.default.svc.cluster.local.",
        reviews.as_str(),
    ] {
        let hit = simulate(&out, &Call::http(&reviews, 9080, host, "/")).expect("routes");
        assert_eq!(
            hit.virtual_host.as_deref(),
            Some("reviews.default.svc.cluster.local:9080"),
            "{host}"
        );
    }
    // No VirtualService: the default route.
    let ratings = simulate(
        &out,
        &Call::http(
            &vip(&snap, "ratings.default.svc.cluster.local"),
            9080,
            "ratings",
            "/ratings/0",
        ),
    )
    .expect("routes");
    assert_eq!(
        ratings.cluster.as_deref(),
        Some("outbound|9080||ratings.default.svc.cluster.local")
    );
    assert_eq!(ratings.route, Some(("default".to_string(), 0)));
    // An unknown host on a known HTTP port goes through (ALLOW_ANY).
    let unknown = simulate(&out, &Call::http("1.2.3.4", 9080, "example.com", "/")).expect("routes");
    assert_eq!(unknown.virtual_host.as_deref(), Some("allow_any"));
    assert_eq!(unknown.cluster.as_deref(), Some("PassthroughCluster"));
    // An unknown port: the capture listener's catch-all chain.
    let tcp = simulate(&out, &Call::tcp("1.2.3.4", 5555)).expect("passes through");
    assert_eq!(tcp.listener, "virtualOutbound");
    assert_eq!(tcp.filter_chain, "virtualOutbound-catchall-tcp");
    assert_eq!(tcp.cluster.as_deref(), Some("PassthroughCluster"));
    // Traffic addressed to the capture port itself is dropped.
    let loop_ = simulate(&out, &Call::tcp("1.2.3.4", 15001)).expect("black hole");
    assert_eq!(loop_.cluster.as_deref(), Some("BlackHoleCluster"));

    // REGISTRY_ONLY: unknown destinations are blocked.
    let mut strict = SidecarOptions::default();
    strict.registry_only = true;
    let out = config(&snap, "productpage-v1-0", &strict);
    let unknown = simulate(&out, &Call::http("1.2.3.4", 9080, "example.com", "/")).expect("routes");
    assert_eq!(unknown.virtual_host.as_deref(), Some("block_all"));
    assert_eq!(unknown.direct_response, Some(502));
    let tcp = simulate(&out, &Call::tcp("1.2.3.4", 5555)).expect("black hole");
    assert_eq!(tcp.cluster.as_deref(), Some("BlackHoleCluster"));
}

const SHOP: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{name: http, port: 80, targetPort: 8080}], selector: {app: web}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
status: {podIP: 10.244.1.10}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: 10.96.7.7, ports: [{name: tcp, port: 5432}], selector: {app: db}}
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: shop}
spec: {clusterIP: 10.96.7.8, ports: [{port: 6379}], selector: {app: cache}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments, namespace: shop}
spec:
  hosts: [api.payments.example]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  mtls: {mode: STRICT}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - match: [{uri: {regex: "/items/[0-9]+"}, method: {exact: DELETE}}]
    directResponse: {status: 405}
  - match: [{queryParams: {debug: {exact: "1"}}}]
    redirect: {uri: /debug}
  - match: [{withoutHeaders: {x-user: {}}}]
    fault: {abort: {httpStatus: 401, percentage: {value: 100}}}
    route: [{destination: {host: web}}]
  - route: [{destination: {host: web}}]
"#;

#[test]
fn tcp_sniffed_tls_and_match_kinds() {
    let snap = snapshot(&[], SHOP);
    let out = config(&snap, "web-0", &SidecarOptions::default());
    let db = simulate(&out, &Call::tcp("10.96.7.7", 5432)).expect("db");
    assert_eq!(db.listener, "10.96.7.7_5432");
    assert_eq!(
        db.cluster.as_deref(),
        Some("outbound|5432||db.shop.svc.cluster.local")
    );
    // The sniffed port: HTTP goes through the route `host:port`, raw TCP to the cluster.
    let http = simulate(&out, &Call::http("10.96.7.8", 6379, "cache.shop", "/")).expect("http");
    assert_eq!(
        http.route_config.as_deref(),
        Some("cache.shop.svc.cluster.local:6379")
    );
    assert_eq!(
        http.cluster.as_deref(),
        Some("outbound|6379||cache.shop.svc.cluster.local")
    );
    let raw = simulate(&out, &Call::tcp("10.96.7.8", 6379)).expect("tcp");
    assert!(raw.route_config.is_none());
    assert_eq!(
        raw.cluster.as_deref(),
        Some("outbound|6379||cache.shop.svc.cluster.local")
    );
    // TLS to an external DNS service.
    let tls = simulate(
        &out,
        &Call::tcp("93.184.216.34", 443).with_tls("api.payments.example", &["h2"]),
    )
    .expect("tls");
    assert_eq!(
        tls.cluster.as_deref(),
        Some("outbound|443||api.payments.example")
    );

    let web = "10.244.1.10";
    let del = simulate(
        &out,
        &Call::http(web, 80, "web", "/items/42")
            .method("DELETE")
            .header("x-user", "a"),
    )
    .expect("routes");
    assert_eq!(del.direct_response, Some(405));
    let get = simulate(
        &out,
        &Call::http(web, 80, "web", "/items/42").header("x-user", "a"),
    )
    .expect("routes");
    assert_eq!(
        get.route.as_ref().map(|r| r.1),
        Some(3),
        "regex needs the whole path and DELETE"
    );
    let dbg = simulate(&out, &Call::http(web, 80, "web", "/x?debug=1")).expect("routes");
    assert!(dbg.redirect);
    let anon = simulate(&out, &Call::http(web, 80, "web", "/x")).expect("routes");
    assert_eq!(
        anon.route.as_ref().map(|r| r.1),
        Some(2),
        "withoutHeaders matches a missing header"
    );
}

#[test]
fn inbound_strict_mtls() {
    let snap = snapshot(&[], SHOP);
    let out = config(&snap, "web-0", &SidecarOptions::default());
    let mtls = Call::http("10.244.1.10", 8080, "web", "/")
        .with_tls(
            "outbound_.80_._.web.shop.svc.cluster.local",
            &["istio-http/1.1", "istio"],
        )
        .mode(CallMode::Inbound);
    let hit = simulate(&out, &mtls).expect("mTLS is accepted");
    assert_eq!(hit.listener, "virtualInbound");
    assert_eq!(hit.filter_chain, "0.0.0.0_8080");
    assert_eq!(hit.cluster.as_deref(), Some("inbound|8080||"));
    // STRICT: plaintext to the workload port matches no chain: the connection is closed.
    let plain = Call::http("10.244.1.10", 8080, "web", "/").mode(CallMode::Inbound);
    assert_eq!(
        simulate(&out, &plain),
        Err(SimulationError::NoFilterChain("virtualInbound".into()))
    );
    // A port the workload does not declare goes to the passthrough, under the same mode:
    // mutual TLS passes, plaintext is refused.
    let other = Call::tcp("10.244.1.10", 9999)
        .with_tls("", &["istio-peer-exchange", "istio"])
        .mode(CallMode::Inbound);
    assert_eq!(other.protocol, CallProtocol::Tcp);
    let hit = simulate(&out, &other).expect("passthrough");
    assert_eq!(hit.cluster.as_deref(), Some("InboundPassthroughCluster"));
    let plain = Call::tcp("10.244.1.10", 9999).mode(CallMode::Inbound);
    assert!(simulate(&out, &plain).is_err());
}

#[test]
fn gateway_calls() {
    let extra = r#"
apiVersion: v1
kind: Pod
metadata: {name: ingress-0, namespace: istio-system, labels: {istio: ingressgateway}}
status: {podIP: 10.244.9.9}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
    tls: {httpsRedirect: true}
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*.example.com"]
    tls: {mode: SIMPLE, credentialName: example}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front, namespace: shop}
spec:
  hosts: [shop.example.com]
  gateways: [public]
  http: [{route: [{destination: {host: web}}]}]
"#;
    let snap = snapshot(&[], &format!("{SHOP}\n---\n{extra}"));
    let w = snap
        .workloads()
        .iter()
        .find(|w| w.name == "ingress-0")
        .expect("gateway pod");
    let proxy = Proxy::for_workload(w, ProxyType::Router, "cluster.local");
    let out = translate_proxy(&snap, &proxy, &SidecarOptions::default());
    let plain = simulate(
        &out,
        &Call::http("10.244.9.9", 80, "shop.example.com", "/").mode(CallMode::Gateway),
    )
    .expect("routes");
    assert!(plain.redirect, "httpsRedirect");
    let https = simulate(
        &out,
        &Call::http("10.244.9.9", 443, "shop.example.com", "/")
            .with_tls("shop.example.com", &["h2"])
            .mode(CallMode::Gateway),
    )
    .expect("routes");
    assert_eq!(
        https.route_config.as_deref(),
        Some("https.443.https.public.shop")
    );
    assert_eq!(
        https.cluster.as_deref(),
        Some("outbound|80||web.shop.svc.cluster.local")
    );
    let unknown = Call::http("10.244.9.9", 443, "other.example.com", "/")
        .with_tls("other.example.com", &[])
        .mode(CallMode::Gateway);
    assert!(matches!(
        simulate(&out, &unknown),
        Err(SimulationError::NoVirtualHost(..))
    ));
    let wrong_sni = Call::http("10.244.9.9", 443, "shop.example.com", "/")
        .with_tls("evil.test", &[])
        .mode(CallMode::Gateway);
    assert_eq!(
        simulate(&out, &wrong_sni),
        Err(SimulationError::NoFilterChain("0.0.0.0_443".into()))
    );
}
