//! AuthorizationPolicy, PeerAuthentication and RequestAuthentication (`ValidateAuthorizationPolicy`,
//! `ValidatePeerAuthentication`, `ValidateRequestAuthentication` and `pkg/config/security`), plus
//! the CRD schema's rules on those kinds.
//!
//! Lists that are empty (`from: []`) load as unset, as they do through protobuf JSON, so the
//! webhook's "`from` must not be empty" cases (reachable only from Go code) have no equivalent.

use super::{Ctx, common};
use crate::api::security::{
    AuthorizationAction, AuthorizationPolicySpec, JwtRule, Operation, Rule, Source,
};
use crate::api::{AuthorizationPolicy, PeerAuthentication, RequestAuthentication};

const DRY_RUN: &str = "istio.io/dry-run";

// ---------------------------------------------------------------------------------------------
// AuthorizationPolicy
// ---------------------------------------------------------------------------------------------

pub(super) fn authorization_policy(obj: &AuthorizationPolicy, cx: &mut Ctx) {
    let spec = &obj.spec;
    if obj.metadata.annotations.contains_key(DRY_RUN)
        && !matches!(
            spec.action,
            AuthorizationAction::Allow | AuthorizationAction::Deny
        )
    {
        cx.field("metadata", |cx| {
            cx.field("annotations", |cx| {
                cx.key(DRY_RUN, |cx| {
                    cx.error(format!(
                        "the annotation {DRY_RUN} currently only supports action ALLOW/DENY, found action {} in {}/{}",
                        spec.action, obj.metadata.namespace, obj.metadata.name
                    ))
                })
            })
        });
    }
    cx.field("spec", |cx| authorization_policy_spec(spec, cx));
}

fn authorization_policy_spec(spec: &AuthorizationPolicySpec, cx: &mut Ctx) {
    common::policy_attachment(
        cx,
        "selector",
        spec.selector.as_ref(),
        spec.target_ref.as_ref(),
        &spec.target_refs,
    );
    common::max_items(cx, "rules", spec.rules.len(), 512);

    let meaningless = |action: &str| {
        format!(
            "{action} action without `rules` is meaningless as it will never be triggered, add an empty rule `{{}}` if you want it be triggered for every request"
        )
    };
    if spec.action == AuthorizationAction::Custom {
        if spec.rules.is_empty() {
            cx.error(meaningless("CUSTOM"));
        } else if spec.provider.as_ref().is_none_or(|p| p.name.is_empty()) {
            cx.error_at("provider", "`provider.name` must not be empty");
        }
        cx.each("rules", &spec.rules, custom_rule_limits);
    }
    if spec.provider.is_some() && spec.action != AuthorizationAction::Custom {
        cx.error_at(
            "provider",
            format!(
                "`provider` must not be with non CUSTOM action, found {}",
                spec.action
            ),
        );
    }
    if spec.action == AuthorizationAction::Deny && spec.rules.is_empty() {
        cx.error(meaningless("DENY"));
    }

    let mut i = 0;
    cx.each("rules", &spec.rules, |cx, rule| {
        authz_rule(cx, rule, i, spec.action);
        i += 1;
    });
}

/// Fields the CUSTOM action does not support (the ext_authz filter has no peer identity).
fn custom_rule_limits(cx: &mut Ctx, rule: &Rule) {
    let unsupported = |name: &str| format!("{name} is currently not supported with CUSTOM action");
    cx.each("from", &rule.from, |cx, from| {
        let Some(src) = &from.source else { return };
        cx.field("source", |cx| {
            for (set, json, go) in [
                (!src.namespaces.is_empty(), "namespaces", "From.Namespaces"),
                (
                    !src.not_namespaces.is_empty(),
                    "notNamespaces",
                    "From.NotNamespaces",
                ),
                (
                    !src.service_accounts.is_empty(),
                    "serviceAccounts",
                    "From.ServiceAccounts",
                ),
                (
                    !src.not_service_accounts.is_empty(),
                    "notServiceAccounts",
                    "From.NotServiceAccounts",
                ),
                (
                    !src.trust_domains.is_empty(),
                    "trustDomains",
                    "From.TrustDomains",
                ),
                (
                    !src.not_trust_domains.is_empty(),
                    "notTrustDomains",
                    "From.NotTrustDomains",
                ),
                (!src.principals.is_empty(), "principals", "From.Principals"),
                (
                    !src.not_principals.is_empty(),
                    "notPrincipals",
                    "From.NotPrincipals",
                ),
                (
                    !src.request_principals.is_empty(),
                    "requestPrincipals",
                    "From.RequestPrincipals",
                ),
                (
                    !src.not_request_principals.is_empty(),
                    "notRequestPrincipals",
                    "From.NotRequestPrincipals",
                ),
            ] {
                if set {
                    cx.error_at(json, unsupported(go));
                }
            }
        });
    });
    cx.each("when", &rule.when, |cx, when| {
        let k = when.key.as_str();
        if matches!(
            k,
            "source.namespace"
                | "source.serviceAccount"
                | "source.trustDomain"
                | "source.principal"
        ) || k.starts_with("request.auth.")
        {
            cx.error_at("key", unsupported(k));
        }
    });
}

fn authz_rule(cx: &mut Ctx, rule: &Rule, i: usize, action: AuthorizationAction) {
    common::max_items(cx, "from", rule.from.len(), 512);
    let mut tcp_in_from = false;
    let mut tcp_in_to = false;
    let mut from_exists = false;
    let mut to_exists = false;
    cx.each("from", &rule.from, |cx, from| match &from.source {
        None => cx.error(format!("`from.source` must not be nil, found at rule {i}")),
        Some(src) => {
            from_exists = true;
            cx.field("source", |cx| source(cx, src, i));
            tcp_in_from |= !(src.principals.is_empty()
                && src.not_principals.is_empty()
                && src.ip_blocks.is_empty()
                && src.not_ip_blocks.is_empty()
                && src.namespaces.is_empty()
                && src.not_namespaces.is_empty()
                && src.remote_ip_blocks.is_empty()
                && src.not_remote_ip_blocks.is_empty()
                && src.service_accounts.is_empty()
                && src.not_service_accounts.is_empty());
        }
    });
    cx.each("to", &rule.to, |cx, to| match &to.operation {
        None => cx.error(format!("`to.operation` must not be nil, found at rule {i}")),
        Some(op) => {
            to_exists = true;
            cx.field("operation", |cx| operation(cx, op, i));
            tcp_in_to |= !(op.ports.is_empty() && op.not_ports.is_empty());
        }
    });
    cx.each("when", &rule.when, |cx, c| {
        if c.key.is_empty() {
            cx.error_at("key", "`key` must not be empty");
        } else if c.values.is_empty() && c.not_values.is_empty() {
            cx.error(format!(
                "at least one of `values` or `notValues` must be set for key {}",
                c.key
            ));
        } else {
            if let Err(e) = validate_attribute(&c.key, &c.values) {
                cx.error_at(
                    "values",
                    format!("invalid `value` for `key` {}: {e}", c.key),
                );
            }
            if let Err(e) = validate_attribute(&c.key, &c.not_values) {
                cx.error_at(
                    "notValues",
                    format!("invalid `notValue` for `key` {}: {e}", c.key),
                );
            }
        }
    });
    if action == AuthorizationAction::Deny
        && ((from_exists && !to_exists && !tcp_in_from) || (to_exists && !tcp_in_to))
    {
        cx.warn(
            "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port",
        );
    }
}

fn source(cx: &mut Ctx, src: &Source, i: usize) {
    let peer = src.principals.len()
        + src.not_principals.len()
        + src.namespaces.len()
        + src.not_namespaces.len();
    if peer > 0 && src.service_accounts.len() + src.not_service_accounts.len() > 0 {
        cx.error(format!(
            "cannot set serviceAccounts with namespaces or principals, found at rule {i}"
        ));
    }
    let lists: [(&str, &str, &[String]); 14] = [
        ("principals", "Principals", &src.principals),
        (
            "requestPrincipals",
            "RequestPrincipals",
            &src.request_principals,
        ),
        ("namespaces", "Namespaces", &src.namespaces),
        ("ipBlocks", "IpBlocks", &src.ip_blocks),
        ("remoteIpBlocks", "RemoteIpBlocks", &src.remote_ip_blocks),
        ("notPrincipals", "NotPrincipals", &src.not_principals),
        (
            "notRequestPrincipals",
            "NotRequestPrincipals",
            &src.not_request_principals,
        ),
        ("notNamespaces", "NotNamespaces", &src.not_namespaces),
        ("notIpBlocks", "NotIpBlocks", &src.not_ip_blocks),
        (
            "notRemoteIpBlocks",
            "NotRemoteIpBlocks",
            &src.not_remote_ip_blocks,
        ),
        ("serviceAccounts", "ServiceAccounts", &src.service_accounts),
        (
            "notServiceAccounts",
            "NotServiceAccounts",
            &src.not_service_accounts,
        ),
        ("trustDomains", "TrustDomains", &src.trust_domains),
        ("notTrustDomains", "NotTrustDomains", &src.not_trust_domains),
    ];
    if lists.iter().all(|(_, _, l)| l.is_empty()) {
        cx.error(format!(
            "`from.source` must not be empty, found at rule {i}"
        ));
    }
    for (json, go, values) in lists {
        if values.is_empty() {
            continue;
        }
        cx.field(json, |cx| match go {
            "ServiceAccounts" | "NotServiceAccounts" => cx.check(check_service_account(go, values)),
            "TrustDomains" | "NotTrustDomains" => cx.check(check_trust_domain_values(go, values)),
            _ => {
                each_empty_value(cx, go, values);
                if go.ends_with("IpBlocks") {
                    ip_values(cx, values);
                }
            }
        });
    }
}

