//! ServiceEntry: Istio's `ValidateServiceEntry`, plus the CRD schema's CEL rules and limits.

use std::collections::BTreeSet;

use super::Ctx;
use super::common;
use super::workload_entry::{self, max_length, max_properties};
use crate::api::ServiceEntry;
use crate::api::networking::{EntryWorkloadSelector, ServiceEntryLocation, ServiceEntryResolution};

/// Label with which a ServiceEntry opts out of IP auto-allocation.
const AUTOALLOCATE_LABEL: &str = "networking.istio.io/enable-autoallocate-ip";
/// Label that attaches a service to a waypoint.
const USE_WAYPOINT_LABEL: &str = "istio.io/use-waypoint";

pub(super) fn validate(obj: &ServiceEntry, cx: &mut Ctx) {
    let se = &obj.spec;
    let namespace = if obj.metadata.namespace.is_empty() {
        "default"
    } else {
        obj.metadata.namespace.as_str()
    };
    let res = se.resolution;
    let res_name = resolution_name(res);
    cx.field("spec", |cx| {
        alpha_workload_selector(cx, se.workload_selector.as_ref(), "service entry");
        if se.workload_selector.is_some() && !se.endpoints.is_empty() {
            cx.error("only one of WorkloadSelector or Endpoints is allowed in Service Entry");
        }

        // Hosts.
        if se.hosts.is_empty() {
            cx.error_at("hosts", "service entry must have at least one host");
        }
        cx.field("hosts", |cx| max_properties(cx, se.hosts.len(), 256));
        cx.each("hosts", &se.hosts, |cx, host| {
            if host == "*" {
                cx.error(format!("invalid host {host}: hostname cannot be wildcard"));
            } else {
                cx.check(common::wildcard_domain(host));
                // Partial wildcards only work with dynamic DNS; elsewhere they are a warning.
                if res != ServiceEntryResolution::DynamicDns {
                    if let Err(e) = common::partial_wildcard(host) {
                        cx.warn(e);
                    }
                }
            }
        });

        // Addresses.
        let mut cidr_found = false;
        cx.field("addresses", |cx| max_properties(cx, se.addresses.len(), 256));
        cx.each("addresses", &se.addresses, |cx, address| {
            cidr_found |= address.contains('/');
            cx.check(common::ip_subnet(address));
            max_length(cx, address, 64);
        });
        if cidr_found
            && !matches!(
                res,
                ServiceEntryResolution::None | ServiceEntryResolution::Static
            )
        {
            cx.error_at(
                "addresses",
                "CIDR addresses are allowed only for NONE/STATIC resolution types",
            );
        }

        // Ports.
        let auto_allocation = res != ServiceEntryResolution::None
            && !obj
                .metadata
                .labels
                .get(AUTOALLOCATE_LABEL)
                .is_some_and(|v| v.eq_ignore_ascii_case("false"))
            && se.addresses.is_empty();
        let port_names: BTreeSet<&str> = se.ports.iter().map(|p| p.name.as_str()).collect();
        let mut seen_names = BTreeSet::new();
        let mut port_numbers = BTreeSet::new();
        cx.field("ports", |cx| max_properties(cx, se.ports.len(), 256));
        cx.each("ports", &se.ports, |cx, port| {
            if !seen_names.insert(port.name.clone()) {
                cx.error_at(
                    "name",
                    format!("service entry port name {:?} already defined", port.name),
                );
            }
            if !port_numbers.insert(port.number) {
                cx.error_at(
                    "number",
                    format!(
                        "service entry port {} already defined (port number cannot be duplicated)",
                        port.number
                    ),
                );
            }
            if port.target_port != 0 {
                cx.check_at("targetPort", common::port(i64::from(port.target_port)));
            }
            if se.addresses.is_empty()
                && !auto_allocation
                && (port.protocol.is_empty() || port.protocol == "TCP")
            {
                cx.warn("addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled");
            }
            cx.check_at("name", workload_entry::port_name(&port.name));
            cx.check_at("protocol", validate_protocol(&port.protocol));
            cx.check_at("number", common::port(i64::from(port.number)));
            cx.field("name", |cx| max_length(cx, &port.name, 256));
            cx.field("protocol", |cx| max_length(cx, &port.protocol, 256));
        });

        // Endpoints, per resolution.
        cx.field("endpoints", |cx| max_properties(cx, se.endpoints.len(), 4096));
        cx.each("endpoints", &se.endpoints, |cx, ep| {
            workload_entry::entry_schema(cx, ep, false);
        });
        match res {
            ServiceEntryResolution::None => {
                if !se.endpoints.is_empty() {
                    cx.error_at(
                        "endpoints",
                        "no endpoints should be provided for resolution type none (NONE mode cannot set endpoints)",
                    );
                }
                if se.workload_selector.is_some() {
                    cx.warn_at(
                        "workloadSelector",
                        "workloadSelector should not be set when resolution mode is NONE",
                    );
                }
            }
            ServiceEntryResolution::Static => {
                cx.each("endpoints", &se.endpoints, |cx, ep| {
                    workload_entry::entry(cx, ep, Some(&port_names), false);
                });
            }
            ServiceEntryResolution::Dns | ServiceEntryResolution::DnsRoundRobin => {
                if se.endpoints.is_empty() {
                    if let Some((i, err)) = se
                        .hosts
                        .iter()
                        .enumerate()
                        .find_map(|(i, h)| common::fqdn(h).err().map(|e| (i, e)))
                    {
                        cx.field("hosts", |cx| {
                            cx.index(i, |cx| {
                                cx.error(format!(
                                    "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode {res_name}, {err}"
                                ))
                            })
                        });
                    }
                }
                if res == ServiceEntryResolution::DnsRoundRobin && se.endpoints.len() > 1 {
                    cx.error_at(
                        "endpoints",
                        format!(
                            "there must only be 0 or 1 endpoint for resolution mode {res_name} (DNS_ROUND_ROBIN mode cannot have multiple endpoints)"
                        ),
                    );
                }
                cx.each("endpoints", &se.endpoints, |cx, ep| {
                    if !common::is_ip(&ep.address) && common::fqdn(&ep.address).is_err() {
                        cx.error_at(
                            "address",
                            format!(
                                "endpoint address {:?} is not a valid FQDN or an IP address",
                                ep.address
                            ),
                        );
                    }
                    cx.check_at("labels", workload_entry::labels(&ep.labels));
                    workload_entry::entry_ports(cx, &ep.ports, Some(&port_names));
                });
                if !se.addresses.is_empty() && se.hosts.len() > 1 {
                    if let Some(i) = se.ports.iter().position(|p| is_tcp(&p.protocol)) {
                        cx.field("ports", |cx| cx.index(i, |cx| cx.warn(
                            "service entry can not have more than one host specified simultaneously with address and tcp port",
                        )));
                    }
                }
            }
            ServiceEntryResolution::DynamicDns => {
                if se.hosts.is_empty() {
                    cx.error_at(
                        "hosts",
                        format!("at least one wildcard host must be provided for resolution type {res_name}"),
                    );
                }
                cx.each("hosts", &se.hosts, |cx, h| {
                    if !h.starts_with('*') {
                        cx.error(format!("host must be wildcarded for resolution mode {res_name}"));
                    }
                });
                if !se.addresses.is_empty() {
                    cx.error_at("addresses", format!(
                        "addresses cannot be set for resolution type {res_name}. HTTP route domains will only be generated from the hosts field values"
                    ));
                }
                if !se.endpoints.is_empty() {
                    cx.error_at("endpoints", format!(
                        "endpoints cannot be set for resolution type {res_name}. Destination IP address determined from hosts field values"
                    ));
                }
                cx.each("ports", &se.ports, |cx, p| {
                    if !matches!(
                        parse_protocol(&p.protocol),
                        Some("HTTP" | "TLS" | "GRPC" | "HTTP2")
                    ) {
                        cx.error_at("protocol", format!(
                            "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type {res_name}"
                        ));
                    }
                });
                if se.location == ServiceEntryLocation::MeshInternal
                    && obj
                        .metadata
                        .labels
                        .get(USE_WAYPOINT_LABEL)
                        .is_some_and(|v| !v.is_empty() && !v.eq_ignore_ascii_case("none"))
                {
                    cx.error_at("location", format!(
                        "location MESH_INTERNAL with resolution type {res_name} is not supported when using waypoints"
                    ));
                }
            }
        }

        // Several hosts on plain TCP cannot be told apart, unless the hosts are ignored (NONE).
        if res != ServiceEntryResolution::None && se.hosts.len() > 1 {
            if let Some(i) = se
                .ports
                .iter()
                .position(|p| !is_http(&p.protocol) && !is_tls(&p.protocol))
            {
                cx.field("ports", |cx| {
                    cx.index(i, |cx| {
                        cx.error("multiple hosts provided with non-HTTP, non-TLS ports")
                    })
                });
            }
        }

        common::export_to(cx, namespace, &se.export_to, true, false);
    });
}

