//! Rules shared by several kinds (Istio's `agent/validation.go` and the helpers of
//! `validation.go`). Each returns `Err(message)` with Istio's wording.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::Ctx;
use crate::api::{Duration, PolicyTargetReference, WorkloadSelector};

/// Result of a single rule.
pub(crate) type Rule = Result<(), String>;

/// `ValidatePort`: 1..65535.
pub(crate) fn port(port: i64) -> Rule {
    if (1..=65535).contains(&port) {
        Ok(())
    } else {
        Err(format!("port number {port} must be in the range 1..65535"))
    }
}

/// `ValidateDuration`: at least 1ms, millisecond precision.
pub(crate) fn duration(d: &Duration) -> Rule {
    if d.as_nanos() < 1_000_000 {
        return Err("duration must be greater than 1ms".into());
    }
    if d.as_nanos() % 1_000_000 != 0 {
        return Err("only durations to ms precision are supported".into());
    }
    Ok(())
}

/// The CRD schema's CEL rule on most durations: `duration(self) >= duration('1ms')`.
pub(crate) fn duration_at_least_1ms(d: &Duration) -> Rule {
    if d.as_nanos() < 1_000_000 {
        Err("must be a valid duration greater than 1ms".into())
    } else {
        Ok(())
    }
}

/// Istio's `labels.IsDNS1123Label`: `[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?`, at most 63
/// characters. Istio accepts upper case where Kubernetes object names do not (see
/// [`is_k8s_dns1123_label`]).
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A DNS-1123 label as Kubernetes checks object names and namespaces: lower case only.
pub(crate) fn is_k8s_dns1123_label(s: &str) -> bool {
    is_dns1123_label(s) && !s.bytes().any(|c| c.is_ascii_uppercase())
}

/// Istio's `IsWildcardDNS1123Label`: `*`, or a label optionally prefixed by `*` or `*-`.
pub(crate) fn is_wildcard_dns1123_label(s: &str) -> bool {
    if s.len() > 63 {
        return false;
    }
    s == "*"
        || is_dns1123_label(s)
        || s.strip_prefix("*-").is_some_and(is_dns1123_label)
        || s.strip_prefix('*').is_some_and(is_dns1123_label)
}

/// `CheckDNS1123Preconditions`.
pub(crate) fn dns1123_preconditions(name: &str) -> Rule {
    if name.len() > 255 {
        return Err(format!("domain name {name:?} too long (max 255)"));
    }
    if name.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    Ok(())
}

/// `ValidateDNS1123Labels`.
pub(crate) fn dns1123_labels(domain: &str) -> Rule {
    let parts: Vec<&str> = domain.split('.').collect();
    let tld = parts[parts.len() - 1];
    if !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "domain name {domain:?} invalid (top level domain {tld:?} cannot be all-numeric)"
        ));
    }
    for (i, label) in parts.iter().enumerate() {
        if i == parts.len() - 1 && label.is_empty() {
            return Ok(());
        }
        if !is_dns1123_label(label) {
            return Err(format!(
                "domain name {domain:?} invalid (label {label:?} invalid)"
            ));
        }
    }
    Ok(())
}

/// `ValidateFQDN`.
pub(crate) fn fqdn(name: &str) -> Rule {
    dns1123_preconditions(name)?;
    dns1123_labels(name)
}

/// `ValidateWildcardDomain`: an FQDN whose first label may be a wildcard.
pub(crate) fn wildcard_domain(domain: &str) -> Rule {
    dns1123_preconditions(domain)?;
    let (first, rest) = match domain.split_once('.') {
        Some((f, r)) => (f, Some(r)),
        None => (domain, None),
    };
    if !is_wildcard_dns1123_label(first) {
        return Err(format!(
            "domain name {domain:?} invalid (label {first:?} invalid)"
        ));
    }
    match rest {
        Some(r) => dns1123_labels(r),
        None => Ok(()),
    }
}

/// `ValidatePartialWildCard`: `*` only alone or as a whole first label.
pub(crate) fn partial_wildcard(host: &str) -> Rule {
    if host.contains('*') && host.len() != 1 && !host.starts_with("*.") {
        return Err(format!("partial wildcard {host:?} not allowed"));
    }
    Ok(())
}

