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
