//! The loader: streams, lists, JSON, strictness, errors with positions, untyped kinds.

use mesh_core::FieldPath;
use mesh_core::api::security::MutualTlsMode;
use mesh_core::api::{Kind, Object};
use mesh_core::load::{self, LoadOptions, Loader, SourceMap};

const PA: &str = "\
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: foo
spec:
  selector:
    matchLabels:
      app: reviews
  mtls:
    mode: STRICT
  portLevelMtls:
    8080:
      mode: DISABLE
";

#[test]
fn multi_document_streams_with_comments_and_empty_documents() {
    let text = format!(
        "# leading comment\n---\n{PA}---\n---\n# nothing here\n...\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: foo}}\n"
    );
    let objects = load::from_str(&text, "stream.yaml").expect("loads");
    assert_eq!(objects.len(), 2);
    let Object::PeerAuthentication(pa) = &objects[0].object else {
        panic!("not a PeerAuthentication")
    };
    assert_eq!(pa.api_version, "security.istio.io/v1beta1");
    assert_eq!(pa.metadata.namespace, "foo");
    assert_eq!(pa.spec.mtls.map(|m| m.mode), Some(MutualTlsMode::Strict));
    assert_eq!(
        pa.spec
            .port_level_mtls
            .as_ref()
            .and_then(|p| p.get(&8080))
            .map(|m| m.mode),
        Some(MutualTlsMode::Disable)
    );
    assert_eq!(objects[0].origin.document, 0);
    assert_eq!(objects[0].origin.line, 3);
    assert_eq!(objects[1].object.kind(), Some(Kind::Namespace));
    assert_eq!(objects[1].origin.document, 3);
}

#[test]
fn list_kind_contributes_each_item() {
    let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: a, namespace: ns}
- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: b, namespace: ns}
  spec: {mtls: {mode: PERMISSIVE}}
";
    let objects = load::from_str(text, "list.yaml").expect("loads");
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[1].origin.path.to_string(), "items[1]");
    assert_eq!(objects[1].origin.line, 7);
    assert_eq!(objects[1].object.kind(), Some(Kind::PeerAuthentication));
}

#[test]
fn json_loads_like_yaml() {
    let json = r#"{
	"apiVersion": "security.istio.io/v1",
	"kind": "PeerAuthentication",
	"metadata": {"name": "x", "namespace": "y"},
	"spec": {"mtls": {"mode": "STRICT"}}
}"#;
    let from_json = load::from_slice(json.as_bytes(), "pa.json").expect("json loads");
    let yaml = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: x, namespace: y}\nspec: {mtls: {mode: STRICT}}\n";
    let from_yaml = load::from_str(yaml, "pa.yaml").expect("yaml loads");
    assert_eq!(from_json[0].object, from_yaml[0].object);
}

#[test]
fn unknown_fields_are_errors_unless_lenient() {
    let text = PA.replace("  mtls:\n", "  mtlz: {}\n  mtls:\n").replace(
        "      mode: DISABLE\n",
        "      mode: DISABLE\n      extra: 1\n",
    );
    let err = load::from_str(&text, "pa.yaml").expect_err("strict rejects");
    let paths: Vec<String> = err
        .errors()
        .iter()
        .map(|e| e.path().map(ToString::to_string).unwrap_or_default())
        .collect();
    assert_eq!(paths, ["spec.mtlz", "spec.portLevelMtls.8080.extra"]);
    assert_eq!(err.errors()[0].line(), Some(10));
    assert_eq!(err.errors()[1].line(), Some(16));
    assert!(
        err.errors()[0].to_string().starts_with(
            "pa.yaml:0:10:3: PeerAuthentication foo/default: spec.mtlz: unknown field"
        )
    );

    let lenient = Loader::new(LoadOptions::lenient()).load_str(&text, "pa.yaml");
    assert!(lenient.errors.is_empty());
    assert_eq!(lenient.objects.len(), 1);
    let unknown: Vec<String> = lenient.objects[0]
        .unknown_fields
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(unknown, ["spec.mtlz", "spec.portLevelMtls.8080.extra"]);
}

#[test]
fn type_errors_name_field_line_and_object() {
    let text = PA.replace("mode: STRICT", "mode: SOMETIMES");
    let err = load::from_str(&text, "pa.yaml").expect_err("bad enum");
    let e = &err.errors()[0];
    assert_eq!(
        e.path().map(ToString::to_string).as_deref(),
        Some("spec.mtls.mode")
    );
    assert_eq!((e.line(), e.column()), (Some(11), Some(5)));
    assert_eq!(
        e.object().map(ToString::to_string).as_deref(),
        Some("PeerAuthentication foo/default")
    );
    assert!(
        e.message().contains("unknown variant `SOMETIMES`"),
        "{}",
        e.message()
    );
}

#[test]
fn a_bad_document_does_not_hide_the_good_ones() {
    let text = format!(
        "{PA}---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: bad}}\nspec: {{mtls: []}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: ok}}\n"
    );
    let out = Loader::default().load_str(&text, "mixed.yaml");
    assert_eq!(out.objects.len(), 2);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].document(), Some(1));
    assert_eq!(out.errors[0].line(), Some(19));
}

