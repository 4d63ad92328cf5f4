//! Sidecar: istiod's `ValidateSidecar` (ingress and egress listeners, binds, capture modes,
//! egress hosts, default endpoints, outbound traffic policy, workload selector, ingress TLS),
//! plus the CRD schema's rules on the workload selector.

use std::collections::{BTreeMap, BTreeSet};

use super::gateway::{UNIX_ADDRESS_PREFIX, is_http, is_tls, server_tls, unix_address};
use super::{Ctx, common, destination_rule};
use crate::api::Sidecar;
use crate::api::networking::{
    CaptureMode, IstioEgressListener, IstioIngressListener, OutboundTrafficPolicy,
    OutboundTrafficPolicyMode, ServerTlsMode, SidecarPort,
};

pub(super) fn validate(obj: &Sidecar, cx: &mut Ctx) {
    let spec = &obj.spec;
    let ns = if obj.metadata.namespace.is_empty() {
        "default"
    } else {
        obj.metadata.namespace.as_str()
    };
    cx.field("spec", |cx| {
        if let Some(sel) = &spec.workload_selector {
            cx.field("workloadSelector", |cx| {
                if sel.labels.is_empty() {
                    cx.warn("sidecar: workload selector specified without labels, will be applied to all services in namespace");
                }
                cx.field("labels", |cx| {
                    if sel.labels.len() > 256 {
                        cx.error("must have at most 256 items");
                    }
                    common::selector_labels(cx, &sel.labels);
                });
            });
        }
        if spec.egress.is_empty()
            && spec.ingress.is_empty()
            && spec.outbound_traffic_policy.is_none()
            && spec.inbound_connection_pool.is_none()
        {
            cx.error("sidecar: empty configuration provided");
            return;
        }

        let mut ports = BTreeSet::new();
        cx.each("ingress", &spec.ingress, |cx, i| ingress(cx, i, &mut ports));

        if let Some(cp) = &spec.inbound_connection_pool {
            cx.field("inboundConnectionPool", |cx| {
                destination_rule::connection_pool(cx, cp)
            });
        }

        let mut ports = BTreeSet::new();
        let mut uds = BTreeSet::new();
        let mut catch_all = false;
        let last = spec.egress.len().saturating_sub(1);
        cx.field("egress", |cx| {
            for (index, e) in spec.egress.iter().enumerate() {
                cx.index(index, |cx| {
                    match &e.port {
                        None => {
                            if catch_all {
                                cx.error("sidecar: egress can have only one listener with empty port");
                                return;
                            }
                            if index == last {
                                catch_all = true;
                            } else {
                                cx.error("sidecar: the egress listener with empty port should be the last listener in the list");
                            }
                        }
                        Some(p) => {
                            if p.target_port > 0 {
                                cx.field("port", |cx| {
                                    cx.error_at("targetPort", "targetPort has no impact on Sidecars")
                                });
                            }
                            egress_port_bind_capture(cx, p, &e.bind, e.capture_mode);
                            if p.number == 0 {
                                if !uds.insert(e.bind.as_str()) {
                                    cx.error_at("bind", "sidecar: unix domain socket values for listeners must be unique");
                                }
                            } else if !ports.insert(p.number) {
                                cx.field("port", |cx| {
                                    cx.error_at("number", "sidecar: ports on IP bound listeners must be unique")
                                });
                            }
                        }
                    }
                    egress_hosts(cx, ns, e);
                });
            }
        });

        if let Some(otp) = &spec.outbound_traffic_policy {
            cx.field("outboundTrafficPolicy", |cx| outbound_traffic_policy(cx, otp));
        }
    });
}

