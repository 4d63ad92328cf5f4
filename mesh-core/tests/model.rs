//! The mesh model on real manifests from the Istio corpus.

mod support;

use mesh_core::api::Object;
use mesh_core::load::{self, LoadOptions, Loader};
use mesh_core::model::{Protocol, Registry, Resolution, Service};

#[test]
fn bookinfo_services() {
    let path = support::corpus_root().join("istio/samples/bookinfo/platform/kube/bookinfo.yaml");
    let text = std::fs::read_to_string(&path).expect("bookinfo.yaml");
    let objects = load::from_str(&text, "bookinfo.yaml").expect("bookinfo loads");
    let mut services: Vec<Service> = objects
        .iter()
        .filter_map(|o| match &o.object {
            Object::Service(s) => Some(Service::from_kubernetes(s, "cluster.local")),
            _ => None,
        })
        .collect();
    services.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    let hosts: Vec<&str> = services.iter().map(|s| s.hostname.as_str()).collect();
    assert_eq!(
        hosts,
        [
            "details.default.svc.cluster.local",
            "productpage.default.svc.cluster.local",
            "ratings.default.svc.cluster.local",
            "reviews.default.svc.cluster.local",
        ]
    );
    for s in &services {
        assert_eq!(s.ports.len(), 1, "{}", s.hostname);
        assert_eq!(
            (s.ports[0].number, s.ports[0].protocol),
            (9080, Protocol::Http)
        );
        assert_eq!(s.resolution, Resolution::ClientSideLb, "{}", s.hostname);
        assert_eq!(
            s.selector.get("app").map(String::as_str),
            Some(s.object_name.as_str())
        );
    }
}

/// Every Service and ServiceEntry in the corpus becomes registry services whose ports have
/// the protocol their declaration names.
#[test]
fn corpus_services_and_service_entries() {
    let mut kube = 0;
    let mut external = 0;
    for file in support::corpus_files() {
        let loaded = Loader::new(LoadOptions::lenient()).load_str(&file.text, &file.rel);
        for o in &loaded.objects {
            match &o.object {
                Object::Service(svc) => {
                    let s = Service::from_kubernetes(svc, "cluster.local");
                    assert_eq!(s.registry, Registry::Kubernetes);
                    assert!(s.hostname.ends_with(".svc.cluster.local"), "{}", file.rel);
                    for (p, declared) in s.ports.iter().zip(&svc.spec.ports) {
                        let prefix = declared.name.split('-').next().unwrap_or_default();
                        let named_http = matches!(
                            prefix.to_ascii_lowercase().as_str(),
                            "http" | "http2" | "grpc"
                        );
                        if declared.app_protocol.is_none()
                            && declared.protocol != "UDP"
                            && named_http
                        {
                            assert!(p.protocol.is_http(), "{}: port {}", file.rel, declared.name);
                        }
                    }
                    kube += 1;
                }
                Object::ServiceEntry(se) => {
                    let services = Service::from_service_entry(se);
                    assert!(services.len() >= se.spec.hosts.len().min(1), "{}", file.rel);
                    for s in &services {
                        assert!(se.spec.hosts.contains(&s.hostname), "{}", file.rel);
                        for (p, declared) in s.ports.iter().zip(&se.spec.ports) {
                            if !declared.protocol.is_empty() {
                                assert_eq!(
                                    p.protocol.as_str().to_ascii_lowercase(),
                                    declared.protocol.to_ascii_lowercase(),
                                    "{}: {}",
                                    file.rel,
                                    s.hostname
                                );
                            }
                        }
                    }
                    external += services.len();
                }
                _ => {}
            }
        }
    }
    assert!(
        kube > 50 && external > 50,
        "{kube} Kubernetes services, {external} from ServiceEntries"
    );
}

/// Every Pod and WorkloadEntry in the corpus becomes a workload with its labels, and the
/// mTLS mode follows the `security.istio.io/tlsMode` label or, for entries without it, the
/// service account.
#[test]
fn corpus_workloads() {
    use mesh_core::model::{TLS_MODE_LABEL, TlsMode, Workload};
    let mut count = 0;
    for file in support::corpus_files() {
        let loaded = Loader::new(LoadOptions::lenient()).load_str(&file.text, &file.rel);
        for o in &loaded.objects {
            let (w, has_account) = match &o.object {
                Object::Pod(p) => (Workload::from_pod(p), true),
                Object::WorkloadEntry(we) => (
                    Workload::from_workload_entry(we),
                    !we.spec.service_account.is_empty(),
                ),
                _ => continue,
            };
            let want = match w.labels.get(TLS_MODE_LABEL).map(String::as_str) {
                Some("istio") => TlsMode::Istio,
                Some(_) => TlsMode::Disabled,
                None if w.kind == mesh_core::model::WorkloadKind::WorkloadEntry && has_account => {
                    TlsMode::Istio
                }
                None => TlsMode::Disabled,
            };
            assert_eq!(w.tls_mode, want, "{}: {}", file.rel, w.name);
            assert!(w.matches(&w.labels), "{}: {}", file.rel, w.name);
            count += 1;
        }
    }
    assert!(count > 10, "only {count} workloads in the corpus");
}

/// Bookinfo as kept in git (Deployments, no addresses) becomes a mesh whose reviews subsets
/// have the right endpoints.
#[test]
fn bookinfo_manifests_become_a_mesh() {
    use mesh_core::model::{MeshOptions, Store};
    use mesh_core::translate::endpoints::{EndpointOptions, cluster_load_assignment};
    use std::collections::BTreeMap;

    let path = support::corpus_root().join("istio/samples/bookinfo/platform/kube/bookinfo.yaml");
    let text = std::fs::read_to_string(&path).expect("bookinfo.yaml");
    let objects = load::from_str(&text, "bookinfo.yaml").expect("bookinfo loads");
    let mut store = Store::new(MeshOptions::default());
    let changes = store.apply_all(objects.into_iter().map(|l| l.object));
    assert!(changes.touches("Deployment") && changes.touches("Service"));
    let snap = store.snapshot();
    assert_eq!(snap.workloads().len(), 6, "one pod per Deployment");
    let reviews = snap
        .services_for_host("reviews.default.svc.cluster.local")
        .next()
        .expect("reviews");
    assert!(reviews.has_vip());
    for (version, want) in [("v1", 1), ("v2", 1), ("v3", 1), ("", 3)] {
        let subset: BTreeMap<String, String> = if version.is_empty() {
            BTreeMap::new()
        } else {
            BTreeMap::from([("version".to_string(), version.to_string())])
        };
        let cla = cluster_load_assignment(
            "c",
            reviews,
            &reviews.ports[0],
            &subset,
            snap.workloads(),
            &EndpointOptions::default(),
        );
        let n: usize = cla.endpoints.iter().map(|l| l.lb_endpoints.len()).sum();
        assert_eq!(n, want, "reviews subset {version:?}");
    }
}
