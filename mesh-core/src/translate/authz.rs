//! AuthorizationPolicy to Envoy RBAC (istiod's `security/authz/model` and `builder`).
//!
//! Each rule of a policy becomes one RBAC policy named `ns[<ns>]-policy[<name>]-rule[<i>]`.
//! `from` sources become principals, `to` operations permissions; `when` conditions join the
//! side they concern (destination, SNI and Envoy metadata conditions are permissions, the rest
//! principals). Within a source or operation every field must match (AND), any value of a field
//! may (OR), and `not*` fields negate. The policies of one action share one filter, and filters
//! come in the order AUDIT, DENY, ALLOW.
//!
//! Policies annotated `istio.io/dry-run: "true"` become shadow rules: evaluated and counted,
//! never enforced.
//!
//! A rule that needs HTTP cannot be enforced on a TCP filter chain. For ALLOW the whole rule is
//! then dropped (the allow policy gets narrower); for DENY and AUDIT only the HTTP fields are
//! dropped (the policy gets wider), so a DENY is never weakened by translation.
//!
//! ```
//! use mesh_core::api::AuthorizationPolicy;
//! use mesh_core::translate::authz::{TrustDomains, build_http};
//!
//! let policy: AuthorizationPolicy = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
//!     "metadata": {"name": "httpbin", "namespace": "foo"},
//!     "spec": {"rules": [{"from": [{"source": {"principals": ["cluster.local/ns/foo/sa/sleep"]}}],
//!                         "to": [{"operation": {"methods": ["GET"]}}]}]}
//! }))?;
//! let filters = build_http(&[&policy], &TrustDomains::new("cluster.local"));
//! let json = mesh_core::dump::message_to_json(&filters[0])?;
//! let rbac = &json["typed_config"]["rules"]["policies"]["ns[foo]-policy[httpbin]-rule[0]"];
//! assert_eq!(rbac["principals"][0]["and_ids"]["ids"][0]["or_ids"]["ids"][0]["authenticated"]["principal_name"]["exact"],
//!            "spiffe://cluster.local/ns/foo/sa/sleep");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use envoy_types::pb::envoy::config::core::v3::{CidrRange, TypedExtensionConfig};
use envoy_types::pb::envoy::config::listener::v3::{Filter, filter};
use envoy_types::pb::envoy::config::rbac::v3::{
    Permission, Policy, Principal, Rbac, permission, principal, rbac::Action,
};
use envoy_types::pb::envoy::config::route::v3::{HeaderMatcher, header_matcher};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3::Rbac as NetworkRbac;
use envoy_types::pb::envoy::extensions::path::r#match::uri_template::v3::UriTemplateMatchConfig;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    ListMatcher, MetadataMatcher, OrMatcher, PathMatcher, RegexMatcher, StringMatcher,
    ValueMatcher, list_matcher, metadata_matcher, path_matcher, string_matcher, value_matcher,
};
use envoy_types::pb::google::protobuf::UInt32Value;

use crate::api::AuthorizationPolicy;
use crate::api::security::{AuthorizationAction, Rule as IstioRule};
use crate::dump::to_any;

/// The HTTP RBAC filter's name.
pub const HTTP_RBAC: &str = "envoy.filters.http.rbac";
/// The network RBAC filter's name.
pub const NETWORK_RBAC: &str = "envoy.filters.network.rbac";
const JWT_FILTER: &str = "envoy.filters.http.jwt_authn";
const JWT_PAYLOAD: &str = "payload";

/// The mesh trust domain and its aliases (`meshConfig.trustDomain` and
/// `trustDomainAliases`): principals written for one are accepted for all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustDomains {
    domains: Vec<String>,
}

impl TrustDomains {
    /// The trust domain without aliases.
    pub fn new(trust_domain: &str) -> Self {
        Self {
            domains: vec![trust_domain.to_string()],
        }
    }

    /// The trust domain and its aliases.
    pub fn with_aliases(trust_domain: &str, aliases: &[String]) -> Self {
        let mut domains = vec![trust_domain.to_string()];
        domains.extend(aliases.iter().cloned());
        Self { domains }
    }

