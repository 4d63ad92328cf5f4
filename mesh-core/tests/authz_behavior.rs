//! AuthorizationPolicy semantics enforced by real Envoy: our RBAC filters in front of a test
//! upstream on 127.0.0.1, and requests whose status Istio's documentation says they get
//! (200 allowed, 403 denied). mTLS principals and JWTs come with the inbound mTLS tests.

mod support;

use mesh_core::api::AuthorizationPolicy;
use mesh_core::translate::authz::{TrustDomains, build_http};
use mesh_core::translate::inbound::inbound_route_configuration;
use support::envoy::{self, exchange, http_server};
use support::policies;

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

/// CUSTOM policies with real Envoy and a real HTTP authorization service: only requests a
/// CUSTOM rule matches are checked; the service's denial (and its headers) reaches the
/// client, its approval lets the request through with the headers it adds; a service that is
/// down fails closed with `statusOnError`; an unusable provider turns the rules into DENY.
#[test]
fn custom_action_calls_the_external_service() {
    use mesh_core::api::mesh::MeshConfig;
    use mesh_core::translate::ext_authz::{ExtAuthzProviders, build_custom_http};
    use std::sync::atomic::Ordering;

    // The authorization service: alice may, everyone else may not.
    let (authz_port, checks) = http_server(|head| {
        let alice = head
            .lines()
            .any(|l| l.eq_ignore_ascii_case("x-user: alice"));
        let under_prefix = head.starts_with("GET /check/admin/");
        if alice && under_prefix {
            (200, "x-auth-user: alice\r\n".into(), String::new())
        } else {
            (403, "x-reason: not-alice\r\n".into(), "denied".into())
        }
    });
    // The application: echoes the request head.
    let (app_port, _) = http_server(|head| (200, String::new(), head.to_string()));
    let closed = envoy::free_port();

    let mesh = MeshConfig::from_yaml(
        r#"
extensionProviders:
- name: authz
  envoyExtAuthzHttp:
    service: authz.foo.svc.cluster.local
    port: 8000
    pathPrefix: /check
    statusOnError: "503"
    includeRequestHeadersInCheck: [x-user]
    headersToUpstreamOnAllow: ["x-auth-*"]
    headersToDownstreamOnDeny: [x-reason]
- name: down
  envoyExtAuthzHttp: {service: down.foo.svc.cluster.local, port: 8000, statusOnError: "503"}
- name: broken
  envoyExtAuthzHttp: {service: nowhere.foo.svc.cluster.local, port: 8000}
"#,
        "mesh.yaml",
    )
    .expect("mesh config");
    let providers =
        ExtAuthzProviders::resolve(&mesh.extension_providers, &|host: &str| match host {
            "authz.foo.svc.cluster.local" | "down.foo.svc.cluster.local" => vec!["foo".into()],
            _ => Vec::new(),
        });
    assert_eq!(providers.errors().len(), 1, "{:?}", providers.errors());
    let custom = |provider: &str| {
        policies(&format!(
            "{}spec:\n  action: CUSTOM\n  provider: {{name: {provider}}}\n  rules:\n  - to:\n    - operation:\n        paths: [\"/admin/*\"]\n",
            META.replace("NAME", provider)
        ))
    };
    let tds = TrustDomains::new("cluster.local");
    let ports: Vec<u16> = (0..3).map(|_| envoy::free_port()).collect();
    let listeners = ["authz", "down", "broken"]
        .iter()
        .zip(&ports)
        .map(|(provider, port)| {
            let ps = custom(provider);
            let refs: Vec<&AuthorizationPolicy> = ps.iter().collect();
            envoy::http_listener(
                u32::from(*port),
                inbound_route_configuration(9080, "inbound|9080||"),
                build_custom_http(&refs, &providers, &tds),
            )
        })
        .collect();
    let clusters = vec![
        envoy::static_cluster("inbound|9080||", Some(("127.0.0.1", u32::from(app_port)))),
        envoy::static_cluster(
            "outbound|8000||authz.foo.svc.cluster.local",
            Some(("127.0.0.1", u32::from(authz_port))),
        ),
        envoy::static_cluster(
            "outbound|8000||down.foo.svc.cluster.local",
            Some(("127.0.0.1", u32::from(closed))),
        ),
    ];
    let running = envoy::start(&envoy::bootstrap(listeners, clusters, false), ports[2]);
    let log = || std::fs::read_to_string(&running.log).unwrap_or_default();
    let [with_authz, with_down, with_broken] = [ports[0], ports[1], ports[2]];

    // Outside the CUSTOM rule: no check at all.
    let (status, _) = exchange(
        with_authz,
        "GET",
        "httpbin.foo",
        "/public",
        &[("x-user", "bob")],
    );
    assert_eq!(status, 200, "{}", log());
    assert_eq!(checks.load(Ordering::SeqCst), 0, "not sent to the service");

    // Inside: the service decides. Its denial and the header it allows through reach the client.
    let (status, text) = exchange(
        with_authz,
        "GET",
        "httpbin.foo",
        "/admin/users",
        &[("x-user", "bob")],
    );
    assert_eq!(status, 403, "{text}\n{}", log());
    assert!(
        text.to_ascii_lowercase().contains("x-reason: not-alice"),
        "{text}"
    );
    assert_eq!(checks.load(Ordering::SeqCst), 1);
    // Its approval: through, with the header it added for the application.
    let (status, text) = exchange(
        with_authz,
        "GET",
        "httpbin.foo",
        "/admin/users",
        &[("x-user", "alice")],
    );
    assert_eq!(status, 200, "{text}\n{}", log());
    assert!(
        text.to_ascii_lowercase().contains("x-auth-user: alice"),
        "the application sees the service's header: {text}"
    );
    assert_eq!(checks.load(Ordering::SeqCst), 2);

    // The service is down: fail closed with statusOnError.
    assert_eq!(
        exchange(with_down, "GET", "httpbin.foo", "/admin/users", &[]).0,
        503,
        "{}",
        log()
    );
    assert_eq!(
        exchange(with_down, "GET", "httpbin.foo", "/public", &[]).0,
        200
    );

    // An unusable provider: its rules deny, the rest is untouched.
    assert_eq!(
        exchange(with_broken, "GET", "httpbin.foo", "/admin/users", &[]).0,
        403
    );
    assert_eq!(
        exchange(with_broken, "GET", "httpbin.foo", "/public", &[]).0,
        200
    );
}
