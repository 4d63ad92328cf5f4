//! The mesh model at scale: 1,000 services in 50 namespaces with 5 pods each (6,000 objects).
//! Applying them to a store, taking a snapshot, and building every service's endpoints.
//! Figures go in `docs/perf.md`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mesh_core::api::Object;
use mesh_core::model::{MeshOptions, Store};
use mesh_core::translate::endpoints::{EndpointOptions, cluster_load_assignment};

const SERVICES: usize = 1_000;
const PODS_PER_SERVICE: usize = 5;

fn objects() -> Vec<Object> {
    let mut out = Vec::new();
    for i in 0..SERVICES {
        let ns = format!("ns-{}", i % 50);
        let app = format!("svc-{i}");
        let svc: mesh_core::api::k8s::Service = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": app, "namespace": ns},
            "spec": {"clusterIP": format!("10.96.{}.{}", i / 250, i % 250 + 1), "selector": {"app": app},
                     "ports": [{"name": "http", "port": 8080}, {"name": "grpc", "port": 9090}]}
        }))
        .expect("a Service");
        out.push(Object::Service(svc));
        for p in 0..PODS_PER_SERVICE {
            let pod: mesh_core::api::k8s::Pod = serde_json::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{app}-{p}"), "namespace": ns,
                             "labels": {"app": app, "version": format!("v{}", p % 2),
                                        "security.istio.io/tlsMode": "istio"}},
                "spec": {"serviceAccountName": app},
                "status": {"phase": "Running", "podIP": format!("10.{}.{}.{}", 100 + i / 250, i % 250, p + 1)}
            }))
            .expect("a Pod");
            out.push(Object::Pod(pod));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let objs = objects();
    let mut group = c.benchmark_group("model");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("store apply 6,000 objects", |b| {
        b.iter(|| {
            let mut store = Store::new(MeshOptions::default());
            black_box(store.apply_all(objs.iter().cloned()))
        });
    });
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objs.iter().cloned());
    group.bench_function("snapshot of 6,000 objects", |b| {
        b.iter(|| black_box(store.snapshot()));
    });
    let snap = store.snapshot();
    let no_subset = BTreeMap::new();
    group.bench_function("endpoints of 2,000 service ports", |b| {
        b.iter(|| {
            let mut n = 0;
            for s in snap.services() {
                for port in &s.ports {
                    let cla = cluster_load_assignment(
                        "c",
                        s,
                        port,
                        &no_subset,
                        snap.workloads(),
                        &EndpointOptions::default(),
                    );
                    n += cla.endpoints.len();
                }
            }
            black_box(n)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
