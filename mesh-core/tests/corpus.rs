//! Every YAML file of the Istio corpus (`../shared/istio-corpus`, real Istio configuration and
//! istiod's own test inputs) loads strictly, round-trips, and validates as Istio says it should.

mod support;

use std::collections::BTreeMap;

use mesh_core::api::{Kind, Object};
use mesh_core::load::{LoadOptions, Loader};
use mesh_core::validate;
use support::{CorpusFile, corpus_files};

/// Files that hold no Kubernetes objects, and why.
const NOT_OBJECTS: &[(&str, &str)] = &[
    (
        "istio/pilot/pkg/xds/testdata/none_",
        "Envoy xDS responses (JSON), not Kubernetes objects",
    ),
    (
        "-out.yaml",
        "Envoy RBAC filters istiod generates, not Kubernetes objects",
    ),
    (
        "-out1.yaml",
        "Envoy RBAC filters istiod generates, not Kubernetes objects",
    ),
    (
        "-out2.yaml",
        "Envoy RBAC filters istiod generates, not Kubernetes objects",
    ),
    (
        "analyzers/testdata/common/meshconfig.yaml",
        "MeshConfig, not a Kubernetes object",
    ),
    (
        "analyzers/testdata/common/meshnetworks.yaml",
        "MeshNetworks, not a Kubernetes object",
    ),
    (
        "analyzers/testdata/mesh-with-automtls.yaml",
        "MeshConfig, not a Kubernetes object",
    ),
    (
        "analyzers/testdata/telemetry-lightstep-meshconfig.yaml",
        "MeshConfig, not a Kubernetes object",
    ),
    (
        "analyzers/testdata/serviceentry-missing-addresses-protocol-mesh-cfg.yaml",
        "MeshConfig, not a Kubernetes object",
    ),
    (
        "analyzers/testdata/serviceentry-address-allocated-mesh-cfg.yaml",
        "MeshConfig, not a Kubernetes object",
    ),
    (
        "istio/pkg/config/analysis/msg/messages.yaml",
        "the analyzer message catalogue",
    ),
    (
        "customresourcedefinitions.gen.yaml",
        "CRD definitions: loaded as untyped objects by another test",
    ),
    (
        "crd-all.gen.yaml",
        "CRD definitions: loaded as untyped objects by another test",
    ),
];

/// Files that are a validation oracle of their own, checked document by document in
/// `crd_schema_oracle`.
const ORACLE: &str = "pkg/config/validation/testdata/crds/";

