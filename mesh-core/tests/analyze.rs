//! The analyzers against istiod's own analyzer test data
//! (`pkg/config/analysis/analyzers/testdata`): for each file, the objects istioctl's tests
//! expect each of our analyzers to report (from `analyzers_test.go`), no more, no fewer.

mod support;

use std::collections::BTreeSet;

use mesh_core::analyze::{ANALYZERS, Analyzer, Level, analyze, analyze_with};
use mesh_core::load::{LoadOptions, Loader};
use mesh_core::model::{MeshOptions, Snapshot, Store};

fn snapshot(rel: &str) -> Snapshot {
    let path = support::corpus_root()
        .join("istio/pkg/config/analysis/analyzers/testdata")
        .join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let out = Loader::new(LoadOptions::lenient()).load_str(&text, rel);
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(out.objects.into_iter().map(|l| l.object));
    store.snapshot()
}

fn analyzer(name: &str) -> Analyzer {
    *ANALYZERS
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("analyzer {name}"))
}

/// `Kind namespace/name` of every message with `code` from one analyzer.
fn reported(file: &str, name: &str, code: &str) -> BTreeSet<String> {
    analyze_with(&snapshot(file), &[analyzer(name)])
        .into_iter()
        .filter(|m| m.code == code)
        .map(|m| format!("{} {}/{}", m.kind, m.namespace, m.object))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn conflicting_mesh_gateway_hosts() {
    assert_eq!(
        reported(
            "virtualservice_conflictingmeshgatewayhosts.yaml",
            "virtualservice.ConflictingMeshGatewayHostsAnalyzer",
            "IST0109"
        ),
        set(&[
            "VirtualService team3/ratings",
            "VirtualService team4/ratings",
            "VirtualService foo/ratings",
            "VirtualService bar/ratings",
            "VirtualService foo/productpage",
            "VirtualService foo/bogus-productpage",
            "VirtualService team2/ratings",
        ])
    );
    assert_eq!(
        reported(
            "virtualservice_conflictingmeshgatewayhosts_with_exportto.yaml",
            "virtualservice.ConflictingMeshGatewayHostsAnalyzer",
            "IST0109"
        ),
        set(&[
            "VirtualService foo/productpage",
            "VirtualService bar/productpage",
            "VirtualService foo/productpage-c",
            "VirtualService bar/productpage-c",
            "VirtualService foo/productpage-d",
            "VirtualService bar/productpage-d",
        ])
    );
}

#[test]
fn destination_subsets_and_gateways() {
    assert_eq!(
        reported(
            "virtualservice_destinationrules.yaml",
            "virtualservice.DestinationRuleAnalyzer",
            "IST0101"
        ),
        set(&[
            "VirtualService default/reviews-bogussubset",
            "VirtualService default/reviews-mirror-bogussubset",
        ])
    );
    assert_eq!(
        reported(
            "virtualservice_gateways.yaml",
            "virtualservice.GatewayAnalyzer",
            "IST0101"
        ),
        set(&["VirtualService default/httpbin-bogus"])
    );
}

#[test]
fn destination_hosts() {
    assert_eq!(
        reported(
            "virtualservice_destinationhosts.yaml",
            "virtualservice.DestinationHostAnalyzer",
            "IST0101",
        ),
        set(&[
            "VirtualService default/reviews-bogushost",
            "VirtualService default/reviews-bookinfo-other",
            "VirtualService default/reviews-mirror-bogushost",
            "VirtualService default/reviews-bogusport",
            "VirtualService istio-system/cross-namespace-details",
            "VirtualService hello/hello-export-to-bogus",
        ])
    );
}

#[test]
fn bookinfo_without_destination_rules() {
    let root = support::corpus_root().join("istio/samples/bookinfo");
    let mut store = Store::new(MeshOptions::default());
    for f in [
        "platform/kube/bookinfo.yaml",
        "networking/virtual-service-all-v1.yaml",
    ] {
        let text = std::fs::read_to_string(root.join(f)).expect("file");
        store.apply_all(
            mesh_core::load::from_str(&text, f)
                .expect("loads")
                .into_iter()
                .map(|l| l.object),
        );
    }
    let messages = analyze(&store.snapshot());
    let lines: Vec<String> = messages
        .iter()
        .map(|m| {
            format!(
                "{} [{}] {}/{} {}",
                m.level, m.code, m.namespace, m.object, m.message
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            r#"Error [IST0101] default/details Referenced host+subset in destinationrule not found: "details+v1""#,
            r#"Error [IST0101] default/productpage Referenced host+subset in destinationrule not found: "productpage+v1""#,
            r#"Error [IST0101] default/ratings Referenced host+subset in destinationrule not found: "ratings+v1""#,
            r#"Error [IST0101] default/reviews Referenced host+subset in destinationrule not found: "reviews+v1""#,
        ]
    );
    assert!(messages.iter().all(|m| m.level == Level::Error));
}

#[test]
fn port_names() {
    let objects = mesh_core::load::from_str(
        r#"
apiVersion: v1
kind: Service
metadata: {name: s, namespace: a}
spec:
  ports:
  - {name: http-web, port: 80}
  - {name: web, port: 81, targetPort: 8081}
  - {name: metrics, port: 9090, appProtocol: http}
  - {name: dns, port: 53, protocol: UDP}
  - {name: grpc, port: 9000}
"#,
        "svc.yaml",
    )
    .expect("loads");
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objects.into_iter().map(|l| l.object));
    let m = analyze_with(&store.snapshot(), &[analyzer("service.PortNameAnalyzer")]);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].code, "IST0118");
    assert_eq!(m[0].level, Level::Info);
    assert_eq!(
        m[0].message,
        "Port name web (port: 81, targetPort: 8081) doesn't follow the naming convention of Istio port."
    );
}
