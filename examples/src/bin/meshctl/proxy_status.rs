//! `meshctl proxy-status --admin ADDR`: the `istioctl proxy-status` table, from a control
//! plane's `/debug/syncz`.

use std::io::{Read, Write};

use anyhow::{Context, Result, bail};

/// Arguments of `meshctl proxy-status`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The control plane's admin address (`control-plane --admin`).
    #[arg(long, default_value = "127.0.0.1:15014")]
    admin: String,
    /// `short` (the table) or `json` (what `/debug/syncz` says).
    #[arg(short = 'o', long = "output", default_value = "short", value_parser = ["short", "json"])]
    output: String,
}

/// GET over plain HTTP/1.1; the body.
fn get(addr: &str, path: &str) -> Result<String> {
    let mut s =
        std::net::TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("{addr}{path}: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_string())
}

/// Runs the command.
pub fn run(args: &Args) -> Result<std::process::ExitCode> {
    let body = get(&args.admin, "/debug/syncz")?;
    let proxies: serde_json::Value = serde_json::from_str(&body)
        .with_context(|| format!("{}/debug/syncz is not JSON", args.admin))?;
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&proxies)?);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    print!("{}", table(&proxies, &args.admin));
    Ok(std::process::ExitCode::SUCCESS)
}

/// `NAME CLUSTER CDS LDS EDS RDS ISTIOD VERSION`, one row per connected proxy, sorted by name.
pub fn table(proxies: &serde_json::Value, control_plane: &str) -> String {
    let mut rows: Vec<Vec<String>> = proxies
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let id = p["proxy"].as_str().unwrap_or_default();
            // `type~ip~pod.ns~domain`: istioctl shows `pod.ns`.
            let name = id.split('~').nth(2).unwrap_or(id).to_string();
            let mut row = vec![name, "Kubernetes".to_string()];
            for t in ["CDS", "LDS", "EDS", "RDS"] {
                let status = p["types"][t]["status"].as_str().unwrap_or("NOT SENT");
                let nack = p["types"][t]["last_nack"]["message"].as_str();
                row.push(match (status, nack) {
                    ("STALE", Some(_)) => "STALE (NACK)".to_string(),
                    (s, _) => s.to_string(),
                });
            }
            row.push(control_plane.to_string());
            row.push(env!("CARGO_PKG_VERSION").to_string());
            row
        })
        .collect();
    rows.sort();
    let mut all = vec![
        [
            "NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ISTIOD", "VERSION",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    all.extend(rows);
    crate::proxy_config::tabulate(&all, 3)
}
