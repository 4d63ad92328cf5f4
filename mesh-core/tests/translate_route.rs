//! VirtualService HTTP rules to Envoy routes: istiod's match, action, retry and header rules,
//! and real Envoy accepting the routes in a route configuration.

mod support;

use std::collections::BTreeSet;

use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteConfiguration, VirtualHost, route, route_action,
};
use mesh_core::api::networking::{Destination, HttpRoute};
use mesh_core::dump;
use mesh_core::translate::route::{
    DEFAULT_RETRY_ON, RouteContext, build_http_routes, default_outbound_route,
};
use serde_json::{Value, json};

fn cluster_name(d: &Destination) -> String {
    let port = d.port.as_ref().map_or(9080, |p| p.number);
    format!(
        "outbound|{port}|{}|{}.default.svc.cluster.local",
        d.subset, d.host
    )
}

fn rules(v: Value) -> Vec<HttpRoute> {
    serde_json::from_value(v).expect("valid HTTP rules")
}

fn routes(v: Value) -> Vec<Value> {
    let ctx = RouteContext::new(9080, &cluster_name);
    build_http_routes(&rules(v), &ctx)
        .iter()
        .map(|r| dump::message_to_json(r).expect("dumps"))
        .collect()
}

#[test]
fn one_route_per_match_stopping_at_the_catch_all() {
    let r = routes(json!([
        {"name": "a", "match": [{"name": "m1", "uri": {"exact": "/x"}}, {"uri": {"prefix": "/"}}, {"uri": {"prefix": "/never"}}],
         "route": [{"destination": {"host": "reviews"}}]},
        {"route": [{"destination": {"host": "ratings"}}]}
    ]));
    assert_eq!(r.len(), 2, "{r:#?}");
    assert_eq!(r[0]["name"], "a.m1");
    assert_eq!(r[0]["match"]["path"], "/x");
    assert_eq!(r[1]["name"], "a");
    assert_eq!(r[1]["match"]["prefix"], "/");
}

#[test]
fn matches_for_other_ports_or_sources_are_dropped() {
    let r = routes(json!([
        {"match": [{"port": 9090, "uri": {"prefix": "/a"}}, {"sourceLabels": {"app": "x"}}, {"gateways": ["ns/gw"]},
                   {"sourceNamespace": "other"}, {"port": 9080, "uri": {"prefix": "/b"}}],
         "route": [{"destination": {"host": "reviews"}}]}
    ]));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["match"]["prefix"], "/b");
}

