//! AuthorizationPolicy to RBAC, checked against istiod's own oracle
//! (`pilot/pkg/security/authz/builder/testdata`: policies in, the RBAC filters istiod builds
//! out), for HTTP and TCP filter chains; and real Envoy accepting the filters.

mod support;

use std::collections::BTreeMap;

use mesh_core::api::{AuthorizationPolicy, Object};
use mesh_core::dump::{self, FieldNames};
use mesh_core::translate::authz::{TrustDomains, build_http, build_tcp};
use serde_json::Value;

const ORACLE: &str = "istio/pilot/pkg/security/authz/builder/testdata/";

fn oracle_file(rel: &str) -> String {
    let file = format!("{ORACLE}{rel}");
    support::corpus_files()
        .into_iter()
        .find(|f| f.rel == file)
        .unwrap_or_else(|| panic!("{file} in the corpus"))
        .text
}

/// The policies of an input file that apply to istiod's test proxy: namespace `foo`, labels
/// `app: httpbin, version: v1`.
fn policies(rel: &str) -> Vec<AuthorizationPolicy> {
    let labels = BTreeMap::from([
        ("app".to_string(), "httpbin".to_string()),
        ("version".to_string(), "v1".to_string()),
    ]);
    mesh_core::load::from_str(&oracle_file(rel), rel)
        .expect("oracle input loads")
        .into_iter()
        .filter_map(|l| match l.object {
            Object::AuthorizationPolicy(p) => Some(p),
            _ => None,
        })
        .filter(|p| p.metadata.namespace == "foo")
        .filter(|p| {
            p.spec
                .selector
                .as_ref()
                .is_none_or(|s| s.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v)))
        })
        .collect()
}

fn expected(rel: &str) -> Value {
    let docs = mesh_core::load::documents(&oracle_file(rel), rel).expect("oracle output parses");
    docs.into_iter().next().expect("one filter")
}

