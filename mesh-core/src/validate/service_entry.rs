//! ServiceEntry: Istio's `ValidateServiceEntry`, plus the CRD schema's CEL rules and limits.

use std::collections::BTreeSet;

use super::Ctx;
use super::common;
use super::common::{max_length, max_properties};
use super::workload_entry;
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
                if res != ServiceEntryResolution::DynamicDns
                    && let Err(e) = common::partial_wildcard(host) {
                        cx.warn(e);
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
            cx.check_at("name", common::port_name(&port.name));
            cx.check_at("protocol", common::protocol(&port.protocol));
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
                if se.endpoints.is_empty()
                    && let Some((i, err)) = se
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
                if !se.addresses.is_empty() && se.hosts.len() > 1
                    && let Some(i) = se.ports.iter().position(|p| is_tcp(&p.protocol)) {
                        cx.field("ports", |cx| cx.index(i, |cx| cx.warn(
                            "service entry can not have more than one host specified simultaneously with address and tcp port",
                        )));
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
                        common::parse_protocol(&p.protocol),
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
        if res != ServiceEntryResolution::None && se.hosts.len() > 1
            && let Some(i) = se
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

fn is_tcp(p: &str) -> bool {
    matches!(
        common::parse_protocol(p),
        Some("TCP" | "HTTPS" | "TLS" | "Mongo" | "Redis" | "MySQL")
    )
}

fn is_http(p: &str) -> bool {
    matches!(
        common::parse_protocol(p),
        Some("HTTP" | "HTTP2" | "HTTP_PROXY" | "GRPC" | "GRPC-Web")
    )
}

fn is_tls(p: &str) -> bool {
    matches!(common::parse_protocol(p), Some("HTTPS" | "TLS"))
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

#[cfg(test)]
mod tests {
    use crate::validate::test_support::expect;

    const HTTP2PORTS: &str = "[{number: 80, protocol: http, name: http-valid1}, {number: 8080, protocol: http, name: http-valid2}]";

    fn se_labeled(labels: &str, spec: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: foo, namespace: bar, labels: {{{labels}}}}}\nspec:\n{}",
            spec.replace("PORTS2", HTTP2PORTS)
        )
    }

    fn se(spec: &str) -> String {
        se_labeled("", spec)
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
    fn istio_service_entry_cases() {
        let cases: &[Case<'_>] = &[
            (
                "discovery type DNS",
                "  hosts: ['*.google.com']\n  ports: PORTS2\n  endpoints:\n  - {address: lon.google.com, ports: {http-valid1: 8080}}\n  - {address: in.google.com, ports: {http-valid2: 9080}}\n  resolution: DNS",
                None,
                false,
            ),
            (
                "discovery type DNS Round Robin",
                "  hosts: ['*.istio.io']\n  ports: PORTS2\n  endpoints:\n  - {address: api-v1.istio.io, ports: {http-valid1: 8080}}\n  resolution: DNS_ROUND_ROBIN",
                None,
                false,
            ),
            (
                "discovery type DNS, label tlsMode: istio",
                "  hosts: ['*.google.com']\n  ports: PORTS2\n  endpoints:\n  - {address: lon.google.com, ports: {http-valid1: 8080}, labels: {security.istio.io/tlsMode: istio}}\n  - {address: in.google.com, ports: {http-valid2: 9080}, labels: {security.istio.io/tlsMode: istio}}\n  resolution: DNS",
                None,
                false,
            ),
            (
                "discovery type DNS, one host set with IP address and https port",
                "  hosts: [httpbin.org]\n  addresses: [10.10.10.10]\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, protocol: http, name: http-valid2}, {number: 443, protocol: https, name: https}]\n  resolution: DNS",
                None,
                false,
            ),
            (
                "discovery type DNS, multi hosts set with IP address and https port",
                "  hosts: [httpbin.org, wikipedia.org]\n  addresses: [10.10.10.10]\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, protocol: http, name: http-valid2}, {number: 443, protocol: https, name: https}]\n  resolution: DNS",
                None,
                true,
            ),
            (
                "discovery type DNS, IP address set",
                "  hosts: ['*.google.com']\n  addresses: [10.10.10.10]\n  ports: PORTS2\n  endpoints:\n  - {address: lon.google.com, ports: {http-valid1: 8080}}\n  - {address: in.google.com, ports: {http-valid2: 9080}}\n  resolution: DNS",
                None,
                false,
            ),
            (
                "discovery type DNS, IP in endpoints",
                "  hosts: ['*.google.com']\n  ports: PORTS2\n  endpoints:\n  - {address: 1.1.1.1, ports: {http-valid1: 8080}}\n  - {address: in.google.com, ports: {http-valid2: 9080}}\n  resolution: DNS",
                None,
                false,
            ),
            (
                "discovery type DYNAMIC_DNS",
                "  hosts: ['*.google.com']\n  ports: PORTS2\n  resolution: DYNAMIC_DNS",
                None,
                false,
            ),
            (
                "empty hosts",
                "  ports: [{number: 80, protocol: http, name: http-valid1}]\n  endpoints:\n  - {address: in.google.com, ports: {http-valid2: 9080}}\n  resolution: DNS",
                Some("service entry must have at least one host"),
                false,
            ),
            (
                "bad hosts",
                "  hosts: ['-']\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  endpoints:\n  - {address: in.google.com, ports: {http-valid2: 9080}}\n  resolution: DNS",
                Some("domain name \"-\" invalid"),
                false,
            ),
            (
                "full wildcard host",
                "  hosts: [foo.com, '*']\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  endpoints:\n  - {address: in.google.com, ports: {http-valid2: 9080}}\n  resolution: DNS",
                Some("invalid host *"),
                false,
            ),
            (
                "short name host",
                "  hosts: [foo, bar.com]\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  endpoints:\n  - {address: in.google.com, ports: {http-valid1: 9080}}\n  resolution: DNS",
                None,
                false,
            ),
            (
                "undefined endpoint port",
                "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 80, protocol: http, name: http-valid2}]\n  endpoints:\n  - {address: lon.google.com, ports: {http-valid1: 8080}}\n  - {address: in.google.com, ports: {http-dne: 9080}}\n  resolution: DNS",
                Some("endpoint port 9080 is not defined by the service entry"),
                false,
            ),
            (
                "discovery type DNS, non-FQDN endpoint",
                "  hosts: ['*.google.com']\n  ports: PORTS2\n  endpoints:\n  - {address: '*.lon.google.com', ports: {http-valid1: 8080}}\n  - {address: in.google.com, ports: {http-dne: 9080}}\n  resolution: DNS",
                Some("endpoint address \"*.lon.google.com\" is not a valid FQDN or an IP address"),
                false,
            ),
            (
                "discovery type DNS, non-FQDN host",
                "  hosts: ['*.google.com']\n  ports: PORTS2\n  resolution: DNS",
                Some(
                    "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS",
                ),
                false,
            ),
            (
                "discovery type DNS, no endpoints",
                "  hosts: [google.com]\n  ports: PORTS2\n  resolution: DNS",
                None,
                false,
            ),
            (
                "discovery type DNS, unix endpoint",
                "  hosts: ['*.google.com']\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  endpoints:\n  - {address: 'unix:///lon/google/com'}\n  resolution: DNS",
                Some("is not a valid FQDN or an IP address"),
                false,
            ),
            (
                "discovery type none",
                "  hosts: [google.com]\n  ports: PORTS2\n  resolution: NONE",
                None,
                false,
            ),
            (
                "discovery type none, endpoints provided",
                "  hosts: [google.com]\n  ports: PORTS2\n  endpoints:\n  - {address: lon.google.com, ports: {http-valid1: 8080}}\n  resolution: NONE",
                Some("no endpoints should be provided for resolution type none"),
                false,
            ),
            (
                "discovery type none, cidr addresses",
                "  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n  ports: PORTS2\n  resolution: NONE",
                None,
                false,
            ),
            (
                "discovery type static, cidr addresses with endpoints",
                "  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n  ports: PORTS2\n  endpoints:\n  - {address: 1.1.1.1, ports: {http-valid1: 8080}}\n  - {address: 2.2.2.2, ports: {http-valid2: 9080}}\n  resolution: STATIC",
                None,
                false,
            ),
            (
                "discovery type static",
                "  hosts: [google.com]\n  addresses: [172.1.2.16]\n  ports: PORTS2\n  endpoints:\n  - {address: 1.1.1.1, ports: {http-valid1: 8080}}\n  - {address: 2.2.2.2, ports: {http-valid2: 9080}}\n  resolution: STATIC",
                None,
                false,
            ),
            (
                "discovery type static, FQDN in endpoints",
                "  hosts: [google.com]\n  addresses: [172.1.2.16]\n  ports: PORTS2\n  endpoints:\n  - {address: google.com, ports: {http-valid1: 8080}}\n  - {address: 2.2.2.2, ports: {http-valid2: 9080}}\n  resolution: STATIC",
                Some("endpoint address \"google.com\" is not a valid IP address"),
                false,
            ),
            (
                "discovery type static, missing endpoints",
                "  hosts: [google.com]\n  addresses: [172.1.2.16]\n  ports: PORTS2\n  resolution: STATIC",
                None,
                false,
            ),
            (
                "discovery type static, bad endpoint port name",
                "  hosts: [google.com]\n  addresses: [172.1.2.16]\n  ports: PORTS2\n  endpoints:\n  - {address: 1.1.1.1, ports: {http-valid1: 8080}}\n  - {address: 2.2.2.2, ports: {http-dne: 9080}}\n  resolution: STATIC",
                Some("endpoint port 9080 is not defined by the service entry"),
                false,
            ),
            (
                "discovery type none, conflicting port names",
                "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: http-conflict}, {number: 8080, protocol: http, name: http-conflict}]\n  resolution: NONE",
                Some("service entry port name \"http-conflict\" already defined"),
                false,
            ),
            (
                "discovery type none, conflicting port numbers",
                "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: http-conflict1}, {number: 80, protocol: http, name: http-conflict2}]\n  resolution: NONE",
                Some("service entry port 80 already defined"),
                false,
            ),
            (
                "unix socket",
                "  hosts: [uds.cluster.local]\n  ports: [{number: 6553, protocol: grpc, name: grpc-service1}]\n  resolution: STATIC\n  endpoints:\n  - {address: 'unix:///path/to/socket'}",
                None,
                false,
            ),
            (
                "unix socket, relative path",
                "  hosts: [uds.cluster.local]\n  ports: [{number: 6553, protocol: grpc, name: grpc-service1}]\n  resolution: STATIC\n  endpoints:\n  - {address: 'unix://./relative/path.sock'}",
                Some("./relative/path.sock is not an absolute path to a file"),
                false,
            ),
            (
                "unix socket, endpoint ports",
                "  hosts: [uds.cluster.local]\n  ports: [{number: 6553, protocol: grpc, name: grpc-service1}]\n  resolution: STATIC\n  endpoints:\n  - {address: 'unix:///path/to/socket', ports: {grpc-service1: 6553}}",
                Some("must not include ports"),
                false,
            ),
            (
                "unix socket, multiple service ports",
                "  hosts: [uds.cluster.local]\n  ports: [{number: 6553, protocol: grpc, name: grpc-service1}, {number: 80, protocol: http, name: http-service2}]\n  resolution: STATIC\n  endpoints:\n  - {address: 'unix:///path/to/socket'}",
                Some("exactly 1 service port required for unix endpoints"),
                false,
            ),
            (
                "empty protocol",
                "  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, name: http-valid2}]\n  resolution: NONE",
                None,
                false,
            ),
            (
                "selector",
                "  hosts: [google.com]\n  workloadSelector: {labels: {foo: bar}}\n  ports: [{number: 80, protocol: http, name: http-valid1}]",
                None,
                true,
            ),
            (
                "workload selector without labels",
                "  hosts: [google.com]\n  ports: PORTS2\n  workloadSelector: {}",
                None,
                true,
            ),
            (
                "selector and endpoints",
                "  hosts: [google.com]\n  workloadSelector: {labels: {foo: bar}}\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  endpoints:\n  - {address: 1.1.1.1}",
                Some("only one of WorkloadSelector or Endpoints is allowed in Service Entry"),
                true,
            ),
            (
                "selector and resolution NONE",
                "  hosts: [google.com]\n  workloadSelector: {labels: {foo: bar}}\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  resolution: NONE",
                None,
                true,
            ),
            (
                "selector and resolution DNS",
                "  hosts: [google.com]\n  workloadSelector: {labels: {foo: bar}}\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  resolution: DNS",
                None,
                false,
            ),
            (
                "bad selector key",
                "  hosts: [google.com]\n  workloadSelector: {labels: {'': bar}}\n  ports: [{number: 80, protocol: http, name: http-valid1}]",
                Some("empty key is not supported in selector"),
                true,
            ),
            (
                "repeat target port",
                "  hosts: [google.com]\n  resolution: DNS\n  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 80}, {number: 81, protocol: http, name: http-valid2, targetPort: 80}]",
                None,
                false,
            ),
            (
                "valid target port",
                "  hosts: [google.com]\n  resolution: DNS\n  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 81}]",
                None,
                false,
            ),
            (
                "invalid target port",
                "  hosts: [google.com]\n  resolution: DNS\n  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 65536}]",
                Some("port number 65536 must be in the range 1..65535"),
                false,
            ),
            (
                "warn target port",
                "  hosts: [google.com]\n  workloadSelector: {labels: {key: bar}}\n  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 1234}]",
                None,
                true,
            ),
            (
                "valid endpoint port",
                "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 81}]\n  resolution: STATIC\n  endpoints:\n  - {address: 1.1.1.1, ports: {http-valid1: 8081}}",
                None,
                false,
            ),
            (
                "invalid endpoint port",
                "  hosts: [google.com]\n  ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 81}]\n  resolution: STATIC\n  endpoints:\n  - {address: 1.1.1.1, ports: {http-valid1: 65536}}",
                Some("port number 65536 must be in the range 1..65535"),
                false,
            ),
            (
                "protocol unset for addresses empty",
                "  hosts: [google.com]\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, name: http-valid2}]\n  resolution: NONE",
                None,
                true,
            ),
            (
                "protocol is TCP for addresses empty",
                "  hosts: [google.com]\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 81, protocol: TCP, name: tcp-valid1}]\n  resolution: NONE",
                None,
                true,
            ),
            (
                "dns round robin with more than one endpoint",
                "  hosts: [google.com]\n  addresses: []\n  ports: [{number: 8081, protocol: http, name: http-valid1}]\n  endpoints:\n  - {address: api-v1.istio.io, ports: {http-valid1: 8081}}\n  - {address: 1.1.1.2, ports: {http-valid1: 8081}}\n  resolution: DNS_ROUND_ROBIN",
                Some("there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN"),
                false,
            ),
            (
                "dns round robin with 0 endpoints",
                "  hosts: [google.com]\n  addresses: []\n  ports: [{number: 8081, protocol: http, name: http-valid1}]\n  endpoints: []\n  resolution: DNS_ROUND_ROBIN",
                None,
                false,
            ),
            (
                "partial wildcard hosts",
                "  hosts: ['*.nytimes.com', '*washingtonpost.com']\n  addresses: []\n  ports: [{number: 443, protocol: HTTPS, name: https-nytimes}]\n  endpoints: []\n  resolution: NONE",
                None,
                true,
            ),
            (
                "network set with no address on endpoint",
                "  hosts: [www.example.com]\n  addresses: []\n  ports: [{number: 443, protocol: HTTPS, name: https-example}]\n  endpoints:\n  - {network: cluster-1}\n  resolution: STATIC",
                None,
                true,
            ),
            (
                "discovery type DYNAMIC_DNS, unsupported TCP protocol",
                "  hosts: ['*.google.com']\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid1}, {number: 81, protocol: TCP, name: tcp-valid1}]\n  resolution: DYNAMIC_DNS",
                Some(
                    "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type DYNAMIC_DNS",
                ),
                false,
            ),
            (
                "discovery type DYNAMIC_DNS, GRPC protocol",
                "  hosts: ['*.svc.cluster.local']\n  addresses: []\n  ports: [{number: 9090, protocol: GRPC, name: grpc}]\n  resolution: DYNAMIC_DNS",
                None,
                false,
            ),
            (
                "discovery type DYNAMIC_DNS, FQDN host",
                "  hosts: [google.com]\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid}]\n  resolution: DYNAMIC_DNS",
                Some("host must be wildcarded for resolution mode DYNAMIC_DNS"),
                false,
            ),
            (
                "discovery type DYNAMIC_DNS, endpoints set",
                "  hosts: ['*.google.com']\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  endpoints:\n  - {address: in.google.com, ports: {http-valid1: 9080}}\n  resolution: DYNAMIC_DNS",
                Some("endpoints cannot be set for resolution type DYNAMIC_DNS"),
                false,
            ),
            (
                "discovery type DYNAMIC_DNS, IP address set",
                "  hosts: ['*.google.com']\n  addresses: [10.10.10.10]\n  ports: PORTS2\n  resolution: DYNAMIC_DNS",
                Some("addresses cannot be set for resolution type DYNAMIC_DNS"),
                false,
            ),
            (
                "discovery type DYNAMIC_DNS, empty hosts",
                "  hosts: []\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  resolution: DYNAMIC_DNS",
                Some("at least one wildcard host must be provided for resolution type DYNAMIC_DNS"),
                false,
            ),
            (
                "discovery type DYNAMIC_DNS, multiple wildcarded hosts",
                "  hosts: ['*.google.com', '*.amazon.com']\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  resolution: DYNAMIC_DNS",
                None,
                false,
            ),
            (
                "discovery type DYNAMIC_DNS, internal mesh location",
                "  hosts: ['*.google.com']\n  addresses: []\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  resolution: DYNAMIC_DNS\n  location: MESH_INTERNAL",
                None,
                false,
            ),
            // Beyond Istio's table: other branches of the same rules.
            (
                "partial wildcard allowed with DYNAMIC_DNS",
                "  hosts: ['*google.com']\n  ports: [{number: 80, protocol: http, name: http}]\n  resolution: DYNAMIC_DNS",
                None,
                false,
            ),
            (
                "cidr with DNS resolution",
                "  hosts: [google.com]\n  addresses: [10.0.0.0/16]\n  ports: [{number: 80, protocol: http, name: http}]\n  resolution: DNS",
                Some("CIDR addresses are allowed only for NONE/STATIC resolution types"),
                false,
            ),
            (
                "bad cidr",
                "  hosts: [google.com]\n  addresses: [1.2.3.4/99]\n  ports: [{number: 80, protocol: http, name: http}]",
                Some("1.2.3.4/99 is not a valid CIDR block"),
                false,
            ),
            (
                "bad address",
                "  hosts: [google.com]\n  addresses: [not-an-ip]\n  ports: [{number: 80, protocol: http, name: http}]",
                Some("not-an-ip is not a valid IP"),
                false,
            ),
            (
                "ipv6 address",
                "  hosts: [google.com]\n  addresses: ['001:db8::']\n  ports: [{number: 80, protocol: http, name: http}]",
                None,
                false,
            ),
            (
                "multiple hosts with tcp port",
                "  hosts: [a.com, b.com]\n  ports: [{number: 5432, protocol: TCP, name: pg}]\n  resolution: DNS",
                Some("multiple hosts provided with non-HTTP, non-TLS ports"),
                false,
            ),
            (
                "multiple hosts with sniffed port",
                "  hosts: [a.com, b.com]\n  addresses: [1.1.1.1]\n  ports: [{number: 5432, name: pg}]\n  resolution: STATIC",
                Some("multiple hosts provided with non-HTTP, non-TLS ports"),
                false,
            ),
            (
                "multiple hosts with tcp port and NONE",
                "  hosts: [a.com, b.com]\n  addresses: [1.1.1.1]\n  ports: [{number: 5432, protocol: TCP, name: pg}]\n  resolution: NONE",
                None,
                false,
            ),
            (
                "unsupported protocol",
                "  hosts: [a.com]\n  ports: [{number: 80, protocol: SPDY, name: spdy}]\n  resolution: DNS",
                Some("unsupported protocol: SPDY"),
                false,
            ),
            (
                "bad port name",
                "  hosts: [a.com]\n  ports: [{number: 80, protocol: HTTP, name: 'http_1'}]\n  resolution: DNS",
                Some("invalid port name: http_1"),
                false,
            ),
            (
                "missing port name",
                "  hosts: [a.com]\n  ports: [{number: 80, protocol: HTTP}]\n  resolution: DNS",
                Some("invalid port name: "),
                false,
            ),
            (
                "port number zero",
                "  hosts: [a.com]\n  ports: [{number: 0, protocol: HTTP, name: http}]\n  resolution: DNS",
                Some("port number 0 must be in the range 1..65535"),
                false,
            ),
            (
                "tcp with auto-allocation",
                "  hosts: [a.com]\n  ports: [{number: 5432, protocol: TCP, name: pg}]\n  resolution: DNS",
                None,
                false,
            ),
            (
                "DNS endpoint with bad label",
                "  hosts: [a.com]\n  ports: [{number: 80, protocol: HTTP, name: http}]\n  endpoints:\n  - {address: 1.1.1.1, labels: {'-bad': x}}\n  resolution: DNS",
                Some("invalid tag key"),
                false,
            ),
            (
                "STATIC endpoint missing address",
                "  hosts: [a.com]\n  ports: [{number: 80, protocol: HTTP, name: http}]\n  endpoints:\n  - {labels: {a: b}}\n  resolution: STATIC",
                Some("address is required"),
                false,
            ),
            (
                "selector with wildcard value",
                "  hosts: [a.com]\n  workloadSelector: {labels: {app: '*'}}\n  resolution: DNS",
                Some("wildcard is not supported in selector"),
                false,
            ),
            (
                "exportTo nobody",
                "  hosts: [a.com]\n  ports: [{number: 80, protocol: HTTP, name: http}]\n  resolution: DNS\n  exportTo: ['~']",
                None,
                false,
            ),
            (
                "exportTo nobody and someone",
                "  hosts: [a.com]\n  ports: [{number: 80, protocol: HTTP, name: http}]\n  resolution: DNS\n  exportTo: ['~', ns1]",
                Some("cannot export service entry to no one (~) and someone"),
                false,
            ),
            (
                "exportTo public and private",
                "  hosts: [a.com]\n  ports: [{number: 80, protocol: HTTP, name: http}]\n  resolution: DNS\n  exportTo: ['*', '.']",
                Some("cannot have both public (*) and non-public exportTo values"),
                false,
            ),
            (
                "exportTo duplicate current namespace",
                "  hosts: [a.com]\n  ports: [{number: 80, protocol: HTTP, name: http}]\n  resolution: DNS\n  exportTo: [bar, '.']",
                Some("duplicate entries in exportTo: . and current namespace bar"),
                false,
            ),
            (
                "exportTo bad namespace",
                "  hosts: [a.com]\n  ports: [{number: 80, protocol: HTTP, name: http}]\n  resolution: DNS\n  exportTo: [Bad_NS]",
                Some("only . or * or valid DNS labels are supported as exportTo"),
                false,
            ),
        ];
        run(cases, se);
    }

    #[test]
    fn labels_change_the_rules() {
        // Waypoint-attached DYNAMIC_DNS services must be external.
        let y = se_labeled(
            "istio.io/use-waypoint: my-waypoint",
            "  hosts: ['*.google.com']\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  resolution: DYNAMIC_DNS\n  location: MESH_INTERNAL",
        );
        let r = expect(
            "discovery type DYNAMIC_DNS, MESH_INTERNAL with waypoint (invalid)",
            &y,
            Some(
                "location MESH_INTERNAL with resolution type DYNAMIC_DNS is not supported when using waypoints",
            ),
        );
        assert_eq!(r.errors[0].path.to_string(), "spec.location");
        let y = se_labeled(
            "istio.io/use-waypoint: none",
            "  hosts: ['*.google.com']\n  ports: [{number: 80, protocol: http, name: http-valid1}]\n  resolution: DYNAMIC_DNS\n  location: MESH_INTERNAL",
        );
        expect("waypoint none", &y, None);
        // Opting out of auto-allocation brings the addresses warning back.
        let spec = "  hosts: [a.com]\n  ports: [{number: 5432, protocol: TCP, name: pg}]\n  resolution: DNS";
        let r = expect(
            "auto-allocation opt-out",
            &se_labeled("networking.istio.io/enable-autoallocate-ip: 'False'", spec),
            None,
        );
        assert!(r.has_warning("addresses are required for ports serving TCP"));
        let r = expect("auto-allocation on", &se(spec), None);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn paths() {
        let r = expect(
            "paths",
            &se(
                "  hosts: [a.com, '*']\n  ports: [{number: 80, protocol: HTTP, name: http}, {number: 80, protocol: HTTP, name: http}]\n  resolution: STATIC\n  endpoints:\n  - {address: a.com, ports: {nope: 1}}",
            ),
            Some("invalid host"),
        );
        let paths: Vec<String> = r.errors.iter().map(|e| e.path.to_string()).collect();
        for want in [
            "spec.hosts[1]",
            "spec.ports[1].name",
            "spec.ports[1].number",
            "spec.endpoints[0].address",
            "spec.endpoints[0].ports.nope",
        ] {
            assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
        }
        let r = expect(
            "partial wildcard warning path",
            &se(
                "  hosts: ['*x.com']\n  ports: [{number: 80, protocol: HTTP, name: http}]\n  resolution: DNS\n  endpoints: [{address: 1.1.1.1}]",
            ),
            None,
        );
        assert_eq!(r.warnings[0].path.to_string(), "spec.hosts[0]");
        assert!(r.warnings[0].message.contains("partial wildcard"));
    }
}