fn operation(cx: &mut Ctx, op: &Operation, i: usize) {
    let lists: [(&str, &str, &[String]); 8] = [
        ("ports", "Ports", &op.ports),
        ("methods", "Methods", &op.methods),
        ("paths", "Paths", &op.paths),
        ("hosts", "Hosts", &op.hosts),
        ("notPorts", "NotPorts", &op.not_ports),
        ("notMethods", "NotMethods", &op.not_methods),
        ("notPaths", "NotPaths", &op.not_paths),
        ("notHosts", "NotHosts", &op.not_hosts),
    ];
    if lists.iter().all(|(_, _, l)| l.is_empty()) {
        cx.error(format!(
            "`to.operation` must not be empty, found at rule {i}"
        ));
    }
    for (json, go, values) in lists {
        if values.is_empty() {
            continue;
        }
        cx.field(json, |cx| {
            each_empty_value(cx, go, values);
            if go.ends_with("Ports") {
                for (k, p) in values.iter().enumerate() {
                    if !p.is_empty() {
                        cx.index(k, |cx| cx.check(validate_port_value(p)));
                    }
                }
            }
            if go.ends_with("Paths") {
                cx.check(check_valid_path_template(go, values));
            }
        });
    }
}

/// `CheckEmptyValues`, reported at the first empty element.
fn each_empty_value(cx: &mut Ctx, go_name: &str, values: &[String]) {
    if let Some(k) = values.iter().position(String::is_empty) {
        cx.index(k, |cx| {
            cx.error(format!("empty value not allowed, found in {go_name}"))
        });
    }
}

/// `ValidateIPs`, element by element.
fn ip_values(cx: &mut Ctx, values: &[String]) {
    for (k, v) in values.iter().enumerate() {
        if !v.is_empty() {
            cx.index(k, |cx| cx.check(validate_ip(v)));
        }
    }
}

fn validate_ip(v: &str) -> Result<(), String> {
    if v.contains('/') {
        if !common::is_cidr(v) {
            return Err(format!(
                "bad CIDR range ({v}): netip.ParsePrefix({v:?}): invalid prefix"
            ));
        }
    } else if !common::is_ip(v) {
        return Err(format!("bad IP address ({v})"));
    }
    Ok(())
}

fn validate_ips(values: &[String]) -> Result<(), String> {
    values.iter().try_for_each(|v| validate_ip(v))
}

/// One element of `ValidatePorts`: a decimal number in 0..65535.
fn validate_port_value(p: &str) -> Result<(), String> {
    let ok = !p.is_empty()
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u64>().is_ok_and(|n| n <= 65535);
    if ok {
        Ok(())
    } else {
        Err(format!("bad port ({p}): invalid syntax or out of range"))
    }
}

fn validate_ports(values: &[String]) -> Result<(), String> {
    values.iter().try_for_each(|p| validate_port_value(p))
}

fn check_empty_values(key: &str, values: &[String]) -> Result<(), String> {
    if values.iter().any(String::is_empty) {
        return Err(format!("empty value not allowed, found in {key}"));
    }
    Ok(())
}

/// `CheckWildcardValues`: exact, `prefix*`, `*suffix` or `*`.
fn check_wildcard_values(key: &str, values: &[String]) -> Result<(), String> {
    check_empty_values(key, values)?;
    for v in values {
        let n = v.matches('*').count();
        if n > 1 {
            return Err(format!(
                "at most one wildcard is allowed, found in {key}: {v:?}"
            ));
        }
        if n == 1 && v != "*" && !v.starts_with('*') && !v.ends_with('*') {
            return Err(format!(
                "wildcard is only allowed at the start or end, found in {key}: {v:?}"
            ));
        }
    }
    Ok(())
}

/// `CheckTrustDomainValues`.
fn check_trust_domain_values(key: &str, values: &[String]) -> Result<(), String> {
    check_wildcard_values(key, values)?;
    if let Some(v) = values.iter().find(|v| v.contains('/')) {
        return Err(format!(
            "trust domain must not contain '/', found in {key}: {v:?}"
        ));
    }
    Ok(())
}

/// `CheckServiceAccount`: `sa` or `namespace/sa`, no wildcard, at most 16 values of 320 characters.
fn check_service_account(key: &str, values: &[String]) -> Result<(), String> {
    if values.len() > 16 {
        return Err("may not have more than 16 values".into());
    }
    let format_err = "expected format 'serviceAccount' or 'namespace/serviceAccount'";
    for v in values {
        if v.is_empty() {
            return Err(format!("empty value not allowed, found in {key}"));
        }
        if v.contains('*') {
            return Err(format!("wildcard not allowed, found in {key}"));
        }
        if v.matches('/').count() > 1 {
            return Err(format!("{format_err}, found {v:?} in {key}"));
        }
        if v.len() > 320 {
            return Err(format!(
                "value cannot exceed 320 characters, found {v:?} in {key}"
            ));
        }
        if let Some((ns, sa)) = v.split_once('/') {
            if ns.is_empty() {
                return Err(format!(
                    "{format_err}, found empty namespace {v:?} in {key}"
                ));
            }
            if sa.is_empty() {
                return Err(format!(
                    "{format_err}, found empty serviceAccount {v:?} in {key}"
                ));
            }
        }
    }
    Ok(())
}

/// RFC 3986 `pchar` (plus `=`), the literals Envoy accepts in a path template.
fn is_valid_literal(glob: &str) -> bool {
    !glob.is_empty()
        && glob
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()+,;:@=".contains(&b))
}

fn contains_path_template(p: &str) -> bool {
    p.contains("{*}") || p.contains("{**}")
}

/// `CheckValidPathTemplate`: `{*}` and `{**}` as whole segments, `{**}` last, pchar literals.
fn check_valid_path_template(key: &str, paths: &[String]) -> Result<(), String> {
    for path in paths {
        let templated = contains_path_template(path);
        let mut found_any = false;
        let trimmed = path.trim_matches('/');
        for glob in trimmed.split('/') {
            let is_one = glob == "{*}";
            let is_any = glob == "{**}";
            if (is_one || is_any) && found_any {
                return Err(format!(
                    "invalid or unsupported path {trimmed}, found in {key}. {{**}} is not the last operator"
                ));
            }
            if is_one {
                continue;
            }
            if is_any {
                found_any = true;
                continue;
            }
            if glob.contains(['{', '}']) {
                return Err(format!(
                    "invalid or unsupported path {trimmed}, found in {key}. Contains '{{' or '}}' beyond a supported path template"
                ));
            }
            if templated && !is_valid_literal(glob) {
                return Err(format!(
                    "invalid or unsupported path {trimmed}, found in {key}. Contains segment {glob} with invalid string literal"
                ));
            }
        }
    }
    Ok(())
}

/// `validateMapKey`: `name[key]` with a non-empty key.
fn validate_map_key(key: &str) -> Result<(), String> {
    if let Some(open) = key.find('[')
        && key.ends_with(']')
        && open > 0
        && open + 2 < key.len()
    {
        return Ok(());
    }
    Err(format!("bad key ({key}): should have format a[b]"))
}

/// `security.ValidateAttribute`: the condition keys AuthorizationPolicy supports and their values.
fn validate_attribute(key: &str, values: &[String]) -> Result<(), String> {
    check_empty_values(key, values)?;
    match key {
        k if k.starts_with("request.headers") => validate_map_key(k),
        "source.ip" | "remote.ip" | "destination.ip" => validate_ips(values),
        "source.namespace"
        | "source.principal"
        | "request.auth.principal"
        | "request.auth.audiences"
        | "request.auth.presenter"
        | "connection.sni" => Ok(()),
        "source.serviceAccount" => check_service_account(key, values),
        "source.trustDomain" => check_wildcard_values(key, values),
        k if k.starts_with("request.auth.claims") => validate_map_key(k),
        "destination.port" => validate_ports(values),
        k if k.starts_with("experimental.envoy.filters.") => validate_map_key(k),
        "destination.namespace" => Err(format!(
            "attribute {key} is replaced by the metadata.namespace"
        )),
        k if k.starts_with("destination.labels") => Err(format!(
            "attribute {key} is replaced by the workload selector"
        )),
        "destination.name" | "destination.user" => Err(format!(
            "deprecated attribute {key}: only supported in v1alpha1"
        )),
        _ => Err(format!("unknown attribute: {key}")),
    }
}

