//! Whole-sidecar translation at scale: 1,000 services x 3 subsets x 10 endpoints, with 1,000
//! VirtualServices and 1,000 DestinationRules, in 10 namespaces. Full config for one sidecar
//! that sees everything; the same for a `Sidecar`-scoped proxy that imports its own namespace;
//! and regenerating the one route configuration a VirtualService edit touches.
//! Figures go in `docs/perf.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mesh_core::api::Object;
use mesh_core::model::{MeshOptions, Proxy, ProxyType, Store};
use mesh_core::translate::cache::{RouteCache, TranslationCache};
use mesh_core::translate::sidecar::{SidecarOptions, SidecarTranslator, translate_sidecar};
use mesh_core::translate::translate_proxy_shared;

const SERVICES: usize = 1_000;
const NAMESPACES: usize = 10;
const SUBSETS: usize = 3;
const ENDPOINTS: usize = 10;

fn obj(v: serde_json::Value) -> Object {
    let text = serde_json::to_string(&v).expect("json");
    mesh_core::load::from_str(&text, "bench.json")
        .expect("loads")
        .remove(0)
        .object
}

/// The mesh; `version` changes the VirtualService of service 0.
fn objects(version: u32) -> Vec<Object> {
    let mut out = Vec::new();
    for i in 0..SERVICES {
        let ns = format!("ns-{}", i % NAMESPACES);
        let app = format!("svc-{i}");
        out.push(obj(serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": app, "namespace": ns},
            "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 8080}]}
        })));
        for p in 0..ENDPOINTS {
            out.push(obj(serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("{app}-{p}"), "namespace": ns,
                             "labels": {"app": app, "version": format!("v{}", p % SUBSETS),
                                        "security.istio.io/tlsMode": "istio"}},
                "spec": {"serviceAccountName": app},
                "status": {"phase": "Running"}
            })));
        }
        let subsets: Vec<serde_json::Value> = (0..SUBSETS)
            .map(|s| serde_json::json!({"name": format!("v{s}"), "labels": {"version": format!("v{s}")}}))
            .collect();
        out.push(obj(serde_json::json!({
            "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": app, "namespace": ns},
            "spec": {"host": app, "subsets": subsets,
                     "trafficPolicy": {"connectionPool": {"http": {"http1MaxPendingRequests": 100}},
                                       "outlierDetection": {"consecutive5xxErrors": 5}}}
        })));
        let timeout = if i == 0 {
            format!("{}s", version + 1)
        } else {
            "5s".into()
        };
        out.push(obj(serde_json::json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": app, "namespace": ns},
            "spec": {"hosts": [app], "http": [
                {"match": [{"headers": {"x-canary": {"exact": "1"}}}],
                 "route": [{"destination": {"host": app, "subset": "v2"}}]},
                {"route": [{"destination": {"host": app, "subset": "v0"}, "weight": 90},
                           {"destination": {"host": app, "subset": "v1"}, "weight": 10}],
                 "timeout": timeout, "retries": {"attempts": 2}}
            ]}
        })));
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objects(0));
    let snap = store.snapshot();
    let client = snap
        .workloads()
        .iter()
        .find(|w| w.name == "svc-0-0")
        .expect("a client pod");
    let proxy = Proxy::for_workload(client, ProxyType::Sidecar, "cluster.local");
    let options = SidecarOptions::default();
    // For profilers and `perf stat`: `COLD_RUNS=n` translates the first proxy after start
    // (encoded, on `COLD_THREADS` threads, default one) n times, then exits without
    // benchmarking.
    if let Ok(n) = std::env::var("COLD_RUNS") {
        let threads = std::env::var("COLD_THREADS").map_or(1, |t| t.parse().expect("a count"));
        for _ in 0..n.parse::<usize>().expect("COLD_RUNS: a count") {
            let cache = TranslationCache::with_threads(threads);
            let routes = RouteCache::default();
            black_box(mesh_core::translate::translate_proxy_shared_encoded(
                &snap, &proxy, &options, &cache, &routes,
            ));
        }
        std::process::exit(0);
    }

    let out = translate_sidecar(&snap, &proxy, &options);
    eprintln!(
        "full config: {} listeners, {} routes ({} virtual hosts), {} clusters, {} endpoint assignments",
        out.listeners.len(),
        out.routes.len(),
        out.routes
            .iter()
            .map(|r| r.virtual_hosts.len())
            .sum::<usize>(),
        out.clusters.len(),
        out.endpoints.len()
    );

    // Where one translation spends its time (informational).
    let t = std::time::Instant::now();
    let tr = SidecarTranslator::new(&snap, &proxy, &options);
    let t_new = t.elapsed();
    let t = std::time::Instant::now();
    black_box(tr.listeners());
    let t_lds = t.elapsed();
    let t = std::time::Instant::now();
    black_box(tr.route("8080"));
    let t_rds = t.elapsed();
    let t = std::time::Instant::now();
    let clusters = tr.clusters();
    let t_cds = t.elapsed();
    let t = std::time::Instant::now();
    for c in &clusters {
        black_box(tr.endpoints(&c.name));
    }
    let t_eds = t.elapsed();
    eprintln!(
        "one pass: scope {t_new:?}, LDS {t_lds:?}, RDS {t_rds:?}, CDS {t_cds:?}, EDS {t_eds:?}"
    );
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    let t = std::time::Instant::now();
    let encoded = tr.endpoints_encoded_many(&names);
    let t_eds_encoded = t.elapsed();
    let t = std::time::Instant::now();
    drop(encoded);
    let t_drop_eds = t.elapsed();
    let t = std::time::Instant::now();
    drop(clusters);
    let t_drop_cds = t.elapsed();
    eprintln!(
        "encoded EDS {t_eds_encoded:?} (dropped in {t_drop_eds:?}); typed clusters dropped in {t_drop_cds:?}"
    );

    // The first proxy after start, on one thread and on all, as minimum and median of 30 runs
    // (informational: the minimum is the least disturbed by a noisy machine).
    for threads in [1, 0] {
        let mut runs: Vec<Duration> = (0..30)
            .map(|_| {
                let cache = TranslationCache::with_threads(threads);
                let routes = RouteCache::default();
                let t = std::time::Instant::now();
                let out = mesh_core::translate::translate_proxy_shared_encoded(
                    &snap, &proxy, &options, &cache, &routes,
                );
                let took = t.elapsed();
                drop((out, cache, routes));
                took
            })
            .collect();
        runs.sort();
        eprintln!(
            "first proxy after start, encoded, {} thread(s): min {:?}, median {:?}",
            TranslationCache::with_threads(threads).threads(),
            runs[0],
            runs[runs.len() / 2]
        );
    }

    let mut group = c.benchmark_group("sidecar");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function(
        "full config, 1,000 services x 3 subsets x 10 endpoints",
        |b| {
            b.iter(|| black_box(translate_sidecar(&snap, &proxy, &options)));
        },
    );

    // Every proxy after the first of a snapshot: clusters and assignments shared through a
    // TranslationCache (as the xDS server's generator does), the proxy's own listeners,
    // routes and inbound clusters built. Cycles through 100 proxies of all 10 namespaces, so
    // each iteration translates a different proxy; the cache is warmed by one pass first.
    let proxies: Vec<Proxy> = snap
        .workloads()
        .iter()
        .filter(|w| w.name.ends_with("-0"))
        .take(100)
        .map(|w| Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local"))
        .collect();
    let shared = TranslationCache::new();
    for p in &proxies {
        black_box(translate_proxy_shared(&snap, p, &options, &shared));
    }
    let mut next = 0;
    group.bench_function(
        "full config, shared clusters and endpoints warm (each further proxy)",
        |b| {
            b.iter(|| {
                next = (next + 1) % proxies.len();
                black_box(translate_proxy_shared(
                    &snap,
                    &proxies[next],
                    &options,
                    &shared,
                ))
            });
        },
    );
    // The same with route configurations encoded through a RouteCache kept across snapshots
    // (`translate_proxy_shared_encoded`).
    let shared_encoded = TranslationCache::new();
    let route_cache = RouteCache::default();
    for p in &proxies {
        black_box(mesh_core::translate::translate_proxy_shared_encoded(
            &snap,
            p,
            &options,
            &shared_encoded,
            &route_cache,
        ));
    }
    group.bench_function(
        "full config, shared, routes encoded, warm (each further proxy)",
        |b| {
            b.iter(|| {
                next = (next + 1) % proxies.len();
                black_box(mesh_core::translate::translate_proxy_shared_encoded(
                    &snap,
                    &proxies[next],
                    &options,
                    &shared_encoded,
                    &route_cache,
                ))
            });
        },
    );
    // The first proxy of a snapshot fills the cache for its namespace and locality.
    group.bench_function(
        "full config, shared caches cold (the first proxy of a snapshot)",
        |b| {
            b.iter(|| {
                let cache = TranslationCache::new();
                black_box(translate_proxy_shared(&snap, &proxy, &options, &cache))
            });
        },
    );

    // The same, as the xDS server translates it: route configurations and endpoint
    // assignments encoded, nothing cached (not even the route cache kept across snapshots).
    // Timed with the caches freed, then without: the time until the proxy's config is ready
    // (the xDS server frees a snapshot's caches when the next replaces it, outside its locks).
    let cold_encoded = || {
        let cache = TranslationCache::new();
        let routes = RouteCache::default();
        let out = mesh_core::translate::translate_proxy_shared_encoded(
            &snap, &proxy, &options, &cache, &routes,
        );
        (out, cache, routes)
    };
    group.bench_function(
        "full config, encoded, nothing cached (the first proxy after start)",
        |b| b.iter(|| black_box(cold_encoded())),
    );
    group.bench_function(
        "full config, encoded, nothing cached, cache freed outside the timing",
        |b| b.iter_with_large_drop(cold_encoded),
    );

    // After one VirtualService edit: the new snapshot, then only route configuration "8080".
    let mut edited = Store::new(MeshOptions::default());
    edited.apply_all(objects(0));
    let changes = edited.apply_all(objects(1));
    assert_eq!(changes.objects.len(), 1, "one VirtualService changed");
    let snap2 = edited.snapshot();
    group.bench_function(
        "route configuration after one VirtualService edit, uncached",
        |b| {
            b.iter(|| {
                let t = SidecarTranslator::new(&snap2, &proxy, &options);
                black_box(t.route("8080"))
            });
        },
    );
    // With a route cache warmed by the proxy's previous push: only the edited VirtualService's
    // virtual host is rebuilt. The new snapshot scopes its VirtualServices once for all proxies
    // (measured separately below), so that is done before timing.
    let cache = RouteCache::default();
    let before = SidecarTranslator::new(&snap, &proxy, &options);
    let old = before.route_encoded("8080", &cache).expect("route");
    black_box(snap2.mesh_virtual_services());
    let mut first = true;
    group.bench_function(
        "route configuration after one VirtualService edit, cached (encoded)",
        |b| {
            b.iter(|| {
                let t = SidecarTranslator::new(&snap2, &proxy, &options);
                let new = t.route_encoded("8080", &cache).expect("route");
                if first {
                    assert_ne!(new, old, "the edit shows");
                    first = false;
                }
                black_box(new)
            });
        },
    );
    // The first proxy of the edited snapshot, with the clusters and assignments of the
    // previous snapshot's cache (warmed by 100 proxies of all namespaces) carried over: the
    // carry-over itself, then the full config (typed routes and assignments rebuilt and
    // shared; or encoded, routes through the route cache of the previous push, as the xDS
    // server does).
    group.bench_function(
        "after one VirtualService edit: carry the cache over (once per snapshot)",
        |b| {
            b.iter(|| black_box(shared.carry_over(&snap, &snap2, &changes)));
        },
    );
    group.bench_function(
        "after one VirtualService edit: full config, cache carried over (the first proxy)",
        |b| {
            b.iter(|| {
                let cache = shared.carry_over(&snap, &snap2, &changes);
                black_box(translate_proxy_shared(&snap2, &proxy, &options, &cache))
            });
        },
    );
    group.bench_function(
        "after one VirtualService edit: full config, cache carried over, routes encoded (the first proxy)",
        |b| {
            b.iter(|| {
                let cache = shared_encoded.carry_over(&snap, &snap2, &changes);
                black_box(mesh_core::translate::translate_proxy_shared_encoded(
                    &snap2,
                    &proxy,
                    &options,
                    &cache,
                    &route_cache,
                ))
            });
        },
    );
    group.bench_function(
        "snapshot: scope 1,000 VirtualServices (once per snapshot)",
        |b| {
            b.iter(|| black_box(mesh_core::translate::scope::mesh_virtual_services(&snap2)));
        },
    );

    // A proxy whose Sidecar imports only its own namespace (1/10th of the mesh).
    let mut scoped = Store::new(MeshOptions::default());
    let mut objs = objects(0);
    objs.push(obj(serde_json::json!({
        "apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
        "metadata": {"name": "default", "namespace": "ns-0"},
        "spec": {"egress": [{"hosts": ["./*"]}]}
    })));
    scoped.apply_all(objs);
    let snap3 = scoped.snapshot();
    group.bench_function("full config, Sidecar-scoped to 100 services", |b| {
        b.iter(|| black_box(translate_sidecar(&snap3, &proxy, &options)));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