    /// `ReplaceTrustDomainAliases`: a principal of a known trust domain (or `cluster.local`) is
    /// written once per trust domain.
    fn replace_aliases(&self, principals: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in principals {
            let parts: Vec<&str> = p.split('/').collect();
            if parts.len() != 5 || parts[0] == "*" {
                out.push(p.clone());
                continue;
            }
            let td = parts[0];
            if !(td == "cluster.local" || self.domains.iter().any(|d| td_match(td, d))) {
                out.push(p.clone());
                continue;
            }
            let mut variants: Vec<String> = Vec::new();
            for d in &self.domains {
                let v = if suffix_match(d, td) {
                    p.clone()
                } else {
                    format!("{d}/{}", parts[1..].join("/"))
                };
                if !variants.contains(&v) {
                    variants.push(v);
                }
            }
            out.extend(variants);
        }
        out
    }

    /// `ExpandTrustDomainAliases`: a trust domain value matches all of them.
    fn expand(&self, values: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in values {
            let add: Vec<String> = if self.domains.contains(v) {
                self.domains.clone()
            } else {
                vec![v.clone()]
            };
            for a in add {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }
}

fn prefix_match(a: &str, pattern: &str) -> bool {
    pattern.strip_suffix('*').is_some_and(|p| a.starts_with(p))
}

fn suffix_match(a: &str, pattern: &str) -> bool {
    pattern.strip_prefix('*').is_some_and(|p| a.ends_with(p))
}

fn td_match(a: &str, s: &str) -> bool {
    a == s
        || s == "*"
        || prefix_match(a, s)
        || prefix_match(s, a)
        || suffix_match(a, s)
        || suffix_match(s, a)
}

// === Envoy matcher builders ===

fn exact(v: &str, ignore_case: bool) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(string_matcher::MatchPattern::Exact(v.into())),
        ignore_case,
    }
}
fn prefix(v: &str, ignore_case: bool) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(string_matcher::MatchPattern::Prefix(v.into())),
        ignore_case,
    }
}
fn suffix(v: &str, ignore_case: bool) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(string_matcher::MatchPattern::Suffix(v.into())),
        ignore_case,
    }
}
fn regex(r: &str) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(string_matcher::MatchPattern::SafeRegex(RegexMatcher {
            regex: r.into(),
            ..Default::default()
        })),
        ignore_case: false,
    }
}

/// `matcher.StringMatcherWithPrefix`: `*` any, `*x` suffix, `x*` prefix, else exact.
fn string_with_prefix(v: &str, pre: &str) -> StringMatcher {
    if v == "*" {
        regex(".+")
    } else if let Some(s) = v.strip_prefix('*') {
        if pre.is_empty() {
            suffix(s, false)
        } else {
            regex(&format!("{pre}.*{}", quote_meta(s)))
        }
    } else if let Some(p) = v.strip_suffix('*') {
        prefix(&format!("{pre}{p}"), false)
    } else {
        exact(&format!("{pre}{v}"), false)
    }
}

/// Go's `regexp.QuoteMeta`, so regexes are written byte for byte as istiod writes them
/// (the `regex` crate's `escape` also escapes `-`, `#`, `&` and `~`).
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn string(v: &str) -> StringMatcher {
    string_with_prefix(v, "")
}

/// `matcher.HeaderMatcher` (`ignore_case` for hosts).
fn header(name: &str, v: &str, ignore_case: bool) -> HeaderMatcher {
    let spec = if v == "*" {
        header_matcher::HeaderMatchSpecifier::PresentMatch(true)
    } else if let Some(s) = v.strip_prefix('*') {
        header_matcher::HeaderMatchSpecifier::StringMatch(suffix(s, ignore_case))
    } else if let Some(p) = v.strip_suffix('*') {
        header_matcher::HeaderMatchSpecifier::StringMatch(prefix(p, ignore_case))
    } else {
        header_matcher::HeaderMatchSpecifier::StringMatch(exact(v, ignore_case))
    };
    HeaderMatcher {
        name: name.into(),
        header_match_specifier: Some(spec),
        ..Default::default()
    }
}

fn string_value(m: StringMatcher) -> ValueMatcher {
    ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::StringMatch(m)),
    }
}

fn or_values(mut matchers: Vec<ValueMatcher>) -> ValueMatcher {
    if matchers.len() == 1 {
        return matchers.remove(0);
    }
    ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::OrMatch(OrMatcher {
            value_matchers: matchers,
        })),
    }
}

fn metadata(filter: &str, keys: &[&str], value: ValueMatcher) -> MetadataMatcher {
    MetadataMatcher {
        filter: filter.into(),
        path: keys
            .iter()
            .map(|k| metadata_matcher::PathSegment {
                segment: Some(metadata_matcher::path_segment::Segment::Key(k.to_string())),
            })
            .collect(),
        value: Some(value),
        invert: false,
    }
}