// ---------------------------------------------------------------------------------------------
// PeerAuthentication
// ---------------------------------------------------------------------------------------------

pub(super) fn peer_authentication(obj: &PeerAuthentication, cx: &mut Ctx) {
    let spec = &obj.spec;
    cx.field("spec", |cx| {
        let empty_selector = spec
            .selector
            .as_ref()
            .is_none_or(|s| s.match_labels.is_empty());
        if let Some(ports) = &spec.port_level_mtls {
            cx.field("portLevelMtls", |cx| {
                if empty_selector && !ports.is_empty() {
                    cx.error("mesh/namespace peer authentication cannot have port level mTLS");
                }
                if ports.is_empty() {
                    cx.error("port level mTLS, if defined, must have at least one element");
                }
                for port in ports.keys() {
                    if *port == 0 || *port > 65535 {
                        cx.key(&port.to_string(), |cx| {
                            cx.error("port must be in range 1..65535")
                        });
                    }
                }
            });
        }
        common::workload_selector(cx, "selector", spec.selector.as_ref());
    });
}

// ---------------------------------------------------------------------------------------------
// RequestAuthentication
// ---------------------------------------------------------------------------------------------

pub(super) fn request_authentication(obj: &RequestAuthentication, cx: &mut Ctx) {
    let spec = &obj.spec;
    cx.field("spec", |cx| {
        common::policy_attachment(
            cx,
            "selector",
            spec.selector.as_ref(),
            spec.target_ref.as_ref(),
            &spec.target_refs,
        );
        common::max_items(cx, "jwtRules", spec.jwt_rules.len(), 4096);
        cx.each("jwtRules", &spec.jwt_rules, jwt_rule);
    });
}

fn jwt_rule(cx: &mut Ctx, rule: &JwtRule) {
    cx.each("audiences", &rule.audiences, |cx, a| {
        if a.is_empty() {
            cx.error("audience must be non-empty string");
        }
    });
    if rule.issuer.is_empty() && rule.jwks_uri.is_empty() {
        cx.error("issuer or jwksUri must be non-empty string");
    }
    if !rule.jwks_uri.is_empty() {
        cx.field("jwksUri", |cx| {
            cx.check(parse_jwks_uri(&rule.jwks_uri));
            if rule.jwks_uri.len() > 2048 {
                cx.error("Too long: may not be more than 2048 bytes");
            }
            // The CRD's CEL rule parses with url() and wants http or https.
            if parse_url(&rule.jwks_uri, true).is_err() {
                cx.error("url must have scheme http:// or https://");
            }
        });
        if !rule.jwks.is_empty() {
            cx.error("only one of jwks or jwksUri can be set");
        }
    }
    if !rule.jwks.is_empty() {
        cx.field("jwks", |cx| match parse_jwks(&rule.jwks) {
            Err(e) => cx.error(format!("jwks parse error: {e}")),
            Ok(private) => {
                for i in private {
                    cx.warn(format!(
                        "jwks key at index {i} contains private key material; only public keys are used for verification"
                    ));
                }
            }
        });
    }
    cx.each("fromHeaders", &rule.from_headers, |cx, h| {
        if h.name.is_empty() {
            cx.error_at("name", "location header name must be non-empty string");
        }
    });
    cx.each("fromParams", &rule.from_params, |cx, p| {
        if p.is_empty() {
            cx.error("location query must be non-empty string");
        }
    });
    cx.each("fromCookies", &rule.from_cookies, |cx, c| {
        if c.is_empty() {
            cx.error("cookie name must be non-empty string");
        }
    });
    cx.each(
        "outputClaimToHeaders",
        &rule.output_claim_to_headers,
        |cx, c| {
            if c.claim.is_empty() || c.header.is_empty() {
                cx.error("outputClaimToHeaders header and claim value must be non-empty string");
            } else {
                cx.check_at("header", common::strict_header_name(&c.header));
            }
        },
    );
    if let Some(t) = &rule.timeout {
        cx.check_at("timeout", common::duration(t));
    }
    common::max_items(
        cx,
        "spaceDelimitedClaims",
        rule.space_delimited_claims.len(),
        64,
    );
    cx.each(
        "spaceDelimitedClaims",
        &rule.space_delimited_claims,
        |cx, c| {
            if c.is_empty() {
                cx.error("spaceDelimitedClaims in body should be at least 1 chars long");
            }
        },
    );
}

/// `ParseJwksURI`: an http or https URL with an optional numeric port.
fn parse_jwks_uri(uri: &str) -> Result<(), String> {
    let u = parse_url(uri, false)?;
    if u.scheme != "http" && u.scheme != "https" {
        return Err(format!("URI scheme {:?} is not supported", u.scheme));
    }
    Ok(())
}

/// Parses a JSON Web Key Set (or a single key) the way `jwk.Parse` does, returning the indexes
/// of keys holding private material.
fn parse_jwks(jwks: &str) -> Result<Vec<usize>, String> {
    let value: serde_json::Value =
        serde_json::from_str(jwks).map_err(|e| format!("failed to unmarshal JWK set: {e}"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| "failed to unmarshal JWK set: not a JSON object".to_string())?;
    let keys: Vec<&serde_json::Value> = match obj.get("keys") {
        Some(serde_json::Value::Array(keys)) => keys.iter().collect(),
        Some(_) => return Err("failed to unmarshal JWK set: \"keys\" must be an array".into()),
        None => vec![&value],
    };
    let mut private = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let k = key
            .as_object()
            .ok_or_else(|| format!("key at index {i} is not a JSON object"))?;
        let kty = k
            .get("kty")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("key at index {i}: missing \"kty\" field"))?;
        let (required, is_private): (&[&str], bool) = match kty {
            "RSA" => (&["n", "e"], k.contains_key("d")),
            "EC" => (&["crv", "x", "y"], k.contains_key("d")),
            "OKP" => (&["crv", "x"], k.contains_key("d")),
            "oct" => (&["k"], true),
            other => {
                return Err(format!(
                    "key at index {i}: invalid key type from JSON ({other})"
                ));
            }
        };
        for f in required {
            if !k.get(*f).is_some_and(|v| v.is_string()) {
                return Err(format!("key at index {i}: required field {f} is missing"));
            }
        }
        if is_private {
            private.push(i);
        }
    }
    Ok(private)
}

// ---------------------------------------------------------------------------------------------
// URLs as Go's net/url parses them (shared with WasmPlugin)
// ---------------------------------------------------------------------------------------------

/// The parts of a URL the rules look at.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct GoUrl {
    /// Lower-cased scheme (empty for a relative reference).
    pub(super) scheme: String,
    /// Host without the port.
    pub(super) host: String,
    /// Port digits (empty when absent).
    pub(super) port: String,
}

/// `url.Parse` (`via_request == false`) or `url.ParseRequestURI` (`true`).
pub(super) fn parse_url(raw: &str, via_request: bool) -> Result<GoUrl, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return url_err(raw, "net/url: invalid control character in URL");
    }
    let (rest, fragment) = if via_request {
        (raw, None)
    } else {
        match raw.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (raw, None),
        }
    };
    if rest.is_empty() && via_request {
        return url_err(raw, "empty url");
    }
    let mut url = GoUrl::default();
    if rest == "*" {
        return Ok(url);
    }
    // Scheme: a letter, then letters, digits, `+`, `-`, `.`, up to `:`.
    let mut after_scheme = rest;
    for (i, c) in rest.char_indices() {
        if c.is_ascii_alphabetic() {
            continue;
        }
        if c.is_ascii_digit() || matches!(c, '+' | '-' | '.') {
            if i == 0 {
                break;
            }
            continue;
        }
        if c == ':' {
            if i == 0 {
                return url_err(raw, "missing protocol scheme");
            }
            url.scheme = rest[..i].to_ascii_lowercase();
            after_scheme = &rest[i + 1..];
        }
        break;
    }
    let rest = match after_scheme.split_once('?') {
        Some((r, _query)) => r,
        None => after_scheme,
    };
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            return Ok(url); // opaque, e.g. `mailto:x`
        }
        if via_request {
            return url_err(raw, "invalid URI for request");
        }
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return url_err(raw, "first path segment in URL cannot contain colon");
        }
    }
    let mut path = rest;
    if (!url.scheme.is_empty() || (!via_request && !rest.starts_with("///")))
        && rest.starts_with("//")
    {
        let after = &rest[2..];
        let (authority, p) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        path = p;
        let host = match authority.rfind('@') {
            Some(i) => {
                let userinfo = &authority[..i];
                if !userinfo
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c))
                {
                    return url_err(raw, "net/url: invalid userinfo");
                }
                check_escapes(userinfo).or_else(|e| url_err(raw, &e))?;
                &authority[i + 1..]
            }
            None => authority,
        };
        let (name, colon_port) = if let Some(stripped) = host.strip_prefix('[') {
            let Some(end) = stripped.find(']') else {
                return url_err(raw, "missing ']' in host");
            };
            (&stripped[..end], &stripped[end + 1..])
        } else {
            match host.rfind(':') {
                Some(i) => (&host[..i], &host[i..]),
                None => (host, ""),
            }
        };
        if !valid_optional_port(colon_port) {
            return url_err(raw, &format!("invalid port {colon_port:?} after host"));
        }
        if !host.starts_with('[') {
            let bad = name.chars().find(|c| {
                c.is_ascii() && !c.is_ascii_alphanumeric() && !"-_.~$&'()*+,;=:[]<>\"%".contains(*c)
            });
            if let Some(c) = bad {
                return url_err(
                    raw,
                    &format!("invalid character {:?} in host name", c.to_string()),
                );
            }
            check_escapes(name).or_else(|e| url_err(raw, &e))?;
        }
        url.host = name.to_string();
        url.port = colon_port.trim_start_matches(':').to_string();
    }
    check_escapes(path).or_else(|e| url_err(raw, &e))?;
    if let Some(f) = fragment {
        check_escapes(f).or_else(|e| url_err(raw, &e))?;
    }
    Ok(url)
}