fn ingress(cx: &mut Ctx, i: &IstioIngressListener, ports: &mut BTreeSet<u32>) {
    let Some(port) = &i.port else {
        cx.error_at("port", "sidecar: port is required for ingress listeners");
        return;
    };
    if port.target_port > 0 {
        cx.field("port", |cx| {
            cx.error_at("targetPort", "targetPort has no impact on Sidecars")
        });
    }
    cx.field("port", |cx| {
        if !port.name.is_empty() {
            cx.check_at("name", common::port_name(&port.name));
        }
        cx.check_at("protocol", common::protocol(&port.protocol));
        cx.check_at("number", common::port(i64::from(port.number)));
    });
    if !i.bind.is_empty() {
        cx.check_at("bind", common::ip_address(&i.bind));
    }
    if !ports.insert(port.number) {
        cx.field("port", |cx| {
            cx.error_at(
                "number",
                "sidecar: ports on IP bound listeners must be unique",
            )
        });
    }
    if !i.default_endpoint.is_empty() {
        cx.field("defaultEndpoint", |cx| {
            default_endpoint(cx, &i.default_endpoint)
        });
    }
    if let Some(tls) = &i.tls {
        cx.field("tls", |cx| {
            if !tls.subject_alt_names.is_empty() {
                cx.error_at(
                    "subjectAltNames",
                    "sidecar: subjectAltNames is not supported in ingress tls",
                );
            }
            if tls.https_redirect {
                cx.error_at("httpsRedirect", "sidecar: httpsRedirect is not supported");
            }
            if !tls.credential_name.is_empty() {
                cx.error_at(
                    "credentialName",
                    "sidecar: credentialName is not currently supported",
                );
            }
            if !tls.credential_names.is_empty() {
                cx.error_at(
                    "credentialNames",
                    "sidecar: credentialNames is not currently supported",
                );
            }
            if !tls.tls_certificates.is_empty() {
                cx.error_at(
                    "tlsCertificates",
                    "sidecar: tls_certificates is not currently supported",
                );
            }
            if matches!(
                tls.mode,
                ServerTlsMode::IstioMutual | ServerTlsMode::AutoPassthrough
            ) {
                cx.error_at(
                    "mode",
                    format!(
                        "configuration is invalid: cannot set mode to {} in sidecar ingress tls",
                        tls.mode
                    ),
                );
            }
            if !is_tls(&port.protocol) {
                cx.error("server cannot have TLS settings for non HTTPS/TLS ports");
            }
            server_tls(cx, tls);
        });
    }
    if let Some(cp) = &i.connection_pool {
        cx.field("connectionPool", |cx| {
            destination_rule::connection_pool(cx, cp);
            if cp.http.is_some() && !is_http(&port.protocol) {
                cx.warn_at("http", format!(
                    "sidecar: HTTP connection pool settings are configured for port {} ({:?}) but its protocol is not HTTP ({}); only TCP settings will apply",
                    port.number, port.name, port.protocol
                ));
            }
        });
    }
}

/// The `defaultEndpoint` rules: `127.0.0.1:port`, `0.0.0.0:port`, `[::1]:port`, `[::]:port`,
/// `:port` or `unix://path`.
fn default_endpoint(cx: &mut Ctx, ep: &str) {
    if let Some(path) = ep.strip_prefix(UNIX_ADDRESS_PREFIX) {
        cx.check(unix_address(path));
        return;
    }
    let (host, port) = match split_host_port(ep) {
        Ok(hp) => hp,
        Err(e) => {
            cx.error(e);
            (String::new(), String::new())
        }
    };
    if !host.is_empty() && !matches!(host.as_str(), "127.0.0.1" | "0.0.0.0" | "::1" | "::") {
        cx.error("sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset");
    }
    match port.parse::<i64>() {
        Ok(n) => cx.check(common::port(n)),
        Err(_) => cx.error(format!(
            "sidecar: defaultEndpoint port ({port}) is not a number"
        )),
    }
}

/// Go's `net.SplitHostPort`.
fn split_host_port(addr: &str) -> Result<(String, String), String> {
    if let Some(rest) = addr.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(format!("address {addr}: missing ']' in address"));
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err(format!("address {addr}: missing port in address"));
        };
        return Ok((host.to_string(), port.to_string()));
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!("address {addr}: missing port in address"));
    };
    if host.contains(':') {
        return Err(format!("address {addr}: too many colons in address"));
    }
    Ok((host.to_string(), port.to_string()))
}