fn resolution_name(r: ServiceEntryResolution) -> &'static str {
    match r {
        ServiceEntryResolution::None => "NONE",
        ServiceEntryResolution::Static => "STATIC",
        ServiceEntryResolution::Dns => "DNS",
        ServiceEntryResolution::DnsRoundRobin => "DNS_ROUND_ROBIN",
        ServiceEntryResolution::DynamicDns => "DYNAMIC_DNS",
    }
}

/// `protocol.Parse`: the canonical name of a protocol Istio knows (case-insensitive).
fn parse_protocol(p: &str) -> Option<&'static str> {
    Some(match p.to_ascii_lowercase().as_str() {
        "tcp" => "TCP",
        "udp" => "UDP",
        "grpc" => "GRPC",
        "grpc-web" => "GRPC-Web",
        "http" => "HTTP",
        "http_proxy" => "HTTP_PROXY",
        "http2" => "HTTP2",
        "https" => "HTTPS",
        "tls" => "TLS",
        "mongo" => "Mongo",
        "redis" => "Redis",
        "mysql" => "MySQL",
        _ => return None,
    })
}

/// `ValidateProtocol`: empty (sniffed) or a known protocol.
fn validate_protocol(p: &str) -> common::Rule {
    if p.is_empty() || parse_protocol(p).is_some() {
        Ok(())
    } else {
        Err(format!("unsupported protocol: {p}"))
    }
}

