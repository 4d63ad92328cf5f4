//! Delegate VirtualServices (istiod's `MergeHTTPRoutes`): a root rule with `delegate` is
//! replaced by the delegate's rules, each narrowed by the root's matches; a delegate match that
//! does not fit inside any root match is a conflict, and that delegate rule is dropped.
//!
//! ```
//! use mesh_core::api::networking::HttpRoute;
//! use mesh_core::translate::delegate::merge_http_route;
//!
//! let root: HttpRoute = serde_json::from_value(serde_json::json!(
//!     {"name": "reviews", "match": [{"uri": {"prefix": "/reviews"}}], "timeout": "5s",
//!      "delegate": {"name": "reviews", "namespace": "team"}}))?;
//! let leaf: HttpRoute = serde_json::from_value(serde_json::json!(
//!     {"name": "v2", "match": [{"uri": {"prefix": "/reviews/v2"}}],
//!      "route": [{"destination": {"host": "reviews", "subset": "v2"}}]}))?;
//! let merged = merge_http_route(&root, &leaf).expect("no conflict");
//! assert_eq!(merged.name, "reviews-v2");
//! assert_eq!(merged.timeout.map(|t| t.seconds()), Some(5));
//! // A delegate match outside the root's prefix conflicts.
//! let outside: HttpRoute = serde_json::from_value(serde_json::json!(
//!     {"match": [{"uri": {"prefix": "/ratings"}}], "route": [{"destination": {"host": "ratings"}}]}))?;
//! assert!(merge_http_route(&root, &outside).is_none());
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use crate::api::networking::{HttpMatchRequest, HttpRoute, StringMatch, VirtualServiceSpec};

/// Replaces every rule with a `delegate` by the delegate's merged rules (`delegates` is keyed
/// by namespace and name; an empty delegate namespace means `namespace`, the root's). A rule
/// whose delegate does not exist is dropped, as istiod drops it.
pub fn merge_delegates(
    rules: &[HttpRoute],
    namespace: &str,
    delegates: &BTreeMap<(String, String), &VirtualServiceSpec>,
) -> Vec<HttpRoute> {
    let mut out = Vec::with_capacity(rules.len());
    for rule in rules {
        let Some(d) = &rule.delegate else {
            out.push(rule.clone());
            continue;
        };
        let ns = if d.namespace.is_empty() {
            namespace
        } else {
            d.namespace.as_str()
        };
        if let Some(spec) = delegates.get(&(ns.to_string(), d.name.clone())) {
            out.extend(spec.http.iter().filter_map(|leaf| {
                let mut leaf = leaf.clone();
                // A delegate's own delegates are not followed (istiod allows one level).
                leaf.delegate = None;
                merge_http_route(rule, &leaf)
            }));
        }
    }
    out
}

