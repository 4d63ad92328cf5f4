//! WorkloadEntry and WorkloadGroup: Istio's `ValidateWorkloadEntry` / `validateWorkloadEntry`,
//! `ValidateWorkloadGroup` / `validateReadinessProbe`, plus the CRD schemas' CEL rules and
//! limits. The entry checks are shared with ServiceEntry endpoints.

use std::collections::{BTreeMap, BTreeSet};

use super::Ctx;
use super::common::{self, max_length, max_properties};
use crate::api::networking::{HealthCheckMethod, ReadinessProbe, WorkloadEntrySpec};
use crate::api::{WorkloadEntry, WorkloadGroup};

/// The prefix of Unix domain socket addresses.
pub(super) const UNIX_PREFIX: &str = "unix://";

pub(super) fn validate_entry(obj: &WorkloadEntry, cx: &mut Ctx) {
    cx.field("spec", |cx| {
        entry(cx, &obj.spec, None, true);
        entry_schema(cx, &obj.spec, false);
    });
}

pub(super) fn validate_group(obj: &WorkloadGroup, cx: &mut Ctx) {
    let spec = &obj.spec;
    cx.field("spec", |cx| {
        match &spec.template {
            None => cx.error_at("template", "template is required"),
            Some(t) => cx.field("template", |cx| {
                // Istio does not run the entry checks on the template (its address is filled
                // in per VM); the CRD schema's rules still apply, except "Address is required".
                entry_schema(cx, t, true);
            }),
        }
        if let Some(meta) = &spec.metadata {
            cx.field("metadata", |cx| {
                cx.field("labels", |cx| {
                    if let Err(e) = labels(&meta.labels) {
                        cx.error(format!("invalid labels: {e}"));
                    }
                    max_properties(cx, meta.labels.len(), 256);
                });
                cx.field("annotations", |cx| {
                    max_properties(cx, meta.annotations.len(), 256)
                });
            });
        }
        if let Some(p) = &spec.probe {
            cx.field("probe", |cx| readiness_probe(cx, p));
        }
    });
}

/// `validateReadinessProbe`.
fn readiness_probe(cx: &mut Ctx, p: &ReadinessProbe) {
    for (field, v) in [
        ("periodSeconds", p.period_seconds),
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        if v < 0 {
            cx.error_at(field, format!("{field} must be non-negative"));
        }
    }
    match &p.health_check_method {
        Some(HealthCheckMethod::HttpGet(h)) => cx.field("httpGet", |cx| {
            cx.check_at("port", probe_port(h.port));
            if !h.scheme.is_empty() && h.scheme != "HTTPS" && h.scheme != "HTTP" {
                cx.error_at("scheme", "httpGet.scheme must be one of \"HTTPS\", \"HTTP\"");
            }
            cx.each("httpHeaders", &h.http_headers, |cx, header| {
                // Stricter than the CRD's pattern (`^[-_A-Za-z0-9]+$`), so it covers it.
                cx.check_at("name", common::probe_header_name(&header.name));
            });
        }),
        Some(HealthCheckMethod::TcpSocket(t)) => {
            cx.field("tcpSocket", |cx| cx.check_at("port", probe_port(t.port)))
        }
        Some(HealthCheckMethod::Exec(e)) => cx.field("exec", |cx| {
            if e.command.is_empty() {
                cx.error("exec.command is required");
            }
            cx.each("command", &e.command, |cx, c| {
                if c.is_empty() {
                    cx.error("should be at least 1 chars long");
                }
            });
        }),
        Some(HealthCheckMethod::Grpc(g)) => cx.field("grpc", |cx| {
            if g.port > 65535 {
                cx.error_at("port", "port must be between 1-65535");
            }
            // istiod's webhook knows only httpGet, tcpSocket and exec.
            cx.error("unknown health check method grpc: istiod supports httpGet, tcpSocket and exec probes");
        }),
        None => cx.error(
            "unknown health check method <nil>: one of httpGet, tcpSocket, exec must be set",
        ),
    }
}