fn is_tcp(p: &str) -> bool {
    matches!(
        parse_protocol(p),
        Some("TCP" | "HTTPS" | "TLS" | "Mongo" | "Redis" | "MySQL")
    )
}

fn is_http(p: &str) -> bool {
    matches!(
        parse_protocol(p),
        Some("HTTP" | "HTTP2" | "HTTP_PROXY" | "GRPC" | "GRPC-Web")
    )
}

fn is_tls(p: &str) -> bool {
    matches!(parse_protocol(p), Some("HTTPS" | "TLS"))
}

/// `ValidateAlphaWorkloadSelector` on the `networking.istio.io` selector (`labels`), with the
/// warning for an empty selector worded for `what` ("service entry", "Envoy filter"), plus the
/// CRD's limits (256 labels, values of at most 63 characters).
pub(super) fn alpha_workload_selector(
    cx: &mut Ctx,
    selector: Option<&EntryWorkloadSelector>,
    what: &str,
) {
    let Some(selector) = selector else { return };
    cx.field("workloadSelector", |cx| {
        if selector.labels.is_empty() {
            cx.warn(format!(
                "{what}: workload selector specified without labels, will be applied to all services in namespace"
            ));
        }
        cx.field("labels", |cx| {
            max_properties(cx, selector.labels.len(), 256);
            for (k, v) in &selector.labels {
                cx.key(k, |cx| {
                    if k.is_empty() {
                        cx.error(format!("empty key is not supported in selector: \"{k}={v}\""));
                    }
                    if k.contains('*') || v.contains('*') {
                        cx.error(format!(
                            "wildcard is not supported in selector: \"{k}={v}\""
                        ));
                    }
                    max_length(cx, v, 63);
                });
            }
        });
    });
}