/// `MetadataListValueMatcherForJWTClaims`: a JWT claim that is a list containing a value, or
/// (extended JWT claims) the value itself.
fn jwt_claims(claims: &[String], value: ValueMatcher) -> MetadataMatcher {
    let mut keys = vec![JWT_PAYLOAD];
    keys.extend(claims.iter().map(String::as_str));
    let list = ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::ListMatch(Box::new(
            ListMatcher {
                match_pattern: Some(list_matcher::MatchPattern::OneOf(Box::new(value.clone()))),
            },
        ))),
    };
    metadata(
        JWT_FILTER,
        &keys,
        ValueMatcher {
            match_pattern: Some(value_matcher::MatchPattern::OrMatch(OrMatcher {
                value_matchers: vec![list, value],
            })),
        },
    )
}

fn cidr(addr: &str) -> Option<CidrRange> {
    let (ip, len) = match addr.split_once('/') {
        Some((ip, len)) => (ip, Some(len.parse::<u32>().ok()?)),
        None => (addr, None),
    };
    let parsed: std::net::IpAddr = ip.parse().ok()?;
    let max = if parsed.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then(|| CidrRange {
        address_prefix: ip.to_string(),
        prefix_len: Some(UInt32Value { value: len }),
    })
}

// === Permissions and principals ===

fn p_and(rules: Vec<Permission>) -> Permission {
    Permission {
        rule: Some(permission::Rule::AndRules(permission::Set { rules })),
    }
}
fn p_or(rules: Vec<Permission>) -> Permission {
    Permission {
        rule: Some(permission::Rule::OrRules(permission::Set { rules })),
    }
}
fn p_not(p: Permission) -> Permission {
    Permission {
        rule: Some(permission::Rule::NotRule(Box::new(p))),
    }
}
fn p_any() -> Permission {
    Permission {
        rule: Some(permission::Rule::Any(true)),
    }
}
fn id_and(ids: Vec<Principal>) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::AndIds(principal::Set { ids })),
    }
}
fn id_or(ids: Vec<Principal>) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::OrIds(principal::Set { ids })),
    }
}
fn id_not(p: Principal) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::NotId(Box::new(p))),
    }
}
fn id_any() -> Principal {
    Principal {
        identifier: Some(principal::Identifier::Any(true)),
    }
}
fn authenticated(m: StringMatcher) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::Authenticated(
            principal::Authenticated {
                principal_name: Some(m),
            },
        )),
    }
}
#[allow(deprecated)] // `metadata` is what istiod writes; `sourced_metadata` replaces it
fn id_metadata(m: MetadataMatcher) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::Metadata(m)),
    }
}

/// Why a value cannot be enforced.
#[derive(Debug)]
struct Unsupported(#[allow(dead_code)] String);

type Gen<T> = Result<Option<T>, Unsupported>;

/// The attributes a rule can test, and where each goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attr {
    DestIp,
    DestPort,
    ConnSni,
    EnvoyFilter,
    SrcIp,
    RemoteIp,
    SrcNamespace,
    SrcTrustDomain,
    SrcServiceAccount,
    SrcPrincipal,
    RequestPrincipal,
    RequestAudiences,
    RequestPresenter,
    RequestHeader,
    RequestClaims,
    Host,
    Path,
    Method,
}

impl Attr {
    /// Attributes that build one matcher for all values (rather than one per value).
    fn extended(self) -> bool {
        matches!(
            self,
            Attr::EnvoyFilter
                | Attr::RequestPrincipal
                | Attr::RequestAudiences
                | Attr::RequestPresenter
                | Attr::RequestClaims
        )
    }

    fn http_only(self) -> bool {
        matches!(
            self,
            Attr::RequestPrincipal
                | Attr::RequestAudiences
                | Attr::RequestPresenter
                | Attr::RequestHeader
                | Attr::RequestClaims
                | Attr::Host
                | Attr::Path
                | Attr::Method
        )
    }
}

#[derive(Clone, Debug)]
struct Entry {
    attr: Attr,
    key: String,
    values: Vec<String>,
    not_values: Vec<String>,
}

/// One rule: a list of permission alternatives and a list of principal alternatives.
#[derive(Debug, Default)]
struct Model {
    permissions: Vec<Vec<Entry>>,
    principals: Vec<Vec<Entry>>,
}

fn entry(attr: Attr, key: &str, values: &[String], not_values: &[String]) -> Option<Entry> {
    (!values.is_empty() || !not_values.is_empty()).then(|| Entry {
        attr,
        key: key.to_string(),
        values: values.to_vec(),
        not_values: not_values.to_vec(),
    })
}