#[test]
fn match_translation() {
    let r = routes(json!([{"match": [{
        "uri": {"regex": "/api/v[0-9]+"}, "ignoreUriCase": true,
        "method": {"exact": "GET"}, "authority": {"prefix": "reviews"}, "scheme": {"exact": "https"},
        "headers": {"x-b": {"regex": "*"}, "x-a": {"exact": "1"}, "x-c": {}},
        "withoutHeaders": {"x-d": {"prefix": "no"}, "x-e": {}},
        "queryParams": {"q": {"exact": "v"}, "p": {"regex": "*"}}
    }], "route": [{"destination": {"host": "reviews"}}]}]));
    let m = &r[0]["match"];
    assert_eq!(m["safe_regex"]["regex"], "/api/v[0-9]+");
    assert_eq!(m["case_sensitive"], false);
    let names: Vec<&str> = m["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    // Headers sorted by name, then :method, :authority, :scheme.
    assert_eq!(
        names,
        [
            "x-a",
            "x-b",
            "x-c",
            "x-d",
            "x-e",
            ":method",
            ":authority",
            ":scheme"
        ]
    );
    let h = |i: usize| m["headers"][i].clone();
    assert_eq!(h(0)["string_match"]["exact"], "1");
    assert_eq!(h(1)["present_match"], true, "regex * is a presence match");
    assert_eq!(
        h(2)["present_match"],
        true,
        "an empty match is a presence match"
    );
    assert_eq!(
        (
            h(3)["invert_match"].clone(),
            h(3)["treat_missing_header_as_empty"].clone()
        ),
        (json!(true), json!(true))
    );
    assert_eq!(h(4)["invert_match"], true);
    assert!(
        h(4).get("treat_missing_header_as_empty").is_none(),
        "not with a presence match"
    );
    assert_eq!(h(6)["string_match"]["prefix"], "reviews");
    let q: BTreeSet<String> = m["query_parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.to_string())
        .collect();
    assert!(
        q.contains(&json!({"name": "p", "present_match": true}).to_string()),
        "{q:?}"
    );
}

#[test]
fn default_retry_policy_and_timeouts() {
    let r = routes(json!([{"route": [{"destination": {"host": "reviews"}}]}]));
    let a = &r[0]["route"];
    assert_eq!(a["timeout"], "0s");
    assert_eq!(a["max_grpc_timeout"], "0s");
    let rp = &a["retry_policy"];
    assert_eq!(rp["retry_on"], DEFAULT_RETRY_ON);
    assert_eq!(rp["num_retries"], 2);
    assert_eq!(rp["host_selection_retry_max_attempts"], "5");
    assert_eq!(
        rp["retry_host_predicate"][0]["name"],
        "envoy.retry_host_predicates.previous_hosts"
    );
}

#[test]
fn retries_from_the_rule() {
    let r = routes(json!([
        {"match": [{"uri": {"prefix": "/a"}}], "route": [{"destination": {"host": "reviews"}}], "timeout": "10s",
         "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "gateway-error,503,connect-failure", "retryRemoteLocalities": true,
                     "retryIgnorePreviousHosts": false, "backoff": "25ms"}},
        {"route": [{"destination": {"host": "reviews"}}], "retries": {"attempts": 0}}
    ]));
    let a = &r[0]["route"];
    assert_eq!(
        (a["timeout"].clone(), a["max_grpc_timeout"].clone()),
        (json!("10s"), json!("10s"))
    );
    let rp = &a["retry_policy"];
    assert_eq!(rp["num_retries"], 3);
    assert_eq!(
        rp["retry_on"],
        "gateway-error,connect-failure,retriable-status-codes"
    );
    assert_eq!(rp["retriable_status_codes"], json!([503]));
    assert_eq!(rp["per_try_timeout"], "2s");
    assert_eq!(
        rp["retry_priority"]["name"],
        "envoy.retry_priorities.previous_priorities"
    );
    assert!(rp.get("retry_host_predicate").is_none());
    assert_eq!(rp["retry_back_off"]["base_interval"], "0.025s");
    // attempts: 0 turns retries off.
    assert!(r[1]["route"].get("retry_policy").is_none());
}

#[test]
fn destinations_weights_and_headers() {
    let r = routes(json!([{
    "headers": {"request": {"set": {"x-set": "1", ":path": "/dropped"}, "add": {"x-add": "2"}, "remove": ["x-rm", "host"]},
                "response": {"set": {"x-resp": "3"}}},
    "route": [
        {"destination": {"host": "reviews", "subset": "v1"}, "weight": 90, "headers": {"request": {"set": {"x-v": "v1"}}}},
        {"destination": {"host": "reviews", "subset": "v3", "port": {"number": 9090}}, "weight": 10},
        {"destination": {"host": "reviews", "subset": "v4"}, "weight": 0}
    ]}]));
    let wc = &r[0]["route"]["weighted_clusters"]["clusters"];
    assert_eq!(
        wc.as_array().unwrap().len(),
        2,
        "0-weight destinations are dropped"
    );
    assert_eq!(
        wc[0]["name"],
        "outbound|9080|v1|reviews.default.svc.cluster.local"
    );
    assert_eq!(wc[0]["weight"], 90);
    assert_eq!(wc[0]["request_headers_to_add"][0]["header"]["key"], "x-v");
    assert_eq!(
        wc[1]["name"],
        "outbound|9090|v3|reviews.default.svc.cluster.local"
    );
    let add = r[0]["request_headers_to_add"].as_array().unwrap();
    assert_eq!(add.len(), 2, "pseudo-headers are dropped: {add:?}");
    assert_eq!(add[0]["header"]["key"], "x-set");
    assert_eq!(add[0]["append_action"], "OVERWRITE_IF_EXISTS_OR_ADD");
    // APPEND_IF_EXISTS_OR_ADD is the enum's default, which proto3 JSON (and Envoy) leaves out.
    assert_eq!(add[1]["header"]["key"], "x-add");
    assert!(add[1].get("append_action").is_none());
    assert_eq!(r[0]["request_headers_to_remove"], json!(["x-rm"]));
    assert_eq!(
        r[0]["response_headers_to_add"][0]["header"]["key"],
        "x-resp"
    );
}

#[test]
fn rewrites_redirects_and_direct_responses() {
    let r = routes(json!([
        {"match": [{"uri": {"prefix": "/old"}}], "rewrite": {"uri": "/new", "authority": "new.example.com"},
         "route": [{"destination": {"host": "reviews"}}]},
        {"match": [{"uri": {"prefix": "/re"}}], "rewrite": {"uriRegexRewrite": {"match": "^/re/(.*)", "rewrite": "/\\1"}},
         "route": [{"destination": {"host": "reviews"}}]},
        {"match": [{"uri": {"exact": "/r1"}}], "redirect": {"uri": "/elsewhere", "authority": "a.example.com", "redirectCode": 302, "port": 8080}},
        {"match": [{"uri": {"exact": "/r2"}}], "redirect": {"prefixRewrite": "/p", "scheme": "https", "port": 443}},
        {"match": [{"uri": {"exact": "/r3"}}], "redirect": {"uri": "/x", "derivePort": "FROM_REQUEST_PORT"}},
        {"match": [{"uri": {"exact": "/r4"}}], "redirect": {"uri": "/x", "redirectCode": 305}},
        {"match": [{"uri": {"exact": "/d"}}], "directResponse": {"status": 503, "body": {"string": "down"}}},
        {"match": [{"uri": {"exact": "/b"}}], "directResponse": {"status": 200, "body": {"bytes": "aGVsbG8="}}}
    ]));
    assert_eq!(r[0]["route"]["prefix_rewrite"], "/new");
    assert_eq!(r[0]["route"]["host_rewrite_literal"], "new.example.com");
    assert_eq!(
        r[1]["route"]["regex_rewrite"]["pattern"]["regex"],
        "^/re/(.*)"
    );
    assert_eq!(
        r[2]["redirect"],
        json!({"host_redirect": "a.example.com", "path_redirect": "/elsewhere", "port_redirect": 8080, "response_code": "FOUND"})
    );
    assert_eq!(
        r[3]["redirect"],
        json!({"prefix_rewrite": "/p", "scheme_redirect": "https"}),
        "443 with https is left out"
    );
    assert_eq!(
        r[4]["redirect"]["port_redirect"], 9080,
        "FROM_REQUEST_PORT is the listener port"
    );
    // A 305 redirect cannot be expressed: istiod emits no action, we leave the route out.
    assert!(r.iter().all(|x| x["match"]["path"] != "/r4"));
    let d = r.iter().find(|x| x["match"]["path"] == "/d").unwrap();
    assert_eq!(
        d["direct_response"],
        json!({"status": 503, "body": {"inline_string": "down"}})
    );
    let b = r.iter().find(|x| x["match"]["path"] == "/b").unwrap();
    assert_eq!(
        b["direct_response"]["body"]["inline_bytes"], "aGVsbG8=",
        "proto3 JSON prints bytes as base64 again"
    );
}

#[test]
fn envoy_accepts_the_routes() {
    let all = rules(json!([
        {"name": "jason", "match": [{"headers": {"end-user": {"exact": "jason"}}, "uri": {"prefix": "/api"}, "ignoreUriCase": true,
                                      "queryParams": {"debug": {"regex": "*"}}, "withoutHeaders": {"x-canary": {"exact": "1"}}}],
         "route": [{"destination": {"host": "reviews", "subset": "v2"}}],
         "retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,503", "retryRemoteLocalities": true, "backoff": "25ms"},
         "timeout": "10s", "headers": {"request": {"set": {"x-a": "1"}, "remove": ["x-b"]}},
         "fault": {"delay": {"fixedDelay": "1s", "percentage": {"value": 1}}, "abort": {"httpStatus": 503}},
         "corsPolicy": {"allowOrigins": [{"prefix": "https://"}], "allowMethods": ["GET"], "maxAge": "1h"},
         "mirrors": [{"destination": {"host": "reviews", "subset": "v3"}, "percentage": {"value": 5}}]},
        {"match": [{"uri": {"regex": "/v[0-9]+/.*"}, "method": {"exact": "POST"}}],
         "rewrite": {"uriRegexRewrite": {"match": "^/v([0-9]+)/(.*)", "rewrite": "/\\2"}, "authority": "r.example"},
         "route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 80}, {"destination": {"host": "reviews", "subset": "v3"}, "weight": 20}]},
        {"match": [{"uri": {"exact": "/old"}}], "redirect": {"uri": "/new", "redirectCode": 308, "scheme": "https", "port": 8443}},
        {"match": [{"uri": {"exact": "/down"}}], "directResponse": {"status": 503, "body": {"bytes": "ZG93bg=="}}},
        {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}
    ]));
    let ctx = RouteContext::new(9080, &cluster_name);
    let mut routes: Vec<Route> = build_http_routes(&all, &ctx);
    routes.push(default_outbound_route(
        "outbound|9080||ratings.default.svc.cluster.local",
        false,
    ));
    let mut clusters: BTreeSet<String> = BTreeSet::new();
    for r in &routes {
        if let Some(route::Action::Route(a)) = &r.action {
            match &a.cluster_specifier {
                Some(route_action::ClusterSpecifier::Cluster(c)) => {
                    clusters.insert(c.clone());
                }
                Some(route_action::ClusterSpecifier::WeightedClusters(w)) => {
                    clusters.extend(w.clusters.iter().map(|c| c.name.clone()))
                }
                _ => {}
            }
        }
    }
    let rc = RouteConfiguration {
        name: "9080".into(),
        virtual_hosts: vec![VirtualHost {
            name: "reviews.default.svc.cluster.local:9080".into(),
            domains: vec!["*".into()],
            routes,
            ..Default::default()
        }],
        ..Default::default()
    };
    let clusters = clusters
        .iter()
        .map(|name| support::envoy::static_cluster(name, None))
        .collect();
    let listener = support::envoy::inline_routes_listener(19080, rc);
    support::envoy::assert_accepts(
        &support::envoy::bootstrap(vec![listener], clusters, false),
        "the routes",
    );
}

#[test]
fn fault_cors_and_mirrors() {
    let r = routes(json!([{
        "match": [{"uri": {"prefix": "/exp"}}],
        "fault": {"delay": {"exponentialDelay": "1s", "percentage": {"value": 100}}},
        "route": [{"destination": {"host": "reviews"}}]
    }, {
        "fault": {"delay": {"fixedDelay": "5s", "percentage": {"value": 0.1}},
                  "abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 50}}},
        "corsPolicy": {"allowOrigins": [{"exact": "https://a.example"}, {"regex": "https://.*\\.b\\.example"}],
                       "allowMethods": ["GET", "POST"], "allowHeaders": ["x-a"], "exposeHeaders": ["x-b"],
                       "maxAge": "24h", "allowCredentials": true, "unmatchedPreflights": "IGNORE"},
        "mirror": {"host": "reviews", "subset": "v2"}, "mirrorPercentage": {"value": 12.5},
        "mirrors": [{"destination": {"host": "ratings"}}, {"destination": {"host": "details"}, "percentage": {"value": 0}}],
        "route": [{"destination": {"host": "reviews", "subset": "v1"}}]
    }]));
    let fault = &r[1]["typed_per_filter_config"]["envoy.filters.http.fault"];
    assert_eq!(
        fault["@type"],
        "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
    );
    assert_eq!(fault["delay"]["fixed_delay"], "5s");
    assert_eq!(
        fault["delay"]["percentage"],
        json!({"numerator": 1000, "denominator": "MILLION"})
    );
    assert_eq!(fault["abort"]["grpc_status"], 14);
    assert_eq!(fault["abort"]["percentage"]["numerator"], 500000);
    let cors = &r[1]["typed_per_filter_config"]["envoy.filters.http.cors"];
    assert_eq!(
        cors["allow_origin_string_match"][1]["safe_regex"]["regex"],
        "https://.*\\.b\\.example"
    );
    assert_eq!(
        (cors["allow_methods"].clone(), cors["max_age"].clone()),
        (json!("GET,POST"), json!("86400"))
    );
    assert_eq!(cors["allow_credentials"], true);
    assert_eq!(cors["forward_not_matching_preflights"], false);
    assert_eq!(cors["filter_enabled"]["default_value"]["numerator"], 100);
    let mirrors = r[1]["route"]["request_mirror_policies"].as_array().unwrap();
    assert_eq!(
        mirrors.len(),
        2,
        "an explicit 0% mirror is dropped: {mirrors:?}"
    );
    assert_eq!(
        mirrors[0]["cluster"],
        "outbound|9080|v2|reviews.default.svc.cluster.local"
    );
    assert_eq!(
        mirrors[0]["runtime_fraction"]["default_value"],
        json!({"numerator": 125000, "denominator": "MILLION"})
    );
    assert_eq!(mirrors[0]["trace_sampled"], false);
    assert_eq!(
        mirrors[1]["runtime_fraction"]["default_value"],
        json!({"numerator": 100}),
        "100/HUNDRED by default"
    );
    // Exponential delays are not supported: no fault filter config at all.
    assert!(r[0].get("typed_per_filter_config").is_none());
}

#[test]
fn consistent_hash_keys_become_hash_policies() {
    use mesh_core::api::networking::ConsistentHashLb;
    use mesh_core::translate::route::hash_policy;
    let hp = |v: Value| {
        let lb: ConsistentHashLb = serde_json::from_value(v).expect("valid consistentHash");
        hash_policy(&lb).map(|p| {
            let route = Route {
                action: Some(route::Action::Route(
                    envoy_types::pb::envoy::config::route::v3::RouteAction {
                        hash_policy: vec![p],
                        ..Default::default()
                    },
                )),
                ..Default::default()
            };
            dump::message_to_json(&route).expect("dumps")["route"]["hash_policy"][0].clone()
        })
    };
    assert_eq!(
        hp(json!({"httpHeaderName": "x-user"})),
        Some(json!({"header": {"header_name": "x-user"}}))
    );
    assert_eq!(
        hp(
            json!({"httpCookie": {"name": "user", "ttl": "10s", "path": "/", "attributes": [{"name": "SameSite", "value": "Strict"}]}})
        ),
        Some(
            json!({"cookie": {"name": "user", "ttl": "10s", "path": "/", "attributes": [{"name": "SameSite", "value": "Strict"}]}})
        )
    );
    assert_eq!(
        hp(json!({"useSourceIp": true})),
        Some(json!({"connection_properties": {"source_ip": true}}))
    );
    assert_eq!(
        hp(json!({"httpQueryParameterName": "u"})),
        Some(json!({"query_parameter": {"name": "u"}}))
    );
    assert_eq!(hp(json!({"maglev": {"tableSize": 7}})), None);
}
