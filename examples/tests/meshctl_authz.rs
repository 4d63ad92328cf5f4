//! `meshctl authz check`: the policies that apply to a workload, by action, with their rule
//! counts, as the proxy enforces them.

use std::process::Command;

const CONFIG: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: api-0, namespace: prod, labels: {app: api}}
status: {podIP: 10.244.3.3}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: readers, namespace: prod}
spec:
  selector: {matchLabels: {app: api}}
  rules:
  - to: [{operation: {methods: [GET]}}]
  - from: [{source: {namespaces: [ops]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-admin, namespace: prod}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-audit, namespace: istio-system}
spec:
  action: AUDIT
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: trial
  namespace: prod
  annotations: {istio.io/dry-run: "true"}
spec:
  action: DENY
  rules: [{from: [{source: {notNamespaces: [prod]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: other-workload, namespace: prod}
spec:
  selector: {matchLabels: {app: other}}
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: elsewhere, namespace: staging}
spec:
  rules: [{}]
"#;

#[test]
fn lists_the_policies_that_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("authz.yaml"), CONFIG).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(["authz", "check", "--config"])
        .arg(dir.path())
        .args(["--pod", "api-0.prod"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["ACTION", "AuthorizationPolicy", "RULES"],
            vec!["ALLOW", "readers.prod", "2"],
            vec!["AUDIT", "mesh-audit.istio-system", "1"],
            vec!["DENY", "no-admin.prod", "1"],
            vec!["DENY", "(dry-run)", "trial.prod", "1"],
        ],
        "{text}"
    );
}

/// CUSTOM policies appear with their provider once the mesh configuration names it, and
/// are reported as denying (with a warning) when it does not.
#[test]
fn custom_policies_with_and_without_their_provider() {
    let inputs =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mesh-core/tests/golden/inputs");
    let run = |mesh: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshctl"));
        cmd.args(["authz", "check", "--config"])
            .arg(inputs.join("ext-authz.yaml"))
            .args(["--pod", "httpbin-0.foo"]);
        if let Some(m) = mesh {
            cmd.arg("--mesh-config").arg(inputs.join(m));
        }
        let out = cmd.output().expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let rows = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect()
    };
    let (text, warnings) = run(Some("ext-authz-mesh.yaml"));
    assert_eq!(
        rows(&text),
        [
            vec!["ACTION", "AuthorizationPolicy", "RULES"],
            vec!["CUSTOM", "(http-authz)", "ext-authz-admin.foo", "1"],
            vec!["DENY", "deny-delete.foo", "1"],
        ],
        "{text}"
    );
    assert!(warnings.is_empty(), "{warnings}");
    let (text, warnings) = run(None);
    assert_eq!(
        rows(&text)[1],
        [
            "CUSTOM",
            "(http-authz",
            "unusable:",
            "denies)",
            "ext-authz-admin.foo",
            "1"
        ],
        "{text}"
    );
    assert!(warnings.contains("http-authz"), "{warnings}");
}