impl Model {
    /// `model.New`.
    fn new(policy_namespace: &str, rule: &IstioRule) -> Result<Self, Unsupported> {
        let mut base_permission = Vec::new();
        let mut base_principal = Vec::new();
        for when in &rule.when {
            let k = when.key.as_str();
            let (attr, to_permission) = match k {
                "destination.ip" => (Attr::DestIp, true),
                "destination.port" => (Attr::DestPort, true),
                "connection.sni" => (Attr::ConnSni, true),
                _ if k.starts_with("experimental.envoy.filters.") => (Attr::EnvoyFilter, true),
                "source.ip" => (Attr::SrcIp, false),
                "remote.ip" => (Attr::RemoteIp, false),
                "source.namespace" => (Attr::SrcNamespace, false),
                "source.trustDomain" => (Attr::SrcTrustDomain, false),
                "source.serviceAccount" => (Attr::SrcServiceAccount, false),
                "source.principal" => (Attr::SrcPrincipal, false),
                "request.auth.principal" => (Attr::RequestPrincipal, false),
                "request.auth.audiences" => (Attr::RequestAudiences, false),
                "request.auth.presenter" => (Attr::RequestPresenter, false),
                _ if k.starts_with("request.headers") => (Attr::RequestHeader, false),
                _ if k.starts_with("request.auth.claims") => (Attr::RequestClaims, false),
                _ => return Err(Unsupported(format!("unknown attribute {k}"))),
            };
            let target = if to_permission {
                &mut base_permission
            } else {
                &mut base_principal
            };
            target.extend(entry(attr, k, &when.values, &when.not_values));
        }
        let mut m = Model::default();
        for from in &rule.from {
            let mut merged = base_principal.clone();
            if let Some(s) = &from.source {
                // Inserted at the front in reverse, so the final order is principals,
                // requestPrincipals, serviceAccounts, trustDomains, namespaces, remote and source IPs.
                let front = [
                    entry(Attr::SrcIp, "source.ip", &s.ip_blocks, &s.not_ip_blocks),
                    entry(
                        Attr::RemoteIp,
                        "remote.ip",
                        &s.remote_ip_blocks,
                        &s.not_remote_ip_blocks,
                    ),
                    entry(
                        Attr::SrcNamespace,
                        "source.namespace",
                        &s.namespaces,
                        &s.not_namespaces,
                    ),
                    entry(
                        Attr::SrcTrustDomain,
                        "source.trustDomain",
                        &s.trust_domains,
                        &s.not_trust_domains,
                    ),
                    entry(
                        Attr::SrcServiceAccount,
                        "source.serviceAccount",
                        &s.service_accounts,
                        &s.not_service_accounts,
                    ),
                    entry(
                        Attr::RequestPrincipal,
                        "request.auth.principal",
                        &s.request_principals,
                        &s.not_request_principals,
                    ),
                    entry(
                        Attr::SrcPrincipal,
                        "source.principal",
                        &s.principals,
                        &s.not_principals,
                    ),
                ];
                for e in front.into_iter().flatten() {
                    merged.insert(0, e);
                }
            }
            m.principals.push(merged);
        }
        if rule.from.is_empty() {
            m.principals.push(base_principal);
        }
        for to in &rule.to {
            let mut merged = base_permission.clone();
            if let Some(o) = &to.operation {
                let front = [
                    entry(Attr::DestPort, "destination.port", &o.ports, &o.not_ports),
                    entry(Attr::Path, "path-matcher", &o.paths, &o.not_paths),
                    entry(Attr::Method, ":method", &o.methods, &o.not_methods),
                    entry(Attr::Host, ":authority", &o.hosts, &o.not_hosts),
                ];
                for e in front.into_iter().flatten() {
                    merged.insert(0, e);
                }
            }
            m.permissions.push(merged);
        }
        if rule.to.is_empty() {
            m.permissions.push(base_permission);
        }
        let _ = policy_namespace;
        Ok(m)
    }

    fn migrate_trust_domain(&mut self, tds: &TrustDomains) {
        for list in &mut self.principals {
            for e in list.iter_mut() {
                match e.attr {
                    Attr::SrcPrincipal => {
                        e.values = tds.replace_aliases(&e.values);
                        e.not_values = tds.replace_aliases(&e.not_values);
                    }
                    Attr::SrcTrustDomain => {
                        e.values = tds.expand(&e.values);
                        e.not_values = tds.expand(&e.not_values);
                    }
                    _ => {}
                }
            }
        }
    }

