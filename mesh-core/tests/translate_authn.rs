//! PeerAuthentication selection and merging, case by case as istiod's
//! `TestComposePeerAuthentication` covers it.

use std::collections::BTreeMap;

use mesh_core::api::PeerAuthentication;
use mesh_core::translate::authn::effective_peer_authentication;
use mesh_core::translate::inbound::MtlsMode;
use serde_json::{Value, json};

fn pa(name: &str, ns: &str, created: &str, spec: Value) -> PeerAuthentication {
    serde_json::from_value(json!({
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": created}, "spec": spec
    }))
    .expect("valid PeerAuthentication")
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".to_string(), "foo".to_string()),
        ("version".to_string(), "v1".to_string()),
    ])
}

fn eval(policies: &[PeerAuthentication]) -> (MtlsMode, BTreeMap<u32, MtlsMode>) {
    let m = effective_peer_authentication(policies.iter(), "root", "foo", &labels());
    (m.mode, m.per_port)
}

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-02T00:00:00Z";

#[test]
fn defaults_and_levels() {
    use MtlsMode::*;
    assert_eq!(eval(&[]).0, Permissive, "no policy: PERMISSIVE");
    assert_eq!(
        eval(&[pa("m", "root", T0, json!({"mtls": {"mode": "STRICT"}}))]).0,
        Strict,
        "mesh only"
    );
    assert_eq!(
        eval(&[
            pa("m", "root", T0, json!({"mtls": {"mode": "STRICT"}})),
            pa("n", "foo", T0, json!({"mtls": {"mode": "DISABLE"}}))
        ])
        .0,
        Disable,
        "namespace overrides mesh"
    );
    assert_eq!(
        eval(&[
            pa("m", "root", T0, json!({"mtls": {"mode": "STRICT"}})),
            pa("n", "foo", T0, json!({"mtls": {"mode": "UNSET"}}))
        ])
        .0,
        Strict,
        "UNSET namespace inherits the mesh"
    );
    assert_eq!(
        eval(&[
            pa("n", "foo", T0, json!({"mtls": {"mode": "DISABLE"}})),
            pa(
                "w",
                "foo",
                T0,
                json!({"selector": {"matchLabels": {"app": "foo"}}, "mtls": {"mode": "STRICT"}})
            ),
        ])
        .0,
        Strict,
        "workload overrides namespace"
    );
    assert_eq!(
        eval(&[pa(
            "w",
            "foo",
            T0,
            json!({"selector": {"matchLabels": {"app": "bar"}}, "mtls": {"mode": "STRICT"}})
        )])
        .0,
        Permissive,
        "a selector that does not match does not apply"
    );
    assert_eq!(
        eval(&[pa("w", "other", T0, json!({"mtls": {"mode": "STRICT"}}))]).0,
        Permissive,
        "another namespace's policy does not apply"
    );
    assert_eq!(
        eval(&[pa(
            "w",
            "root",
            T0,
            json!({"selector": {"matchLabels": {"app": "foo"}}, "mtls": {"mode": "STRICT"}})
        )])
        .0,
        Permissive,
        "selector policies in the root namespace are ignored"
    );
    assert_eq!(
        eval(&[pa(
            "w",
            "foo",
            T0,
            json!({"selector": {"matchLabels": {}}, "mtls": {"mode": "STRICT"}})
        )])
        .0,
        Strict,
        "an empty selector is a namespace policy"
    );
}

#[test]
fn oldest_wins_within_a_level() {
    use MtlsMode::*;
    let a = pa("a", "foo", T1, json!({"mtls": {"mode": "STRICT"}}));
    let b = pa("b", "foo", T0, json!({"mtls": {"mode": "DISABLE"}}));
    assert_eq!(eval(&[a.clone(), b.clone()]).0, Disable);
    assert_eq!(eval(&[b, a]).0, Disable, "order of input does not matter");
    // Same age: the name breaks the tie.
    let c = pa("c", "foo", T0, json!({"mtls": {"mode": "STRICT"}}));
    let d = pa("d", "foo", T0, json!({"mtls": {"mode": "DISABLE"}}));
    assert_eq!(eval(&[d, c]).0, Strict);
}

#[test]
fn port_level_settings() {
    use MtlsMode::*;
    let (mode, ports) = eval(&[
        pa("n", "foo", T0, json!({"mtls": {"mode": "STRICT"}})),
        pa(
            "w",
            "foo",
            T0,
            json!({"selector": {"matchLabels": {"app": "foo"}},
            "portLevelMtls": {"8080": {"mode": "DISABLE"}, "9090": {"mode": "UNSET"}, "7070": {"mode": "PERMISSIVE"}}}),
        ),
    ]);
    assert_eq!(
        mode, Strict,
        "an unset workload mode inherits the namespace"
    );
    assert_eq!(
        ports,
        BTreeMap::from([(7070, Permissive), (8080, Disable), (9090, Strict)])
    );
    // Port-level settings of a namespace policy are not applied.
    let (_, ports) = eval(&[pa(
        "n",
        "foo",
        T0,
        json!({"mtls": {"mode": "STRICT"}, "portLevelMtls": {"8080": {"mode": "DISABLE"}}}),
    )]);
    assert!(ports.is_empty());
}
