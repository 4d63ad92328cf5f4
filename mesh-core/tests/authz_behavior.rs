//! AuthorizationPolicy semantics enforced by real Envoy: our RBAC filters in front of a test
//! upstream on 127.0.0.1, and requests whose status Istio's documentation says they get
//! (200 allowed, 403 denied). mTLS principals and JWTs come with the inbound mTLS tests.

mod support;

use mesh_core::api::AuthorizationPolicy;
use mesh_core::translate::authz::{TrustDomains, build_http};
use mesh_core::translate::inbound::inbound_route_configuration;
use support::envoy;

fn policies(yaml: &str) -> Vec<AuthorizationPolicy> {
    mesh_core::load::from_str(yaml, "policies.yaml")
        .expect("policies load")
        .into_iter()
        .map(|l| match l.object {
            mesh_core::api::Object::AuthorizationPolicy(p) => p,
            other => panic!("not a policy: {other:?}"),
        })
        .collect()
}

/// (method, path, headers, expected status)
type Request<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u16);

/// Runs Envoy with the policies and checks each request's status.
fn check(policy_yaml: &str, cases: &[Request<'_>]) {
    let ps = policies(policy_yaml);
    let refs: Vec<&AuthorizationPolicy> = ps.iter().collect();
    let upstream = envoy::ok_upstream();
    let port = envoy::free_port();
    let listener = envoy::http_listener(
        u32::from(port),
        inbound_route_configuration(9080, "inbound|9080||"),
        build_http(&refs, &TrustDomains::new("cluster.local")),
    );
    let clusters = vec![envoy::static_cluster(
        "inbound|9080||",
        Some(("127.0.0.1", u32::from(upstream))),
    )];
    let running = envoy::start(&envoy::bootstrap(vec![listener], clusters, false), port);
    let mut failures = Vec::new();
    for (method, path, headers, want) in cases {
        let got = envoy::request(port, method, path, headers);
        if got != *want {
            failures.push(format!(
                "{method} {path} {headers:?}: got {got}, want {want}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nenvoy log:\n{}",
        failures.join("\n"),
        std::fs::read_to_string(&running.log).unwrap_or_default()
    );
}

const META: &str = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: NAME, namespace: foo}\n";

fn policy(name: &str, spec: &str) -> String {
    format!("{}spec:\n{spec}\n---\n", META.replace("NAME", name))
}

#[test]
fn no_policy_allows_everything() {
    check(
        "",
        &[("GET", "/", &[], 200), ("POST", "/anything", &[], 200)],
    );
}

#[test]
fn allow_by_method_path_and_header() {
    let yaml = policy(
        "allow-reads",
        "  action: ALLOW\n  rules:\n  - to:\n    - operation:\n        methods: [GET, HEAD]\n        paths: [\"/info*\", \"/status/{*}\", \"*/public\", /exact]\n    when:\n    - key: request.headers[x-team]\n      values: [blue, red-*]\n",
    );
    check(
        &yaml,
        &[
            ("GET", "/info", &[("x-team", "blue")], 200),
            ("GET", "/info/deep", &[("x-team", "red-1")], 200),
            ("GET", "/status/200", &[("x-team", "blue")], 200),
            ("GET", "/status/200/more", &[("x-team", "blue")], 403),
            ("GET", "/a/b/public", &[("x-team", "blue")], 200),
            ("GET", "/exact", &[("x-team", "blue")], 200),
            ("GET", "/exact/not", &[("x-team", "blue")], 403),
            ("POST", "/info", &[("x-team", "blue")], 403),
            ("GET", "/info", &[("x-team", "green")], 403),
            ("GET", "/info", &[], 403),
        ],
    );
}

#[test]
fn deny_wins_over_allow_and_not_fields_negate() {
    let yaml = policy(
        "allow-all-get",
        "  action: ALLOW\n  rules:\n  - to:\n    - operation:\n        methods: [GET]\n",
    ) + &policy(
        "deny-admin",
        "  action: DENY\n  rules:\n  - to:\n    - operation:\n        paths: [/admin*]\n        notMethods: [HEAD]\n",
    );
    check(
        &yaml,
        &[
            ("GET", "/", &[], 200),
            ("GET", "/admin", &[], 403),
            ("GET", "/admin/users", &[], 403),
            ("HEAD", "/admin", &[], 403), // not denied, but no ALLOW rule allows HEAD
            ("POST", "/", &[], 403),
        ],
    );
}

#[test]
fn empty_rules_and_rules_with_an_empty_rule() {
    // ALLOW with no rules allows nothing; ALLOW with `rules: [{}]` allows everything.
    check(
        &policy("allow-nothing", "  action: ALLOW\n"),
        &[("GET", "/", &[], 403)],
    );
    check(
        &policy("allow-all", "  action: ALLOW\n  rules:\n  - {}\n"),
        &[("GET", "/", &[], 200), ("DELETE", "/x", &[], 200)],
    );
    // DENY with no rules denies nothing.
    check(
        &policy("deny-nothing", "  action: DENY\n"),
        &[("GET", "/", &[], 200)],
    );
}

#[test]
fn audit_never_changes_the_outcome() {
    check(
        &policy(
            "audit-all",
            "  action: AUDIT\n  rules:\n  - to:\n    - operation:\n        paths: [\"*\"]\n",
        ),
        &[("GET", "/", &[], 200), ("POST", "/x", &[], 200)],
    );
}

#[test]
fn dry_run_policies_are_not_enforced() {
    let yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: deny-dry\n  namespace: foo\n  annotations: {istio.io/dry-run: \"true\"}\nspec:\n  action: DENY\n  rules:\n  - {}\n";
    check(yaml, &[("GET", "/", &[], 200)]);
}