    /// `Model.Generate`.
    fn generate(&self, ns: &str, for_tcp: bool, action: Action) -> Result<Policy, Unsupported> {
        let mut permissions = Vec::new();
        for list in &self.permissions {
            let mut and = Vec::new();
            for e in list {
                and.extend(entry_permissions(e, for_tcp, action)?);
            }
            if and.is_empty() {
                and.push(p_any());
            }
            permissions.push(p_and(and));
        }
        let mut principals = Vec::new();
        for list in &self.principals {
            let mut and = Vec::new();
            for e in list {
                and.extend(entry_principals(e, ns, for_tcp, action)?);
            }
            if and.is_empty() {
                and.push(id_any());
            }
            principals.push(id_and(and));
        }
        Ok(Policy {
            permissions,
            principals,
            ..Default::default()
        })
    }
}

/// `rule.checkError`: for ALLOW an unenforceable value drops the rule; otherwise it is skipped.
fn check<T>(r: Gen<T>, action: Action) -> Result<Option<T>, Unsupported> {
    match r {
        Err(e) if action == Action::Allow => Err(e),
        Err(_) => Ok(None),
        Ok(v) => Ok(v),
    }
}

fn entry_permissions(
    e: &Entry,
    for_tcp: bool,
    action: Action,
) -> Result<Vec<Permission>, Unsupported> {
    let mut out = Vec::new();
    for (values, negate) in [(&e.values, false), (&e.not_values, true)] {
        if values.is_empty() {
            continue;
        }
        let p = if e.attr.extended() {
            check(extended_permission(e, values, for_tcp), action)?
        } else {
            let mut or = Vec::new();
            for v in values {
                or.extend(check(permission_for(e, v, for_tcp), action)?);
            }
            (!or.is_empty()).then(|| p_or(or))
        };
        out.extend(p.map(|p| if negate { p_not(p) } else { p }));
    }
    Ok(out)
}

fn entry_principals(
    e: &Entry,
    ns: &str,
    for_tcp: bool,
    action: Action,
) -> Result<Vec<Principal>, Unsupported> {
    let mut out = Vec::new();
    for (values, negate) in [(&e.values, false), (&e.not_values, true)] {
        if values.is_empty() {
            continue;
        }
        let p = if e.attr.extended() {
            check(extended_principal(e, values, for_tcp), action)?
        } else {
            let mut or = Vec::new();
            for v in values {
                or.extend(check(principal_for(e, v, ns, for_tcp), action)?);
            }
            (!or.is_empty()).then(|| id_or(or))
        };
        out.extend(p.map(|p| if negate { id_not(p) } else { p }));
    }
    Ok(out)
}

fn http_only(e: &Entry, for_tcp: bool) -> Result<(), Unsupported> {
    if for_tcp && e.attr.http_only() {
        return Err(Unsupported(format!("{:?} is HTTP only", e.key)));
    }
    Ok(())
}

fn permission_for(e: &Entry, v: &str, for_tcp: bool) -> Gen<Permission> {
    http_only(e, for_tcp)?;
    let rule = match e.attr {
        Attr::DestIp => permission::Rule::DestinationIp(
            cidr(v).ok_or_else(|| Unsupported(format!("invalid IP {v}")))?,
        ),
        Attr::DestPort => {
            let port = v
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= 65535)
                .ok_or_else(|| Unsupported(format!("invalid port {v}")))?;
            permission::Rule::DestinationPort(port)
        }
        Attr::ConnSni => permission::Rule::RequestedServerName(string(v)),
        Attr::Host => permission::Rule::Header(header(":authority", v, true)),
        Attr::Method => permission::Rule::Header(header(":method", v, false)),
        Attr::Path if v.contains("{*}") || v.contains("{**}") => {
            let template = v.replace("{**}", "**").replace("{*}", "*");
            permission::Rule::UriTemplate(TypedExtensionConfig {
                name: "uri-template".into(),
                typed_config: Some(to_any(&UriTemplateMatchConfig {
                    path_template: template,
                })),
            })
        }
        Attr::Path => permission::Rule::UrlPath(PathMatcher {
            rule: Some(path_matcher::Rule::Path(string(v))),
        }),
        _ => return Err(Unsupported("unimplemented".into())),
    };
    Ok(Some(Permission { rule: Some(rule) }))
}

