//! Compiles the Envoy API protos that `envoy-types` ships into a file descriptor set, so that
//! `mesh_core::dump` can print Envoy resources as proto3 JSON (what Envoy's admin
//! `/config_dump` shows) with `prost-reflect`.
//!
//! The protos are found through `cargo metadata`, which knows where the `envoy-types` package
//! in use lives (registry, vendor directory or path), so the descriptors always match the
//! generated types.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let proto_root = envoy_types_proto_dir();
    println!("cargo:rerun-if-changed=build.rs");

    let includes: Vec<PathBuf> = [
        "data-plane-api",
        "xds",
        "googleapis",
        "protoc-gen-validate",
        "cel-spec",
        "opentelemetry-proto",
        "client_model",
        "ratelimit",
    ]
    .iter()
    .map(|d| proto_root.join(d))
    .filter(|d| d.is_dir())
    .collect();

    // Every Envoy API file: the descriptor pool then knows every type an `Any` may carry.
    let mut files = Vec::new();
    collect_protos(
        &proto_root.join("data-plane-api/envoy"),
        &proto_root.join("data-plane-api"),
        &mut files,
    );
    // The config validators' package `envoy.extensions.config` would capture the relative
    // name `config.core.v3` in every other extension; nothing here needs them.
    files.retain(|f| !f.starts_with("envoy/extensions/config/"));
    files.sort();

    let mut compiler = protox::Compiler::new(&includes).unwrap_or_else(|e| panic!("protox: {e}"));
    compiler.include_imports(true).include_source_info(false);
    // envoy-types ships a subset of Envoy's API: files importing what it left out are skipped.
    // The files the translation emits must all be there.
    let mut compiled = std::collections::BTreeSet::new();
    for f in &files {
        match compiler.open_file(f) {
            Ok(_) => {
                compiled.insert(f.as_str());
            }
            Err(e) if REQUIRED.contains(&f.as_str()) => panic!("compiling {f}: {e}"),
            Err(_) => {}
        }
    }
    for required in REQUIRED {
        assert!(compiled.contains(required), "envoy-types lacks {required}");
    }
    let bytes = compiler.encode_file_descriptor_set();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo"))
        .join("envoy_descriptors.bin");
    std::fs::write(&out, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// The Envoy API files whose types mesh-rs emits or dumps.
const REQUIRED: &[&str] = &[
    "envoy/admin/v3/config_dump.proto",
    "envoy/config/bootstrap/v3/bootstrap.proto",
    "envoy/config/cluster/v3/cluster.proto",
    "envoy/config/endpoint/v3/endpoint.proto",
    "envoy/config/listener/v3/listener.proto",
    "envoy/config/route/v3/route.proto",
    "envoy/extensions/filters/http/router/v3/router.proto",
    "envoy/extensions/filters/http/rbac/v3/rbac.proto",
    "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
    "envoy/extensions/filters/http/fault/v3/fault.proto",
    "envoy/extensions/filters/http/cors/v3/cors.proto",
    "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
    "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
    "envoy/extensions/filters/network/rbac/v3/rbac.proto",
    "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
    "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
    "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
    "envoy/extensions/transport_sockets/tls/v3/tls.proto",
    "envoy/service/discovery/v3/discovery.proto",
];

fn collect_protos(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_protos(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "proto")
            && let Ok(rel) = p.strip_prefix(root)
        {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The `proto/` directory of the `envoy-types` package this build uses.
fn envoy_types_proto_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR is set by cargo");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(std::env::var("TARGET").expect("TARGET is set by cargo"))
        .arg("--manifest-path")
        .arg(Path::new(&manifest).join("Cargo.toml"))
        .output()
        .unwrap_or_else(|e| panic!("running cargo metadata: {e}"));
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let envoy = packages
        .iter()
        .find(|p| p["name"] == "envoy-types")
        .expect("envoy-types among the dependencies");
    let manifest_path = PathBuf::from(envoy["manifest_path"].as_str().expect("manifest_path"));
    let dir = manifest_path.parent().expect("package dir").join("proto");
    println!("cargo:rerun-if-changed={}", dir.display());
    dir
}
