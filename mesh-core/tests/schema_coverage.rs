//! Every field of every modelled Istio kind, as the CRD schema in istio/istio declares it, is a
//! field of our types at the same place: for each property path of the schema we load an object
//! setting only that path, and the loader must neither report it unknown nor fail to decode it.

mod support;

use mesh_core::api::Kind;
use mesh_core::load::{LoadOptions, Loader};
use serde_json::{Map, Value, json};

/// A value of the schema's type, small and acceptable to every typed field.
fn sample(schema: &Value) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return json!(1);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => json!("1s"),
        Some("integer") | Some("number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        _ => json!({}),
    }
}

/// Every property path below `schema`, each as the minimal JSON setting it.
fn paths(
    schema: &Value,
    prefix: &str,
    out: &mut Vec<(String, Value)>,
    wrap: &dyn Fn(Value) -> Value,
) {
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object");
    match ty {
        "object" => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, sub) in props {
                    let path = format!("{prefix}.{name}");
                    let name = name.clone();
                    let inner = move |v: Value| {
                        let mut m = Map::new();
                        m.insert(name.clone(), v);
                        Value::Object(m)
                    };
                    let wrapped = |v: Value| wrap(inner(v));
                    out.push((path.clone(), wrapped(sample(sub))));
                    paths(sub, &path, out, &wrapped);
                }
            } else if let Some(values) =
                schema.get("additionalProperties").filter(|v| v.is_object())
            {
                // Keys are numbers in some maps (portLevelMtls); "80" reads as both.
                let path = format!("{prefix}[80]");
                let wrapped = |v: Value| wrap(json!({ "80": v }));
                out.push((path.clone(), wrapped(sample(values))));
                paths(values, &path, out, &wrapped);
            }
        }
        "array" => {
            if let Some(items) = schema.get("items") {
                let path = format!("{prefix}[0]");
                let wrapped = |v: Value| wrap(json!([v]));
                out.push((path.clone(), wrapped(sample(items))));
                paths(items, &path, out, &wrapped);
            }
        }
        _ => {}
    }
}

#[test]
fn every_crd_field_is_modelled() {
    let crds = support::corpus_files()
        .into_iter()
        .find(|f| {
            f.rel
                .ends_with("manifests/charts/base/files/crd-all.gen.yaml")
        })
        .expect("crd-all.gen.yaml in the corpus");
    let docs = Loader::new(LoadOptions::strict()).load_str(&crds.text, &crds.rel);
    assert!(docs.errors.is_empty(), "{:?}", docs.errors);
    let loader = Loader::new(LoadOptions::lenient());
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut kinds_seen = Vec::new();
    for doc in docs.objects {
        let crd = serde_json::to_value(&doc.object).expect("serializes");
        let group = crd["spec"]["group"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind_name = crd["spec"]["names"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let versions = crd["spec"]["versions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // The newest served version: every version shares one schema in Istio.
        let Some(version) = versions
            .iter()
            .find(|v| v["name"] == "v1")
            .or_else(|| versions.first())
        else {
            continue;
        };
        let api_version = format!("{group}/{}", version["name"].as_str().unwrap_or_default());
        let Ok(Some(kind)) = Kind::from_type(&api_version, &kind_name) else {
            continue;
        };
        kinds_seen.push(kind);
        let spec_schema = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let mut all = Vec::new();
        paths(spec_schema, "spec", &mut all, &|v| v);
        for (path, spec) in all {
            checked += 1;
            let obj = json!({"apiVersion": api_version, "kind": kind_name, "metadata": {"name": "x"}, "spec": spec});
            let out = loader.load_str(&obj.to_string(), &path);
            if let Some(e) = out.errors.first() {
                failures.push(format!("{kind_name} {path}: does not decode: {e}"));
            } else if let Some(unknown) = out.objects.first().and_then(|o| o.unknown_fields.first())
            {
                failures.push(format!(
                    "{kind_name} {path}: not modelled ({unknown} unknown)"
                ));
            }
        }
    }
    let istio_kinds = Kind::ALL.iter().filter(|k| k.is_istio()).count();
    assert_eq!(
        kinds_seen.len(),
        istio_kinds,
        "CRDs found for {kinds_seen:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} schema paths fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 1000, "only {checked} schema paths");
}