#[allow(deprecated)] // `metadata` is what istiod writes; `sourced_metadata` replaces it
fn extended_permission(e: &Entry, values: &[String], _for_tcp: bool) -> Gen<Permission> {
    if e.attr != Attr::EnvoyFilter {
        return Err(Unsupported("unimplemented".into()));
    }
    let inner = e
        .key
        .trim_start_matches("experimental.")
        .trim_end_matches(']');
    let Some((filter, key)) = inner.split_once('[') else {
        return Err(Unsupported(format!("invalid key: {}", e.key)));
    };
    let matchers = values
        .iter()
        .map(
            |v| match v.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                Some(listed) => ValueMatcher {
                    match_pattern: Some(value_matcher::MatchPattern::ListMatch(Box::new(
                        ListMatcher {
                            match_pattern: Some(list_matcher::MatchPattern::OneOf(Box::new(
                                string_value(string(listed)),
                            ))),
                        },
                    ))),
                },
                None => string_value(string(v)),
            },
        )
        .collect();
    Ok(Some(Permission {
        rule: Some(permission::Rule::Metadata(metadata(
            filter,
            &[key],
            or_values(matchers),
        ))),
    }))
}

fn principal_for(e: &Entry, v: &str, ns: &str, for_tcp: bool) -> Gen<Principal> {
    http_only(e, for_tcp)?;
    let id = match e.attr {
        Attr::SrcIp => principal::Identifier::DirectRemoteIp(
            cidr(v).ok_or_else(|| Unsupported(format!("invalid IP {v}")))?,
        ),
        Attr::RemoteIp => principal::Identifier::RemoteIp(
            cidr(v).ok_or_else(|| Unsupported(format!("invalid IP {v}")))?,
        ),
        Attr::SrcNamespace => {
            let re = v.split('*').map(quote_meta).collect::<Vec<_>>().join(".*");
            return Ok(Some(authenticated(regex(&format!(".*/ns/{re}/.*")))));
        }
        Attr::SrcServiceAccount => {
            let (sa_ns, sa) = v.split_once('/').unwrap_or((ns, v));
            return Ok(Some(authenticated(regex(&format!(
                "spiffe://.+/ns/{}/(.+/|)sa/{}(/.+)?",
                quote_meta(sa_ns),
                quote_meta(sa)
            )))));
        }
        Attr::SrcTrustDomain => {
            let m = if v == "*" {
                prefix("spiffe://", false)
            } else if !v.contains('*') {
                prefix(&format!("spiffe://{v}/"), false)
            } else {
                let (a, b) = v.split_once('*').unwrap_or((v, ""));
                regex(&format!(
                    "spiffe://{}[^/]*{}/.*",
                    quote_meta(a),
                    quote_meta(b)
                ))
            };
            return Ok(Some(authenticated(m)));
        }
        Attr::SrcPrincipal => return Ok(Some(authenticated(string_with_prefix(v, "spiffe://")))),
        Attr::RequestHeader => {
            let name = e
                .key
                .strip_prefix("request.headers")
                .and_then(|s| s.strip_prefix('['))
                .and_then(|s| s.strip_suffix(']'))
                .ok_or_else(|| Unsupported(format!("expecting format [<NAME>] in {}", e.key)))?;
            principal::Identifier::Header(header(name, v, false))
        }
        _ => return Err(Unsupported("unimplemented".into())),
    };
    Ok(Some(Principal {
        identifier: Some(id),
    }))
}

/// `extractNameInNestedBrackets`: `[a][b]` is `a`, `b`; `[a.b]` is one name.
fn claim_names(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        if inner[..end].contains('[') {
            return None;
        }
        out.push(inner[..end].to_string());
        rest = &inner[end + 1..];
    }
    (!out.is_empty()).then_some(out)
}

fn extended_principal(e: &Entry, values: &[String], for_tcp: bool) -> Gen<Principal> {
    http_only(e, for_tcp)?;
    let string_or = |vs: &[String]| or_values(vs.iter().map(|v| string_value(string(v))).collect());
    let m = match e.attr {
        Attr::RequestPrincipal => return Ok(Some(request_principals(values))),
        Attr::RequestAudiences => jwt_claims(&["aud".to_string()], string_or(values)),
        Attr::RequestPresenter => jwt_claims(&["azp".to_string()], string_or(values)),
        Attr::RequestClaims => {
            let claims = claim_names(e.key.trim_start_matches("request.auth.claims"))
                .ok_or_else(|| Unsupported(format!("invalid claim in {}", e.key)))?;
            jwt_claims(&claims, string_or(values))
        }
        _ => return Err(Unsupported("unimplemented".into())),
    };
    Ok(Some(id_metadata(m)))
}

