//! Finding and preparing the Istio corpus for tests.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod envoy;
pub mod jwt;
pub mod ports;

use std::path::{Path, PathBuf};

/// One corpus file: its path relative to the corpus root, and its text (templates rendered).
pub struct CorpusFile {
    pub rel: String,
    pub text: String,
}

/// The corpus root: `$MESH_ISTIO_CORPUS`, or `shared/istio-corpus` beside the repository.
/// Its absence is a failure, never a skip: these tests mean nothing without it.
pub fn corpus_root() -> PathBuf {
    if let Ok(dir) = std::env::var("MESH_ISTIO_CORPUS") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidate = manifest.join("../../shared/istio-corpus");
    assert!(
        candidate.is_dir(),
        "Istio corpus not found at {}; set MESH_ISTIO_CORPUS",
        candidate.display()
    );
    candidate
}

pub fn corpus_files() -> Vec<CorpusFile> {
    let root = corpus_root();
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    assert!(
        out.len() > 400,
        "corpus looks incomplete: {} files",
        out.len()
    );
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<CorpusFile>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable corpus")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            walk(root, &path, out);
            continue;
        }
        let name = path.to_string_lossy().to_string();
        if !(name.ends_with(".yaml") || name.ends_with(".golden") || name.ends_with(".json")) {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        let mut text = std::fs::read_to_string(&path).expect("utf-8 corpus file");
        if rel.contains("xds/testdata/benchmarks/") {
            // One service: some fixtures (knative-gateway) repeat a document without a `---`
            // separator, so istiod's own rendering only makes valid YAML for one.
            text = render_benchmark_template(&text, 1, 3);
        }
        out.push(CorpusFile { rel, text });
    }
}

/// Splits a YAML stream at `---` lines.
pub fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(last) = docs.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    docs
}

/// Removes the top-level `_err:` key of the CRD oracle files, returning its value.
pub fn strip_err_key(doc: &str) -> (Option<String>, String) {
    let mut err = None;
    let mut body = String::new();
    for line in doc.lines() {
        if let Some(v) = line.strip_prefix("_err:") {
            err = Some(v.trim().trim_matches('\'').to_string());
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    (err, body)
}

/// Renders the subset of Go templates istiod's benchmark fixtures use:
/// `{{- range $i := until .Services }}` ... `{{- end }}`, `{{$i}}`, `{{div $i N}}`,
/// `{{mod $i N}}`, `{{mod $j $.Services}}`, with `.Services` and `.Instances` given.
pub fn render_benchmark_template(text: &str, services: usize, instances: usize) -> String {
    let mut vars: Vec<(String, usize)> = Vec::new();
    render(text, services, instances, &mut vars)
}

fn render(
    text: &str,
    services: usize,
    instances: usize,
    vars: &mut Vec<(String, usize)>,
) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let mut before = &rest[..start];
        let end = rest[start..]
            .find("}}")
            .map(|e| start + e)
            .expect("closed action");
        let action = rest[start + 2..end].trim();
        let trim_left = action.starts_with('-');
        let action = action.trim_start_matches('-').trim();
        if trim_left {
            before = before.trim_end();
        }
        out.push_str(before);
        rest = &rest[end + 2..];
        if let Some(range) = action.strip_prefix("range ") {
            // `$i := until .Services`
            let (var, expr) = range.split_once(":=").expect("range assignment");
            let count = match expr.trim() {
                "until .Services" => services,
                "until .Instances" => instances,
                other => panic!("unsupported range {other}"),
            };
            let body_end = find_matching_end(rest);
            let body = &rest[..body_end.0];
            for i in 0..count {
                vars.push((var.trim().to_string(), i));
                out.push_str(&render(body, services, instances, vars));
                vars.pop();
            }
            rest = &rest[body_end.1..];
        } else {
            let value = eval(action, services, vars);
            out.push_str(&value.to_string());
        }
    }
    out.push_str(rest);
    out
}

/// Finds the `{{- end }}` closing the current range: (body end, after the action).
fn find_matching_end(text: &str) -> (usize, usize) {
    let mut depth = 0;
    let mut pos = 0;
    while let Some(s) = text[pos..].find("{{") {
        let start = pos + s;
        let end = start + text[start..].find("}}").expect("closed action");
        let action = text[start + 2..end].trim().trim_start_matches('-').trim();
        if action.starts_with("range ") {
            depth += 1;
        } else if action == "end" {
            if depth == 0 {
                let body_end = if text[start + 2..].trim_start().starts_with('-') {
                    text[..start].trim_end().len()
                } else {
                    start
                };
                return (body_end, end + 2);
            }
            depth -= 1;
        }
        pos = end + 2;
    }
    panic!("range without end")
}

fn eval(action: &str, services: usize, vars: &[(String, usize)]) -> usize {
    let operand = |s: &str| -> usize {
        match s {
            "$.Services" | ".Services" => services,
            v if v.starts_with('$') => vars
                .iter()
                .rev()
                .find(|(n, _)| n == v)
                .map(|(_, x)| *x)
                .expect("bound variable"),
            n => n.parse().expect("number"),
        }
    };
    let parts: Vec<&str> = action.split_whitespace().collect();
    match parts.as_slice() {
        [v] => operand(v),
        ["div", a, b] => operand(a) / operand(b),
        ["mod", a, b] => operand(a) % operand(b),
        other => panic!("unsupported template action {other:?}"),
    }
}

/// The AuthorizationPolicies of a YAML text (other kinds are skipped).
pub fn policies(yaml: &str) -> Vec<mesh_core::api::AuthorizationPolicy> {
    mesh_core::load::from_str(yaml, "policies.yaml")
        .expect("policies load")
        .into_iter()
        .filter_map(|l| match l.object {
            mesh_core::api::Object::AuthorizationPolicy(p) => Some(p),
            _ => None,
        })
        .collect()
}