/// Objects istiod rejects on purpose or by nature: (file suffix, object name, why). Each must
/// indeed be rejected, so this list cannot hide a regression in either direction.
const EXPECTED_INVALID: &[(&str, &str, &str)] = &[
    (
        "analyzers/testdata/deprecation.yaml",
        "productpage",
        "tests the deprecation analyzer; its HTTP rule has no route, redirect or direct response",
    ),
    (
        "analyzers/testdata/k8sgateway-selector.yaml",
        "telemetry-effective",
        "tests IST0166 IneffectiveSelector; sets both selector and targetRef, which the webhook refuses",
    ),
    (
        "analyzers/testdata/virtualservice_destinationhosts.yaml",
        "reviews-bogushost",
        "tests destination hosts; one route has no destination",
    ),
    (
        "analyzers/testdata/virtualservice_gateways.yaml",
        "httpbin",
        "tests gateway references; the VirtualService has no http, tcp or tls rules",
    ),
    (
        "analyzers/testdata/virtualservice_gateways.yaml",
        "httpbin-bogus",
        "tests gateway references; the VirtualService has no http, tcp or tls rules",
    ),
    (
        "analyzers/testdata/virtualservice_gateways.yaml",
        "httpbin-mesh",
        "tests gateway references; no rules, and host `*` bound to the mesh gateway",
    ),
    (
        "analyzers/testdata/virtualservice_gateways.yaml",
        "cross-test",
        "tests gateway references; the VirtualService has no http, tcp or tls rules",
    ),
    (
        "analyzers/testdata/authorizationpolicies.yaml",
        "istio",
        "a DNS ServiceEntry without endpoints whose host `*.kiali.io` is not an FQDN (istiod: hosts must be FQDN...)",
    ),
    (
        "analyzers/testdata/condition-analyzer.yaml",
        "negative-condition-svcEntry",
        "tests status conditions; upper-case name and no hosts",
    ),
    (
        "analyzers/testdata/virtualservice_destinationhosts.yaml",
        "service-entry-ignore",
        "host `*`, which a ServiceEntry may not have",
    ),
    (
        "analyzers/testdata/envoy-filter-remove-operation.yaml",
        "test-remove-2",
        "tests IST0154; applyTo HTTP_ROUTE with a listener match",
    ),
    (
        "analyzers/testdata/envoy-filter-remove-operation.yaml",
        "test-remove-3",
        "tests IST0154; applyTo HTTP_ROUTE with a listener match",
    ),
    (
        "analyzers/testdata/envoy-filter-remove-operation.yaml",
        "test-remove-4",
        "tests IST0154; a config patch without a patch",
    ),
    (
        "analyzers/testdata/relative-envoy-filter-operation.yaml",
        "test-relative-3",
        "tests IST0151; applyTo CLUSTER with a listener match",
    ),
    (
        "analyzers/testdata/gateway-secrets.yaml",
        "defaultgateway-bogusCredentialName",
        "tests IST0161 InvalidGatewayCredential; Kubernetes refuses its upper-case name",
    ),
    (
        "analyzers/testdata/conflicting-gateways-invalid-port.yaml",
        "alpha",
        "tests IST0145 ConflictingGateways; a server without a port",
    ),
    (
        "analyzers/testdata/conflicting-gateways-invalid-port.yaml",
        "beta",
        "tests IST0145 ConflictingGateways; a server without a port",
    ),
    (
        "analyzers/testdata/conflicting-gateways-multiple-ports.yaml",
        "alpha",
        "tests IST0145 ConflictingGateways; two servers share a port name",
    ),
    (
        "analyzers/testdata/conflicting-gateways-multiple-ports.yaml",
        "beta",
        "tests IST0145 ConflictingGateways; two servers share a port name",
    ),
    (
        "analyzers/testdata/gateway-no-workload.yaml",
        "httpbin-gateway",
        "tests IST0101 for the selector; the Gateway has no servers",
    ),
    (
        "analyzers/testdata/gateway-secrets.yaml",
        "defaultgateway-nocredential",
        "tests IST0161; SIMPLE TLS with neither credentialName nor certificate files",
    ),
    (
        "analyzers/testdata/sidecar-default-selector.yaml",
        "namespace-scoped",
        "tests IST0111; an empty Sidecar (istiod: empty configuration provided)",
    ),
    (
        "analyzers/testdata/sidecar-default-selector.yaml",
        "pod-scoped",
        "tests IST0111; an empty Sidecar",
    ),
    (
        "analyzers/testdata/sidecar-default-selector.yaml",
        "namespace-not-ambient",
        "tests IST0111; an empty Sidecar (two objects of this name)",
    ),
    (
        "analyzers/testdata/virtualservice_gateways.yaml",
        "httpbin-gateway",
        "tests gateway references; the Gateway has no servers",
    ),
    (
        "analyzers/testdata/virtualservice_gateways.yaml",
        "crossnamespace-gw",
        "tests gateway references; the Gateway has no servers",
    ),
    (
        "analyzers/testdata/virtualservice_host_not_found_gateway.yaml",
        "testing-gateway-01-test-04",
        "tests IST0132; two servers share the port name `http`",
    ),
    (
        "analyzers/testdata/virtualservice_host_not_found_gateway_beta.yaml",
        "testing-gateway-01-test-04",
        "tests IST0132; two servers share the port name `http`",
    ),
    (
        "tests/testdata/networking/ingress-gateway/configs.yaml",
        "BACKEND",
        "istiod's translation test reads it from a file; Kubernetes refuses upper-case names",
    ),
    (
        "analyzers/testdata/virtualservice_internal_gateway_ref.yaml",
        "httpbin",
        "tests IST0165 ReferencedInternalGateway; `gateway~...` is not a valid gateway name for users",
    ),
];

/// Objects that do not load strictly, and why: (file suffix, object name, why).
const EXPECTED_LOAD_FAILURES: &[(&str, &str, &str)] = &[
    (
        "tests/testdata/config/rule-websocket-route.yaml",
        "websocket-route",
        "uses `websocketUpgrade`, removed from the VirtualService schema (kubectl's strict validation refuses it too)",
    ),
    (
        "tests/testdata/config/rule-websocket-route.yaml",
        "websocket-route2",
        "uses `websocketUpgrade`, removed from the VirtualService schema (kubectl's strict validation refuses it too)",
    ),
    (
        "analyzers/testdata/deprecation.yaml",
        "istio-multicluster-egressgateway",
        "tests IST0002 Deprecated: `workloadLabels` and `filters`, removed from the EnvoyFilter schema",
    ),
    (
        "analyzers/testdata/envoy-filter-add-operation.yaml",
        "test-auth-4",
        "`match.app` is not an EnvoyFilter field",
    ),
    (
        "analyzers/testdata/envoy-filter-add-operation.yaml",
        "test-auth-5",
        "`match.app` is not an EnvoyFilter field",
    ),
];