/// `requestPrincipalGenerator`: `iss/sub` as two JWT payload matches.
fn request_principals(values: &[String]) -> Principal {
    let any = regex(".+");
    let claim = |name: &str, m: StringMatcher| {
        id_metadata(metadata(JWT_FILTER, &[JWT_PAYLOAD, name], string_value(m)))
    };
    let mut or: Vec<Principal> = values
        .iter()
        .map(|value| {
            let (iss, sub, found) = match value.rfind('/') {
                Some(i) => (&value[..i], &value[i + 1..], true),
                None => (value.as_str(), "", false),
            };
            let (mi, ms) = if value == "*" {
                (any.clone(), any.clone())
            } else if value.starts_with('*') {
                if found {
                    (
                        if iss == "*" {
                            any.clone()
                        } else {
                            suffix(iss.trim_start_matches('*'), false)
                        },
                        exact(sub, false),
                    )
                } else {
                    (any.clone(), suffix(value.trim_start_matches('*'), false))
                }
            } else if value.ends_with('*') {
                if found {
                    (
                        exact(iss, false),
                        if sub == "*" {
                            any.clone()
                        } else {
                            prefix(sub.trim_end_matches('*'), false)
                        },
                    )
                } else {
                    (prefix(value.trim_end_matches('*'), false), any.clone())
                }
            } else {
                (exact(iss, false), exact(sub, false))
            };
            id_and(vec![claim("iss", mi), claim("sub", ms)])
        })
        .collect();
    if or.len() == 1 {
        or.remove(0)
    } else {
        id_or(or)
    }
}

/// A policy that never matches: an ALLOW or DENY policy without rules.
fn match_never() -> Policy {
    Policy {
        permissions: vec![p_not(p_any())],
        principals: vec![id_not(id_any())],
        ..Default::default()
    }
}

/// Whether a policy is in dry-run (`istio.io/dry-run: "true"`): evaluated and logged as
/// shadow rules, not enforced. Values parse as Go's `strconv.ParseBool`.
fn is_dry_run(p: &AuthorizationPolicy) -> bool {
    matches!(
        p.metadata
            .annotations
            .get("istio.io/dry-run")
            .map(String::as_str),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True")
    )
}

/// The enforced and the shadow (dry-run) RBAC rules of the policies of one action.
fn build_rules(
    policies: &[&AuthorizationPolicy],
    action: Action,
    for_tcp: bool,
    tds: &TrustDomains,
) -> Option<(Option<Rbac>, Option<Rbac>)> {
    if policies.is_empty() {
        return None;
    }
    let empty = || Rbac {
        action: action as i32,
        policies: crate::dump::proto_map(),
        ..Default::default()
    };
    let (mut enforced, mut shadow) = (None::<Rbac>, None::<Rbac>);
    for p in policies {
        let target = if is_dry_run(p) {
            shadow.get_or_insert_with(empty)
        } else {
            enforced.get_or_insert_with(empty)
        };
        let ns = p.metadata.namespace.as_str();
        for (i, rule) in p.spec.rules.iter().enumerate() {
            let name = format!("ns[{ns}]-policy[{}]-rule[{i}]", p.metadata.name);
            let Ok(mut m) = Model::new(ns, rule) else {
                continue;
            };
            m.migrate_trust_domain(tds);
            if let Ok(policy) = m.generate(ns, for_tcp, action) {
                target.policies.insert(name, policy);
            }
        }
        if p.spec.rules.is_empty() {
            target.policies.insert(
                format!("ns[{ns}]-policy[{}]-rule[0]", p.metadata.name),
                match_never(),
            );
        }
    }
    Some((enforced, shadow))
}

/// The extension provider a CUSTOM policy names (empty when it names none).
pub(crate) fn custom_provider(p: &AuthorizationPolicy) -> String {
    p.spec
        .provider
        .as_ref()
        .map(|x| x.name.clone())
        .unwrap_or_default()
}

