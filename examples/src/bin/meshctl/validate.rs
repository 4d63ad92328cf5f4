//! `meshctl validate`: load and validate files, print findings with their location.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use mesh_core::api::Kind;
use mesh_core::load::{LoadOptions, Loader, SourceMap};
use mesh_core::validate;
use serde::Serialize;

/// Arguments of `meshctl validate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files or directories (searched recursively for .yaml, .yml and .json); `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    files: Vec<String>,
    /// Output format: `text` (one line per finding) or `json`.
    #[arg(short = 'o', long = "output", default_value = "text", value_parser = ["text", "json"])]
    output: String,
    /// Accept fields the schema does not declare (reported as warnings) instead of rejecting them.
    #[arg(long)]
    lenient: bool,
}

/// One finding, as printed.
#[derive(Debug, Serialize)]
struct Finding {
    file: String,
    document: Option<usize>,
    line: Option<usize>,
    severity: &'static str,
    kind: String,
    namespace: String,
    name: String,
    field: String,
    message: String,
}

impl Finding {
    fn text(&self) -> String {
        let mut s = self.file.clone();
        if let Some(d) = self.document {
            s.push_str(&format!(":{d}"));
        }
        if let Some(l) = self.line {
            s.push_str(&format!(":{l}"));
        }
        s.push_str(": ");
        if !self.kind.is_empty() || !self.name.is_empty() {
            s.push_str(&self.kind);
            s.push(' ');
            if !self.namespace.is_empty() {
                s.push_str(&self.namespace);
                s.push('/');
            }
            s.push_str(&self.name);
            s.push_str(": ");
        }
        if !self.field.is_empty() {
            s.push_str(&self.field);
            s.push_str(": ");
        }
        if self.severity == "warning" {
            s.push_str("warning: ");
        }
        s.push_str(&self.message);
        s
    }
}

/// Runs the command; exit code 1 when any error was found.
pub fn run(args: &Args) -> Result<ExitCode> {
    let loader = Loader::new(if args.lenient {
        LoadOptions::lenient()
    } else {
        LoadOptions::strict()
    });
    let mut findings = Vec::new();
    let mut objects = 0usize;
    let mut inputs = Vec::new();
    for f in &args.files {
        if f == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading stdin")?;
            inputs.push(("-".to_string(), text));
        } else {
            for path in collect(Path::new(f))? {
                let text =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                // Non-UTF-8 content is reported by the loader, with its position.
                inputs.push((
                    path.display().to_string(),
                    String::from_utf8_lossy(&text).into_owned(),
                ));
            }
        }
    }
    for (name, text) in &inputs {
        objects += check_source(&loader, name, text, &mut findings);
    }
    let errors = findings.iter().filter(|f| f.severity == "error").count();
    let warnings = findings.len() - errors;
    let mut out = std::io::stdout().lock();
    if args.output == "json" {
        serde_json::to_writer_pretty(&mut out, &findings)?;
        writeln!(out)?;
    } else {
        for f in &findings {
            writeln!(out, "{}", f.text())?;
        }
    }
    eprintln!(
        "validated {objects} objects in {} sources: {errors} errors, {warnings} warnings",
        inputs.len()
    );
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Loads and validates one source; returns the number of objects loaded.
fn check_source(loader: &Loader, name: &str, text: &str, findings: &mut Vec<Finding>) -> usize {
    let first = findings.len();
    let out = loader.load_str(text, name);
    for e in &out.errors {
        let object = e.object().cloned().unwrap_or_default();
        findings.push(Finding {
            file: name.to_string(),
            document: e.document(),
            line: e.line(),
            severity: "error",
            kind: object.kind,
            namespace: object.namespace,
            name: object.name,
            field: e.path().map(ToString::to_string).unwrap_or_default(),
            message: e.message().to_string(),
        });
    }
    let mut source_map: Option<SourceMap> = None;
    for loaded in &out.objects {
        let meta = loaded.object.metadata();
        let mut report = validate::validate(&loaded.object);
        for path in &loaded.unknown_fields {
            report.warnings.push(validate::Issue {
                path: path.clone(),
                message: "unknown field (ignored)".into(),
            });
        }
        let severities = report
            .errors
            .iter()
            .map(|i| ("error", i))
            .chain(report.warnings.iter().map(|i| ("warning", i)));
        for (severity, issue) in severities {
            let map = source_map.get_or_insert_with(|| SourceMap::new(text));
            findings.push(Finding {
                file: name.to_string(),
                document: Some(loaded.origin.document),
                line: map
                    .line(&loaded.origin, &issue.path)
                    .or(Some(loaded.origin.line)),
                severity,
                kind: loaded.object.kind().map_or_else(
                    || loaded.object.kind_name().to_string(),
                    |k: Kind| k.to_string(),
                ),
                namespace: meta.namespace.clone(),
                name: meta.name.clone(),
                field: issue.path.to_string(),
                message: issue.message.clone(),
            });
        }
    }
    // Report in source order.
    findings[first..].sort_by_key(|f| (f.document, f.line));
    out.objects.len()
}

/// The files under `path`: itself if a file, else every .yaml/.yml/.json below it, sorted.
pub(crate) fn collect(path: &Path) -> Result<Vec<PathBuf>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(collect(&p)?);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(p);
        }
    }
    Ok(out)
}
