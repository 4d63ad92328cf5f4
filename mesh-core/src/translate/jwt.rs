//! RequestAuthentication to Envoy's JWT filter (istiod's `convertToEnvoyJwtConfig`).
//!
//! One provider `origins-<i>` per JWT rule, with the verified payload stored in the filter's
//! metadata under `payload` (what AuthorizationPolicy's `requestPrincipals` and
//! `request.auth.*` conditions read). Istio's semantics: a request without a token passes (it
//! is only anonymous); a request with an invalid token is rejected with 401. With several rules,
//! a token must satisfy one of them, and a request carrying tokens for several must satisfy
//! each it carries.
//!
//! ```
//! use mesh_core::api::security::JwtRule;
//! use mesh_core::translate::jwt::jwt_authn_filter;
//!
//! let rule: JwtRule = serde_json::from_value(serde_json::json!({
//!     "issuer": "https://issuer.example", "jwksUri": "https://issuer.example/jwks.json"
//! }))?;
//! let filter = jwt_authn_filter(&[&rule], false).expect("one rule gives a filter");
//! let json = mesh_core::dump::message_to_json(&filter)?;
//! let provider = &json["typed_config"]["providers"]["origins-0"];
//! assert_eq!(provider["issuer"], "https://issuer.example");
//! assert_eq!(provider["remote_jwks"]["http_uri"]["cluster"], "outbound|443||issuer.example");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;

use envoy_types::pb::envoy::config::core::v3::{DataSource, HttpUri, data_source, http_uri};
use envoy_types::pb::envoy::config::route::v3::{RouteMatch, route_match};
use envoy_types::pb::envoy::extensions::filters::http::jwt_authn::v3::{
    JwtAuthentication, JwtClaimToHeader, JwtHeader, JwtProvider, JwtRequirement,
    JwtRequirementAndList, JwtRequirementOrList, RemoteJwks, RequirementRule, jwt_provider,
    jwt_requirement, requirement_rule,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter,
};
use envoy_types::pb::google::protobuf::{Duration as PbDuration, Empty};

use crate::api::security::JwtRule;
use crate::dump::to_any;

/// The JWT filter's name.
pub const JWT_AUTHN: &str = "envoy.filters.http.jwt_authn";

/// Where a `jwksUri` is fetched from: the host, the port (80 or 443 by default) and the
/// cluster istiod names for it (`outbound|<port>||<host>`), which must exist (a ServiceEntry for
/// an external issuer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksSource {
    /// Host of the URI.
    pub host: String,
    /// Port of the URI.
    pub port: u16,
    /// Whether the URI is `https`.
    pub tls: bool,
    /// The cluster Envoy fetches through.
    pub cluster: String,
}

