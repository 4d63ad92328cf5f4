//! RequestAuthentication to Envoy's JWT filter: providers, requirements (missing tokens
//! allowed, invalid ones refused), every JWTRule field, and real Envoy accepting the filter.

mod support;

use mesh_core::api::security::JwtRule;
use mesh_core::dump;
use mesh_core::translate::jwt::{jwt_authn_filter, parse_jwks_uri};
use serde_json::{Value, json};

fn rule(v: Value) -> JwtRule {
    serde_json::from_value(v).expect("valid JWTRule")
}

const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1","alg":"ES256"}]}"#;

#[test]
fn one_rule_allows_missing_tokens() {
    let r = rule(json!({"issuer": "iss-1", "jwks": JWKS}));
    let j = dump::message_to_json(&jwt_authn_filter(&[&r], false).expect("filter")).unwrap();
    let c = &j["typed_config"];
    assert_eq!(j["name"], "envoy.filters.http.jwt_authn");
    assert_eq!(c["bypass_cors_preflight"], true);
    let p = &c["providers"]["origins-0"];
    assert_eq!(p["issuer"], "iss-1");
    assert_eq!(p["local_jwks"]["inline_string"], JWKS);
    assert_eq!(p["payload_in_metadata"], "payload");
    assert_eq!(
        p["normalize_payload_in_metadata"]["space_delimited_claims"],
        json!(["permission", "scope"])
    );
    assert_eq!(c["rules"][0]["match"]["prefix"], "/");
    assert_eq!(
        c["rules"][0]["requires"],
        json!({"requires_any": {"requirements": [{"provider_name": "origins-0"}, {"allow_missing": {}}]}})
    );
}

#[test]
fn several_rules_need_one_valid_and_every_present_token_valid() {
    let a = rule(json!({"issuer": "a", "jwks": JWKS}));
    let b = rule(json!({"issuer": "b", "jwks": JWKS}));
    let j = dump::message_to_json(&jwt_authn_filter(&[&a, &b], false).expect("filter")).unwrap();
    let any = &j["typed_config"]["rules"][0]["requires"]["requires_any"]["requirements"];
    assert_eq!(any[0], json!({"provider_name": "origins-0"}));
    assert_eq!(any[1], json!({"provider_name": "origins-1"}));
    let all = &any[2]["requires_all"]["requirements"];
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    assert_eq!(
        all[1]["requires_any"]["requirements"][0]["provider_name"],
        "origins-1"
    );
    assert!(jwt_authn_filter(&[], false).is_none());
}

#[test]
fn every_rule_field() {
    let r = rule(json!({
        "issuer": "https://issuer.example", "audiences": ["a1", "a2"], "jwksUri": "https://issuer.example:8443/keys",
        "fromHeaders": [{"name": "x-jwt", "prefix": "Bearer "}], "fromParams": ["token"], "fromCookies": ["session"],
        "outputPayloadToHeader": "x-payload", "forwardOriginalToken": true,
        "outputClaimToHeaders": [{"header": "x-sub", "claim": "sub"}], "timeout": "10s", "spaceDelimitedClaims": ["roles", "scope"]
    }));
    let j = dump::message_to_json(&jwt_authn_filter(&[&r], true).expect("filter")).unwrap();
    let p = &j["typed_config"]["providers"]["origins-0"];
    assert_eq!(p["audiences"], json!(["a1", "a2"]));
    assert_eq!(
        p["remote_jwks"]["http_uri"],
        json!({"uri": "https://issuer.example:8443/keys", "cluster": "outbound|8443||issuer.example", "timeout": "10s"})
    );
    assert_eq!(p["remote_jwks"]["cache_duration"], "300s");
    assert_eq!(
        p["from_headers"],
        json!([{"name": "x-jwt", "value_prefix": "Bearer "}])
    );
    assert_eq!(
        (p["from_params"].clone(), p["from_cookies"].clone()),
        (json!(["token"]), json!(["session"]))
    );
    assert_eq!(
        (p["forward_payload_header"].clone(), p["forward"].clone()),
        (json!("x-payload"), json!(true))
    );
    assert_eq!(
        p["claim_to_headers"],
        json!([{"header_name": "x-sub", "claim_name": "sub"}])
    );
    assert_eq!(p["clear_route_cache"], true);
    assert_eq!(
        p["normalize_payload_in_metadata"]["space_delimited_claims"],
        json!(["permission", "roles", "scope"])
    );
}

#[test]
fn jwks_uris() {
    let s = parse_jwks_uri("http://keys.example/jwks").expect("parses");
    assert_eq!(
        (s.host.as_str(), s.port, s.tls, s.cluster.as_str()),
        ("keys.example", 80, false, "outbound|80||keys.example")
    );
    assert_eq!(
        parse_jwks_uri("https://[::1]:9443/k").map(|s| (s.host, s.port)),
        Some(("::1".to_string(), 9443))
    );
    assert!(parse_jwks_uri("ftp://x/y").is_none());
    assert!(parse_jwks_uri("https:///nohost").is_none());
}

#[test]
fn envoy_accepts_the_jwt_filter() {
    use mesh_core::translate::inbound::inbound_route_configuration;
    let a = rule(
        json!({"issuer": "local", "jwks": JWKS, "fromHeaders": [{"name": "x-jwt", "prefix": "Bearer "}],
                        "outputClaimToHeaders": [{"header": "x-sub", "claim": "sub"}]}),
    );
    let b = rule(
        json!({"issuer": "remote", "jwksUri": "https://issuer.example/jwks.json", "timeout": "2s"}),
    );
    let filter = jwt_authn_filter(&[&a, &b], false).expect("filter");
    let listener = support::envoy::http_listener(
        19080,
        inbound_route_configuration(9080, "inbound|9080||"),
        vec![filter],
    );
    let clusters = vec![
        support::envoy::static_cluster("inbound|9080||", None),
        support::envoy::static_cluster("outbound|443||issuer.example", Some(("127.0.0.1", 8443))),
    ];
    support::envoy::assert_accepts(
        &support::envoy::bootstrap(vec![listener], clusters, false),
        "the JWT filter",
    );
}
