//! istiod's own xDS benchmark fixtures (`pilot/pkg/xds/testdata/benchmarks/*.yaml`, Go templates
//! over N services) rendered and translated for the proxy `bench_test.go` uses (1.1.1.1,
//! namespace `default`, label `istio.io/benchmark: "true"`; a router for the gateway cases).
//! Reports, as `bench_test.go` does, time per xDS type and the kilobytes and resources per
//! response. Figures go in `docs/perf.md`.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mesh_core::model::{MeshOptions, Proxy, Snapshot, Store};
use mesh_core::translate::gateway::translate_gateway;
use mesh_core::translate::sidecar::{SidecarOptions, SidecarTranslator};
use prost::Message;

struct Case {
    name: &'static str,
    services: usize,
    instances: usize,
    router: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "gateways",
        services: 1000,
        instances: 1,
        router: true,
    },
    Case {
        name: "gateways",
        services: 100,
        instances: 1,
        router: true,
    },
    Case {
        name: "gateways-shared",
        services: 1000,
        instances: 1,
        router: true,
    },
    Case {
        name: "knative-gateway",
        services: 100,
        instances: 1,
        router: true,
    },
    Case {
        name: "http",
        services: 100,
        instances: 1,
        router: false,
    },
    Case {
        name: "http",
        services: 1000,
        instances: 1,
        router: false,
    },
    Case {
        name: "tcp",
        services: 100,
        instances: 1,
        router: false,
    },
    Case {
        name: "tls",
        services: 100,
        instances: 1,
        router: false,
    },
    Case {
        name: "auto",
        services: 100,
        instances: 1,
        router: false,
    },
    Case {
        name: "externalname",
        services: 100,
        instances: 1,
        router: false,
    },
    Case {
        name: "virtualservice",
        services: 100,
        instances: 1,
        router: false,
    },
    Case {
        name: "virtualservice",
        services: 1000,
        instances: 1,
        router: false,
    },
    Case {
        name: "telemetry-api",
        services: 100,
        instances: 1,
        router: false,
    },
    Case {
        name: "authorizationpolicy",
        services: 100,
        instances: 1,
        router: false,
    },
    Case {
        name: "serviceentry-workloadentry",
        services: 100,
        instances: 1000,
        router: false,
    },
];

fn snapshot(case: &Case) -> Option<Snapshot> {
    let path = support::corpus_root()
        .join("istio/pilot/pkg/xds/testdata/benchmarks")
        .join(format!("{}.yaml", case.name));
    let text = std::fs::read_to_string(&path).ok()?;
    let rendered = support::render_benchmark_template(&text, case.services, case.instances);
    let loaded = mesh_core::load::Loader::new(mesh_core::load::LoadOptions::lenient())
        .load_str(&rendered, case.name);
    if !loaded.errors.is_empty() {
        eprintln!(
            "{}: {} objects skipped: {}",
            case.name,
            loaded.errors.len(),
            loaded.errors[0]
        );
    }
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(loaded.objects.into_iter().map(|l| l.object));
    Some(store.snapshot())
}

fn proxy(router: bool) -> Proxy {
    let labels = [("istio.io/benchmark".to_string(), "true".to_string())].into();
    let ip = "1.1.1.1".parse().expect("ip");
    let mut p = if router {
        Proxy::router("v0", "default", ip, labels, "cluster.local")
    } else {
        Proxy::sidecar("v0", "default", ip, labels, "cluster.local")
    };
    p.dns_domain = "default.example.org".into();
    p
}

fn kb<M: Message>(items: &[M]) -> f64 {
    items.iter().map(|m| m.encoded_len()).sum::<usize>() as f64 / 1000.0
}

/// Prints resources and kilobytes per type, as `bench_test.go` reports them.
fn report(id: &str, out: &mesh_core::translate::sidecar::ProxyResources) {
    eprintln!(
        "{id}: LDS {} res {:.1} kB | RDS {} res {:.1} kB ({} vhosts) | CDS {} res {:.1} kB | EDS {} res {:.1} kB | warnings {}",
        out.listeners.len(),
        kb(&out.listeners),
        out.routes.len(),
        kb(&out.routes),
        out.routes
            .iter()
            .map(|r| r.virtual_hosts.len())
            .sum::<usize>(),
        out.clusters.len(),
        kb(&out.clusters),
        out.endpoints.len(),
        kb(&out.endpoints),
        out.warnings.len()
    );
}

fn bench(c: &mut Criterion) {
    let options = SidecarOptions::default();
    let mut group = c.benchmark_group("istiod-fixtures");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for case in CASES {
        let Some(snap) = snapshot(case) else {
            eprintln!("{}: fixture missing", case.name);
            continue;
        };
        let p = proxy(case.router);
        let id = format!("{}/{}", case.name, case.services);
        if case.router {
            let out = translate_gateway(&snap, &p, &options);
            report(&id, &out);
            group.bench_function(format!("{id} gateway, all types"), |b| {
                b.iter(|| black_box(translate_gateway(&snap, &p, &options)));
            });
            continue;
        }
        let t = SidecarTranslator::new(&snap, &p, &options);
        let out = t.translate();
        report(&id, &out);
        group.bench_function(format!("{id} LDS"), |b| {
            b.iter(|| black_box(SidecarTranslator::new(&snap, &p, &options).listeners()));
        });
        group.bench_function(format!("{id} RDS"), |b| {
            b.iter(|| {
                let t = SidecarTranslator::new(&snap, &p, &options);
                black_box(t.route_names().iter().filter_map(|n| t.route(n)).count())
            });
        });
        group.bench_function(format!("{id} CDS"), |b| {
            b.iter(|| black_box(SidecarTranslator::new(&snap, &p, &options).clusters()));
        });
        group.bench_function(format!("{id} EDS"), |b| {
            b.iter(|| {
                let t = SidecarTranslator::new(&snap, &p, &options);
                black_box(
                    out.endpoints
                        .iter()
                        .filter_map(|e| t.endpoints(&e.cluster_name))
                        .count(),
                )
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