/// `ValidateIPAddress`.
pub(crate) fn ip_address(addr: &str) -> Rule {
    addr.parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("{addr} is not a valid IP"))
}

/// Whether `addr` is an IP address.
pub(crate) fn is_ip(addr: &str) -> bool {
    addr.parse::<IpAddr>().is_ok()
}

/// `ValidateIPSubnet`: CIDR (`10.0.0.0/8`) or a single address.
pub(crate) fn ip_subnet(subnet: &str) -> Rule {
    if subnet.matches('/').count() == 1 {
        return if is_cidr(subnet) {
            Ok(())
        } else {
            Err(format!("{subnet} is not a valid CIDR block"))
        };
    }
    ip_address(subnet)
}

/// Whether `s` is `address/prefix-length` with a prefix length valid for the family.
pub(crate) fn is_cidr(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    if len.is_empty()
        || !len.bytes().all(|b| b.is_ascii_digit())
        || (len.len() > 1 && len.starts_with('0'))
    {
        return false;
    }
    let max = if ip.is_ipv4() { 32 } else { 128 };
    len.parse::<u32>().is_ok_and(|n| n <= max)
}

/// `validateSidecarOrGatewayHostnamePart`.
fn sidecar_or_gateway_hostname_part(hostname: &str, is_gateway: bool) -> Vec<String> {
    let mut errs = Vec::new();
    if hostname != "*" && !hostname.contains('.') {
        errs.push("short names (non FQDN) are not allowed".to_string());
    }
    if let Err(e) = wildcard_domain(hostname)
        && (!is_gateway || !is_ip(hostname))
    {
        errs.push(e);
    }
    if let Err(e) = partial_wildcard(hostname) {
        errs.push(e);
    }
    errs
}

/// `ValidateNamespaceSlashWildcardHostname`: `namespace/dnsName` hosts of Sidecars and Gateways.
pub(crate) fn namespace_slash_wildcard_hostname(
    hostname: &str,
    is_gateway: bool,
    gateway_semantics: bool,
) -> Vec<String> {
    let Some((ns, host)) = hostname.split_once('/') else {
        if is_gateway {
            return sidecar_or_gateway_hostname_part(hostname, true);
        }
        return vec!["host must be of form namespace/dnsName".into()];
    };
    let mut errs = Vec::new();
    if ns.is_empty() || host.is_empty() {
        errs.push("config namespace and dnsName in host entry cannot be empty".into());
    }
    if !is_gateway {
        let bare = ns.strip_prefix('~').unwrap_or(ns);
        if !bare.is_empty() && bare != "*" && bare != "." && !is_dns1123_label(bare) {
            errs.push(format!("invalid namespace value {ns:?} in sidecar"));
        }
    } else if ns != "*" && ns != "." && (ns != "~" || !gateway_semantics) && !is_dns1123_label(ns) {
        errs.push(format!("invalid namespace value {ns:?} in gateway"));
    }
    errs.extend(sidecar_or_gateway_hostname_part(host, is_gateway));
    errs
}

/// `validateExportTo`.
pub(crate) fn export_to(
    cx: &mut Ctx,
    namespace: &str,
    export_to: &[String],
    is_service_entry: bool,
    is_dr_with_selector: bool,
) {
    if export_to.is_empty() {
        return;
    }
    cx.field("exportTo", |cx| {
        let mut set = BTreeSet::new();
        for e in export_to {
            let key = if e == "." { namespace } else { e.as_str() };
            if set.contains(key) {
                if key != e {
                    cx.error(format!("duplicate entries in exportTo: . and current namespace {namespace}"));
                } else {
                    cx.error(format!("duplicate entries in exportTo for entry {e}"));
                }
            } else if (is_service_entry && e == "~") || key == "*" || key == "." || is_dns1123_label(key) {
                set.insert(key);
            } else {
                cx.error(format!("only . or * or valid DNS labels are supported as exportTo, got {key:?}"));
            }
        }
        if is_dr_with_selector && !set.is_empty() {
            if set.contains(namespace) {
                if set.len() > 1 {
                    cx.error("destination rule with workload selector cannot have multiple entries in exportTo");
                }
            } else {
                cx.error("destination rule with workload selector cannot have exportTo beyond current namespace");
            }
        }
        if set.contains("*") && export_to.len() > 1 {
            cx.error("cannot have both public (*) and non-public exportTo values for a resource");
        }
        if set.contains("~") && export_to.len() > 1 {
            cx.error("cannot export service entry to no one (~) and someone");
        }
    });
}