/// `security.ParseJwksURI`: scheme `http` or `https`, host, optional port.
pub fn parse_jwks_uri(uri: &str) -> Option<JwksSource> {
    let (tls, rest) = if let Some(r) = uri.strip_prefix("https://") {
        (true, r)
    } else {
        (false, uri.strip_prefix("http://")?)
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse().ok()?),
        _ => (authority, if tls { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| JwksSource {
        host: host.to_string(),
        port,
        tls,
        cluster: format!("outbound|{port}||{host}"),
    })
}

/// `buildSpaceDelimitedClaims`: `permission` and `scope` always, plus the rule's, sorted.
fn space_delimited_claims(extra: &[String]) -> Vec<String> {
    let mut all: BTreeSet<String> = extra.iter().cloned().collect();
    all.insert("permission".into());
    all.insert("scope".into());
    all.into_iter().collect()
}

fn provider(rule: &JwtRule, clear_route_cache: bool) -> JwtProvider {
    let timeout = rule.timeout.map_or(
        PbDuration {
            seconds: 5,
            nanos: 0,
        },
        |t| PbDuration {
            seconds: t.seconds(),
            nanos: t.subsec_nanos(),
        },
    );
    let jwks = if !rule.jwks.is_empty() {
        Some(jwt_provider::JwksSourceSpecifier::LocalJwks(DataSource {
            specifier: Some(data_source::Specifier::InlineString(rule.jwks.clone())),
            ..Default::default()
        }))
    } else {
        parse_jwks_uri(&rule.jwks_uri).map(|src| {
            jwt_provider::JwksSourceSpecifier::RemoteJwks(RemoteJwks {
                http_uri: Some(HttpUri {
                    uri: rule.jwks_uri.clone(),
                    timeout: Some(timeout),
                    http_upstream_type: Some(http_uri::HttpUpstreamType::Cluster(src.cluster)),
                }),
                cache_duration: Some(PbDuration {
                    seconds: 300,
                    nanos: 0,
                }),
                ..Default::default()
            })
        })
    };
    JwtProvider {
        issuer: rule.issuer.clone(),
        audiences: rule.audiences.clone(),
        forward: rule.forward_original_token,
        forward_payload_header: rule.output_payload_to_header.clone(),
        payload_in_metadata: "payload".into(),
        normalize_payload_in_metadata: Some(jwt_provider::NormalizePayload {
            space_delimited_claims: space_delimited_claims(&rule.space_delimited_claims),
        }),
        clear_route_cache,
        claim_to_headers: rule
            .output_claim_to_headers
            .iter()
            .map(|c| JwtClaimToHeader {
                header_name: c.header.clone(),
                claim_name: c.claim.clone(),
                ..Default::default()
            })
            .collect(),
        from_headers: rule
            .from_headers
            .iter()
            .map(|h| JwtHeader {
                name: h.name.clone(),
                value_prefix: h.prefix.clone(),
            })
            .collect(),
        from_params: rule.from_params.clone(),
        from_cookies: rule.from_cookies.clone(),
        jwks_source_specifier: jwks,
        ..Default::default()
    }
}

fn requirement(t: jwt_requirement::RequiresType) -> JwtRequirement {
    JwtRequirement {
        requires_type: Some(t),
    }
}

/// The JWT filter for the rules of the RequestAuthentications that apply to a workload, or
/// `None` without rules. `clear_route_cache` lets routes match on claims (gateways).
pub fn jwt_authn_filter(rules: &[&JwtRule], clear_route_cache: bool) -> Option<HttpFilter> {
    if rules.is_empty() {
        return None;
    }
    let mut providers = crate::dump::proto_map();
    let mut inner_and = Vec::new();
    let mut outer_or = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let name = format!("origins-{i}");
        providers.insert(name.clone(), provider(rule, clear_route_cache));
        inner_and.push(requirement(jwt_requirement::RequiresType::RequiresAny(
            JwtRequirementOrList {
                requirements: vec![
                    requirement(jwt_requirement::RequiresType::ProviderName(name.clone())),
                    requirement(jwt_requirement::RequiresType::AllowMissing(Empty {})),
                ],
            },
        )));
        outer_or.push(requirement(jwt_requirement::RequiresType::ProviderName(
            name,
        )));
    }
    let requires = if inner_and.len() == 1 {
        inner_and.remove(0)
    } else {
        outer_or.push(requirement(jwt_requirement::RequiresType::RequiresAll(
            JwtRequirementAndList {
                requirements: inner_and,
            },
        )));
        requirement(jwt_requirement::RequiresType::RequiresAny(
            JwtRequirementOrList {
                requirements: outer_or,
            },
        ))
    };
    let config = JwtAuthentication {
        providers,
        rules: vec![RequirementRule {
            r#match: Some(RouteMatch {
                path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
                ..Default::default()
            }),
            requirement_type: Some(requirement_rule::RequirementType::Requires(requires)),
        }],
        bypass_cors_preflight: true,
        ..Default::default()
    };
    Some(HttpFilter {
        name: JWT_AUTHN.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(to_any(&config))),
        ..Default::default()
    })
}