#[test]
fn envelope_errors() {
    let cases = [
        (
            "kind: PeerAuthentication\nmetadata: {name: a}\n",
            "apiVersion",
            "required field is missing",
        ),
        (
            "apiVersion: v1\nmetadata: {name: a}\n",
            "kind",
            "required field is missing",
        ),
        (
            "apiVersion: security.istio.io/v2\nkind: PeerAuthentication\nmetadata: {name: a}\n",
            "apiVersion",
            "served versions: v1, v1beta1",
        ),
        (
            "apiVersion: networking.istio.io/v1\nkind: EnvoyFilter\nmetadata: {name: a}\n",
            "apiVersion",
            "served versions: v1alpha3",
        ),
        ("- a\n- b\n", "", "expected an object"),
        (
            "apiVersion: 1\nkind: Namespace\n",
            "apiVersion",
            "expected a string",
        ),
    ];
    for (text, path, needle) in cases {
        let err = load::from_str(text, "t.yaml").expect_err(text);
        let e = &err.errors()[0];
        assert_eq!(
            e.path().map(ToString::to_string).unwrap_or_default(),
            path,
            "{text}"
        );
        assert!(e.message().contains(needle), "{text}: {}", e.message());
    }
}

#[test]
fn yaml_syntax_errors_keep_earlier_documents() {
    let text = format!("{PA}---\nkind: [unclosed\n");
    let out = Loader::default().load_str(&text, "broken.yaml");
    assert_eq!(out.objects.len(), 1);
    assert_eq!(out.errors.len(), 1);
    assert!(out.errors[0].message().starts_with("YAML syntax error"));
    assert_eq!(out.errors[0].document(), Some(1));
    assert!(out.errors[0].line().is_some_and(|l| l >= 17));
}

#[test]
fn duplicate_keys_and_bad_utf8_are_errors() {
    let err = load::from_str("apiVersion: v1\nkind: Namespace\nkind: Pod\n", "dup.yaml")
        .expect_err("dup");
    assert!(err.errors()[0].message().contains("duplicate key \"kind\""));
    assert_eq!(err.errors()[0].line(), Some(3));
    let err = load::from_slice(b"apiVersion: v1\nkind: \xff\n", "bin.yaml").expect_err("utf8");
    assert_eq!(err.errors()[0].line(), Some(2));
    assert!(err.errors()[0].message().contains("invalid UTF-8"));
}

#[test]
fn other_kinds_load_untyped_with_kind_and_metadata() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews-v1
  namespace: bookinfo
  labels: {app: reviews}
spec:
  replicas: 1
";
    let objects = load::from_str(text, "d.yaml").expect("loads");
    let Object::Untyped(d) = &objects[0].object else {
        panic!("expected untyped")
    };
    assert_eq!(
        (d.kind.as_str(), d.metadata.name.as_str()),
        ("Deployment", "reviews-v1")
    );
    assert_eq!(d.rest["spec"]["replicas"], 1);
    let back = serde_json::to_value(&objects[0].object).expect("serializes");
    assert_eq!(back["spec"]["replicas"], 1);
    assert_eq!(back["kind"], "Deployment");
}

#[test]
fn kubernetes_kinds_ignore_fields_the_mesh_does_not_read() {
    let text = "\
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  sessionAffinity: None
  ports:
  - {name: http, port: 9080, targetPort: 9080}
  - {name: grpc-x, port: 9090, targetPort: grpc, appProtocol: grpc}
  selector: {app: reviews}
";
    let objects = load::from_str(text, "svc.yaml").expect("loads");
    let Object::Service(svc) = &objects[0].object else {
        panic!("not a Service")
    };
    assert_eq!(svc.spec.ports.len(), 2);
    assert_eq!(svc.spec.ports[1].app_protocol.as_deref(), Some("grpc"));
    assert!(objects[0].unknown_fields.is_empty());
}

#[test]
fn source_map_points_validation_paths_at_lines() {
    let objects = load::from_str(PA, "pa.yaml").expect("loads");
    let map = SourceMap::new(PA);
    assert_eq!(
        map.line(
            &objects[0].origin,
            &FieldPath::parse("spec.portLevelMtls.8080.mode")
        ),
        Some(14)
    );
    // Absent fields point at their nearest ancestor.
    assert_eq!(
        map.line(&objects[0].origin, &FieldPath::parse("spec.mtls.missing")),
        Some(10)
    );
}

#[test]
fn round_trip_is_identity() {
    let objects = load::from_str(PA, "pa.yaml").expect("loads");
    let json = serde_json::to_string(&objects[0].object).expect("serializes");
    let again = load::from_str(&json, "again.json").expect("reloads");
    assert_eq!(again[0].object, objects[0].object);
}

#[test]
fn anchors_and_merge_keys_expand() {
    let text = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: &m {name: a, namespace: b}
spec:
  mtls: &strict {mode: STRICT}
  portLevelMtls:
    80: *strict
    81:
      <<: *strict
";
    let objects = load::from_str(text, "anchors.yaml").expect("loads");
    let Object::PeerAuthentication(pa) = &objects[0].object else {
        panic!()
    };
    let ports = pa
        .spec
        .port_level_mtls
        .as_ref()
        .expect("port-level settings");
    assert_eq!(ports.len(), 2);
    assert!(ports.values().all(|m| m.mode == MutualTlsMode::Strict));
}