/// `validateWorkloadSelector` over `selector.matchLabels` (errors), warning when it is empty;
/// plus the CRD schema's rules on label keys and values.
pub(crate) fn workload_selector(cx: &mut Ctx, field: &str, selector: Option<&WorkloadSelector>) {
    let Some(selector) = selector else { return };
    cx.field(field, |cx| {
        if selector.match_labels.is_empty() {
            cx.warn("workload selector specified without labels");
        }
        cx.field("matchLabels", |cx| {
            selector_labels(cx, &selector.match_labels)
        });
    });
}

/// Label-map checks shared by `WorkloadSelector.matchLabels` and `Sidecar.workloadSelector.labels`.
pub(crate) fn selector_labels(cx: &mut Ctx, labels: &BTreeMap<String, String>) {
    if labels.len() > 4096 {
        cx.error("must have at most 4096 items");
    }
    for (k, v) in labels {
        if k.is_empty() {
            cx.error(format!(
                "empty key is not supported in selector: \"{k}={v}\""
            ));
        }
        if k.contains('*') || v.contains('*') {
            cx.key(k, |cx| {
                cx.error(format!(
                    "wildcard is not supported in selector: \"{k}={v}\""
                ))
            });
        } else if !k.is_empty() && label_key(k).is_err() {
            cx.key(k, |cx| cx.check(label_key(k)));
        } else if label_value(v).is_err() {
            cx.key(k, |cx| cx.check(label_value(v)));
        }
    }
}

/// A Kubernetes label key: optional DNS-1123 subdomain prefix and `/`, then a name of at most
/// 63 characters of `[A-Za-z0-9_.-]` starting and ending alphanumerically.
pub(crate) fn label_key(k: &str) -> Rule {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !p.split('.').all(is_dns1123_label))
    {
        return Err(format!(
            "invalid label key {k:?}: prefix must be a DNS subdomain"
        ));
    }
    if !is_qualified_name_part(name) {
        return Err(format!("invalid label key {k:?}"));
    }
    Ok(())
}

/// A Kubernetes label value: empty, or at most 63 characters of `[A-Za-z0-9_.-]` starting and
/// ending alphanumerically.
pub(crate) fn label_value(v: &str) -> Rule {
    if v.is_empty() || is_qualified_name_part(v) {
        Ok(())
    } else {
        Err(format!("invalid label value {v:?}"))
    }
}

