//! RequestAuthentication and AuthorizationPolicy together, enforced by real Envoy with JWTs
//! signed by `openssl`: Istio's documented semantics that a request without a token passes
//! authentication (401 only for a bad token) and only an AuthorizationPolicy on request
//! principals or claims rejects it (403).

mod support;

use mesh_core::api::AuthorizationPolicy;
use mesh_core::api::security::JwtRule;
use mesh_core::translate::authz::{TrustDomains, build_http};
use mesh_core::translate::inbound::inbound_route_configuration;
use mesh_core::translate::jwt::jwt_authn_filter;
use serde_json::json;
use support::envoy;
use support::jwt::{Signer, now};
use support::policies;

const ISS: &str = "https://issuer.test";

/// Envoy with the JWT filter for `ISS` and the policies; returns its port and guard.
fn start(signer: &Signer, policy_yaml: &str) -> (u16, envoy::RunningEnvoy) {
    let rule: JwtRule = serde_json::from_value(
        json!({"issuer": ISS, "jwks": signer.jwks, "audiences": ["mesh-rs"]}),
    )
    .expect("rule");
    let ps = policies(policy_yaml);
    let refs: Vec<&AuthorizationPolicy> = ps.iter().collect();
    let mut filters = vec![jwt_authn_filter(&[&rule], false).expect("jwt filter")];
    filters.extend(build_http(&refs, &TrustDomains::new("cluster.local")));
    let upstream = envoy::ok_upstream();
    let port = envoy::free_port();
    let listener = envoy::http_listener(
        u32::from(port),
        inbound_route_configuration(9080, "inbound|9080||"),
        filters,
    );
    let clusters = vec![envoy::static_cluster(
        "inbound|9080||",
        Some(("127.0.0.1", u32::from(upstream))),
    )];
    let running = envoy::start(&envoy::bootstrap(vec![listener], clusters, false), port);
    (port, running)
}

#[test]
fn tokens_are_checked_when_present_and_optional_otherwise() {
    let signer = Signer::new();
    let other = Signer::new();
    let (port, _envoy) = start(&signer, "");
    let exp = now() + 3600;
    let good = signer.token(&json!({"iss": ISS, "sub": "alice", "aud": "mesh-rs", "exp": exp}));
    let forged = other.token(&json!({"iss": ISS, "sub": "alice", "aud": "mesh-rs", "exp": exp}));
    let expired =
        signer.token(&json!({"iss": ISS, "sub": "alice", "aud": "mesh-rs", "exp": now() - 600}));
    let wrong_aud =
        signer.token(&json!({"iss": ISS, "sub": "alice", "aud": "someone-else", "exp": exp}));
    let bearer = |t: &str| format!("Bearer {t}");
    let cases: Vec<Case> = vec![
        ("no token passes authentication", vec![], 200),
        ("valid token", vec![("authorization", bearer(&good))], 200),
        (
            "signed by another key",
            vec![("authorization", bearer(&forged))],
            401,
        ),
        ("expired", vec![("authorization", bearer(&expired))], 401),
        // Envoy's jwt_authn answers an audience mismatch with 403, not 401: the
        // token is authentic, it is just not for this service.
        (
            "wrong audience",
            vec![("authorization", bearer(&wrong_aud))],
            403,
        ),
        (
            "not a JWT",
            vec![("authorization", "Bearer not.a.jwt".to_string())],
            401,
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, headers, want)| {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let got = envoy::request(port, "GET", "/", &h);
            (got != *want).then(|| format!("{name}: got {got}, want {want}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A named request (its headers) and the status it must get.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, u16);

#[test]
fn authorization_on_request_principals_and_claims() {
    let signer = Signer::new();
    let policy = format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: require-jwt, namespace: foo}}\nspec:\n  action: ALLOW\n  rules:\n  - from:\n    - source:\n        requestPrincipals: [\"{ISS}/alice\"]\n  - from:\n    - source:\n        requestPrincipals: [\"*\"]\n    when:\n    - key: request.auth.claims[groups]\n      values: [admins]\n"
    );
    let (port, _envoy) = start(&signer, &policy);
    let exp = now() + 3600;
    let tok = |sub: &str, groups: serde_json::Value| {
        format!(
            "Bearer {}",
            signer.token(
                &json!({"iss": ISS, "sub": sub, "aud": "mesh-rs", "exp": exp, "groups": groups})
            )
        )
    };
    let cases: Vec<(&str, Option<String>, u16)> = vec![
        ("no token: anonymous, not allowed", None, 403),
        ("alice is allowed", Some(tok("alice", json!([]))), 200),
        ("bob is not", Some(tok("bob", json!(["users"]))), 403),
        (
            "bob in admins is",
            Some(tok("bob", json!(["users", "admins"]))),
            200,
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, auth, want)| {
            let h: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
            let got = envoy::request(port, "GET", "/", &h);
            (got != *want).then(|| format!("{name}: got {got}, want {want}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