/// `validateSidecarEgressPortBindAndCaptureMode`.
fn egress_port_bind_capture(cx: &mut Ctx, port: &SidecarPort, bind: &str, mode: CaptureMode) {
    cx.field("port", |cx| {
        if !port.name.is_empty() {
            cx.check_at("name", common::port_name(&port.name));
        }
        cx.check_at("protocol", common::protocol(&port.protocol));
    });
    if port.number == 0 {
        match bind.strip_prefix(UNIX_ADDRESS_PREFIX) {
            None => cx.error_at(
                "bind",
                "sidecar: ports with 0 value must have a unix domain socket bind address",
            ),
            Some(path) => cx.check_at("bind", unix_address(path)),
        }
        if !matches!(mode, CaptureMode::Default | CaptureMode::None) {
            cx.error_at(
                "captureMode",
                "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners",
            );
        }
    } else {
        cx.field("port", |cx| {
            cx.check_at("number", common::port(i64::from(port.number)))
        });
        if !bind.is_empty() {
            cx.check_at("bind", common::ip_address(bind));
        }
    }
}

/// Egress hosts: `namespace/dnsName`, with warnings on duplicates.
fn egress_hosts(cx: &mut Ctx, ns: &str, e: &IstioEgressListener) {
    if e.hosts.is_empty() {
        cx.error_at(
            "hosts",
            "sidecar: egress listener must contain at least one host",
        );
        return;
    }
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    cx.each("hosts", &e.hosts, |cx, h| {
        if let Some((hns, svc)) = h.split_once('/')
            && !hns.starts_with('~')
        {
            let key = if hns == "." { ns } else { hns };
            let svcs = seen.entry(key.to_string()).or_default();
            let dup = if svc != "*" {
                svcs.contains(svc) || svcs.contains("*")
            } else {
                !svcs.is_empty()
            };
            if dup {
                cx.warn(format!("duplicated egress host: {h}"));
            }
            svcs.insert(svc.to_string());
        }
        for err in common::namespace_slash_wildcard_hostname(h, false, false) {
            cx.error(err);
        }
    });
    if seen.get("*").is_some_and(|s| s.contains("*")) && seen.len() != 1 {
        cx.warn_at(
            "hosts",
            "`*/*` host select all resources, no other hosts can be added",
        );
    }
}