fn is_qualified_name_part(s: &str) -> bool {
    s.len() <= 63 && is_qualified_name(s)
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, of any length: the shape of Kubernetes label
/// names and values.
pub(crate) fn is_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// The CRD schema's `maxItems` on a list field.
pub(crate) fn max_items(cx: &mut Ctx, field: &str, len: usize, max: usize) {
    if len > max {
        cx.error_at(
            field,
            format!("Too many: {len}: must have at most {max} items"),
        );
    }
}

/// The CRD schema's `maxProperties` (or `maxItems`) at the current path.
pub(crate) fn max_properties(cx: &mut Ctx, n: usize, max: usize) {
    if n > max {
        cx.error(format!("Too many: {n}: must have at most {max} items"));
    }
}

/// The CRD schema's `maxLength` at the current path.
pub(crate) fn max_length(cx: &mut Ctx, s: &str, max: usize) {
    if s.chars().count() > max {
        cx.error(format!("Too long: may not be more than {max} bytes"));
    }
}

/// `validatePolicyTargetReference`.
pub(crate) fn policy_target_reference(cx: &mut Ctx, r: &PolicyTargetReference) {
    if r.name.is_empty() {
        cx.error("targetRef name must be set");
    }
    if !r.namespace.is_empty() {
        cx.error(
            "targetRef namespace must not be set; cross namespace referencing is not supported",
        );
    }
    let group = if r.group.is_empty() {
        "core"
    } else {
        r.group.as_str()
    };
    let allowed = matches!(
        (group, r.kind.as_str()),
        ("core", "Service")
            | ("networking.istio.io", "ServiceEntry")
            | ("gateway.networking.k8s.io", "Gateway")
            | ("gateway.networking.k8s.io", "GatewayClass")
    );
    if !allowed {
        cx.error(format!(
            "targetRef must be to one of [core/Service networking.istio.io/ServiceEntry gateway.networking.k8s.io/Gateway gateway.networking.k8s.io/GatewayClass] but was {}/{}",
            r.group, r.kind
        ));
    }
}

/// `validateOneOfSelectorType` plus the selector and targetRef(s) checks, for policies that
/// attach with `selector`, `targetRef` or `targetRefs`.
pub(crate) fn policy_attachment(
    cx: &mut Ctx,
    selector_field: &str,
    selector: Option<&WorkloadSelector>,
    target_ref: Option<&PolicyTargetReference>,
    target_refs: &[PolicyTargetReference],
) {
    let set = usize::from(selector.is_some())
        + usize::from(target_ref.is_some())
        + usize::from(!target_refs.is_empty());
    if set > 1 {
        cx.error("only one of targetRefs or workloadSelector can be set");
    }
    workload_selector(cx, selector_field, selector);
    max_items(cx, "targetRefs", target_refs.len(), 16);
    if let Some(r) = target_ref {
        cx.field("targetRef", |cx| policy_target_reference(cx, r));
    }
    cx.each("targetRefs", target_refs, policy_target_reference);
}

/// `ValidatePercent`: 0..100.
pub(crate) fn percent(val: i64) -> Rule {
    if (0..=100).contains(&val) {
        Ok(())
    } else {
        Err(format!("percentage {val} is not in range 0..100"))
    }
}

/// `validatePercentage` for `networking.Percent`.
pub(crate) fn percentage(value: f64) -> Rule {
    if !(0.0..=100.0).contains(&value) || (value > 0.0 && value < 0.0001) {
        return Err(format!(
            "percentage {value} is neither 0.0, nor in range [0.0001, 100.0]"
        ));
    }
    Ok(())
}

/// RFC 7230 `token` characters.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// `validHeaderNameRegex` (RFC 7230 tokens).
pub(crate) fn is_valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_tchar)
}

/// `ValidateStrictHTTPHeaderName`: `[-_A-Za-z0-9]+`.
pub(crate) fn strict_header_name(name: &str) -> Rule {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        return Err(format!("header name {name} is not a valid header name"));
    }
    Ok(())
}

/// `ValidateProbeHeaderName`: `[-A-Za-z0-9]+`.
pub(crate) fn probe_header_name(name: &str) -> Rule {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
        return Err(format!("header name {name} is not a valid header name"));
    }
    Ok(())
}

/// `ValidateCORSHTTPHeaderName`.
pub(crate) fn cors_header_name(name: &str) -> Rule {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if name == "*" || is_valid_header_name(name) {
        Ok(())
    } else {
        Err(format!("header name {name} is not a valid header name"))
    }
}

/// The `@request.auth.claims.` / `@request.auth.claims[` routing forms (`jwt.ToRoutingClaim`).
pub(crate) fn is_jwt_claim_route(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("@request.auth.claims") else {
        return false;
    };
    if let Some(dotted) = rest.strip_prefix('.') {
        return !dotted.is_empty() && dotted.split('.').all(|p| !p.is_empty());
    }
    if let Some(bracketed) = rest.strip_prefix('[') {
        let Some(inner) = bracketed.strip_suffix(']') else {
            return false;
        };
        return !inner.is_empty() && inner.split("][").all(|p| !p.is_empty());
    }
    false
}

/// `ValidateHTTPHeaderNameOrJwtClaimRoute`.
pub(crate) fn header_name_or_jwt_claim_route(name: &str) -> Rule {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if is_jwt_claim_route(name)
        || matches!(
            name,
            ":method" | ":scheme" | ":authority" | ":path" | ":status"
        )
    {
        return Ok(());
    }
    if !is_valid_header_name(name) {
        return Err(format!("header name {name} is not a valid header name"));
    }
    Ok(())
}