fn skipped(file: &CorpusFile) -> bool {
    NOT_OBJECTS.iter().any(|(p, _)| file.rel.contains(p)) || file.rel.contains(ORACLE)
}

fn listed(list: &[(&str, &str, &str)], file: &CorpusFile, name: &str) -> bool {
    list.iter()
        .any(|(f, n, _)| file.rel.ends_with(f) && *n == name)
}

/// Gateway API conversions (`*.golden`) are config istiod generates for itself: it never goes
/// through the webhook (unresolved backends have an empty host by design, names carry `~`, and
/// `internal.istio.io/*` annotations are set). They must load; they are not validated.
fn is_generated(file: &CorpusFile) -> bool {
    file.rel.ends_with(".golden")
}

#[test]
fn every_object_loads_strictly() {
    let loader = Loader::new(LoadOptions::strict());
    let mut failures = Vec::new();
    let mut expected_seen = std::collections::BTreeSet::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    // The oracle's `*-valid` files hold plain objects too.
    let files = corpus_files();
    let valid_oracle = |f: &CorpusFile| f.rel.contains(ORACLE) && f.rel.ends_with("-valid.yaml");
    for file in files.iter().filter(|f| !skipped(f) || valid_oracle(f)) {
        let out = loader.load_str(&file.text, &file.rel);
        for e in &out.errors {
            let name = e.object().map(|o| o.name.as_str()).unwrap_or_default();
            if listed(EXPECTED_LOAD_FAILURES, file, name) {
                expected_seen.insert((file.rel.clone(), name.to_string()));
            } else {
                failures.push(e.to_string());
            }
        }
        for o in &out.objects {
            let kind = o
                .object
                .kind()
                .map_or("(untyped)".into(), |k| k.to_string());
            *counts.entry(kind).or_default() += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} load errors:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        expected_seen.len(),
        EXPECTED_LOAD_FAILURES.len(),
        "an expected load failure loads now"
    );
    // The corpus exercises every Istio kind we model.
    for kind in Kind::ALL.iter().filter(|k| k.is_istio()) {
        assert!(
            counts.get(kind.as_str()).copied().unwrap_or(0) > 0,
            "no {kind} in the corpus: {counts:?}"
        );
    }
    let total: usize = counts.values().sum();
    assert!(
        total > 1500,
        "expected the whole corpus, loaded {total}: {counts:?}"
    );
}

#[test]
fn every_object_round_trips() {
    let loader = Loader::new(LoadOptions::strict());
    for file in corpus_files().iter().filter(|f| !skipped(f)) {
        for loaded in loader.load_str(&file.text, &file.rel).objects {
            let json = serde_json::to_string(&loaded.object).expect("serializes");
            let again = Loader::new(LoadOptions::strict()).load_str(&json, "round-trip");
            assert!(
                again.errors.is_empty(),
                "{}: reloading failed: {:?}\n{json}",
                file.rel,
                again.errors
            );
            assert_eq!(again.objects.len(), 1);
            assert_eq!(
                again.objects[0].object, loaded.object,
                "{}: round trip changed the object",
                file.rel
            );
        }
    }
}