/// `agent.ValidatePort` with the CRD's wording folded in.
fn probe_port(port: u32) -> common::Rule {
    common::port(i64::from(port))
}

/// `validateWorkloadEntry`: the entry's address (IP, FQDN when `allow_fqdn`, or Unix socket),
/// its ports (named after the service's ports when `service_ports` is given) and labels.
pub(super) fn entry(
    cx: &mut Ctx,
    we: &WorkloadEntrySpec,
    service_ports: Option<&BTreeSet<&str>>,
    allow_fqdn: bool,
) {
    let addr = we.address.as_str();
    if addr.is_empty() {
        if we.network.is_empty() {
            cx.error_at("address", "address is required");
            return;
        }
        cx.warn_at(
            "address",
            format!("address is unset with network {:?}", we.network),
        );
    }
    let mut unix = false;
    if let Some(path) = addr.strip_prefix(UNIX_PREFIX) {
        unix = true;
        cx.check_at("address", unix_address(path));
        if !we.ports.is_empty() {
            cx.error_at(
                "ports",
                format!("unix endpoint {addr} must not include ports"),
            );
        }
    } else if !addr.is_empty() && !common::is_ip(addr) {
        if !allow_fqdn {
            cx.error_at(
                "address",
                format!("endpoint address {addr:?} is not a valid IP address"),
            );
        } else if common::fqdn(addr).is_err() {
            cx.error_at(
                "address",
                format!("endpoint address {addr:?} is not a valid FQDN or an IP address"),
            );
        }
    }
    entry_ports(cx, &we.ports, service_ports);
    cx.check_at("labels", labels(&we.labels));
    if unix && service_ports.is_some_and(|p| p.len() != 1) {
        cx.error("exactly 1 service port required for unix endpoints");
    }
}

/// The ports of an entry: names known to the service, valid names, valid numbers.
pub(super) fn entry_ports(
    cx: &mut Ctx,
    ports: &BTreeMap<String, u32>,
    service_ports: Option<&BTreeSet<&str>>,
) {
    cx.field("ports", |cx| {
        for (name, port) in ports {
            cx.key(name, |cx| {
                if service_ports.is_some_and(|s| !s.contains(name.as_str())) {
                    cx.error(format!(
                        "endpoint port {port} is not defined by the service entry"
                    ));
                }
                cx.check(common::port_name(name));
                cx.check(common::port(i64::from(*port)));
            });
        }
    });
}

/// The CRD schema's rules on a WorkloadEntry (also ServiceEntry endpoints and WorkloadGroup
/// templates). The rules Istio's own checks already cover with their own message (Unix socket
/// shape, port ranges and names) are only reported here for templates (`template`), which
/// Istio does not check; `Address is required` does not apply to templates.
pub(super) fn entry_schema(cx: &mut Ctx, we: &WorkloadEntrySpec, template: bool) {
    let addr = we.address.as_str();
    cx.field("address", |cx| {
        max_length(cx, addr, 256);
        if template && let Some(path) = addr.strip_prefix(UNIX_PREFIX) {
            if !path.starts_with('/') && !path.starts_with('@') {
                cx.error("UDS must be an absolute path or abstract socket");
            }
            if addr.ends_with('/') {
                cx.error("UDS may not be a dir");
            }
        }
    });
    if template && addr.starts_with(UNIX_PREFIX) && !we.ports.is_empty() {
        cx.error("UDS may not include ports");
    }
    cx.field("labels", |cx| max_properties(cx, we.labels.len(), 256));
    cx.field("locality", |cx| max_length(cx, &we.locality, 2048));
    cx.field("network", |cx| max_length(cx, &we.network, 2048));
    cx.field("serviceAccount", |cx| {
        max_length(cx, &we.service_account, 253)
    });
    cx.field("ports", |cx| {
        max_properties(cx, we.ports.len(), 128);
        if template {
            if we.ports.keys().any(|k| !crd_port_name(k)) {
                cx.error("port name must be valid");
            }
            for (k, p) in &we.ports {
                if !(1..=65535).contains(p) {
                    cx.error_at(k, "port must be between 1-65535");
                }
            }
        }
    });
}