/// `validateSidecarOutboundTrafficPolicy`.
fn outbound_traffic_policy(cx: &mut Ctx, tp: &OutboundTrafficPolicy) {
    let Some(proxy) = &tp.egress_proxy else {
        return;
    };
    if tp.mode != OutboundTrafficPolicyMode::AllowAny {
        cx.error_at(
            "egressProxy",
            "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
        );
        return;
    }
    cx.field("egressProxy", |cx| {
        cx.check_at("host", common::fqdn(&proxy.host));
        let Some(port) = &proxy.port else {
            cx.error_at("port", "sidecar: egress_proxy port must be non-nil");
            return;
        };
        // validateDestination.
        if proxy.host == "*" {
            cx.error_at("host", format!("invalid destination host {}", proxy.host));
        } else {
            cx.check_at("host", common::wildcard_domain(&proxy.host));
        }
        if !proxy.subset.is_empty() {
            cx.check_at("subset", destination_rule::subset_name(&proxy.subset));
        }
        cx.field("port", |cx| {
            cx.check_at("number", common::port(i64::from(port.number)))
        });
    });
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::{check, expect};

    fn sc_ns(ns: &str, spec: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: default, namespace: {ns}}}\nspec: {spec}\n"
        )
    }

    fn sc(spec: &str) -> String {
        sc_ns("default", spec)
    }

    /// One ingress listener plus a catch-all egress.
    fn ing(listener: &str) -> String {
        sc(&format!(
            "{{ingress: [{listener}], egress: [{{hosts: ['*/*']}}]}}"
        ))
    }

    /// Egress listeners only.
    fn eg(listeners: &str) -> String {
        sc(&format!("{{egress: {listeners}}}"))
    }

    /// Outbound traffic policy with a catch-all egress.
    fn otp(policy: &str) -> String {
        sc(&format!(
            "{{outboundTrafficPolicy: {policy}, egress: [{{hosts: ['*/*']}}]}}"
        ))
    }

    const TLS_PORT: &str = "port: {number: 8443, protocol: HTTPS, name: https}";

    fn run(rows: &[(&str, String, Option<&str>)]) {
        for (name, yaml, want) in rows {
            expect(name, yaml, *want);
        }
    }

    #[test]
    fn sidecar() {
        let rows = [
            (
                "empty ingress and egress",
                sc("{}"),
                Some("sidecar: empty configuration provided"),
            ),
            ("default", eg("[{hosts: ['*/*']}]"), None),
            (
                "workload selector without labels",
                sc("{workloadSelector: {}, egress: [{hosts: ['*/*']}]}"),
                None,
            ),
            (
                "workload selector wildcard",
                sc("{workloadSelector: {labels: {app: 'a*'}}, egress: [{hosts: ['*/*']}]}"),
                Some("wildcard is not supported in selector"),
            ),
            (
                "workload selector empty key",
                sc("{workloadSelector: {labels: {'': a}}, egress: [{hosts: ['*/*']}]}"),
                Some("empty key is not supported in selector"),
            ),
            (
                "import local namespace with wildcard",
                eg("[{hosts: ['./*']}]"),
                None,
            ),
            (
                "import local namespace with fqdn",
                eg("[{hosts: [./foo.com]}]"),
                None,
            ),
            ("import nothing", eg("[{hosts: ['~/*']}]"), None),
            (
                "import all except a namespace",
                eg("[{hosts: ['*/*', '~ns1/*']}]"),
                None,
            ),
            (
                "import all except an exact host",
                eg("[{hosts: ['*/*', '~/foo.com']}]"),
                None,
            ),
            (
                "exclude with invalid namespace",
                eg("[{hosts: ['*/*', '~Invalid_NS/*']}]"),
                Some("invalid namespace value \"~Invalid_NS\" in sidecar"),
            ),
            (
                "bad egress host 1",
                eg("[{hosts: ['*']}]"),
                Some("host must be of form namespace/dnsName"),
            ),
            (
                "bad egress host 2",
                eg("[{hosts: ['/']}]"),
                Some("config namespace and dnsName in host entry cannot be empty"),
            ),
            (
                "empty egress host",
                eg("[{port: {number: 90, protocol: http, name: foo}}]"),
                Some("sidecar: egress listener must contain at least one host"),
            ),
            (
                "short egress host",
                eg("[{hosts: [ns1/foo]}]"),
                Some("short names (non FQDN) are not allowed"),
            ),
            (
                "multiple wildcard egress",
                eg("[{hosts: ['*/foo.com']}, {hosts: [ns1/bar.com]}]"),
                Some(
                    "sidecar: the egress listener with empty port should be the last listener in the list",
                ),
            ),
            (
                "wildcard egress not in end",
                eg(
                    "[{hosts: ['*/foo.com']}, {port: {number: 8080, protocol: http, name: h8080}, hosts: [ns1/bar.com]}]",
                ),
                Some(
                    "sidecar: the egress listener with empty port should be the last listener in the list",
                ),
            ),
            (
                "invalid Port",
                eg("[{port: {number: 90, protocol: http1, name: foo}, hosts: [ns1/bar.com]}]"),
                Some("unsupported protocol: http1"),
            ),
            (
                "invalid port name",
                eg("[{port: {number: 90, protocol: http, name: Foo_Bar}, hosts: [ns1/bar.com]}]"),
                Some("invalid port name: Foo_Bar"),
            ),
            (
                "Port without name",
                eg("[{port: {number: 90, protocol: http}, hosts: [ns1/bar.com]}]"),
                None,
            ),
            (
                "UDS bind in outbound",
                eg(
                    "[{port: {number: 0, protocol: http, name: uds}, bind: 'unix:///@foo/bar/com', hosts: [ns1/bar.com]}]",
                ),
                None,
            ),
            (
                "UDS bind in inbound",
                ing(
                    "{port: {number: 0, protocol: http, name: uds}, bind: 'unix:///@foo/bar/com', defaultEndpoint: '127.0.0.1:9999'}",
                ),
                Some("port number 0 must be in the range 1..65535"),
            ),
            (
                "UDS bind in outbound 2",
                eg(
                    "[{port: {number: 0, protocol: http, name: uds}, bind: 'unix:///foo/bar/com', hosts: [ns1/bar.com]}]",
                ),
                None,
            ),
            (
                "UDS without bind",
                eg("[{port: {number: 0, protocol: http, name: uds}, hosts: [ns1/bar.com]}]"),
                Some("sidecar: ports with 0 value must have a unix domain socket bind address"),
            ),
            (
                "invalid bind",
                eg(
                    "[{port: {number: 0, protocol: http, name: uds}, bind: 'foobar:///@foo/bar/com', hosts: [ns1/bar.com]}]",
                ),
                Some("must have a unix domain socket bind address"),
            ),
            (
                "invalid ip bind",
                eg(
                    "[{port: {number: 80, protocol: http, name: h}, bind: foo.bar, hosts: [ns1/bar.com]}]",
                ),
                Some("foo.bar is not a valid IP"),
            ),
            (
                "invalid capture mode with uds bind",
                eg(
                    "[{port: {number: 0, protocol: http, name: uds}, bind: 'unix:///@foo/bar/com', captureMode: IPTABLES, hosts: [ns1/bar.com]}]",
                ),
                Some("sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners"),
            ),
            (
                "none capture mode with uds bind",
                eg(
                    "[{port: {number: 0, protocol: http, name: uds}, bind: 'unix:///@foo/bar/com', captureMode: NONE, hosts: [ns1/bar.com]}]",
                ),
                None,
            ),
            (
                "duplicate UDS bind",
                eg(
                    "[{port: {number: 0, protocol: http, name: uds}, bind: 'unix:///@foo/bar/com', hosts: [ns1/bar.com]}, {port: {number: 0, protocol: http, name: uds2}, bind: 'unix:///@foo/bar/com', hosts: [ns2/bar.com]}]",
                ),
                Some("sidecar: unix domain socket values for listeners must be unique"),
            ),
            (
                "duplicate ports",
                eg(
                    "[{port: {number: 90, protocol: http, name: foo}, bind: 127.0.0.1, hosts: [ns1/bar.com]}, {port: {number: 90, protocol: tcp, name: tcp}, bind: 127.0.0.1, hosts: [ns2/bar.com]}]",
                ),
                Some("sidecar: ports on IP bound listeners must be unique"),
            ),
            (
                "egress target port",
                eg(
                    "[{port: {number: 90, protocol: http, name: foo, targetPort: 91}, hosts: [ns1/bar.com]}]",
                ),
                Some("targetPort has no impact on Sidecars"),
            ),
            (
                "ingress without port",
                ing("{defaultEndpoint: '127.0.0.1:110'}"),
                Some("sidecar: port is required for ingress listeners"),
            ),
            (
                "ingress without port and with IPv6 endpoint",
                ing("{defaultEndpoint: '[::1]:110'}"),
                Some("sidecar: port is required for ingress listeners"),
            ),
            (
                "ingress with duplicate ports",
                sc(
                    "{ingress: [{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '127.0.0.1:110'}, {port: {number: 90, protocol: tcp, name: bar}, defaultEndpoint: '127.0.0.1:110'}], egress: [{hosts: ['*/*']}]}",
                ),
                Some("sidecar: ports on IP bound listeners must be unique"),
            ),
            (
                "ingress with duplicate ports and IPv6 endpoint",
                sc(
                    "{ingress: [{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '[::1]:110'}, {port: {number: 90, protocol: tcp, name: bar}, defaultEndpoint: '[::1]:110'}], egress: [{hosts: ['*/*']}]}",
                ),
                Some("must be unique"),
            ),
            (
                "ingress without default endpoint",
                ing("{port: {number: 90, protocol: http, name: foo}}"),
                None,
            ),
            (
                "ingress with invalid default endpoint in IPv4",
                ing(
                    "{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '1.1.1.1:90'}",
                ),
                Some("sidecar: defaultEndpoint must be of form 127.0.0.1:<port>"),
            ),
            (
                "ingress with invalid default endpoint in IPv6",
                ing(
                    "{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '[1:1:1:1:1:1:1:1]:90'}",
                ),
                Some("sidecar: defaultEndpoint must be of form"),
            ),
            (
                "ingress with invalid default endpoint uds",
                ing("{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: 'unix:///'}"),
                Some("/ is not an absolute path to a file"),
            ),
            (
                "ingress with invalid default endpoint port in IPv4",
                ing(
                    "{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '127.0.0.1:hi'}",
                ),
                Some("sidecar: defaultEndpoint port (hi) is not a number"),
            ),
            (
                "ingress with invalid default endpoint port in IPv6",
                ing("{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '[::1]:hi'}"),
                Some("is not a number"),
            ),
            (
                "ingress default endpoint port out of range",
                ing(
                    "{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '127.0.0.1:70000'}",
                ),
                Some("port number 70000 must be in the range 1..65535"),
            ),
            (
                "ingress default endpoint without port",
                ing(
                    "{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '127.0.0.1'}",
                ),
                Some("missing port in address"),
            ),
            (
                "ingress default endpoint bare port",
                ing("{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: ':8080'}"),
                None,
            ),
            (
                "ingress default endpoint uds",
                ing(
                    "{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: 'unix:///var/run/app.sock'}",
                ),
                None,
            ),
            (
                "valid ingress and egress in IPv4",
                sc(
                    "{ingress: [{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '127.0.0.1:9999'}], egress: [{hosts: ['*/*']}]}",
                ),
                None,
            ),
            (
                "valid ingress and egress in IPv6",
                sc(
                    "{ingress: [{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '[::1]:9999'}], egress: [{hosts: ['*/*']}]}",
                ),
                None,
            ),
            (
                "valid ingress and empty egress in IPv4",
                sc(
                    "{ingress: [{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '0.0.0.0:9999'}]}",
                ),
                None,
            ),
            (
                "valid ingress and empty egress in IPv6",
                sc(
                    "{ingress: [{port: {number: 90, protocol: http, name: foo}, defaultEndpoint: '[::]:9999'}]}",
                ),
                None,
            ),
            (
                "ingress bad bind",
                ing("{port: {number: 90, protocol: http, name: foo}, bind: 'not-an-ip'}"),
                Some("not-an-ip is not a valid IP"),
            ),
            (
                "ingress target port",
                ing("{port: {number: 90, protocol: http, name: foo, targetPort: 80}}"),
                Some("targetPort has no impact on Sidecars"),
            ),
            (
                "just outbound traffic policy",
                sc("{outboundTrafficPolicy: {mode: ALLOW_ANY}}"),
                None,
            ),
            (
                "empty protocol in IPv4",
                ing("{port: {number: 90, name: foo}, defaultEndpoint: '127.0.0.1:9999'}"),
                None,
            ),
            (
                "ALLOW_ANY sidecar egress policy with no egress proxy",
                otp("{mode: ALLOW_ANY}"),
                None,
            ),
            (
                "sidecar egress proxy with REGISTRY_ONLY (default)",
                otp("{egressProxy: {host: foo.bar, subset: shiny, port: {number: 5000}}}"),
                Some(
                    "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
                ),
            ),
            (
                "sidecar egress proxy with ALLOW_ANY",
                otp(
                    "{mode: ALLOW_ANY, egressProxy: {host: foo.bar, subset: shiny, port: {number: 5000}}}",
                ),
                None,
            ),
            (
                "sidecar egress proxy with ALLOW_ANY, service hostname invalid fqdn",
                otp(
                    "{mode: ALLOW_ANY, egressProxy: {host: 'foobar*123', subset: shiny, port: {number: 5000}}}",
                ),
                Some("domain name \"foobar*123\" invalid"),
            ),
            (
                "sidecar egress proxy(without Port) with ALLOW_ANY",
                otp("{mode: ALLOW_ANY, egressProxy: {host: foo.bar, subset: shiny}}"),
                Some("sidecar: egress_proxy port must be non-nil"),
            ),
            (
                "sidecar egress proxy bad subset",
                otp(
                    "{mode: ALLOW_ANY, egressProxy: {host: foo.bar, subset: Shiny_1, port: {number: 5000}}}",
                ),
                Some("subset name is invalid: Shiny_1"),
            ),
            (
                "sidecar egress proxy bad port",
                otp("{mode: ALLOW_ANY, egressProxy: {host: foo.bar, port: {number: 0}}}"),
                Some("port number 0 must be in the range 1..65535"),
            ),
            (
                "sidecar egress proxy star host",
                otp("{mode: ALLOW_ANY, egressProxy: {host: '*', port: {number: 80}}}"),
                Some("invalid destination host *"),
            ),
            (
                "sidecar egress only one wildcarded",
                eg("[{hosts: ['*/*', test/a.com]}]"),
                None,
            ),
            (
                "sidecar egress wildcarded ns",
                eg("[{hosts: ['*/b.com', test/a.com]}]"),
                None,
            ),
            (
                "sidecar egress duplicated with wildcarded same namespace",
                eg("[{hosts: ['test/*', test/a.com]}]"),
                None,
            ),
            (
                "invalid partial wildcard",
                eg("[{hosts: ['test/*a.com']}]"),
                Some("partial wildcard \"*a.com\" not allowed"),
            ),
            (
                "sidecar egress duplicated with wildcarded same namespace .",
                sc_ns("bar", "{egress: [{hosts: ['./*', bar/a.com]}]}"),
                None,
            ),
            (
                "ingress tls mode set to ISTIO_MUTUAL",
                ing(&format!("{{{TLS_PORT}, tls: {{mode: ISTIO_MUTUAL}}}}")),
                Some(
                    "configuration is invalid: cannot set mode to ISTIO_MUTUAL in sidecar ingress tls",
                ),
            ),
            (
                "ingress tls mode set to AUTO_PASSTHROUGH",
                ing(&format!("{{{TLS_PORT}, tls: {{mode: AUTO_PASSTHROUGH}}}}")),
                Some("cannot set mode to AUTO_PASSTHROUGH in sidecar ingress tls"),
            ),
            (
                "ingress tls invalid protocol",
                ing(
                    "{port: {number: 8080, protocol: HTTP, name: http}, tls: {mode: SIMPLE, privateKey: /k, serverCertificate: /c}}",
                ),
                Some("server cannot have TLS settings for non HTTPS/TLS ports"),
            ),
            (
                "ingress tls httpRedirect is not supported",
                ing(&format!(
                    "{{{TLS_PORT}, tls: {{mode: SIMPLE, privateKey: /k, serverCertificate: /c, httpsRedirect: true}}}}"
                )),
                Some("sidecar: httpsRedirect is not supported"),
            ),
            (
                "ingress tls SAN entries are not supported",
                ing(&format!(
                    "{{{TLS_PORT}, tls: {{mode: SIMPLE, privateKey: /k, serverCertificate: /c, subjectAltNames: [httpbin.com]}}}}"
                )),
                Some("sidecar: subjectAltNames is not supported in ingress tls"),
            ),
            (
                "ingress tls credentialName is not supported",
                ing(&format!(
                    "{{{TLS_PORT}, tls: {{mode: SIMPLE, credentialName: secret-name}}}}"
                )),
                Some("sidecar: credentialName is not currently supported"),
            ),
            (
                "ingress tls credentialNames is not supported",
                ing(&format!(
                    "{{{TLS_PORT}, tls: {{mode: SIMPLE, credentialNames: [secret-name]}}}}"
                )),
                Some("sidecar: credentialNames is not currently supported"),
            ),
            (
                "ingress tls tlsCertificates is not supported",
                ing(&format!(
                    "{{{TLS_PORT}, tls: {{mode: SIMPLE, tlsCertificates: [{{serverCertificate: /c, privateKey: /k}}]}}}}"
                )),
                Some("sidecar: tls_certificates is not currently supported"),
            ),
            (
                "ingress tls simple missing key",
                ing(&format!(
                    "{{{TLS_PORT}, tls: {{mode: SIMPLE, serverCertificate: /c}}}}"
                )),
                Some("SIMPLE TLS requires a private key"),
            ),
            (
                "ingress tls valid",
                ing(&format!(
                    "{{{TLS_PORT}, tls: {{mode: SIMPLE, privateKey: /k, serverCertificate: /c}}}}"
                )),
                None,
            ),
            (
                "valid inbound connection pool",
                sc(
                    "{inboundConnectionPool: {http: {http1MaxPendingRequests: 1024, http2MaxRequests: 1024, maxRequestsPerConnection: 1024, maxRetries: 1024}}}",
                ),
                None,
            ),
            (
                "valid port-level connection pool with top level default",
                sc(
                    "{inboundConnectionPool: {http: {http1MaxPendingRequests: 1024}}, ingress: [{port: {number: 8080, protocol: HTTP, name: http}, connectionPool: {http: {http1MaxPendingRequests: 1024}}}]}",
                ),
                None,
            ),
            (
                "valid port-level connection pool without a top level default",
                sc(
                    "{ingress: [{port: {number: 8080, protocol: HTTP, name: http}, connectionPool: {tcp: {maxConnections: 100}}}]}",
                ),
                None,
            ),
            (
                "warn http connection settings on tcp port",
                sc(
                    "{ingress: [{port: {number: 8080, protocol: TCP, name: tcp}, connectionPool: {http: {http1MaxPendingRequests: 10}, tcp: {maxConnections: 100}}}]}",
                ),
                None,
            ),
            (
                "invalid top level connection pool",
                sc("{inboundConnectionPool: {}}"),
                Some("connection pool must have at least one field"),
            ),
            (
                "invalid port-level connection pool",
                sc(
                    "{ingress: [{port: {number: 8080, protocol: HTTP, name: http}, connectionPool: {}}]}",
                ),
                Some("connection pool must have at least one field"),
            ),
            (
                "invalid port-level connection pool value",
                sc(
                    "{ingress: [{port: {number: 8080, protocol: HTTP, name: http}, connectionPool: {tcp: {maxConnections: -1}}}]}",
                ),
                Some("max connections must be non-negative"),
            ),
        ];
        run(&rows);
    }

    #[test]
    fn sidecar_warnings() {
        let r = check(&sc("{workloadSelector: {}, egress: [{hosts: ['*/*']}]}"));
        assert!(
            r.is_ok() && r.has_warning("workload selector specified without labels"),
            "{r}"
        );
        let r = check(&eg("[{hosts: ['*/*', test/a.com]}]"));
        assert!(
            r.is_ok()
                && r.has_warning("`*/*` host select all resources, no other hosts can be added"),
            "{r}"
        );
        let r = check(&eg("[{hosts: ['*/b.com', test/a.com]}]"));
        assert!(r.is_ok() && r.warnings.is_empty(), "{r}");
        let r = check(&eg("[{hosts: ['test/*', test/a.com]}]"));
        assert!(
            r.is_ok() && r.has_warning("duplicated egress host: test/a.com"),
            "{r}"
        );
        let r = check(&sc_ns("bar", "{egress: [{hosts: ['./*', bar/a.com]}]}"));
        assert!(
            r.is_ok() && r.has_warning("duplicated egress host: bar/a.com"),
            "{r}"
        );
        let r = check(&eg("[{hosts: [test/a.com, 'test/*']}]"));
        assert!(r.has_warning("duplicated egress host: test/*"), "{r}");
        let r = check(&sc(
            "{ingress: [{port: {number: 8080, protocol: TCP, name: tcp}, connectionPool: {http: {http1MaxPendingRequests: 10}}}]}",
        ));
        assert!(
            r.is_ok()
                && r.has_warning("HTTP connection pool settings are configured for port 8080"),
            "{r}"
        );
    }

    #[test]
    fn finding_paths() {
        let r = check(&eg("[{hosts: [ns1/bar.com, '*']}]"));
        assert_eq!(r.errors[0].path.to_string(), "spec.egress[0].hosts[1]");
        let r = check(&otp("{mode: ALLOW_ANY, egressProxy: {host: foo.bar}}"));
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.outboundTrafficPolicy.egressProxy.port"
        );
    }

    #[test]
    fn dynamic_dns_mode_is_rejected_at_load() {
        let r = crate::load::from_str(
            &sc("{outboundTrafficPolicy: {mode: ALLOW_ANY_DYNAMIC_DNS}}"),
            "x.yaml",
        );
        assert!(r.is_err());
    }
}
