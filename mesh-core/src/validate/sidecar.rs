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
        if let Some((hns, svc)) = h.split_once('/') {
            if !hns.starts_with('~') {
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