/// Go's `validOptionalPort`: empty, or `:` followed by digits.
fn valid_optional_port(p: &str) -> bool {
    match p.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => p.is_empty(),
    }
}

/// Every `%` starts a two-digit hex escape.
fn check_escapes(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                let end = (i + 3).min(b.len());
                return Err(format!("invalid URL escape {:?}", &s[i..end]));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn url_err<T>(raw: &str, why: &str) -> Result<T, String> {
    Err(format!("parse {raw:?}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::test_support::{check, expect};

    fn ap(spec: &str) -> String {
        format!(
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p, namespace: foo}}\nspec:\n{spec}"
        )
    }

    fn ap_annotated(annotations: &str, spec: &str) -> String {
        format!(
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n  namespace: foo\n  annotations: {annotations}\nspec:\n{spec}"
        )
    }

    /// One rule with one source.
    fn src(fields: &str) -> String {
        ap(&format!(
            "  rules:\n  - from:\n    - source: {{{fields}}}\n"
        ))
    }

    /// One rule with one operation.
    fn op(fields: &str) -> String {
        ap(&format!(
            "  rules:\n  - to:\n    - operation: {{{fields}}}\n"
        ))
    }

    /// One rule with one condition.
    fn when(cond: &str) -> String {
        ap(&format!("  rules:\n  - when:\n    - {{{cond}}}\n"))
    }

    const GW_TARGET: &str = "{group: gateway.networking.k8s.io, kind: Gateway, name: foo}";
    const DENY_RULE: &str = "  rules:\n  - from: [{source: {principals: [temp]}}]\n    to: [{operation: {ports: [\"8080\"], methods: [GET, DELETE]}}]\n";

    #[test]
    fn authorization_policy_table() {
        let good = ap(r#"  selector: {matchLabels: {app: httpbin, version: v1}}
  rules:
  - from:
    - source: {principals: [sa1]}
    - source: {principals: [sa2]}
    to:
    - operation: {methods: [GET]}
    - operation: {methods: [POST]}
    when:
    - {key: source.ip, values: [1.2.3.4, 5.6.7.0/24]}
    - {key: "request.headers[:authority]", values: [v1, v2]}
"#);
        let rows: Vec<(&str, String, Option<&str>)> = vec![
            ("good", good, None),
            (
                "good serviceAccounts",
                ap(
                    "  rules:\n  - from:\n    - source: {serviceAccounts: [ns1/sa1, ns2/sa2]}\n    - source: {principals: [sa2]}\n",
                ),
                None,
            ),
            (
                "serviceAccounts and namespaces",
                src("serviceAccounts: [ns1/sa1, ns2/sa2], namespaces: [ns]"),
                Some("cannot set serviceAccounts with namespaces or principals"),
            ),
            (
                "serviceAccounts and principals",
                src("notServiceAccounts: [sa], principals: [p]"),
                Some("cannot set serviceAccounts with namespaces or principals"),
            ),
            (
                "custom-good",
                ap("  action: CUSTOM\n  provider: {name: my-custom-authz}\n  rules: [{}]\n"),
                None,
            ),
            (
                "custom-empty-provider",
                ap("  action: CUSTOM\n  provider: {name: \"\"}\n  rules: [{}]\n"),
                Some("`provider.name` must not be empty"),
            ),
            (
                "custom-nil-provider",
                ap("  action: CUSTOM\n  rules: [{}]\n"),
                Some("`provider.name` must not be empty"),
            ),
            (
                "custom-no-rules",
                ap("  action: CUSTOM\n  provider: {name: x}\n"),
                Some("CUSTOM action without `rules` is meaningless"),
            ),
            (
                "custom-invalid-rule",
                ap(r#"  action: CUSTOM
  provider: {name: my-custom-authz}
  rules:
  - from:
    - source: {namespaces: [ns], notNamespaces: [ns], principals: [id], notPrincipals: [id], requestPrincipals: [req], notRequestPrincipals: [req]}
    when:
    - {key: source.namespace, values: [a], notValues: [b]}
"#),
                Some("From.Namespaces is currently not supported with CUSTOM action"),
            ),
            (
                "custom-service-accounts",
                ap(
                    "  action: CUSTOM\n  provider: {name: x}\n  rules: [{from: [{source: {serviceAccounts: [sa]}}]}]\n",
                ),
                Some("From.ServiceAccounts is currently not supported with CUSTOM action"),
            ),
            (
                "custom-trust-domains",
                ap(
                    "  action: CUSTOM\n  provider: {name: x}\n  rules: [{from: [{source: {notTrustDomains: [td]}}]}]\n",
                ),
                Some("From.NotTrustDomains is currently not supported with CUSTOM action"),
            ),
            (
                "custom-request-principals",
                ap(
                    "  action: CUSTOM\n  provider: {name: x}\n  rules: [{from: [{source: {requestPrincipals: [a/b]}}]}]\n",
                ),
                Some("From.RequestPrincipals is currently not supported"),
            ),
            (
                "custom-when-principal",
                ap(
                    "  action: CUSTOM\n  provider: {name: x}\n  rules: [{when: [{key: source.principal, values: [a]}]}]\n",
                ),
                Some("source.principal is currently not supported with CUSTOM action"),
            ),
            (
                "custom-when-claims",
                ap(
                    "  action: CUSTOM\n  provider: {name: x}\n  rules: [{when: [{key: \"request.auth.claims[a]\", values: [a]}]}]\n",
                ),
                Some("request.auth.claims[a] is currently not supported with CUSTOM action"),
            ),
            (
                "custom-when-ip-ok",
                ap(
                    "  action: CUSTOM\n  provider: {name: x}\n  rules: [{from: [{source: {ipBlocks: [1.2.3.4]}}], when: [{key: source.ip, values: [1.2.3.4]}]}]\n",
                ),
                None,
            ),
            (
                "provider-wrong-action",
                ap("  action: ALLOW\n  provider: {name: \"\"}\n  rules: [{}]\n"),
                Some("`provider` must not be with non CUSTOM action, found ALLOW"),
            ),
            (
                "provider-deny-action",
                ap("  action: DENY\n  provider: {name: x}\n  rules: [{}]\n"),
                Some("`provider` must not be with non CUSTOM action, found DENY"),
            ),
            ("allow-rules-nil", ap("  action: ALLOW\n"), None),
            ("empty spec", ap("  {}\n"), None),
            (
                "dry-run-valid-allow",
                ap_annotated("{istio.io/dry-run: \"true\"}", "  action: ALLOW\n"),
                None,
            ),
            (
                "dry-run-valid-deny",
                ap_annotated(
                    "{istio.io/dry-run: \"false\"}",
                    "  action: DENY\n  rules: [{}]\n",
                ),
                None,
            ),
            (
                "dry-run-invalid-value",
                ap_annotated("{istio.io/dry-run: foo}", "  action: ALLOW\n"),
                Some("invalid value"),
            ),
            (
                "dry-run-invalid-action-custom",
                ap_annotated("{istio.io/dry-run: \"true\"}", "  action: CUSTOM\n"),
                Some(
                    "the annotation istio.io/dry-run currently only supports action ALLOW/DENY, found action CUSTOM in foo/p",
                ),
            ),
            (
                "dry-run-invalid-action-audit",
                ap_annotated("{istio.io/dry-run: \"true\"}", "  action: AUDIT\n"),
                Some("currently only supports action ALLOW/DENY, found action AUDIT"),
            ),
            (
                "deny-rules-nil",
                ap("  action: DENY\n"),
                Some("DENY action without `rules` is meaningless"),
            ),
            (
                "deny-rules-empty-list",
                ap("  action: DENY\n  rules: []\n"),
                Some("DENY action without `rules` is meaningless"),
            ),
            ("audit-rules-nil", ap("  action: AUDIT\n"), None),
            (
                "selector-empty-value",
                ap("  selector: {matchLabels: {app: \"\", version: v1}}\n"),
                None,
            ),
            (
                "selector-empty-key",
                ap("  selector: {matchLabels: {app: httpbin, \"\": v1}}\n"),
                Some("empty key is not supported in selector"),
            ),
            (
                "selector-wildcard-value",
                ap("  selector: {matchLabels: {app: httpbin-*}}\n"),
                Some("wildcard is not supported in selector"),
            ),
            (
                "selector-wildcard-key",
                ap("  selector: {matchLabels: {app-*: httpbin}}\n"),
                Some("wildcard is not supported in selector"),
            ),
            (
                "target-ref-good",
                ap(&format!(
                    "  action: DENY\n  targetRef: {GW_TARGET}\n{DENY_RULE}"
                )),
                None,
            ),
            (
                "target-refs-good",
                ap(&format!(
                    "  action: DENY\n  targetRefs: [{GW_TARGET}]\n{DENY_RULE}"
                )),
                None,
            ),
            (
                "target-refs-good-service",
                ap(&format!(
                    "  action: DENY\n  targetRefs: [{{kind: Service, name: foo}}]\n{DENY_RULE}"
                )),
                None,
            ),
            (
                "target-ref-non-empty-namespace",
                ap(&format!(
                    "  action: DENY\n  targetRef: {{group: gateway.networking.k8s.io, kind: Gateway, name: foo, namespace: bar}}\n{DENY_RULE}"
                )),
                Some("targetRef namespace must not be set"),
            ),
            (
                "target-ref-empty-name",
                ap(&format!(
                    "  action: DENY\n  targetRef: {{group: gateway.networking.k8s.io, kind: Gateway}}\n{DENY_RULE}"
                )),
                Some("targetRef name must be set"),
            ),
            (
                "target-ref-wrong-group",
                ap(&format!(
                    "  action: DENY\n  targetRef: {{group: wrong-group, kind: Gateway, name: foo}}\n{DENY_RULE}"
                )),
                Some("targetRef must be to one of"),
            ),
            (
                "target-ref-wrong-kind",
                ap(&format!(
                    "  action: DENY\n  targetRef: {{group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}}\n{DENY_RULE}"
                )),
                Some("but was gateway.networking.k8s.io/wrong-kind"),
            ),
            (
                "target-ref-and-selector-cannot-both-be-set",
                ap(&format!(
                    "  action: DENY\n  targetRef: {GW_TARGET}\n  selector: {{matchLabels: {{app: httpbin}}}}\n{DENY_RULE}"
                )),
                Some("only one of targetRefs or workloadSelector can be set"),
            ),
            (
                "target-refs-and-selector-cannot-both-be-set",
                ap(&format!(
                    "  action: DENY\n  targetRefs: [{GW_TARGET}]\n  selector: {{matchLabels: {{app: httpbin}}}}\n{DENY_RULE}"
                )),
                Some("only one of targetRefs or workloadSelector can be set"),
            ),
            (
                "source-nil",
                ap("  rules:\n  - from: [{}]\n"),
                Some("`from.source` must not be nil, found at rule 0"),
            ),
            (
                "source-empty",
                src(""),
                Some("`from.source` must not be empty, found at rule 0"),
            ),
            (
                "operation-nil",
                ap("  rules:\n  - to: [{}]\n"),
                Some("`to.operation` must not be nil, found at rule 0"),
            ),
            (
                "operation-empty",
                op(""),
                Some("`to.operation` must not be empty, found at rule 0"),
            ),
            (
                "second rule is numbered",
                ap("  rules:\n  - {}\n  - from: [{source: {}}]\n"),
                Some("`from.source` must not be empty, found at rule 1"),
            ),
            (
                "Principals-empty",
                src("principals: [p1, \"\"]"),
                Some("empty value not allowed, found in Principals"),
            ),
            (
                "NotPrincipals-empty",
                src("notPrincipals: [p1, \"\"]"),
                Some("empty value not allowed, found in NotPrincipals"),
            ),
            (
                "RequestPrincipals-empty",
                src("requestPrincipals: [p1, \"\"]"),
                Some("found in RequestPrincipals"),
            ),
            (
                "NotRequestPrincipals-empty",
                src("notRequestPrincipals: [p1, \"\"]"),
                Some("found in NotRequestPrincipals"),
            ),
            (
                "Namespaces-empty",
                src("namespaces: [ns, \"\"]"),
                Some("found in Namespaces"),
            ),
            (
                "ServiceAccounts-empty",
                src("serviceAccounts: [ns/sa, \"\"]"),
                Some("empty value not allowed, found in ServiceAccounts"),
            ),
            (
                "NotNamespaces-empty",
                src("notNamespaces: [ns, \"\"]"),
                Some("found in NotNamespaces"),
            ),
            (
                "IpBlocks-empty",
                src("ipBlocks: [1.2.3.4, \"\"]"),
                Some("found in IpBlocks"),
            ),
            (
                "NotIpBlocks-empty",
                src("notIpBlocks: [1.2.3.4, \"\"]"),
                Some("found in NotIpBlocks"),
            ),
            (
                "RemoteIpBlocks-empty",
                src("remoteIpBlocks: [1.2.3.4, \"\"]"),
                Some("found in RemoteIpBlocks"),
            ),
            (
                "NotRemoteIpBlocks-empty",
                src("notRemoteIpBlocks: [1.2.3.4, \"\"]"),
                Some("found in NotRemoteIpBlocks"),
            ),
            (
                "TrustDomains-empty",
                src("trustDomains: [td, \"\"]"),
                Some("found in TrustDomains"),
            ),
            (
                "Hosts-empty",
                op("hosts: [host, \"\"]"),
                Some("empty value not allowed, found in Hosts"),
            ),
            (
                "NotHosts-empty",
                op("notHosts: [host, \"\"]"),
                Some("found in NotHosts"),
            ),
            (
                "Ports-empty",
                op("ports: [\"80\", \"\"]"),
                Some("found in Ports"),
            ),
            (
                "NotPorts-empty",
                op("notPorts: [\"80\", \"\"]"),
                Some("found in NotPorts"),
            ),
            (
                "Methods-empty",
                op("methods: [GET, \"\"]"),
                Some("found in Methods"),
            ),
            (
                "NotMethods-empty",
                op("notMethods: [GET, \"\"]"),
                Some("found in NotMethods"),
            ),
            (
                "Paths-empty",
                op("paths: [/path, \"\"]"),
                Some("found in Paths"),
            ),
            (
                "NotPaths-empty",
                op("notPaths: [/path, \"\"]"),
                Some("found in NotPaths"),
            ),
            (
                "value-empty",
                when("key: \"request.headers[:authority]\", values: [v1, \"\"]"),
                Some(
                    "invalid `value` for `key` request.headers[:authority]: empty value not allowed",
                ),
            ),
            (
                "invalid ip in ipBlocks",
                ap(
                    "  rules:\n  - from: [{source: {ipBlocks: [1.2.3.4, ip1], notIpBlocks: [5.6.7.8, ip2]}}]\n    to: [{operation: {ports: [\"80\", port1], notPorts: [\"90\", port2]}}]\n",
                ),
                Some("bad IP address (ip1)"),
            ),
            (
                "invalid port in ports",
                ap(
                    "  rules:\n  - from: [{source: {ipBlocks: [1.2.3.4, ip1], notIpBlocks: [5.6.7.8, ip2]}}]\n    to: [{operation: {ports: [\"80\", port1], notPorts: [\"90\", port2]}}]\n",
                ),
                Some("bad port (port1)"),
            ),
            (
                "invalid ip in remoteIpBlocks",
                src("remoteIpBlocks: [1.2.3.4, ip1], notRemoteIpBlocks: [5.6.7.8, ip2]"),
                Some("bad IP address (ip2)"),
            ),
            (
                "bad CIDR in ipBlocks",
                src("ipBlocks: [10.0.0.0/33]"),
                Some("bad CIDR range (10.0.0.0/33)"),
            ),
            (
                "ipv6 CIDR ok",
                src("ipBlocks: [\"2001:db8::/32\"], notIpBlocks: [\"::1\"]"),
                None,
            ),
            (
                "port above range",
                op("ports: [\"65536\"]"),
                Some("bad port (65536)"),
            ),
            (
                "negative port",
                op("notPorts: [\"-1\"]"),
                Some("bad port (-1)"),
            ),
            ("port 0 is accepted", op("ports: [\"0\"]"), None),
            (
                "condition-key-missing",
                when("values: [v1, v2]"),
                Some("`key` must not be empty"),
            ),
            (
                "condition-key-empty",
                when("key: \"\", values: [v1, v2]"),
                Some("`key` must not be empty"),
            ),
            (
                "condition-value-missing",
                when("key: source.principal"),
                Some(
                    "at least one of `values` or `notValues` must be set for key source.principal",
                ),
            ),
            (
                "condition-value-invalid",
                when("key: source.ip, values: [a.b.c.d]"),
                Some("invalid `value` for `key` source.ip: bad IP address (a.b.c.d)"),
            ),
            (
                "condition-notValue-invalid",
                when("key: source.ip, notValues: [a.b.c.d]"),
                Some("invalid `notValue` for `key` source.ip"),
            ),
            (
                "condition-unknown",
                when("key: key1, values: [v1]"),
                Some("unknown attribute: key1"),
            ),
            (
                "condition-notValues-only",
                when("key: source.namespace, notValues: [ns]"),
                None,
            ),
            (
                "serviceAccount too many slashes",
                src("serviceAccounts: [a/b/c]"),
                Some(
                    "expected format 'serviceAccount' or 'namespace/serviceAccount', found \"a/b/c\" in ServiceAccounts",
                ),
            ),
            (
                "serviceAccount empty namespace",
                src("serviceAccounts: [/sa]"),
                Some("found empty namespace \"/sa\""),
            ),
            (
                "serviceAccount empty name",
                src("notServiceAccounts: [ns/]"),
                Some("found empty serviceAccount \"ns/\" in NotServiceAccounts"),
            ),
            (
                "serviceAccount wildcard",
                src("serviceAccounts: [\"ns/*\"]"),
                Some("wildcard not allowed, found in ServiceAccounts"),
            ),
            (
                "serviceAccount too long",
                src(&format!("serviceAccounts: [{}]", "a".repeat(321))),
                Some("value cannot exceed 320 characters"),
            ),
            (
                "serviceAccounts too many",
                src(&format!(
                    "serviceAccounts: [{}]",
                    (0..17)
                        .map(|i| format!("sa{i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Some("may not have more than 16 values"),
            ),
            (
                "trustDomains ok",
                src("trustDomains: [cluster.local, \"*\", \"td-*\", \"*-td\"]"),
                None,
            ),
            (
                "trustDomains middle wildcard",
                src("trustDomains: [\"fo*-bar\"]"),
                Some("wildcard is only allowed at the start or end, found in TrustDomains"),
            ),
            (
                "trustDomains two wildcards",
                src("notTrustDomains: [\"*fo*\"]"),
                Some("at most one wildcard is allowed, found in NotTrustDomains"),
            ),
            (
                "trustDomains slash",
                src("trustDomains: [cluster.local/ns/foo]"),
                Some("trust domain must not contain '/'"),
            ),
            (
                "trustDomains spiffe",
                src("trustDomains: [\"spiffe://cluster.local\"]"),
                Some("trust domain must not contain '/'"),
            ),
            (
                "path template ok",
                op("paths: [\"/{*}/foo\", \"/foo/{**}\", \"/a/{**}/b\"]"),
                None,
            ),
            (
                "path template named var",
                op("paths: [\"/foo/{buzz}/bar\"]"),
                Some("Contains '{' or '}' beyond a supported path template"),
            ),
            (
                "path template any not last",
                op("notPaths: [\"/{**}/foo/{*}\"]"),
                Some("{**} is not the last operator"),
            ),
            (
                "path template bad literal",
                op("paths: [\"/{*}/foo/?abc\"]"),
                Some("Contains segment ?abc with invalid string literal"),
            ),
            (
                "plain path with star ok",
                op("paths: [\"/foo/*\", \"*/bar\"]"),
                None,
            ),
            (
                "L7DenyWithFrom",
                ap(
                    "  action: DENY\n  rules: [{from: [{source: {requestPrincipals: [example.com/sub-1]}}]}]\n",
                ),
                None,
            ),
            (
                "L7DenyWithTo",
                ap("  action: DENY\n  rules: [{to: [{operation: {methods: [GET, DELETE]}}]}]\n"),
                None,
            ),
            (
                "L7DenyWithFromAndTo",
                ap(
                    "  action: DENY\n  rules: [{from: [{source: {principals: [temp]}}], to: [{operation: {methods: [GET, DELETE]}}]}]\n",
                ),
                None,
            ),
            (
                "L7DenyWithFromAndToWithPort",
                ap(&format!("  action: DENY\n{DENY_RULE}")),
                None,
            ),
        ];
        for (name, yaml, needle) in &rows {
            expect(name, yaml, *needle);
        }
        assert!(rows.len() > 90);
    }

    #[test]
    fn authorization_policy_warnings() {
        let r = check(&ap("  selector: {}\n"));
        assert!(r.is_ok() && r.has_warning("workload selector specified without labels"));
        let deny_all = "configured AuthorizationPolicy will deny all traffic to TCP ports";
        for (name, spec, warns) in [
            (
                "L7DenyWithFrom",
                "  action: DENY\n  rules: [{from: [{source: {requestPrincipals: [a/b]}}]}]\n",
                true,
            ),
            (
                "L7DenyWithTo",
                "  action: DENY\n  rules: [{to: [{operation: {methods: [GET]}}]}]\n",
                true,
            ),
            (
                "L7DenyWithFromAndTo",
                "  action: DENY\n  rules: [{from: [{source: {principals: [t]}}], to: [{operation: {methods: [GET]}}]}]\n",
                true,
            ),
            ("L7DenyWithFromAndToWithPort", DENY_RULE, false),
            (
                "L4DenyWithFrom",
                "  action: DENY\n  rules: [{from: [{source: {namespaces: [ns]}}]}]\n",
                false,
            ),
            (
                "L7AllowWithTo",
                "  action: ALLOW\n  rules: [{to: [{operation: {methods: [GET]}}]}]\n",
                false,
            ),
        ] {
            let spec = if name == "L7DenyWithFromAndToWithPort" {
                format!("  action: DENY\n{spec}")
            } else {
                spec.to_string()
            };
            let r = check(&ap(&spec));
            assert!(r.is_ok(), "{name}: {r}");
            assert_eq!(r.has_warning(deny_all), warns, "{name}: {r}");
        }
    }

    #[test]
    fn authorization_policy_paths() {
        let r = check(&src("principals: [p1, \"\"]"));
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.rules[0].from[0].source.principals[1]"
        );
        let r = check(&when("key: source.ip, notValues: [x]"));
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.rules[0].when[0].notValues"
        );
        let r = check(&ap_annotated(
            "{istio.io/dry-run: \"true\"}",
            "  action: AUDIT\n",
        ));
        assert!(
            r.errors
                .iter()
                .any(|e| e.path.to_string().starts_with("metadata.annotations"))
        );
    }

    /// `TestValidateCondition` in `pkg/config/security/security_test.go`.
    #[test]
    fn condition_keys() {
        let rows: &[(&str, &[&str], bool)] = &[
            ("request.headers[:authority]", &["productpage", ""], false),
            ("request.headers[:authority]", &["productpage"], true),
            ("request.headers[]", &["productpage"], false),
            ("source.ip", &["1.2.3.4", "5.6.7.0/24"], true),
            ("source.ip", &["a.b.c.d"], false),
            ("remote.ip", &["1.2.3.4", "5.6.7.0/24"], true),
            ("remote.ip", &["a.b.c.d"], false),
            ("source.namespace", &["value"], true),
            ("source.user", &["value"], false),
            ("source.principal", &["value"], true),
            ("source.serviceAccount", &["too/many/slashes"], false),
            ("source.serviceAccount", &["/emptyns"], false),
            ("source.serviceAccount", &["emptysa/"], false),
            ("source.serviceAccount", &["ns/sa"], true),
            ("source.serviceAccount", &["sa"], true),
            ("source.trustDomain", &["cluster.local"], true),
            ("source.trustDomain", &["*"], true),
            ("source.trustDomain", &["foo*"], true),
            ("source.trustDomain", &["*bar"], true),
            ("source.trustDomain", &["fo*-bar"], false),
            ("source.trustDomain", &["fo*bar*"], false),
            ("source.trustDomain", &[""], false),
            ("request.auth.principal", &["value"], true),
            ("request.auth.audiences", &["value"], true),
            ("request.auth.presenter", &["value"], true),
            ("request.auth.claims[id]", &["123"], true),
            ("request.auth.claims[]", &["value"], false),
            ("destination.ip", &["1.2.3.4", "5.6.7.0/24"], true),
            ("destination.ip", &["a.b.c.d"], false),
            ("destination.port", &["80", "90"], true),
            ("destination.port", &["80", "x"], false),
            ("destination.labels[app]", &["value"], false),
            ("destination.name", &["value"], false),
            ("destination.namespace", &["value"], false),
            ("destination.user", &["value"], false),
            ("connection.sni", &["value"], true),
            ("experimental.envoy.filters.a.b[c]", &["value"], true),
            ("experimental.envoy.filters.a.b.x", &["value"], false),
        ];
        for (key, values, ok) in rows {
            let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
            let got = validate_attribute(key, &values);
            assert_eq!(got.is_ok(), *ok, "{key} {values:?}: {got:?}");
        }
        assert_eq!(
            validate_attribute("destination.labels[app]", &["v".into()]).unwrap_err(),
            "attribute destination.labels[app] is replaced by the workload selector"
        );
    }

    /// `TestCheckValidPathTemplate` and `TestIsValidLiteral`.
    #[test]
    fn path_templates_and_literals() {
        let rows: &[(&str, bool)] = &[
            ("/{*}/foo", true),
            ("/{*}/foo/", true),
            ("/foo/{**}/bar", true),
            ("/foo/bar/{**}", true),
            ("/foo/{**}buzz/bar", false),
            ("/{*}/foo/{}/bar", false),
            ("/foo/{*}/bar/*", false),
            ("/foo/{*}/bar/**/buzz", false),
            ("/foo/{buzz}/bar", false),
            ("/{buzz}", false),
            ("/foo/{buzz}/bar/{**}", false),
            ("/foo/{buzz=*}/bar/{**}", false),
            ("/{*}/foo/{buzz=**}/bar", false),
            ("/{*}/foo/{**}bar", false),
            ("/{*}/foo/{*}.txt", false),
            ("/{*}/foo/{temp", false),
            ("/{*}/foo/temp}/bar", false),
            ("/{*}/foo/temp}/*", false),
            ("/{**}/foo/temp/{*}/bar", false),
            ("/{**}/{**}", false),
            ("/{**}/foo/temp/{**}/bar", false),
            ("/{*}/foo/?abc", false),
        ];
        for (path, ok) in rows {
            let got = check_valid_path_template("Paths", &[path.to_string()]);
            assert_eq!(got.is_ok(), *ok, "{path}: {got:?}");
        }
        for (glob, ok) in [
            ("123abcABC", true),
            ("._~-", true),
            ("a=c", true),
            ("-._~%20!$&'()+,;:@", true),
            ("`~!@#$%^&()-_+;:,<.>'\"\\| ", false),
            ("abc/", false),
            ("ab*c", false),
            ("*", false),
            ("**", false),
            ("?abc", false),
            ("{abc}", false),
        ] {
            assert_eq!(is_valid_literal(glob), ok, "{glob}");
        }
        assert!(contains_path_template("{*}/bar/{**}"));
        assert!(!contains_path_template("foo/bar/{buzz}"));
    }

    /// `TestCheckWildcardValues` and `TestCheckTrustDomainValues`.
    #[test]
    fn wildcard_and_trust_domain_values() {
        for (v, ok) in [
            ("foo", true),
            ("*", true),
            ("foo*", true),
            ("*foo", true),
            ("", false),
            ("fo*-bar", false),
            ("fo*bar*", false),
        ] {
            assert_eq!(check_wildcard_values("key", &[v.into()]).is_ok(), ok, "{v}");
        }
        for (v, ok) in [
            ("cluster.local", true),
            ("*", true),
            ("cluster-*", true),
            ("*-cluster", true),
            ("", false),
            ("cluster.local/ns/foo", false),
            ("spiffe://cluster.local", false),
        ] {
            assert_eq!(
                check_trust_domain_values("key", &[v.into()]).is_ok(),
                ok,
                "{v}"
            );
        }
    }

    /// `TestParseJwksURI`, plus URL shapes Go's parser rejects.
    #[test]
    fn jwks_uris() {
        for (uri, ok) in [
            ("foo.bar.com", false),
            ("tcp://foo.bar.com:abc", false),
            ("http://foo.bar.com:abc", false),
            ("http://foo.bar.com", true),
            ("https://foo.bar.com", true),
            ("http://foo.bar.com:1234", true),
            ("https://foo.bar.com:1234/secure/key", true),
            ("HTTPS://foo.bar.com/k", true),
            ("https://[::1]:8443/k", true),
            ("https://foo bar.com/k", false),
            ("https://foo.com/%zz", false),
            ("hTPp\\\\blah", false),
        ] {
            assert_eq!(
                parse_jwks_uri(uri).is_ok(),
                ok,
                "{uri}: {:?}",
                parse_jwks_uri(uri)
            );
        }
        let u = parse_url("https://foo.bar.com:1234/secure/key", false).unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.port.as_str()),
            ("https", "foo.bar.com", "1234")
        );
    }

    fn ra(spec: &str) -> String {
        format!(
            "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: default, namespace: foo}}\nspec:\n{spec}"
        )
    }

    fn rule(fields: &str) -> String {
        ra(&format!("  jwtRules:\n  - {{{fields}}}\n"))
    }

    const JWKS_PUBLIC: &str = r#"'{ "keys":[ {"e":"AQAB","kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ","kty":"RSA","n":"xAE7eB6qugXyCAG3yhh7pkDkT65pHymX-P7KfIupjf59vsdo91bSP9C8H07pSAGQO1MV_xFj9VswgsCg4R6otmg5PV2He95lZdHtOcU5DXIg_pbhLdKXbi66GlVeK6ABZOUW3WYtnNHD-91gVuoeJT_DwtGGcp4ignkgXfkiEm4sw-4sfb4qdt5oLbyVpmW6x9cfa7vs2WTfURiCrBoUqgBo_-4WTiULmmHSGZHOjzwa8WtrtOQGsAFjIbno85jp6MnGGGZPYZbDAa_b3y5u-YpW7ypZrvD8BgtKVjgtQgZhLAGezMt0ua3DRrWnKqTZ0BJ_EyxOGuHJrLsn00fnMQ"}]}'"#;

    #[test]
    fn request_authentication_table() {
        let private =
            JWKS_PUBLIC.replace(r#""kty":"RSA""#, r#""kty":"RSA","d":"jJVKLOMXjlSnICzfP""#);
        let rows: Vec<(&str, String, Option<&str>)> = vec![
            ("empty spec", ra("  {}\n"), None),
            ("another empty spec", ra("  selector: {}\n"), None),
            (
                "default name with non empty selector",
                ra("  selector: {matchLabels: {app: httpbin}}\n"),
                None,
            ),
            (
                "empty jwt rule",
                ra("  jwtRules: [{}]\n"),
                Some("issuer or jwksUri must be non-empty string"),
            ),
            (
                "empty issuer and jwksUri",
                rule("issuer: \"\""),
                Some("issuer or jwksUri must be non-empty string"),
            ),
            (
                "empty issuer and set jwksUri",
                rule("jwksUri: \"https://foo.com/cert\""),
                None,
            ),
            (
                "bad JwksUri - no protocol",
                rule("issuer: foo.com, jwksUri: foo.com"),
                Some("URI scheme \"\" is not supported"),
            ),
            (
                "bad JwksUri - invalid port",
                rule("issuer: foo.com, jwksUri: \"https://foo.com:not-a-number\""),
                Some("invalid port"),
            ),
            (
                "bad JwksUri - ftp",
                rule("issuer: foo.com, jwksUri: \"ftp://foo.com/k\""),
                Some("URI scheme \"ftp\" is not supported"),
            ),
            (
                "jwks_uri spelling",
                rule("issuer: foo.com, jwks_uri: \"ftp://foo.com/k\""),
                Some("not supported"),
            ),
            (
                "jwksUri too long",
                rule(&format!(
                    "issuer: a, jwksUri: \"https://a.com/{}\"",
                    "x".repeat(2048)
                )),
                Some("may not be more than 2048 bytes"),
            ),
            (
                "jwks and jwksUri",
                rule(&format!(
                    "issuer: a, jwksUri: \"https://a.com/k\", jwks: {JWKS_PUBLIC}"
                )),
                Some("only one of jwks or jwksUri can be set"),
            ),
            (
                "empty value",
                ra(
                    "  selector: {matchLabels: {app: httpbin, version: \"\"}}\n  jwtRules: [{issuer: foo.com, jwksUri: \"https://foo.com/cert\"}]\n",
                ),
                None,
            ),
            (
                "bad workload selector - empty key",
                ra(
                    "  selector: {matchLabels: {app: httpbin, \"\": v1}}\n  jwtRules: [{issuer: foo.com, jwksUri: \"https://foo.com/cert\"}]\n",
                ),
                Some("empty key is not supported in selector"),
            ),
            (
                "good targetRef",
                ra(&format!(
                    "  targetRef: {GW_TARGET}\n  jwtRules: [{{issuer: foo.com}}]\n"
                )),
                None,
            ),
            (
                "bad targetRef - empty name",
                ra("  targetRef: {group: gateway.networking.k8s.io, kind: Gateway}\n"),
                Some("targetRef name must be set"),
            ),
            (
                "bad targetRef - non-empty namespace",
                ra(
                    "  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: foo, namespace: bar}\n",
                ),
                Some("targetRef namespace must not be set"),
            ),
            (
                "bad targetRef - wrong group",
                ra("  targetRef: {group: wrong-group, kind: Gateway, name: foo}\n"),
                Some("targetRef must be to one of"),
            ),
            (
                "bad targetRef - wrong kind",
                ra(
                    "  targetRef: {group: gateway.networking.k8s.io, kind: wrong-kind, name: foo}\n",
                ),
                Some("targetRef must be to one of"),
            ),
            (
                "targetRef and selector cannot both be set",
                ra(&format!(
                    "  targetRef: {GW_TARGET}\n  selector: {{matchLabels: {{app: httpbin}}}}\n"
                )),
                Some("only one of targetRefs or workloadSelector can be set"),
            ),
            (
                "too many targetRefs",
                ra(&format!(
                    "  targetRefs: [{}]\n",
                    vec![GW_TARGET; 17].join(", ")
                )),
                Some("must have at most 16 items"),
            ),
            (
                "bad header location",
                rule(
                    "issuer: foo.com, jwksUri: \"https://foo.com\", fromHeaders: [{name: \"\", prefix: \"Bearer \"}]",
                ),
                Some("location header name must be non-empty string"),
            ),
            (
                "bad param location",
                rule("issuer: foo.com, jwksUri: \"https://foo.com\", fromParams: [\"\"]"),
                Some("location query must be non-empty string"),
            ),
            (
                "good",
                rule(
                    "issuer: foo.com, jwksUri: \"https://foo.com\", fromHeaders: [{name: x-foo, prefix: \"Bearer \"}]",
                ),
                None,
            ),
            (
                "bad cookie location",
                rule("issuer: foo.com, jwksUri: \"https://foo.com\", fromCookies: [\"\", foo]"),
                Some("cookie name must be non-empty string"),
            ),
            (
                "jwks ok",
                rule(&format!(
                    "issuer: foo.com, jwks: {JWKS_PUBLIC}, fromHeaders: [{{name: x-foo, prefix: \"Bearer \"}}]"
                )),
                None,
            ),
            (
                "jwks error",
                rule("issuer: foo.com, jwks: foo"),
                Some("jwks parse error"),
            ),
            (
                "jwks unknown kty",
                rule("issuer: foo.com, jwks: '{\"keys\": [{\"kty\": \"XYZ\"}]}'"),
                Some("jwks parse error"),
            ),
            (
                "jwks missing modulus",
                rule("issuer: foo.com, jwks: '{\"keys\": [{\"kty\": \"RSA\", \"e\": \"AQAB\"}]}'"),
                Some("required field n is missing"),
            ),
            (
                "jwks single key",
                rule(
                    "issuer: foo.com, jwks: '{\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"a\", \"y\": \"b\"}'",
                ),
                None,
            ),
            (
                "jwks with private RSA key warns",
                rule(&format!("issuer: foo.com, jwks: {private}")),
                None,
            ),
            (
                "null outputClaimToHeader",
                rule("issuer: foo.com, jwksUri: \"https://foo.com\", outputClaimToHeaders: [{}]"),
                Some("outputClaimToHeaders header and claim value must be non-empty string"),
            ),
            (
                "null claim value in outputClaimToHeader",
                rule(
                    "issuer: foo.com, jwksUri: \"https://foo.com\", outputClaimToHeaders: [{header: x-jwt-claim, claim: \"\"}]",
                ),
                Some("header and claim value must be non-empty"),
            ),
            (
                "null header value in outputClaimToHeader",
                rule(
                    "issuer: foo.com, jwksUri: \"https://foo.com\", outputClaimToHeaders: [{header: \"\", claim: sub}]",
                ),
                Some("header and claim value must be non-empty"),
            ),
            (
                "invalid header value in outputClaimToHeader",
                rule(
                    "issuer: foo.com, jwksUri: \"https://foo.com\", outputClaimToHeaders: [{header: \"abc%123\", claim: sub}]",
                ),
                Some("header name abc%123 is not a valid header name"),
            ),
            (
                "empty audience",
                rule("issuer: foo.com, audiences: [a, \"\"]"),
                Some("audience must be non-empty string"),
            ),
            ("timeout ok", rule("issuer: foo.com, timeout: 5s"), None),
            (
                "timeout below 1ms",
                rule("issuer: foo.com, timeout: 0.0001s"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "timeout sub-ms",
                rule("issuer: foo.com, timeout: 1.0005s"),
                Some("only durations to ms precision are supported"),
            ),
            (
                "empty space delimited claim",
                rule("issuer: foo.com, spaceDelimitedClaims: [\"\"]"),
                Some("should be at least 1 chars long"),
            ),
            (
                "presence required",
                rule("issuer: foo.com, presence: REQUIRED"),
                None,
            ),
        ];
        for (name, yaml, needle) in &rows {
            expect(name, yaml, *needle);
        }
        let r = check(&rule(&format!("issuer: foo.com, jwks: {private}")));
        assert!(
            r.has_warning("jwks key at index 0 contains private key material"),
            "{r}"
        );
        let r = check(&rule(&format!("issuer: foo.com, jwks: {JWKS_PUBLIC}")));
        assert!(r.warnings.is_empty(), "{r}");
        let r = check(&ra("  selector: {}\n"));
        assert!(r.has_warning("workload selector specified without labels"));
        let r = check(&rule("issuer: foo.com, fromCookies: [a, \"\"]"));
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.jwtRules[0].fromCookies[1]"
        );
    }

    #[test]
    fn request_authentication_dry_run_annotation_rejected() {
        let yaml = "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata:\n  name: r\n  namespace: foo\n  annotations: {istio.io/dry-run: \"true\"}\nspec: {}\n";
        expect(
            "dry run annotation not supported",
            yaml,
            Some("unsupported annotation istio.io/dry-run"),
        );
    }

    fn pa(spec: &str) -> String {
        format!(
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: default, namespace: foo}}\nspec:\n{spec}"
        )
    }

    #[test]
    fn peer_authentication_table() {
        let rows: Vec<(&str, String, Option<&str>)> = vec![
            ("empty spec", pa("  {}\n"), None),
            (
                "empty mtls with selector of empty labels",
                pa("  selector: {}\n"),
                None,
            ),
            (
                "default name with non empty selector",
                pa("  selector: {matchLabels: {app: httpbin}}\n"),
                None,
            ),
            (
                "empty port level mtls",
                pa("  selector: {matchLabels: {app: httpbin}}\n  portLevelMtls: {}\n"),
                Some("port level mTLS, if defined, must have at least one element"),
            ),
            (
                "empty selector with port level mtls",
                pa("  portLevelMtls: {\"8080\": {mode: UNSET}}\n"),
                Some("mesh/namespace peer authentication cannot have port level mTLS"),
            ),
            (
                "selector without labels with port level mtls",
                pa("  selector: {}\n  portLevelMtls: {\"8080\": {mode: STRICT}}\n"),
                Some("mesh/namespace peer authentication cannot have port level mTLS"),
            ),
            (
                "port 0",
                pa(
                    "  selector: {matchLabels: {app: httpbin}}\n  portLevelMtls: {\"0\": {mode: UNSET}}\n",
                ),
                Some("port must be in range 1..65535"),
            ),
            (
                "port too high",
                pa(
                    "  selector: {matchLabels: {app: httpbin}}\n  portLevelMtls: {\"65536\": {mode: STRICT}}\n",
                ),
                Some("port must be in range 1..65535"),
            ),
            ("unset mode", pa("  mtls: {mode: UNSET}\n"), None),
            (
                "port level",
                pa(
                    "  selector: {matchLabels: {app: httpbin}}\n  portLevelMtls: {\"8080\": {mode: UNSET}}\n",
                ),
                None,
            ),
            (
                "wildcard selector",
                pa("  selector: {matchLabels: {app: \"a*\"}}\n"),
                Some("wildcard is not supported in selector"),
            ),
        ];
        for (name, yaml, needle) in &rows {
            expect(name, yaml, *needle);
        }
        let r = check(&pa("  selector: {}\n"));
        assert!(r.has_warning("workload selector specified without labels"));
        let r = check(&pa(
            "  selector: {matchLabels: {a: b}}\n  portLevelMtls: {\"0\": {}}\n",
        ));
        assert_eq!(r.errors[0].path.to_string(), "spec.portLevelMtls.0");
    }
}
