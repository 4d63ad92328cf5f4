//! `meshctl validate` end to end: files, directories, stdin, text and JSON output, exit codes.

use std::io::Write;
use std::process::{Command, Stdio};

const GOOD: &str = "\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo}
spec:
  mtls: {mode: STRICT}
";

const BAD: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: foo}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: ports
  namespace: foo
spec:
  mtls: {mode: STRICT}
  portLevelMtls:
    8080: {mode: DISABLE}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: typo, namespace: foo}
spec:
  mtls: {mode: STRIKT}
";

fn meshctl(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("meshctl runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("meshctl exits");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn valid_files_exit_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("good.yaml"), GOOD).expect("write");
    let (code, stdout, stderr) = meshctl(
        &["validate", "-f", dir.path().to_str().expect("utf-8")],
        None,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("validated 1 objects in 1 sources: 0 errors"),
        "{stderr}"
    );
}

#[test]
fn errors_are_printed_with_file_document_line_object_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("nested/deeper");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::write(sub.join("bad.yml"), BAD).expect("write");
    std::fs::write(
        dir.path().join("good.json"),
        serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}
        })
        .to_string(),
    )
    .expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not config").expect("write");
    let (code, stdout, _) = meshctl(
        &["validate", "-f", dir.path().to_str().expect("utf-8")],
        None,
    );
    assert_eq!(code, 1);
    let file = sub.join("bad.yml").display().to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{file}:1:12: PeerAuthentication foo/ports: spec.portLevelMtls: mesh/namespace peer authentication cannot have port level mTLS"),
            format!("{file}:2:19: PeerAuthentication foo/typo: spec.mtls.mode: unknown variant `STRIKT`, expected one of `UNSET`, `DISABLE`, `PERMISSIVE`, `STRICT`"),
        ]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        "{stdout}"
    );
}

#[test]
fn stdin_and_json_output() {
    let (code, stdout, _) = meshctl(&["validate", "-f", "-", "-o", "json"], Some(BAD));
    assert_eq!(code, 1);
    let findings: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    let findings = findings.as_array().expect("array");
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[1]["file"], "-");
    assert_eq!(findings[1]["document"], 2);
    assert_eq!(findings[1]["field"], "spec.mtls.mode");
    assert_eq!(findings[1]["severity"], "error");
    assert_eq!(findings[0]["name"], "ports");
    assert_eq!(findings[0]["line"], 12);
}

#[test]
fn lenient_mode_turns_unknown_fields_into_warnings() {
    let input = GOOD.replace("  mtls:", "  extra: true\n  mtls:");
    let (code, stdout, _) = meshctl(&["validate", "-f", "-"], Some(&input));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("spec.extra: unknown field"), "{stdout}");
    let (code, stdout, _) = meshctl(&["validate", "--lenient", "-f", "-"], Some(&input));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("spec.extra: warning: unknown field (ignored)"),
        "{stdout}"
    );
}

#[test]
fn missing_paths_are_usage_errors() {
    let (code, _, stderr) = meshctl(&["validate", "-f", "/nonexistent/mesh-rs"], None);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot read /nonexistent/mesh-rs"),
        "{stderr}"
    );
}
