//! Authorization at scale: a namespace with 500 AuthorizationPolicies (ALLOW, DENY and AUDIT;
//! principals, namespaces, IP blocks, methods, paths with templates, ports, `when` conditions;
//! half namespace-wide, half selecting the workload or other workloads) and what one workload's
//! inbound side becomes: selection plus the HTTP and TCP RBAC filters. Figures go in
//! `docs/perf.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mesh_core::model::{MeshOptions, Proxy, ProxyType, Store};
use mesh_core::translate::sidecar::{SidecarOptions, SidecarTranslator};

fn policies(n: usize) -> String {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: prod}\nspec: {ports: [{name: http, port: 8080}, {name: tcp-admin, port: 9000}], selector: {app: api}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: api-0, namespace: prod, labels: {app: api, version: v1}}\nstatus: {podIP: 10.244.3.3}\n",
    );
    for i in 0..n {
        let action = ["ALLOW", "DENY", "AUDIT"][i % 3];
        let selector = match i % 4 {
            0 | 1 => String::new(),
            2 => "  selector: {matchLabels: {app: api}}\n".to_string(),
            _ => format!("  selector: {{matchLabels: {{app: other-{i}}}}}\n"),
        };
        yaml.push_str(&format!(
            "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p-{i}, namespace: prod}}\nspec:\n{selector}  action: {action}\n  rules:\n  - from:\n    - source: {{principals: [\"cluster.local/ns/ns-{i}/sa/sa-{i}\", \"cluster.local/ns/shared/sa/*\"], namespaces: [\"ns-{i}\"]}}\n    - source: {{ipBlocks: [\"10.{}.0.0/16\"], notIpBlocks: [\"10.{}.1.0/24\"]}}\n    to:\n    - operation: {{methods: [GET, POST], paths: [\"/api/v{}/*\", \"/items/{{*}}/detail\", \"/exact-{i}\"], notPaths: [\"/admin*\"], ports: [\"8080\"]}}\n    when:\n    - {{key: \"request.headers[x-tenant]\", values: [\"t-{i}\", \"t-*\"]}}\n    - {{key: source.namespace, notValues: [\"blocked-{i}\"]}}\n",
            i % 250,
            i % 250,
            i % 7
        ));
    }
    yaml
}

fn bench(c: &mut Criterion) {
    let objects = mesh_core::load::from_str(&policies(500), "authz.yaml").expect("loads");
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objects.into_iter().map(|l| l.object));
    let snap = store.snapshot();
    let w = snap
        .workloads()
        .iter()
        .find(|w| w.name == "api-0")
        .expect("workload");
    let proxy = Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local");
    let options = SidecarOptions::default();
    let (ports, _) = SidecarTranslator::new(&snap, &proxy, &options).inbound_ports();
    let rbac = |f: &str| ports[0].http_filters.iter().filter(|h| h.name == f).count();
    eprintln!(
        "workload ports: {}, HTTP filters: {} (RBAC {}), network filters: {}",
        ports.len(),
        ports[0].http_filters.len(),
        rbac("envoy.filters.http.rbac"),
        ports[0].network_filters.len()
    );
    let mut group = c.benchmark_group("authz");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function(
        "500 AuthorizationPolicies, one workload (select + HTTP and TCP RBAC)",
        |b| {
            b.iter(|| black_box(SidecarTranslator::new(&snap, &proxy, &options).inbound_ports()));
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
