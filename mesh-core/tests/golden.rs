//! Golden files: the whole configuration of representative proxies as config-dump JSON,
//! compared byte for byte with `tests/golden/*.json` (reviewed against what istiod produces for
//! the same input; the differences are listed in `docs/architecture.md`). After an intended
//! change, regenerate with `MESH_UPDATE_GOLDEN=1 cargo test -p mesh-core --test golden` and
//! review the diff. Each golden's bootstrap is also checked by real Envoy.

mod support;

use mesh_core::api::Object;
use mesh_core::model::{MeshOptions, Proxy, ProxyType, Snapshot, Store};
use mesh_core::translate::bootstrap::{BootstrapOptions, static_bootstrap};
use mesh_core::translate::sidecar::SidecarOptions;
use mesh_core::translate::translate_proxy;

fn snapshot(files: &[std::path::PathBuf]) -> Snapshot {
    let mut store = Store::new(MeshOptions::default());
    for f in files {
        let mut paths = vec![f.clone()];
        if f.is_dir() {
            paths = std::fs::read_dir(f)
                .expect("dir")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .collect();
            paths.sort();
        }
        for p in paths {
            let text = std::fs::read_to_string(&p).expect("file");
            let objects: Vec<Object> = mesh_core::load::from_str(&text, &p.display().to_string())
                .expect("loads")
                .into_iter()
                .map(|l| l.object)
                .collect();
            store.apply_all(objects);
        }
    }
    store.snapshot()
}

fn check(name: &str, snap: &Snapshot, pod: &str, proxy_type: ProxyType) {
    check_with(name, snap, pod, proxy_type, &SidecarOptions::default());
}

fn check_with(
    name: &str,
    snap: &Snapshot,
    pod: &str,
    proxy_type: ProxyType,
    options: &SidecarOptions,
) {
    let w = snap
        .workloads()
        .iter()
        .find(|w| w.name == pod)
        .unwrap_or_else(|| panic!("{pod}"));
    let proxy = Proxy::for_workload(w, proxy_type, "cluster.local");
    let out = translate_proxy(snap, &proxy, options);
    let json = out.config_dump("golden").to_json().expect("dumps");
    let text = format!("{}\n", serde_json::to_string_pretty(&json).expect("json"));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    if std::env::var("MESH_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).expect("write golden");
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (MESH_UPDATE_GOLDEN=1 writes it)", path.display()));
    if golden != text {
        let first = golden
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{name}: differs from {} at line {}:\n  golden: {}\n  now:    {}\n(MESH_UPDATE_GOLDEN=1 to accept)",
            path.display(),
            first + 1,
            golden.lines().nth(first).unwrap_or_default(),
            text.lines().nth(first).unwrap_or_default()
        );
    }
    let b = static_bootstrap(&out, &proxy.node_id(), &BootstrapOptions::default());
    support::envoy::assert_accepts(&b, name);
}

#[test]
fn bookinfo_productpage_with_reviews_routing() {
    let root = support::corpus_root().join("istio/samples/bookinfo");
    let snap = snapshot(&[
        root.join("platform/kube/bookinfo.yaml"),
        root.join("networking/destination-rule-all.yaml"),
        root.join("networking/virtual-service-reviews-jason-v2-v3.yaml"),
    ]);
    check(
        "bookinfo-productpage",
        &snap,
        "productpage-v1-0",
        ProxyType::Sidecar,
    );
}

#[test]
fn shop_example() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/shop");
    let snap = snapshot(&[dir]);
    check("shop-web", &snap, "web-0", ProxyType::Sidecar);
    check("shop-cart", &snap, "cart-v1-0", ProxyType::Sidecar);
    check("shop-db", &snap, "db-0", ProxyType::Sidecar);
    check(
        "shop-ingress",
        &snap,
        "istio-ingressgateway-0",
        ProxyType::Router,
    );
}

/// AuthorizationPolicy CUSTOM with an HTTP provider from the mesh configuration: the shadow
/// RBAC and ext_authz filters first on the inbound HTTP chains, before the DENY filter.
#[test]
fn external_authorization() {
    let inputs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/inputs");
    let snap = snapshot(&[inputs.join("ext-authz.yaml")]);
    let mesh = mesh_core::api::mesh::MeshConfig::from_yaml(
        &std::fs::read_to_string(inputs.join("ext-authz-mesh.yaml")).expect("mesh config"),
        "ext-authz-mesh.yaml",
    )
    .expect("mesh config");
    let options = SidecarOptions::from_mesh_config(&mesh);
    check_with(
        "ext-authz-httpbin",
        &snap,
        "httpbin-0",
        ProxyType::Sidecar,
        &options,
    );
    // The filter order on the HTTP chain of port 80.
    let w = snap
        .workloads()
        .iter()
        .find(|w| w.name == "httpbin-0")
        .expect("pod");
    let proxy = Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local");
    let out = translate_proxy(&snap, &proxy, &options);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let inbound = out
        .listeners
        .iter()
        .find(|l| l.name == "virtualInbound")
        .expect("virtualInbound");
    let json = mesh_core::dump::message_to_json(inbound).expect("dumps");
    let chains = json["filter_chains"].as_array().expect("chains");
    let port_80 = chains
        .iter()
        .find(|c| c["name"] == "0.0.0.0_80")
        .expect("the chain of port 80");
    let names: Vec<&str> = port_80["filters"][0]["typed_config"]["http_filters"]
        .as_array()
        .expect("http filters")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "envoy.filters.http.rbac",
            "envoy.filters.http.ext_authz",
            "envoy.filters.http.rbac",
            "envoy.filters.http.router"
        ],
        "CUSTOM (shadow RBAC, ext_authz), then DENY"
    );
    // Without the provider in the mesh configuration, the CUSTOM rule fails closed, and says so.
    let out = translate_proxy(&snap, &proxy, &SidecarOptions::default());
    assert!(
        out.warnings.iter().any(|w| w.contains("http-authz")),
        "{:?}",
        out.warnings
    );
    let dump =
        serde_json::to_string(&out.config_dump("x").to_json().expect("dumps")).expect("json");
    assert!(!dump.contains("envoy.filters.http.ext_authz"));
    assert!(dump.contains("-deny-due-to-bad-CUSTOM-action"));
}