/// The RBAC rules of CUSTOM policies, by provider name: the enforced policies' and the
/// dry-run ones', each rule named `istio-ext-authz-<provider>-ns[..]-policy[..]-rule[..]`
/// (the name the ext_authz filter's metadata match looks for) and built as DENY rules are
/// (on TCP, HTTP-only fields widen the match rather than drop the rule).
pub(crate) fn custom_rules(
    policies: &[&AuthorizationPolicy],
    for_tcp: bool,
    tds: &TrustDomains,
) -> std::collections::BTreeMap<String, (Rbac, Rbac)> {
    let empty = || Rbac {
        action: Action::Deny as i32,
        policies: crate::dump::proto_map(),
        ..Default::default()
    };
    let mut out: std::collections::BTreeMap<String, (Rbac, Rbac)> =
        std::collections::BTreeMap::new();
    for p in policies
        .iter()
        .filter(|p| p.spec.action == AuthorizationAction::Custom)
    {
        let provider = custom_provider(p);
        let prefix = if provider.is_empty() {
            "istio-ext-authz-".to_string()
        } else {
            format!("istio-ext-authz-{provider}-")
        };
        let (enforced, dry_run) = out.entry(provider).or_insert_with(|| (empty(), empty()));
        let target = if is_dry_run(p) { dry_run } else { enforced };
        let ns = p.metadata.namespace.as_str();
        for (i, rule) in p.spec.rules.iter().enumerate() {
            let name = format!("{prefix}ns[{ns}]-policy[{}]-rule[{i}]", p.metadata.name);
            let Ok(mut m) = Model::new(ns, rule) else {
                continue;
            };
            m.migrate_trust_domain(tds);
            if let Ok(policy) = m.generate(ns, for_tcp, Action::Deny) {
                target.policies.insert(name, policy);
            }
        }
        if p.spec.rules.is_empty() {
            target.policies.insert(
                format!("{prefix}ns[{ns}]-policy[{}]-rule[0]", p.metadata.name),
                match_never(),
            );
        }
    }
    out
}

/// `shadowRuleStatPrefix`: by the shadow rules' action (ALLOW when there are none, as istiod).
fn shadow_prefix(shadow: Option<&Rbac>) -> String {
    match shadow.map(|s| s.action) {
        Some(a) if a == Action::Deny as i32 => "istio_dry_run_deny_".into(),
        Some(a) if a == Action::Log as i32 => String::new(),
        _ => "istio_dry_run_allow_".into(),
    }
}

/// The actions in filter order, with the policies of each (CUSTOM is not handled here).
fn by_action<'a>(
    policies: &[&'a AuthorizationPolicy],
) -> Vec<(Action, Vec<&'a AuthorizationPolicy>)> {
    let of = |a: AuthorizationAction| {
        policies
            .iter()
            .copied()
            .filter(|p| p.spec.action == a)
            .collect::<Vec<_>>()
    };
    vec![
        (Action::Log, of(AuthorizationAction::Audit)),
        (Action::Deny, of(AuthorizationAction::Deny)),
        (Action::Allow, of(AuthorizationAction::Allow)),
    ]
}

/// The HTTP RBAC filters for the policies that apply to a workload, in Istio's order (AUDIT,
/// DENY, ALLOW). Policies with action CUSTOM are left out.
pub fn build_http(
    policies: &[&AuthorizationPolicy],
    trust_domains: &TrustDomains,
) -> Vec<HttpFilter> {
    by_action(policies)
        .into_iter()
        .filter_map(|(action, ps)| build_rules(&ps, action, false, trust_domains))
        .map(|(rules, shadow_rules)| {
            let rbac = HttpRbac {
                shadow_rules_stat_prefix: shadow_prefix(shadow_rules.as_ref()),
                rules,
                shadow_rules,
                ..Default::default()
            };
            HttpFilter {
                name: HTTP_RBAC.into(),
                config_type: Some(http_filter::ConfigType::TypedConfig(to_any(&rbac))),
                ..Default::default()
            }
        })
        .collect()
}

/// The network RBAC filters for TCP filter chains (stat prefix `tcp.`), with HTTP-only fields
/// handled as described in the module documentation.
pub fn build_tcp(policies: &[&AuthorizationPolicy], trust_domains: &TrustDomains) -> Vec<Filter> {
    by_action(policies)
        .into_iter()
        .filter_map(|(action, ps)| build_rules(&ps, action, true, trust_domains))
        .map(|(rules, shadow_rules)| {
            let rbac = NetworkRbac {
                stat_prefix: "tcp.".into(),
                shadow_rules_stat_prefix: shadow_prefix(shadow_rules.as_ref()),
                rules,
                shadow_rules,
                ..Default::default()
            };
            Filter {
                name: NETWORK_RBAC.into(),
                config_type: Some(filter::ConfigType::TypedConfig(to_any(&rbac))),
            }
        })
        .collect()
}
