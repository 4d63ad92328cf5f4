//! `meshctl analyze` end to end: istioctl's lines and exit code 79 on errors, JSON output, the
//! analyzer list.

use std::process::Command;

fn bookinfo(rel: &str) -> String {
    let root = std::env::var("MESH_ISTIO_CORPUS")
        .unwrap_or_else(|_| format!("{}/../../shared/istio-corpus", env!("CARGO_MANIFEST_DIR")));
    format!("{root}/istio/samples/bookinfo/{rel}")
}

fn meshctl(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn errors_exit_79_with_istioctl_lines() {
    let app = bookinfo("platform/kube/bookinfo.yaml");
    let vs = bookinfo("networking/virtual-service-all-v1.yaml");
    let (code, out) = meshctl(&["analyze", "-f", &app, "-f", &vs]);
    assert_eq!(code, 79, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[3].starts_with("Error [IST0101] (VirtualService default/reviews "),
        "{out}"
    );
    assert!(
        lines[3].contains("virtual-service-all-v1.yaml:"),
        "file and line: {out}"
    );
    assert!(
        lines[3].ends_with(r#"Referenced host+subset in destinationrule not found: "reviews+v1""#),
        "{out}"
    );
    // With the DestinationRules: clean.
    let drs = bookinfo("networking/destination-rule-all.yaml");
    let (code, out) = meshctl(&["analyze", "-f", &app, "-f", &vs, "-f", &drs]);
    assert_eq!((code, out.as_str()), (0, ""));
    // JSON.
    let (code, out) = meshctl(&["analyze", "-f", &app, "-f", &vs, "-o", "json"]);
    assert_eq!(code, 79);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["messages"][0]["code"], "IST0101");
    assert_eq!(v["messages"][0]["level"], "Error");
    assert!(
        v["messages"][0]["origin"]
            .as_str()
            .is_some_and(|o| o.contains(".yaml:"))
    );
}

#[test]
fn lists_analyzers() {
    let (code, out) = meshctl(&["analyze", "--list-analyzers"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("virtualservice.DestinationHostAnalyzer\tIST0101"),
        "{out}"
    );
    assert!(out.contains("IST0109") && out.contains("IST0118") && out.contains("IST0106"));
}