fn is_internal_header(name: &str) -> bool {
    name.starts_with(':')
}

fn is_authority_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(":authority") || name.eq_ignore_ascii_case("host")
}

/// `ValidateHTTPHeaderWithAuthorityOperationName`: header names set or added on requests.
pub(crate) fn header_with_authority_operation_name(name: &str) -> Rule {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if is_internal_header(name) && !is_authority_header(name) {
        return Err(format!(
            "invalid header {name:?}: header cannot have \":\" prefix"
        ));
    }
    Ok(())
}

/// `ValidateHTTPHeaderOperationName`: header names removed from requests or changed on responses.
pub(crate) fn header_operation_name(name: &str) -> Rule {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if name.eq_ignore_ascii_case("host") {
        return Err(format!("invalid header {name:?}: cannot set Host header"));
    }
    if is_internal_header(name) {
        return Err(format!(
            "invalid header {name:?}: header cannot have \":\" prefix"
        ));
    }
    Ok(())
}

/// `ValidateHTTPHeaderValue`: no control characters, and `%` only as `%%` or around an Envoy
/// command operator (`%HOSTNAME%`, `%REQ(x)%`).
pub(crate) fn header_value(value: &str) -> Rule {
    if value
        .chars()
        .any(|c| (c < '\u{20}' && c != '\t') || c == '\u{7f}')
    {
        return Err(format!("header value configuration {value} is invalid"));
    }
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('%') {
            rest = a;
            continue;
        }
        let Some(end) = after.find('%') else {
            return Err(format!(
                "header value configuration: invalid header configuration. Un-terminated variable expression '{after}'"
            ));
        };
        let var = &after[..end];
        let name_end = var.find('(').unwrap_or(var.len());
        let name = &var[..name_end];
        if name.is_empty()
            || !name
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
        {
            return Err(format!(
                "header value configuration: invalid header configuration. Invalid variable name '{var}'"
            ));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// Istio's `protocol.Parse`: the canonical name of a protocol (case-insensitive), or `None`
/// when Istio does not know it.
pub(crate) fn parse_protocol(p: &str) -> Option<&'static str> {
    Some(match p.to_ascii_lowercase().as_str() {
        "tcp" => "TCP",
        "udp" => "UDP",
        "grpc" => "GRPC",
        "grpc-web" => "GRPC-Web",
        "http" => "HTTP",
        "http_proxy" => "HTTP_PROXY",
        "http2" => "HTTP2",
        "https" => "HTTPS",
        "tls" => "TLS",
        "mongo" => "Mongo",
        "redis" => "Redis",
        "mysql" => "MySQL",
        _ => return None,
    })
}

/// `ValidateProtocol`: empty (the protocol is sniffed) or one Istio knows.
pub(crate) fn protocol(p: &str) -> Rule {
    if p.is_empty() || parse_protocol(p).is_some() {
        Ok(())
    } else {
        Err(format!("unsupported protocol: {p}"))
    }
}

/// `ValidatePortName`: a DNS-1123 label (either case, as Istio has it).
pub(crate) fn port_name(name: &str) -> Rule {
    if is_dns1123_label(name) {
        Ok(())
    } else {
        Err(format!("invalid port name: {name}"))
    }
}

/// Why `re` is not an RE2 regular expression (what Istio and Envoy accept), or `None`.
///
/// The `regex` crate's syntax is RE2's; on top of it this adds the two limits RE2 has and the
/// crate lacks: counted repetitions above 1000 (`a{1001}`) and nested repetition operators
/// (`a**`, `a++`), which Go's parser refuses.
pub(crate) fn re2_error(re: &str) -> Option<String> {
    if let Some(rep) = oversized_repeat(re) {
        return Some(format!("invalid repeat count: `{rep}`"));
    }
    if let Some(op) = go_nested_repetition(re) {
        return Some(format!("invalid nested repetition operator: `{op}`"));
    }
    regex::Regex::new(re).err().map(|e| {
        e.to_string()
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_string()
    })
}

/// RE2 rejects counted repetitions above 1000 (`a{1001}`), which the `regex` crate accepts:
/// returns the first such `{...}` outside character classes.
fn oversized_repeat(re: &str) -> Option<&str> {
    let b = re.as_bytes();
    let (mut i, mut in_class) = (0, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'{' if !in_class => {
                let end = re[i..].find('}').map(|e| i + e)?;
                let body = &re[i + 1..end];
                let mut parts = body.splitn(2, ',');
                let min = parts.next().unwrap_or_default();
                let max = parts.next().unwrap_or_default();
                let numeric = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
                if !min.is_empty() && numeric(min) && numeric(max) {
                    let too_big = |s: &str| s.parse::<u64>().map_or(!s.is_empty(), |n| n > 1000);
                    if too_big(min) || too_big(max) {
                        return Some(&re[i..=end]);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Go's RE2 parser rejects a repetition operator applied to a repetition (`a**`, `a++`,
/// `a+?+`), which Rust's `regex` accepts; returns the offending operators.
pub(crate) fn go_nested_repetition(re: &str) -> Option<String> {
    let chars: Vec<char> = re.chars().collect();
    let mut i = 0;
    // Start (in `chars`) of the previous repetition operator, when the last item was one.
    let mut last_repeat: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        let op_len = match c {
            '*' | '+' | '?' => 1,
            '{' => counted_repetition_len(&chars[i..]).unwrap_or(0),
            _ => 0,
        };
        if op_len == 0 {
            last_repeat = None;
            match c {
                '\\' => i += 2,
                '[' => {
                    // Skip a character class; `]` first in the class is literal.
                    i += 1;
                    if chars.get(i) == Some(&'^') {
                        i += 1;
                    }
                    if chars.get(i) == Some(&']') {
                        i += 1;
                    }
                    while i < chars.len() && chars[i] != ']' {
                        if chars[i] == '\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    i += 1;
                }
                _ => i += 1,
            }
            continue;
        }
        let mut end = i + op_len;
        if chars.get(end) == Some(&'?') {
            end += 1; // non-greedy modifier
        }
        if let Some(start) = last_repeat {
            return Some(chars[start..end].iter().collect());
        }
        last_repeat = Some(i);
        i = end;
    }
    None
}

/// Length of a counted repetition (`{n}`, `{n,}`, `{n,m}`) at the start of `s`.
fn counted_repetition_len(s: &[char]) -> Option<usize> {
    let close = s.iter().position(|c| *c == '}')?;
    let inner: String = s[1..close].iter().collect();
    let (min, max) = match inner.split_once(',') {
        Some((a, b)) => (a, Some(b)),
        None => (inner.as_str(), None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if digits(min) && max.is_none_or(|m| m.is_empty() || digits(m)) {
        Some(close + 1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_and_wildcards() {
        // Istio's labels accept upper case.
        for ok in [
            "istio.io",
            "istio.io.",
            "a.b-c.d",
            "foo",
            "x.y.z.1com",
            "UPPER.io",
        ] {
            assert_eq!(fqdn(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "istio..io",
            "-a.io",
            "a.123",
            "a_b.io",
            &"a".repeat(256),
        ] {
            assert!(fqdn(bad).is_err(), "{bad}");
        }
        for ok in ["*", "*.bar.com", "*bar.com", "foo.bar.com", "*-bar.com"] {
            assert_eq!(wildcard_domain(ok), Ok(()), "{ok}");
        }
        for bad in ["foo.*.com", "**.com", "*.*.com", "*a*.com", "*--bar.com"] {
            assert!(wildcard_domain(bad).is_err(), "{bad}");
        }
        assert!(partial_wildcard("*bar.com").is_err());
        assert!(partial_wildcard("*.bar.com").is_ok());
    }

    #[test]
    fn namespace_slash_hosts() {
        assert!(namespace_slash_wildcard_hostname("ns/foo.bar.com", false, false).is_empty());
        assert!(namespace_slash_wildcard_hostname("*/*", false, false).is_empty());
        assert!(namespace_slash_wildcard_hostname("~/*", false, false).is_empty());
        assert!(!namespace_slash_wildcard_hostname("foo.bar.com", false, false).is_empty());
        assert!(namespace_slash_wildcard_hostname("foo.bar.com", true, false).is_empty());
        assert!(
            namespace_slash_wildcard_hostname("10.1.1.1", true, false)
                .iter()
                .all(|e| e.contains("short"))
        );
        assert!(!namespace_slash_wildcard_hostname("ns/foo", false, false).is_empty());
        assert!(!namespace_slash_wildcard_hostname("NS!/foo.com", false, false).is_empty());
        assert!(!namespace_slash_wildcard_hostname("/foo.com", false, false).is_empty());
        assert!(!namespace_slash_wildcard_hostname("ns/*foo.com", false, false).is_empty());
    }

    #[test]
    fn ips_and_cidrs() {
        for ok in [
            "10.0.0.1",
            "10.0.0.0/8",
            "::1",
            "2001:db8::/32",
            "0.0.0.0/0",
        ] {
            assert_eq!(ip_subnet(ok), Ok(()), "{ok}");
        }
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "abc",
            "10.0.0.1/",
            "1.1.1.1/08",
            "::1/129",
        ] {
            assert!(ip_subnet(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers() {
        assert!(strict_header_name("x-foo_bar").is_ok());
        assert!(strict_header_name("x.foo").is_err());
        assert!(header_name_or_jwt_claim_route("@request.auth.claims.group").is_ok());
        assert!(header_name_or_jwt_claim_route("@request.auth.claims[a][b]").is_ok());
        assert!(header_name_or_jwt_claim_route(":authority").is_ok());
        assert!(header_name_or_jwt_claim_route("bad header").is_err());
        assert!(header_operation_name("Host").is_err());
        assert!(header_operation_name(":path").is_err());
        assert!(header_with_authority_operation_name(":authority").is_ok());
        assert!(header_with_authority_operation_name(":path").is_err());
        for ok in [
            "foo",
            "%HOSTNAME%",
            "100%%",
            "prefix %HOSTNAME% suffix",
            "%REQ(x-foo)%",
        ] {
            assert_eq!(header_value(ok), Ok(()), "{ok}");
        }
        for bad in ["abc%123", "%START_TIME%%", "a\nb"] {
            assert!(header_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_ports_percentages() {
        assert!(duration(&Duration::from_millis(1)).is_ok());
        assert!(duration(&Duration::from_nanos(999_999)).is_err());
        assert!(duration(&Duration::from_nanos(1_500_000)).is_err());
        assert!(port(0).is_err() && port(65536).is_err() && port(443).is_ok());
        assert!(
            percentage(0.00001).is_err() && percentage(0.0).is_ok() && percentage(100.1).is_err()
        );
    }

    #[test]
    fn labels() {
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert!(label_key("-bad").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_x").is_ok());
        assert!(label_value("bad value").is_err());
    }

    #[test]
    fn export_to_rules() {
        let run = |ns: &str, e: &[&str], se: bool, dr: bool| {
            let mut cx = Ctx::new();
            let v: Vec<String> = e.iter().map(|s| s.to_string()).collect();
            export_to(&mut cx, ns, &v, se, dr);
            cx.report
                .errors
                .into_iter()
                .map(|i| i.message)
                .collect::<Vec<_>>()
        };
        assert!(
            run("ns", &[".", "*"], false, false)
                .iter()
                .any(|m| m.contains("both public"))
        );
        assert!(
            run("ns", &["ns", "."], false, false)
                .iter()
                .any(|m| m.contains("duplicate entries in exportTo: ."))
        );
        assert!(run("ns", &["~"], true, false).is_empty());
        assert!(!run("ns", &["~"], false, false).is_empty());
        assert!(
            run("ns", &["~", "a"], true, false)
                .iter()
                .any(|m| m.contains("no one"))
        );
        assert!(
            run("ns", &["other"], false, true)
                .iter()
                .any(|m| m.contains("beyond current namespace"))
        );
        assert!(run("ns", &["."], false, true).is_empty());
        assert!(!run("ns", &["Bad_NS"], false, false).is_empty());
    }
}