#[test]
fn istio_objects_validate_as_istio_says() {
    let loader = Loader::new(LoadOptions::strict());
    let mut failures = Vec::new();
    let mut validated = 0;
    let mut expected_rejected = std::collections::BTreeSet::new();
    for file in corpus_files()
        .iter()
        .filter(|f| !skipped(f) && !is_generated(f))
    {
        for loaded in loader.load_str(&file.text, &file.rel).objects {
            if !loaded.object.kind().is_some_and(Kind::is_istio) {
                continue;
            }
            validated += 1;
            let name = &loaded.object.metadata().name;
            let report = validate::validate(&loaded.object);
            if listed(EXPECTED_INVALID, file, name) {
                if report.is_ok() {
                    failures.push(format!(
                        "{}: {name} should be rejected, and is not",
                        file.rel
                    ));
                }
                expected_rejected.insert((file.rel.clone(), name.clone()));
                continue;
            }
            for e in &report.errors {
                failures.push(format!(
                    "{}:{}:{}: {} {name}: {e}",
                    file.rel,
                    loaded.origin.document,
                    loaded.origin.line,
                    loaded.object.kind_name()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} unexpected validation errors:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        expected_rejected.len(),
        EXPECTED_INVALID.len(),
        "an object listed as invalid is missing"
    );
    assert!(validated > 500, "validated only {validated} Istio objects");
}

/// `pkg/config/validation/testdata/crds`: objects the CRD schema accepts (`*-valid.yaml`) and
/// rejects (`*-invalid.yaml`, each document with the API server's message in `_err`).
#[test]
fn crd_schema_oracle() {
    let loader = Loader::new(LoadOptions::strict());
    let mut failures = Vec::new();
    let files: Vec<CorpusFile> = corpus_files()
        .into_iter()
        .filter(|f| f.rel.contains("pkg/config/validation/testdata/crds/"))
        .collect();
    assert!(files.len() >= 20, "crd oracle files missing");
    let mut rejected = 0;
    for file in &files {
        let invalid = file.rel.ends_with("-invalid.yaml");
        for (i, doc) in support::documents(&file.text).into_iter().enumerate() {
            let (expected_err, body) = support::strip_err_key(&doc);
            if body.trim().is_empty() {
                continue;
            }
            let out = loader.load_str(&body, &file.rel);
            let mut problems: Vec<String> = out.errors.iter().map(ToString::to_string).collect();
            for o in &out.objects {
                problems.extend(
                    validate::validate(&o.object)
                        .errors
                        .iter()
                        .map(ToString::to_string),
                );
            }
            match (invalid, problems.is_empty()) {
                (false, false) => failures.push(format!(
                    "{} doc {i}: valid per the CRD, we reject it: {problems:?}",
                    file.rel
                )),
                (true, true) => failures.push(format!(
                    "{} doc {i}: the API server rejects it ({}), we accept it",
                    file.rel,
                    expected_err.unwrap_or_default()
                )),
                (true, false) => rejected += 1,
                (false, true) => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements with the CRD schema:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        rejected >= 60,
        "only {rejected} invalid documents were seen"
    );
}

/// `virtualservice_dupmatches.yaml` is valid, with the unreachable-rule and ineffective-match
/// warnings `istioctl analyze` reports for it (analyzers_test.go, case "dupmatches").
#[test]
fn duplicate_matches_warn() {
    let file = corpus_files()
        .into_iter()
        .find(|f| {
            f.rel
                .ends_with("analyzers/testdata/virtualservice_dupmatches.yaml")
        })
        .expect("dupmatches file");
    let objects = mesh_core::load::from_str(&file.text, &file.rel).expect("loads");
    // Istio's two messages: a whole rule "not used" (IST0130 VirtualServiceUnreachableRule) and
    // one match of a rule "is not used" (IST0131 VirtualServiceIneffectiveMatch).
    let warned = |name: &str, ineffective_match: bool| {
        objects.iter().any(|o| {
            o.object.metadata().name == name
                && validate::validate(&o.object).warnings.iter().any(|w| {
                    w.message.contains("not used")
                        && w.path.to_string().contains(".match[") == ineffective_match
                })
        })
    };
    for name in [
        "sample-foo-cluster01",
        "duplicate-match",
        "duplicate-tcp-match",
        "duplicate-empty-tcp",
        "tls-routing",
    ] {
        assert!(warned(name, false), "{name}: no unreachable-rule warning");
    }
    for name in [
        "almost-duplicate-match",
        "duplicate-match",
        "almost-duplicate-tcp-match",
        "duplicate-tcp-match",
        "tls-routing-almostmatch",
    ] {
        assert!(warned(name, true), "{name}: no ineffective-match warning");
    }
}

#[test]
fn untyped_kinds_keep_kind_and_metadata() {
    let loader = Loader::new(LoadOptions::strict());
    let mut untyped = BTreeMap::<String, usize>::new();
    for file in corpus_files()
        .iter()
        .filter(|f| !skipped(f) || f.rel.ends_with("crd-all.gen.yaml"))
    {
        for loaded in loader.load_str(&file.text, &file.rel).objects {
            if let Object::Untyped(u) = &loaded.object {
                assert!(!u.kind.is_empty() && !u.api_version.is_empty());
                assert!(
                    !u.metadata.name.is_empty(),
                    "{}: untyped {} without a name",
                    file.rel,
                    u.kind
                );
                *untyped.entry(u.kind.clone()).or_default() += 1;
            }
        }
    }
    for kind in [
        "Deployment",
        "CustomResourceDefinition",
        "HTTPRoute",
        "ConfigMap",
    ] {
        assert!(untyped.contains_key(kind), "no untyped {kind}: {untyped:?}");
    }
}