/// `mergeHTTPRoute`: the delegate rule narrowed by the root's matches, inheriting what it
/// leaves unset; `None` on a match conflict.
pub fn merge_http_route(root: &HttpRoute, delegate: &HttpRoute) -> Option<HttpRoute> {
    let matches = merge_matches(&root.r#match, &delegate.r#match)?;
    let mut out = delegate.clone();
    out.r#match = matches;
    out.delegate = None;
    out.name = join_names(&root.name, &delegate.name);
    macro_rules! inherit {
        ($($f:ident),*) => {$(
            if out.$f.is_none() {
                out.$f = root.$f.clone();
            }
        )*};
    }
    inherit!(
        rewrite,
        direct_response,
        timeout,
        retries,
        fault,
        mirror,
        mirror_percent,
        mirror_percentage,
        cors_policy,
        headers
    );
    if out.mirrors.is_empty() {
        out.mirrors = root.mirrors.clone();
    }
    Some(out)
}

fn join_names(root: &str, leaf: &str) -> String {
    match (root.is_empty(), leaf.is_empty()) {
        (_, true) => root.to_string(),
        (true, false) => leaf.to_string(),
        (false, false) => format!("{root}-{leaf}"),
    }
}

/// `mergeHTTPMatchRequests`: every delegate match must fit inside at least one root match; the
/// result holds each fitting pair merged. `None` on conflict.
fn merge_matches(
    root: &[HttpMatchRequest],
    delegate: &[HttpMatchRequest],
) -> Option<Vec<HttpMatchRequest>> {
    if root.is_empty() {
        return Some(delegate.to_vec());
    }
    if delegate.is_empty() {
        return Some(root.to_vec());
    }
    let mut out = Vec::new();
    for leaf in delegate {
        let before = out.len();
        for r in root.iter().filter(|r| !has_conflict(r, leaf)) {
            out.push(merge_match(r, leaf));
        }
        if out.len() == before {
            return None;
        }
    }
    Some(out)
}

fn merge_maps<V: Clone>(
    root: &BTreeMap<String, V>,
    leaf: &BTreeMap<String, V>,
) -> BTreeMap<String, V> {
    let mut out = root.clone();
    out.extend(leaf.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

fn merge_match(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> HttpMatchRequest {
    let mut out = leaf.clone();
    out.name = join_names(&root.name, &leaf.name);
    if out.uri.is_none() {
        out.uri = root.uri.clone();
    }
    if out.scheme.is_none() {
        out.scheme = root.scheme.clone();
    }
    if out.method.is_none() {
        out.method = root.method.clone();
    }
    if out.authority.is_none() {
        out.authority = root.authority.clone();
    }
    out.headers = merge_maps(&root.headers, &leaf.headers);
    out.without_headers = merge_maps(&root.without_headers, &leaf.without_headers);
    out.query_params = merge_maps(&root.query_params, &leaf.query_params);
    out.source_labels = merge_maps(&root.source_labels, &leaf.source_labels);
    if out.port == 0 {
        out.port = root.port;
    }
    if out.source_namespace.is_empty() {
        out.source_namespace = root.source_namespace.clone();
    }
    if out.gateways.is_empty() {
        out.gateways = root.gateways.clone();
    }
    if out.stat_prefix.is_empty() {
        out.stat_prefix = root.stat_prefix.clone();
    }
    out
}

/// `hasConflict`: whether the delegate's match can match something the root's cannot.
fn has_conflict(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> bool {
    let pairs = [
        (&root.uri, &leaf.uri),
        (&root.scheme, &leaf.scheme),
        (&root.method, &leaf.method),
        (&root.authority, &leaf.authority),
    ];
    if pairs
        .iter()
        .any(|(r, l)| string_match_conflict(r.as_ref(), l.as_ref()))
    {
        return true;
    }
    let map_conflict = |r: &BTreeMap<String, StringMatch>, l: &BTreeMap<String, StringMatch>| {
        l.iter()
            .any(|(k, lv)| string_match_conflict(r.get(k), Some(lv)))
    };
    if map_conflict(&root.headers, &leaf.headers)
        || map_conflict(&root.without_headers, &leaf.without_headers)
        || map_conflict(&root.query_params, &leaf.query_params)
    {
        return true;
    }
    if root.ignore_uri_case != leaf.ignore_uri_case {
        return true;
    }
    if root.port > 0 && leaf.port > 0 && root.port != leaf.port {
        return true;
    }
    if !root.source_namespace.is_empty() && leaf.source_namespace != root.source_namespace {
        return true;
    }
    if leaf
        .source_labels
        .iter()
        .any(|(k, v)| root.source_labels.get(k).is_some_and(|rv| rv != v))
    {
        return true;
    }
    if !root.gateways.is_empty() && !leaf.gateways.is_empty() {
        return leaf.gateways.iter().any(|g| !root.gateways.contains(g));
    }
    false
}

/// `stringMatchConflict`: unset on either side never conflicts; regexes only match regex-free
/// counterparts; an exact root admits only the same exact; a prefix root admits longer
/// prefixes and exacts under it.
fn string_match_conflict(root: Option<&StringMatch>, leaf: Option<&StringMatch>) -> bool {
    let (Some(root), Some(leaf)) = (root, leaf) else {
        return false;
    };
    match (root, leaf) {
        (StringMatch::Unset, _) | (_, StringMatch::Unset) => true,
        (StringMatch::Regex(_), _) | (_, StringMatch::Regex(_)) => true,
        (StringMatch::Exact(r), StringMatch::Exact(l)) => r != l,
        (StringMatch::Exact(_), StringMatch::Prefix(_)) => true,
        (StringMatch::Prefix(r), StringMatch::Prefix(l) | StringMatch::Exact(l)) => {
            !l.starts_with(r.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: serde_json::Value) -> HttpRoute {
        serde_json::from_value(v).expect("rule")
    }

    #[test]
    fn merges_matches_and_inherits() {
        let root = rule(serde_json::json!({"name": "root",
            "match": [{"uri": {"prefix": "/a"}, "headers": {"x": {"exact": "1"}}}],
            "retries": {"attempts": 5}, "delegate": {"name": "d"}}));
        let leaf = rule(serde_json::json!({
            "match": [{"uri": {"exact": "/a/b"}, "headers": {"y": {"exact": "2"}}}],
            "route": [{"destination": {"host": "b"}}]}));
        let m = merge_http_route(&root, &leaf).expect("merges");
        assert_eq!(m.name, "root");
        assert_eq!(m.r#match.len(), 1);
        assert_eq!(m.r#match[0].uri, Some(StringMatch::Exact("/a/b".into())));
        assert_eq!(m.r#match[0].headers.len(), 2);
        assert_eq!(m.retries.map(|r| r.attempts), Some(5));
        assert!(m.delegate.is_none());
    }

    #[test]
    fn conflicts_drop_the_leaf() {
        let root = rule(serde_json::json!({"match": [{"uri": {"exact": "/a"}}]}));
        for leaf in [
            serde_json::json!({"match": [{"uri": {"prefix": "/a"}}]}),
            serde_json::json!({"match": [{"uri": {"exact": "/b"}}]}),
            serde_json::json!({"match": [{"uri": {"regex": "/a.*"}}]}),
            serde_json::json!({"match": [{"uri": {"exact": "/a"}, "ignoreUriCase": true}]}),
        ] {
            assert!(
                merge_http_route(&root, &rule(leaf.clone())).is_none(),
                "{leaf}"
            );
        }
        // A leaf without matches takes the root's.
        let m = merge_http_route(&root, &rule(serde_json::json!({}))).expect("merges");
        assert_eq!(m.r#match, root.r#match);
    }

    #[test]
    fn missing_delegate_drops_the_rule() {
        let rules = vec![
            rule(serde_json::json!({"delegate": {"name": "nope"}})),
            rule(serde_json::json!({"route": [{"destination": {"host": "x"}}]})),
        ];
        let out = merge_delegates(&rules, "default", &BTreeMap::new());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].route.len(), 1);
    }
}
