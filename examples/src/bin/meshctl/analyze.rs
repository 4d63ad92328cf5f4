//! `meshctl analyze`: `istioctl analyze` on files, without a cluster.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use mesh_core::analyze::{ANALYZERS, Level, Message, analyze};
use mesh_core::load::{LoadOptions, Loader};
use mesh_core::model::{MeshOptions, ObjectKey, Store};

use crate::validate::collect;

/// Arguments of `meshctl analyze`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files or directories of manifests (searched recursively).
    #[arg(short = 'f', long = "filename", num_args = 1.., required_unless_present = "list_analyzers")]
    files: Vec<String>,
    /// `text` (istioctl's lines) or `json`.
    #[arg(short = 'o', long = "output", default_value = "text", value_parser = ["text", "json"])]
    output: String,
    /// Print the analyzers and the codes they report, then exit.
    #[arg(long)]
    list_analyzers: bool,
}

/// Runs the command: exit code 79 (istioctl's) when an error-level message was found, 0
/// otherwise.
pub fn run(args: &Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if args.list_analyzers {
        for a in ANALYZERS {
            writeln!(out, "{}\t{}\t{}", a.name, a.codes.join(","), a.description)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let loader = Loader::new(LoadOptions::strict());
    let mut store = Store::new(MeshOptions::default());
    let mut origins: BTreeMap<ObjectKey, String> = BTreeMap::new();
    let mut load_errors = Vec::new();
    for f in &args.files {
        for path in collect(Path::new(f))? {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let loaded = loader.load_str(&text, &path.display().to_string());
            load_errors.extend(loaded.errors.iter().map(ToString::to_string));
            for l in loaded.objects {
                let key = ObjectKey::of(&l.object);
                origins.insert(key, format!("{}:{}", l.origin.source, l.origin.line));
                store.apply(l.object);
            }
        }
    }
    let messages = analyze(&store.snapshot());
    let errors = messages.iter().filter(|m| m.level == Level::Error).count() + load_errors.len();
    if args.output == "json" {
        let list: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let mut v = serde_json::to_value(m).unwrap_or_default();
                v["origin"] = origins.get(&m.key()).cloned().unwrap_or_default().into();
                v
            })
            .collect();
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({"messages": list, "load_errors": load_errors}),
        )?;
        writeln!(out)?;
    } else {
        for e in &load_errors {
            writeln!(out, "Error [IST0106] {e}")?;
        }
        for m in &messages {
            writeln!(out, "{}", line(m, origins.get(&m.key())))?;
        }
        if messages.is_empty() && load_errors.is_empty() {
            eprintln!(
                "\u{2714} No validation issues found when analyzing {}.",
                args.files.join(", ")
            );
        }
    }
    Ok(if errors > 0 {
        ExitCode::from(79)
    } else {
        ExitCode::SUCCESS
    })
}

/// `Error [IST0101] (VirtualService default/reviews vs.yaml:3) Referenced host not found: "x"`.
fn line(m: &Message, origin: Option<&String>) -> String {
    let place = match origin {
        Some(o) => format!("{} {}/{} {o}", m.kind, m.namespace, m.object),
        None => format!("{} {}/{}", m.kind, m.namespace, m.object),
    };
    format!("{} [{}] ({place}) {}", m.level, m.code, m.message)
}