/// (case, input, outputs, trust domain and aliases)
type Case<'a> = (
    &'a str,
    &'a str,
    &'a [&'a str],
    Option<(&'a str, &'a [&'a str])>,
);

const HTTP_CASES: &[Case<'static>] = &[
    (
        "allow-empty-rule",
        "http/allow-empty-rule-in.yaml",
        &["http/allow-empty-rule-out.yaml"],
        None,
    ),
    (
        "allow-full-rule",
        "http/allow-full-rule-in.yaml",
        &["http/allow-full-rule-out.yaml"],
        None,
    ),
    (
        "allow-nil-rule",
        "http/allow-nil-rule-in.yaml",
        &["http/allow-nil-rule-out.yaml"],
        None,
    ),
    (
        "allow-path",
        "http/allow-path-in.yaml",
        &["http/allow-path-out.yaml"],
        None,
    ),
    (
        "audit-full-rule",
        "http/audit-full-rule-in.yaml",
        &["http/audit-full-rule-out.yaml"],
        None,
    ),
    (
        "deny-and-allow",
        "http/deny-and-allow-in.yaml",
        &[
            "http/deny-and-allow-out1.yaml",
            "http/deny-and-allow-out2.yaml",
        ],
        None,
    ),
    (
        "deny-empty-rule",
        "http/deny-empty-rule-in.yaml",
        &["http/deny-empty-rule-out.yaml"],
        None,
    ),
    (
        "multiple-policies",
        "http/multiple-policies-in.yaml",
        &["http/multiple-policies-out.yaml"],
        None,
    ),
    (
        "single-policy",
        "http/single-policy-in.yaml",
        &["http/single-policy-out.yaml"],
        None,
    ),
    (
        "trust-domain-one-alias",
        "http/simple-policy-td-aliases-in.yaml",
        &["http/simple-policy-td-aliases-out.yaml"],
        Some(("td1", &["cluster.local"])),
    ),
    (
        "trust-domain-multiple-aliases",
        "http/simple-policy-multiple-td-aliases-in.yaml",
        &["http/simple-policy-multiple-td-aliases-out.yaml"],
        Some(("td1", &["cluster.local", "some-td"])),
    ),
    (
        "trust-domain-wildcard-in-principal",
        "http/simple-policy-principal-with-wildcard-in.yaml",
        &["http/simple-policy-principal-with-wildcard-out.yaml"],
        Some(("td1", &["foobar"])),
    ),
    (
        "trust-domain-aliases-in-source-principal",
        "http/td-aliases-source-principal-in.yaml",
        &["http/td-aliases-source-principal-out.yaml"],
        Some(("new-td", &["old-td", "some-trustdomain"])),
    ),
    (
        "trust-domains-field",
        "http/trust-domains-in.yaml",
        &["http/trust-domains-out.yaml"],
        None,
    ),
];

const TCP_CASES: &[Case<'static>] = &[
    (
        "allow-both-http-tcp",
        "tcp/allow-both-http-tcp-in.yaml",
        &["tcp/allow-both-http-tcp-out.yaml"],
        None,
    ),
    (
        "allow-only-http",
        "tcp/allow-only-http-in.yaml",
        &["tcp/allow-only-http-out.yaml"],
        None,
    ),
    (
        "audit-both-http-tcp",
        "tcp/audit-both-http-tcp-in.yaml",
        &["tcp/audit-both-http-tcp-out.yaml"],
        None,
    ),
    (
        "deny-both-http-tcp",
        "tcp/deny-both-http-tcp-in.yaml",
        &["tcp/deny-both-http-tcp-out.yaml"],
        None,
    ),
];

fn trust_domains(td: Option<(&str, &[&str])>) -> TrustDomains {
    match td {
        // istiod's test builder uses an empty bundle by default.
        None => TrustDomains::default(),
        Some((td, aliases)) => TrustDomains::with_aliases(
            td,
            &aliases.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        ),
    }
}

/// Filters as JSON (proto3 JSON names, as istiod's golden files).
fn json_of<M: prost::Message + prost::Name>(filters: &[M]) -> Vec<Value> {
    filters
        .iter()
        .map(|f| dump::message_to_json_with(f, FieldNames::Json).expect("dumps"))
        .collect()
}

/// Compares each case's filters (`build(case index)`) with istiod's outputs.
fn compare(cases: &[(&str, &[&str])], build: impl Fn(usize) -> Vec<Value>) {
    let mut failures = Vec::new();
    for (i, (name, outputs)) in cases.iter().enumerate() {
        let got = build(i);
        if got.len() != outputs.len() {
            failures.push(format!(
                "{name}: {} filters, istiod builds {}: {got:?}",
                got.len(),
                outputs.len()
            ));
            continue;
        }
        for (g, out) in got.iter().zip(outputs.iter()) {
            let want = expected(out);
            if *g != want {
                failures.push(format!(
                    "{name}: differs from {out}:\nours:   {g}\nistiod: {want}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn check(cases: &[Case<'_>], tcp: bool) {
    let names: Vec<(&str, &[&str])> = cases.iter().map(|(n, _, o, _)| (*n, *o)).collect();
    compare(&names, |i| {
        let (_, input, _, td) = cases[i];
        let ps = policies(input);
        let refs: Vec<&AuthorizationPolicy> = ps.iter().collect();
        if tcp {
            json_of(&build_tcp(&refs, &trust_domains(td)))
        } else {
            json_of(&build_http(&refs, &trust_domains(td)))
        }
    });
}

#[test]
fn http_filters_match_istiods_oracle() {
    check(HTTP_CASES, false);
}

#[test]
fn tcp_filters_match_istiods_oracle() {
    check(TCP_CASES, true);
}

#[test]
fn envoy_accepts_the_rbac_filters() {
    use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener};
    use mesh_core::translate::inbound::inbound_route_configuration;
    use mesh_core::translate::listener::{socket, tcp_proxy_filter};
    let ps: Vec<AuthorizationPolicy> = HTTP_CASES
        .iter()
        .chain(TCP_CASES)
        .flat_map(|(_, input, _, _)| policies(input))
        .collect();
    let refs: Vec<&AuthorizationPolicy> = ps.iter().collect();
    let tds = TrustDomains::with_aliases("cluster.local", &["old-td".to_string()]);
    // The HTTP filters go before the router, as in an inbound connection manager.
    let http = support::envoy::http_listener(
        19080,
        inbound_route_configuration(9080, "inbound|9080||"),
        build_http(&refs, &tds),
    );
    let mut tcp_filters = build_tcp(&refs, &tds);
    assert!(!tcp_filters.is_empty());
    tcp_filters.push(tcp_proxy_filter("inbound|3306||", "inbound|3306||"));
    let tcp = Listener {
        name: "tcp".into(),
        address: Some(socket("127.0.0.1", 13306)),
        filter_chains: vec![FilterChain {
            filters: tcp_filters,
            ..Default::default()
        }],
        ..Default::default()
    };
    let clusters = vec![
        support::envoy::static_cluster("inbound|9080||", None),
        support::envoy::static_cluster("inbound|3306||", None),
    ];
    support::envoy::assert_accepts(
        &support::envoy::bootstrap(vec![http, tcp], clusters, false),
        "the RBAC filters",
    );
}

/// istiod's test mesh configurations for CUSTOM (`builder_test.go`), as mesh config YAML.
const MESH_GRPC_NO_NAMESPACE: &str = r#"
extensionProviders:
- name: default
  envoyExtAuthzGrpc:
    service: my-custom-ext-authz.foo.svc.cluster.local
    port: 9000
    failOpen: true
    statusOnError: "403"
"#;
const MESH_GRPC: &str = r#"
extensionProviders:
- name: default
  envoyExtAuthzGrpc:
    service: foo/my-custom-ext-authz.foo.svc.cluster.local
    port: 9000
    timeout: 0.002s
    failOpen: true
    statusOnError: "403"
    includeRequestBodyInCheck: {maxRequestBytes: 4096, allowPartialMessage: true}
"#;
const MESH_HTTP: &str = r#"
extensionProviders:
- name: default
  envoyExtAuthzHttp:
    service: foo/my-custom-ext-authz.foo.svc.cluster.local
    port: 9000
    timeout: 10s
    failOpen: true
    statusOnError: "403"
    pathPrefix: /check
    includeRequestHeadersInCheck: [x-custom-id, x-prefix-*, "*-suffix"]
    includeHeadersInCheck: [should-not-include-when-IncludeRequestHeadersInCheck-is-set]
    includeAdditionalHeadersInCheck: {x-header-1: value-1, x-header-2: value-2}
    includeRequestBodyInCheck: {maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true}
    headersToUpstreamOnAllow: [Authorization, x-prefix-*, "*-suffix"]
    headersToDownstreamOnDeny: [Set-cookie, x-prefix-*, "*-suffix"]
    headersToDownstreamOnAllow: [Set-cookie, x-prefix-*, "*-suffix"]
"#;
const MESH_INVALID: &str = r#"
extensionProviders:
- name: default
  envoyExtAuthzHttp:
    service: foo/my-custom-ext-authz
    port: 999999
    pathPrefix: check
    statusOnError: "999"
"#;

/// (case, mesh config, input, outputs)
type CustomCase<'a> = (&'a str, &'a str, &'a str, &'a [&'a str]);

fn providers(mesh: &str) -> mesh_core::translate::ext_authz::ExtAuthzProviders {
    let mesh = mesh_core::api::mesh::MeshConfig::from_yaml(mesh, "mesh.yaml").expect("mesh config");
    // istiod's test registry: one service, in namespace foo.
    mesh_core::translate::ext_authz::ExtAuthzProviders::resolve(
        &mesh.extension_providers,
        &|host: &str| {
            if host == "my-custom-ext-authz.foo.svc.cluster.local" {
                vec!["foo".to_string()]
            } else {
                Vec::new()
            }
        },
    )
}

fn check_custom(cases: &[CustomCase<'_>], tcp: bool) {
    use mesh_core::translate::ext_authz::{build_custom_http, build_custom_tcp};
    let names: Vec<(&str, &[&str])> = cases.iter().map(|(n, _, _, o)| (*n, *o)).collect();
    compare(&names, |i| {
        let (_, mesh, input, _) = cases[i];
        let ps = policies(input);
        let refs: Vec<&AuthorizationPolicy> = ps.iter().collect();
        let p = providers(mesh);
        let tds = TrustDomains::default();
        if tcp {
            json_of(&build_custom_tcp(&refs, &p, &tds))
        } else {
            json_of(&build_custom_http(&refs, &p, &tds))
        }
    });
}

#[test]
fn custom_http_filters_match_istiods_oracle() {
    check_custom(
        &[
            (
                "custom-grpc-provider-no-namespace",
                MESH_GRPC_NO_NAMESPACE,
                "http/custom-simple-http-in.yaml",
                &[
                    "http/custom-grpc-provider-no-namespace-out1.yaml",
                    "http/custom-grpc-provider-no-namespace-out2.yaml",
                ],
            ),
            (
                "custom-grpc-provider",
                MESH_GRPC,
                "http/custom-simple-http-in.yaml",
                &[
                    "http/custom-grpc-provider-out1.yaml",
                    "http/custom-grpc-provider-out2.yaml",
                ],
            ),
            (
                "custom-http-provider",
                MESH_HTTP,
                "http/custom-simple-http-in.yaml",
                &[
                    "http/custom-http-provider-out1.yaml",
                    "http/custom-http-provider-out2.yaml",
                ],
            ),
            (
                "custom-bad-multiple-providers",
                MESH_HTTP,
                "http/custom-bad-multiple-providers-in.yaml",
                &[
                    "http/custom-bad-multiple-providers-out1.yaml",
                    "http/custom-bad-multiple-providers-out2.yaml",
                ],
            ),
            (
                "custom-bad-invalid-config",
                MESH_INVALID,
                "http/custom-simple-http-in.yaml",
                &["http/custom-bad-out.yaml"],
            ),
        ],
        false,
    );
}

#[test]
fn custom_tcp_filters_match_istiods_oracle() {
    check_custom(
        &[
            (
                "custom-both-http-tcp",
                MESH_GRPC,
                "tcp/custom-both-http-tcp-in.yaml",
                &[
                    "tcp/custom-both-http-tcp-out1.yaml",
                    "tcp/custom-both-http-tcp-out2.yaml",
                ],
            ),
            (
                "custom-only-http",
                MESH_HTTP,
                "tcp/custom-only-http-in.yaml",
                &[],
            ),
        ],
        true,
    );
}

#[test]
fn bad_providers_say_what_is_wrong() {
    let p = providers(MESH_INVALID);
    let errors = p.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (name, why) = &errors[0];
    assert_eq!(name, "default");
    for part in [
        "port must be in the range [1, 65535], found: 999999",
        "could not find service foo/my-custom-ext-authz",
        "unsupported statusOnError 999",
        "pathPrefix must begin with `/`",
    ] {
        assert!(why.contains(part), "{part} in {why}");
    }
    // A misspelt field is refused with its name, not ignored.
    let err = mesh_core::api::mesh::MeshConfig::from_yaml(
        "extensionProviders:\n- name: a\n  envoyExtAuthzHttp: {service: s, port: 1, includeRequestHeaderInCheck: [x]}\n",
        "mesh.yaml",
    )
    .expect_err("unknown field");
    assert!(
        err.to_string().contains("includeRequestHeaderInCheck"),
        "{err}"
    );
}

/// Real Envoy accepts the CUSTOM filters of both provider kinds, on HTTP and TCP chains.
#[test]
fn envoy_accepts_the_custom_filters() {
    use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener};
    use mesh_core::translate::ext_authz::{build_custom_http, build_custom_tcp};
    use mesh_core::translate::inbound::inbound_route_configuration;
    use mesh_core::translate::listener::{socket, tcp_proxy_filter};
    let http_ps = policies("http/custom-simple-http-in.yaml");
    let http_refs: Vec<&AuthorizationPolicy> = http_ps.iter().collect();
    let tcp_ps = policies("tcp/custom-both-http-tcp-in.yaml");
    let tcp_refs: Vec<&AuthorizationPolicy> = tcp_ps.iter().collect();
    let tds = TrustDomains::new("cluster.local");
    let mut listeners = Vec::new();
    for (i, mesh) in [MESH_HTTP, MESH_GRPC].iter().enumerate() {
        let p = providers(mesh);
        let port = 19180 + u32::try_from(i).expect("small");
        let mut http_filters = build_custom_http(&http_refs, &p, &tds);
        http_filters.extend(build_http(&http_refs, &tds));
        assert_eq!(http_filters.len(), 2, "shadow RBAC and ext_authz");
        listeners.push(support::envoy::http_listener(
            port,
            inbound_route_configuration(9080, "inbound|9080||"),
            http_filters,
        ));
    }
    let mut tcp_filters = build_custom_tcp(&tcp_refs, &providers(MESH_GRPC), &tds);
    assert_eq!(tcp_filters.len(), 2, "network shadow RBAC and ext_authz");
    tcp_filters.push(tcp_proxy_filter("inbound|3306||", "inbound|3306||"));
    listeners.push(Listener {
        name: "tcp".into(),
        address: Some(socket("127.0.0.1", 13307)),
        filter_chains: vec![FilterChain {
            filters: tcp_filters,
            ..Default::default()
        }],
        ..Default::default()
    });
    let clusters = vec![
        support::envoy::static_cluster("inbound|9080||", None),
        support::envoy::static_cluster("inbound|3306||", None),
        support::envoy::grpc_cluster(
            "outbound|9000||my-custom-ext-authz.foo.svc.cluster.local",
            9000,
        ),
    ];
    support::envoy::assert_accepts(
        &support::envoy::bootstrap(listeners, clusters, false),
        "the CUSTOM filters",
    );
}

/// Which policies attach (istiod's `ShouldAttachPolicy`): a policy with `targetRefs` never
/// applies to an ordinary workload's sidecar, only to the workload of the Gateway API gateway
/// it names; selectors keep working for both.
#[test]
fn target_refs_attach_to_their_gateway_only() {
    use mesh_core::model::{MeshOptions, Proxy, ProxyType, Store};
    use mesh_core::translate::sidecar::SidecarOptions;
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: app-0, namespace: foo, labels: {app: web}}
status: {podIP: 10.8.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: gw-0, namespace: foo, labels: {app: web, gateway.networking.k8s.io/gateway-name: edge}}
status: {podIP: 10.8.0.2}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: on-edge, namespace: foo}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: edge}]
  action: DENY
  rules: [{to: [{operation: {paths: [/edge]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: on-other-gateway, namespace: foo}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: other}
  action: DENY
  rules: [{to: [{operation: {paths: [/other]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: by-selector, namespace: foo}
spec:
  selector: {matchLabels: {app: web}}
  action: DENY
  rules: [{to: [{operation: {paths: [/selected]}}]}]
"#;
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(
        mesh_core::load::from_str(yaml, "policies.yaml")
            .expect("loads")
            .into_iter()
            .map(|l| l.object),
    );
    let snap = store.snapshot();
    let names = |pod: &str| -> Vec<&str> {
        let w = snap
            .workloads()
            .iter()
            .find(|w| w.name == pod)
            .expect("pod");
        let proxy = Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local");
        let out = mesh_core::translate::translate_proxy(&snap, &proxy, &SidecarOptions::default());
        let dump =
            serde_json::to_string(&out.config_dump("x").to_json().expect("dumps")).expect("json");
        ["on-edge", "on-other-gateway", "by-selector"]
            .into_iter()
            .filter(|p| dump.contains(&format!("policy[{p}]")))
            .collect()
    };
    assert_eq!(names("app-0"), ["by-selector"]);
    assert_eq!(names("gw-0"), ["on-edge", "by-selector"]);
}