/// The CRD's rule on entry port names: `^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$`, under 63.
fn crd_port_name(k: &str) -> bool {
    k.len() < 63 && common::is_dns1123_label(k)
}

/// `ValidateUnixAddress`: an absolute file path, or an abstract socket (`@name`).
pub(super) fn unix_address(addr: &str) -> common::Rule {
    if addr.is_empty() {
        return Err("unix address must not be empty".into());
    }
    if addr.starts_with('@') {
        return Ok(());
    }
    if !addr.starts_with('/') || addr.ends_with('/') {
        return Err(format!("{addr} is not an absolute path to a file"));
    }
    Ok(())
}

/// `labels.Instance.Validate`: Kubernetes-style label keys and values.
pub(super) fn labels(labels: &BTreeMap<String, String>) -> common::Rule {
    let mut errs = Vec::new();
    for (k, v) in labels {
        if let Err(e) = tag_key(k) {
            errs.push(e);
        }
        if !(v.is_empty() || common::is_qualified_name(v)) {
            errs.push(format!("invalid tag value: {v:?}"));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

fn tag_key(k: &str) -> common::Rule {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        if p.is_empty() || !p.split('.').all(common::is_dns1123_label) {
            return Err(format!("invalid tag key: {k:?}"));
        }
        if p.len() > 253 {
            return Err(format!("invalid tag key: {k:?} (DNS prefix is too long)"));
        }
    }
    if !common::is_qualified_name(name) {
        return Err(format!("invalid tag key: {k:?}"));
    }
    if name.len() > 63 {
        return Err(format!("invalid tag key: {k:?} (name is too long)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::expect;

    fn we(spec: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {{name: foo, namespace: bar}}\nspec:\n{spec}"
        )
    }

    fn wg(spec: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: WorkloadGroup\nmetadata: {{name: foo, namespace: bar}}\nspec:\n{spec}"
        )
    }

    /// (name, spec, expected error, expect a warning)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, bool);

    fn run(cases: &[Case<'_>], wrap: impl Fn(&str) -> String) {
        for (name, spec, err, warn) in cases {
            let report = expect(name, &wrap(spec), *err);
            assert_eq!(
                !report.warnings.is_empty(),
                *warn,
                "case {name:?}: warnings: {:?}",
                report.warnings
            );
        }
    }

    #[test]
    fn istio_workload_entry_cases() {
        let cases: &[Case<'_>] = &[
            ("valid", "  address: 1.2.3.4", None, false),
            (
                "missing address",
                "  {}",
                Some("address is required"),
                false,
            ),
            (
                "missing address with network",
                "  network: network-2",
                None,
                true,
            ),
            (
                "valid unix endpoint",
                "  address: 'unix:///lon/google/com'",
                None,
                false,
            ),
            (
                "invalid unix endpoint",
                "  address: 'unix:///lon/google/com'\n  ports: {'7777': 7777}",
                Some("unix endpoint unix:///lon/google/com must not include ports"),
                false,
            ),
            (
                "valid FQDN",
                "  address: validdns.com\n  ports: {'7777': 7777}",
                None,
                false,
            ),
            (
                "invalid FQDN",
                "  address: 'invaliddns.com:9443'\n  ports: {'7777': 7777}",
                Some(
                    "endpoint address \"invaliddns.com:9443\" is not a valid FQDN or an IP address",
                ),
                false,
            ),
            (
                "valid IP",
                "  address: 172.16.1.1\n  ports: {'7777': 7777}",
                None,
                false,
            ),
            // Further branches and the CRD's rules.
            ("valid IPv6", "  address: '2001:db8::1'", None, false),
            (
                "abstract unix socket",
                "  address: 'unix://@foo'",
                None,
                false,
            ),
            (
                "unix directory",
                "  address: 'unix:///dir/'",
                Some("/dir/ is not an absolute path to a file"),
                false,
            ),
            (
                "relative unix socket",
                "  address: 'unix://relative'",
                Some("relative is not an absolute path to a file"),
                false,
            ),
            (
                "empty unix socket",
                "  address: 'unix://'",
                Some("unix address must not be empty"),
                false,
            ),
            (
                "port too high",
                "  address: 1.1.1.1\n  ports: {http: 99999}",
                Some("port number 99999 must be in the range 1..65535"),
                false,
            ),
            (
                "port zero",
                "  address: 1.1.1.1\n  ports: {http: 0}",
                Some("port number 0 must be in the range 1..65535"),
                false,
            ),
            (
                "bad port name",
                "  address: 1.1.1.1\n  ports: {'@': 80}",
                Some("invalid port name: @"),
                false,
            ),
            (
                "upper-case port name",
                "  address: 1.1.1.1\n  ports: {HTTP: 80}",
                None,
                false,
            ),
            (
                "bad label key",
                "  address: 1.1.1.1\n  labels: {'-x': y}",
                Some("invalid tag key: \"-x\""),
                false,
            ),
            (
                "bad label value",
                "  address: 1.1.1.1\n  labels: {x: 'a b'}",
                Some("invalid tag value: \"a b\""),
                false,
            ),
            (
                "prefixed label key",
                "  address: 1.1.1.1\n  labels: {app.kubernetes.io/name: x, security.istio.io/tlsMode: istio}",
                None,
                false,
            ),
            (
                "full",
                "  address: 1.2.3.4\n  serviceAccount: sa\n  network: net\n  labels: {app: app}\n  ports: {http: 1}\n  weight: 2\n  locality: foo/bar/baz",
                None,
                false,
            ),
        ];
        run(cases, we);
        let long = format!("  address: 1.1.1.1\n  serviceAccount: {}", "a".repeat(254));
        expect("service account too long", &we(&long), Some("Too long"));
    }

    #[test]
    fn istio_workload_group_cases() {
        let cases: &[Case<'_>] = &[
            ("valid", "  template: {}", None, false),
            (
                "invalid",
                "  template: {}\n  metadata: {labels: {'.': '~'}}",
                Some("invalid labels"),
                false,
            ),
            (
                "probe missing method",
                "  template: {}\n  probe: {}",
                Some("unknown health check method"),
                false,
            ),
            (
                "probe nil",
                "  template: {}\n  probe: {httpGet: {}}",
                Some("port number 0 must be in the range 1..65535"),
                false,
            ),
            (
                "probe http empty",
                "  template: {}\n  probe:\n    httpGet: {path: /}",
                Some("port number 0 must be in the range"),
                false,
            ),
            (
                "probe http valid",
                "  template: {}\n  probe: {httpGet: {port: 5}}",
                None,
                false,
            ),
            (
                "probe tcp invalid",
                "  template: {}\n  probe: {tcpSocket: {}}",
                Some("port number 0 must be in the range"),
                false,
            ),
            (
                "probe tcp valid",
                "  template: {}\n  probe: {tcpSocket: {port: 5}}",
                None,
                false,
            ),
            (
                "probe exec invalid",
                "  template: {}\n  probe: {exec: {}}",
                Some("exec.command is required"),
                false,
            ),
            (
                "probe exec valid",
                "  template: {}\n  probe: {exec: {command: [foo, bar]}}",
                None,
                false,
            ),
            // validateReadinessProbe's other branches and the CRD's rules.
            (
                "missing template",
                "  probe: {tcpSocket: {port: 5}}",
                Some("template is required"),
                false,
            ),
            (
                "negative period",
                "  template: {}\n  probe: {periodSeconds: -1, tcpSocket: {port: 5}}",
                Some("periodSeconds must be non-negative"),
                false,
            ),
            (
                "negative initial delay",
                "  template: {}\n  probe: {initialDelaySeconds: -1, tcpSocket: {port: 5}}",
                Some("initialDelaySeconds must be non-negative"),
                false,
            ),
            (
                "negative timeout",
                "  template: {}\n  probe: {timeoutSeconds: -1, tcpSocket: {port: 5}}",
                Some("timeoutSeconds must be non-negative"),
                false,
            ),
            (
                "negative success threshold",
                "  template: {}\n  probe: {successThreshold: -1, tcpSocket: {port: 5}}",
                Some("successThreshold must be non-negative"),
                false,
            ),
            (
                "negative failure threshold",
                "  template: {}\n  probe: {failureThreshold: -1, tcpSocket: {port: 5}}",
                Some("failureThreshold must be non-negative"),
                false,
            ),
            (
                "bad scheme",
                "  template: {}\n  probe: {httpGet: {port: 80, scheme: FTP}}",
                Some("httpGet.scheme must be one of \"HTTPS\", \"HTTP\""),
                false,
            ),
            (
                "https scheme",
                "  template: {}\n  probe: {httpGet: {port: 80, scheme: HTTPS}}",
                None,
                false,
            ),
            (
                "bad header name",
                "  template: {}\n  probe: {httpGet: {port: 80, httpHeaders: [{name: '**'}]}}",
                Some("header name ** is not a valid header name"),
                false,
            ),
            (
                "empty header name",
                "  template: {}\n  probe: {httpGet: {port: 80, httpHeaders: [{value: x}]}}",
                Some("header name cannot be empty"),
                false,
            ),
            (
                "good header",
                "  template: {}\n  probe: {httpGet: {port: 80, httpHeaders: [{name: X-Foo, value: bar}]}}",
                None,
                false,
            ),
            (
                "tcp port too high",
                "  template: {}\n  probe: {tcpSocket: {port: 65536}}",
                Some("port number 65536 must be in the range"),
                false,
            ),
            (
                "grpc probe",
                "  template: {}\n  probe: {grpc: {port: 50051}}",
                Some("unknown health check method grpc"),
                false,
            ),
            (
                "empty exec command",
                "  template: {}\n  probe: {exec: {command: ['']}}",
                Some("at least 1 chars"),
                false,
            ),
            (
                "template uds ports",
                "  template: {address: 'unix:///sock', ports: {http: 80}}",
                Some("UDS may not include ports"),
                false,
            ),
            (
                "template uds relative",
                "  template: {address: 'unix://sock'}",
                Some("UDS must be an absolute path or abstract socket"),
                false,
            ),
            (
                "template uds dir",
                "  template: {address: 'unix:///sock/'}",
                Some("UDS may not be a dir"),
                false,
            ),
            (
                "template port out of range",
                "  template: {ports: {http: 70000}}",
                Some("port must be between 1-65535"),
                false,
            ),
            (
                "template bad port name",
                "  template: {ports: {'a_b': 80}}",
                Some("port name must be valid"),
                false,
            ),
            (
                "template without address",
                "  template: {serviceAccount: sa, network: net}",
                None,
                false,
            ),
        ];
        run(cases, wg);
    }

    #[test]
    fn paths() {
        let r = expect(
            "we paths",
            &we("  address: 1.1.1.1\n  ports: {http: 0}"),
            Some("port number 0"),
        );
        assert_eq!(r.errors[0].path.to_string(), "spec.ports.http");
        let r = expect("network only", &we("  network: n"), None);
        assert_eq!(r.warnings[0].path.to_string(), "spec.address");
        let r = expect(
            "wg paths",
            &wg(
                "  template: {}\n  probe: {httpGet: {port: 80, httpHeaders: [{name: a}, {name: 'b c'}]}}",
            ),
            Some("not a valid header name"),
        );
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.probe.httpGet.httpHeaders[1].name"
        );
    }
}
