//! Loading and validating a generated 10,000-object YAML stream (issue target: under 1 s in
//! release on the reference machine). Figures go in `docs/perf.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mesh_core::{load, validate};

/// Realistic objects of the common kinds, one template per kind, `{i}` replaced by the index.
const TEMPLATES: &[&str] = &[
    r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews-{i}
  namespace: ns-{n}
spec:
  hosts:
  - reviews-{i}.ns-{n}.svc.cluster.local
  http:
  - name: jason
    match:
    - headers:
        end-user:
          exact: jason
      uri:
        prefix: /api/v{i}
    route:
    - destination:
        host: reviews-{i}.ns-{n}.svc.cluster.local
        subset: v2
    retries:
      attempts: 3
      perTryTimeout: 2s
      retryOn: 5xx,reset
  - route:
    - destination:
        host: reviews-{i}.ns-{n}.svc.cluster.local
        subset: v1
      weight: 90
    - destination:
        host: reviews-{i}.ns-{n}.svc.cluster.local
        subset: v3
      weight: 10
    timeout: 10s
"#,
    r#"apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews-{i}
  namespace: ns-{n}
spec:
  host: reviews-{i}.ns-{n}.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 100
        connectTimeout: 30ms
      http:
        http2MaxRequests: 1000
        maxRequestsPerConnection: 10
    outlierDetection:
      consecutive5xxErrors: 7
      interval: 5m
      baseEjectionTime: 15m
    loadBalancer:
      simple: LEAST_REQUEST
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
    trafficPolicy:
      loadBalancer:
        consistentHash:
          httpHeaderName: x-user
"#,
    r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: external-{i}
  namespace: ns-{n}
spec:
  hosts:
  - api-{i}.example.com
  ports:
  - number: 443
    name: https
    protocol: TLS
  location: MESH_EXTERNAL
  resolution: DNS
"#,
    r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: httpbin-{i}
  namespace: ns-{n}
spec:
  selector:
    matchLabels:
      app: httpbin-{i}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/ns-{n}/sa/sleep"]
    to:
    - operation:
        methods: ["GET", "POST"]
        paths: ["/info*", "/data/{*}"]
    when:
    - key: request.headers[version]
      values: ["v1", "v2"]
"#,
    r#"apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: workload-{i}
  namespace: ns-{n}
spec:
  selector:
    matchLabels:
      app: app-{i}
  mtls:
    mode: STRICT
  portLevelMtls:
    8080:
      mode: PERMISSIVE
"#,
    r#"apiVersion: v1
kind: Service
metadata:
  name: reviews-{i}
  namespace: ns-{n}
  labels:
    app: reviews-{i}
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: reviews-{i}
"#,
    r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-{i}
  namespace: ns-{n}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: reviews-{i}
  template:
    metadata:
      labels:
        app: reviews-{i}
    spec:
      containers:
      - name: reviews
        image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.3
        ports:
        - containerPort: 9080
"#,
];

fn stream(objects: usize) -> String {
    let mut out = String::with_capacity(objects * 700);
    for i in 0..objects {
        let t = TEMPLATES[i % TEMPLATES.len()];
        out.push_str("---\n");
        out.push_str(
            &t.replace("{i}", &i.to_string())
                .replace("{n}", &(i % 50).to_string()),
        );
    }
    out
}

fn bench(c: &mut Criterion) {
    let text = stream(10_000);
    // The stream must be valid, or the benchmark measures the error path.
    let objects =
        load::from_str(&text, "bench.yaml").unwrap_or_else(|e| panic!("bench input invalid: {e}"));
    assert_eq!(objects.len(), 10_000);
    for o in &objects {
        let report = validate::validate(&o.object);
        assert!(report.is_ok(), "bench input invalid: {report}");
    }

    let mut group = c.benchmark_group("10k-objects");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("load", |b| {
        b.iter(|| load::from_str(black_box(&text), "bench.yaml"))
    });
    group.bench_function("validate", |b| {
        b.iter(|| {
            objects
                .iter()
                .map(|o| validate::validate(&o.object).errors.len())
                .sum::<usize>()
        })
    });
    group.bench_function("load+validate", |b| {
        b.iter(|| {
            let objects = load::from_str(black_box(&text), "bench.yaml").unwrap_or_default();
            objects
                .iter()
                .map(|o| validate::validate(&o.object).errors.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
