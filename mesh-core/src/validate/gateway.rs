//! Gateway: istiod's `ValidateGateway` (`validateServer`, `validateServerPort`,
//! `validateServerBind`, `validateTLSOptions`), plus the CRD schema's CEL rules on
//! `ServerTLSSettings`.

use std::collections::BTreeSet;

use super::{Ctx, common};
use crate::api::Gateway;
use crate::api::networking::{Port, Server, ServerTlsMode, ServerTlsSettings, TlsProtocol};

/// Prefix of a Unix domain socket address in `bind` / `defaultEndpoint`.
pub(super) const UNIX_ADDRESS_PREFIX: &str = "unix://";
const GATEWAY_SEMANTICS_ANNOTATION: &str = "internal.istio.io/gateway-semantics";

/// Cipher suites Envoy (BoringSSL) accepts in `cipherSuites`.
const VALID_CIPHER_SUITES: [&str; 15] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

pub(super) fn validate(obj: &Gateway, cx: &mut Ctx) {
    let gateway_semantics = obj
        .metadata
        .annotations
        .get(GATEWAY_SEMANTICS_ANNOTATION)
        .is_some_and(|v| v == "gateway");
    if !obj.metadata.name.is_empty()
        && !common::is_dns1123_label(&obj.metadata.name)
        && !gateway_semantics
    {
        cx.field("metadata", |cx| {
            cx.error_at(
                "name",
                format!("invalid gateway name: {:?}", obj.metadata.name),
            )
        });
    }
    let spec = &obj.spec;
    cx.field("spec", |cx| {
        if spec.servers.is_empty() {
            cx.error_at("servers", "gateway must have at least one server");
        }
        cx.each("servers", &spec.servers, |cx, s| {
            server(cx, s, gateway_semantics)
        });
        let mut names = BTreeSet::new();
        cx.each("servers", &spec.servers, |cx, s| {
            let Some(p) = &s.port else { return };
            if !names.insert(p.name.clone()) {
                cx.field("port", |cx| {
                    cx.error_at(
                        "name",
                        format!(
                            "port names in servers must be unique: duplicate name {}",
                            p.name
                        ),
                    )
                });
            }
            if !is_http(&p.protocol) && s.tls.as_ref().is_some_and(|t| t.https_redirect) {
                cx.field("tls", |cx| {
                    cx.warn_at(
                        "httpsRedirect",
                        "tls.httpsRedirect should only be used with http servers",
                    )
                });
            }
        });
    });
}

/// `protocol.Parse(p).IsHTTP()`.
pub(super) fn is_http(p: &str) -> bool {
    matches!(
        p.to_ascii_uppercase().as_str(),
        "HTTP" | "HTTP2" | "HTTP_PROXY" | "GRPC" | "GRPC-WEB"
    )
}

/// `protocol.Parse(p).IsTLS()`.
pub(super) fn is_tls(p: &str) -> bool {
    matches!(p.to_ascii_uppercase().as_str(), "HTTPS" | "TLS")
}

/// `validateServer`.
fn server(cx: &mut Ctx, s: &Server, gateway_semantics: bool) {
    if s.hosts.is_empty() {
        cx.error_at("hosts", "server config must contain at least one host");
    }
    cx.each("hosts", &s.hosts, |cx, h| {
        for e in common::namespace_slash_wildcard_hostname(h, true, gateway_semantics) {
            cx.error(e);
        }
    });
    let before = cx.error_count();
    server_port(cx, s.port.as_ref(), &s.bind);
    let port_ok = cx.error_count() == before;
    server_bind(cx, s.port.as_ref(), &s.bind);
    if let Some(tls) = &s.tls {
        cx.field("tls", |cx| server_tls(cx, tls));
    }
    if let (true, Some(port)) = (port_ok, &s.port) {
        let tls_port = is_tls(&port.protocol);
        match &s.tls {
            None if tls_port => cx.error("server must have TLS settings for HTTPS/TLS protocols"),
            Some(tls) if !tls_port => {
                if is_http(&port.protocol) {
                    let passthrough = matches!(
                        tls.mode,
                        ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough
                    );
                    if !passthrough
                        || !tls.ca_certificates.is_empty()
                        || !tls.private_key.is_empty()
                        || !tls.server_certificate.is_empty()
                    {
                        cx.error_at(
                            "tls",
                            "server cannot have TLS settings for plain text HTTP ports",
                        );
                    }
                } else {
                    cx.error_at(
                        "tls",
                        "server cannot have TLS settings for non HTTPS/TLS ports",
                    );
                }
            }
            _ => {}
        }
    }
}

/// `validateServerPort`.
fn server_port(cx: &mut Ctx, port: Option<&Port>, bind: &str) {
    let Some(port) = port else {
        cx.error_at("port", "port is required");
        return;
    };
    cx.field("port", |cx| {
        if common::parse_protocol(&port.protocol).is_none() {
            cx.error_at(
                "protocol",
                format!(
                    "invalid protocol {:?}, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
                    port.protocol
                ),
            );
        }
        if port.number > 0 || !bind.starts_with(UNIX_ADDRESS_PREFIX) {
            cx.check_at("number", common::port(i64::from(port.number)));
        }
        if port.target_port > 0 {
            cx.error_at("targetPort", "targetPort has no impact on Gateways");
        }
        if port.name.is_empty() {
            cx.error_at(
                "name",
                format!(
                    "port name must be set: number:{} protocol:{:?}",
                    port.number, port.protocol
                ),
            );
        }
    });
}

/// `ValidateUnixAddress`.
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

/// `validateServerBind`.
fn server_bind(cx: &mut Ctx, port: Option<&Port>, bind: &str) {
    if let Some(path) = bind.strip_prefix(UNIX_ADDRESS_PREFIX) {
        cx.check_at("bind", unix_address(path));
        if let Some(p) = port.filter(|p| p.number != 0) {
            cx.error_at(
                "bind",
                format!(
                    "port number must be 0 for unix domain socket: number:{}",
                    p.number
                ),
            );
        }
    } else if !bind.is_empty() {
        cx.check_at("bind", common::ip_address(bind));
    }
}

/// `validateTLSOptions`, plus the CRD schema's CEL rules and list bounds.
pub(super) fn server_tls(cx: &mut Ctx, tls: &ServerTlsSettings) {
    // Schema rules.
    if !tls.tls_certificates.is_empty() && !tls.credential_names.is_empty() {
        cx.error("only one of credentialNames or tlsCertificates can be set");
    }
    if !tls.credential_name.is_empty() && !tls.credential_names.is_empty() {
        cx.error("only one of credentialName or credentialNames can be set");
    }
    if tls.credential_names.len() > 2 {
        cx.error_at("credentialNames", "must have at most 2 items");
    }
    if tls.tls_certificates.len() > 2 {
        cx.error_at("tlsCertificates", "must have at most 2 items");
    }

    if matches!(
        tls.min_protocol_version,
        TlsProtocol::TlsV1_0 | TlsProtocol::TlsV1_1
    ) && tls.cipher_suites.is_empty()
    {
        cx.warn_at("minProtocolVersion", "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.");
    }
    let mut invalid = BTreeSet::new();
    let mut valid = BTreeSet::new();
    let mut dup = BTreeSet::new();
    for cs in &tls.cipher_suites {
        if !is_valid_cipher_suite(cs) {
            invalid.insert(cs.as_str());
        } else if !valid.insert(cs.as_str()) {
            dup.insert(cs.as_str());
        }
    }
    if !invalid.is_empty() {
        let list: Vec<&str> = invalid.into_iter().collect();
        cx.warn_at(
            "cipherSuites",
            format!("ignoring invalid cipher suites: [{}]", list.join(" ")),
        );
    }
    if !dup.is_empty() {
        let list: Vec<&str> = dup.into_iter().collect();
        cx.warn_at(
            "cipherSuites",
            format!("ignoring duplicate cipher suites: [{}]", list.join(" ")),
        );
    }

    if tls.mode == ServerTlsMode::IstioMutual {
        let checks: [(bool, &str, &str); 6] = [
            (
                !tls.server_certificate.is_empty(),
                "serverCertificate",
                "server certificate",
            ),
            (!tls.private_key.is_empty(), "privateKey", "private key"),
            (
                !tls.ca_certificates.is_empty(),
                "caCertificates",
                "CA bundle",
            ),
            (
                !tls.tls_certificates.is_empty(),
                "tlsCertificates",
                "tlsCertificates",
            ),
            (
                !tls.credential_name.is_empty(),
                "credentialName",
                "credentialName",
            ),
            (
                !tls.credential_names.is_empty(),
                "credentialNames",
                "credentialNames",
            ),
        ];
        for (set, field, what) in checks {
            if set {
                cx.error_at(
                    field,
                    format!("ISTIO_MUTUAL TLS cannot have associated {what}"),
                );
            }
        }
        return;
    }

    if matches!(
        tls.mode,
        ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough
    ) && (!tls.ca_crl.is_empty()
        || !tls.server_certificate.is_empty()
        || !tls.private_key.is_empty()
        || !tls.ca_certificates.is_empty()
        || !tls.tls_certificates.is_empty()
        || !tls.credential_name.is_empty()
        || !tls.credential_names.is_empty())
    {
        cx.warn(format!(
            "{} mode does not use certificates, they will be ignored",
            tls.mode
        ));
    }

    let sources = [
        !tls.server_certificate.is_empty() && !tls.private_key.is_empty(),
        !tls.credential_name.is_empty(),
        !tls.credential_names.is_empty(),
        !tls.tls_certificates.is_empty(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources > 1 {
        cx.error("only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified");
    }

    let terminating = matches!(
        tls.mode,
        ServerTlsMode::Simple | ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual
    );
    if terminating && (!tls.credential_name.is_empty() || !tls.credential_names.is_empty()) {
        return;
    }
    if terminating {
        let prefix = if tls.mode == ServerTlsMode::Simple {
            "SIMPLE TLS"
        } else {
            if tls.ca_certificates.is_empty() {
                cx.error_at("caCertificates", "MUTUAL TLS requires a client CA bundle");
            }
            "MUTUAL TLS"
        };
        if tls.tls_certificates.is_empty() {
            if tls.server_certificate.is_empty() {
                cx.error_at(
                    "serverCertificate",
                    format!("{prefix} requires a server certificate"),
                );
            }
            if tls.private_key.is_empty() {
                cx.error_at("privateKey", format!("{prefix} requires a private key"));
            }
        } else {
            cx.each("tlsCertificates", &tls.tls_certificates, |cx, c| {
                if c.server_certificate.is_empty() {
                    cx.error_at(
                        "serverCertificate",
                        format!("{prefix} requires a server certificate"),
                    );
                }
                if c.private_key.is_empty() {
                    cx.error_at("privateKey", format!("{prefix} requires a private key"));
                }
            });
        }
    }
    if !tls.ca_crl.is_empty() {
        if !tls.credential_name.is_empty() {
            cx.error_at("caCrl", "CRL is not supported with credentialName. CRL has to be specified in the credential");
        }
        if tls.mode == ServerTlsMode::Simple {
            cx.error_at("caCrl", "CRL is not supported with SIMPLE TLS");
        }
    }
}

/// `security.IsValidCipherSuite`.
fn is_valid_cipher_suite(cs: &str) -> bool {
    if cs.is_empty() || cs == "ALL" {
        return true;
    }
    if cs.chars().next().is_some_and(|c| !c.is_alphanumeric()) {
        return true;
    }
    VALID_CIPHER_SUITES.contains(&cs)
}

#[cfg(test)]
mod tests {
    use crate::validate::test_support::{check, expect};

    fn gw_named(name: &str, spec: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: {name}, namespace: default}}\nspec: {spec}\n"
        )
    }

    fn gw(spec: &str) -> String {
        gw_named("gw", spec)
    }

    /// One server.
    fn srv(server: &str) -> String {
        gw(&format!("{{servers: [{server}]}}"))
    }

    /// An HTTPS server on 443 with the given TLS settings.
    fn tls(settings: &str) -> String {
        srv(&format!(
            "{{port: {{number: 443, name: https, protocol: HTTPS}}, hosts: [foo.bar.com], tls: {settings}}}"
        ))
    }

    fn run(rows: &[(&str, String, Option<&str>)]) {
        for (name, yaml, want) in rows {
            expect(name, yaml, *want);
        }
    }

    const HTTP: &str = "port: {number: 80, name: http, protocol: HTTP}";

    #[test]
    fn gateway() {
        let rows = [
            (
                "empty",
                gw("{}"),
                Some("gateway must have at least one server"),
            ),
            (
                "happy domain",
                srv(&format!("{{hosts: [foo.bar.com], {HTTP}}}")),
                None,
            ),
            (
                "happy multiple servers",
                gw(&format!(
                    "{{servers: [{{hosts: [foo.bar.com], {HTTP}}}, {{hosts: [ns/foo.bar.com], port: {{number: 81, name: http2, protocol: HTTP}}}}]}}"
                )),
                None,
            ),
            (
                "invalid namespace",
                srv(&format!("{{hosts: ['NS!/foo.bar.com'], {HTTP}}}")),
                Some("invalid namespace value"),
            ),
            (
                "missing port",
                srv("{hosts: [foo.bar.com]}"),
                Some("port is required"),
            ),
            (
                "duplicate port names",
                gw(&format!(
                    "{{servers: [{{hosts: [foo.bar.com], {HTTP}}}, {{hosts: [bar.foo.com], port: {{number: 81, name: http, protocol: HTTP}}}}]}}"
                )),
                Some("port names in servers must be unique: duplicate name http"),
            ),
            (
                "invalid domain",
                srv(&format!("{{hosts: ['foo.*.bar.com'], {HTTP}}}")),
                Some("domain name"),
            ),
            (
                "valid httpsRedirect on http",
                srv(&format!(
                    "{{hosts: [foo.bar.com], {HTTP}, tls: {{httpsRedirect: true}}}}"
                )),
                None,
            ),
            (
                "partial wildcard",
                srv(&format!("{{hosts: ['*bar.com'], {HTTP}}}")),
                Some("partial wildcard \"*bar.com\" not allowed"),
            ),
            (
                "invalid gateway name",
                gw_named(
                    "my.gw",
                    &format!("{{servers: [{{hosts: [foo.bar.com], {HTTP}}}]}}"),
                ),
                Some("invalid gateway name: \"my.gw\""),
            ),
            (
                "selector only is not enough",
                gw("{selector: {istio: ingressgateway}}"),
                Some("gateway must have at least one server"),
            ),
        ];
        run(&rows);
    }

    #[test]
    fn gateway_semantics() {
        let yaml = |name: &str, host: &str| {
            format!(
                "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: '{name}', namespace: default, annotations: {{internal.istio.io/gateway-semantics: gateway}}}}\nspec: {{servers: [{{hosts: ['{host}'], {HTTP}}}]}}\n"
            )
        };
        expect(
            "k8s gateway name with dots",
            &yaml("gw.istio", "ns/foo.bar.com"),
            None,
        );
        expect(
            "k8s gateway ~ namespace",
            &yaml("gw", "~/foo.bar.com"),
            None,
        );
        expect(
            "istio gateway ~ namespace",
            &srv(&format!("{{hosts: ['~/foo.bar.com'], {HTTP}}}")),
            Some("invalid namespace value \"~\" in gateway"),
        );
    }

    #[test]
    fn gateway_warnings() {
        let r = check(&srv(
            "{hosts: [foo.bar.com], port: {number: 443, name: tls, protocol: TLS}, tls: {mode: PASSTHROUGH, httpsRedirect: true}}",
        ));
        assert!(
            r.is_ok() && r.has_warning("tls.httpsRedirect should only be used with http servers"),
            "{r}"
        );
        let r = check(&tls("{mode: PASSTHROUGH, credentialName: sds-name}"));
        assert!(
            r.is_ok() && r.has_warning("PASSTHROUGH mode does not use certificates"),
            "{r}"
        );
        let r = check(&tls("{mode: PASSTHROUGH, caCrl: scrl}"));
        assert!(
            r.is_ok() && r.has_warning("PASSTHROUGH mode does not use certificates"),
            "{r}"
        );
        let r = check(&tls(
            "{mode: SIMPLE, credentialName: sds-name, cipherSuites: [not-a-cipher-suite]}",
        ));
        assert!(
            r.is_ok() && r.has_warning("ignoring invalid cipher suites: [not-a-cipher-suite]"),
            "{r}"
        );
        let r = check(&tls(
            "{mode: SIMPLE, credentialName: sds-name, cipherSuites: [ECDHE-ECDSA-AES128-SHA, ECDHE-ECDSA-AES128-SHA]}",
        ));
        assert!(
            r.is_ok()
                && r.has_warning("ignoring duplicate cipher suites: [ECDHE-ECDSA-AES128-SHA]"),
            "{r}"
        );
        let r = check(&tls(
            "{mode: SIMPLE, credentialName: sds-name, cipherSuites: [ECDHE-ECDSA-AES128-SHA, '-AES128-SHA', ALL]}",
        ));
        assert!(r.is_ok() && r.warnings.is_empty(), "{r}");
        let r = check(&tls(
            "{mode: SIMPLE, credentialName: sds-name, minProtocolVersion: TLSV1_1}",
        ));
        assert!(
            r.is_ok()
                && r.has_warning("TLS version below TLSV1_2 require setting compatible ciphers"),
            "{r}"
        );
        let r = check(&tls(
            "{mode: SIMPLE, credentialName: sds-name, minProtocolVersion: TLSV1_0, cipherSuites: [AES128-SHA]}",
        ));
        assert!(r.is_ok() && r.warnings.is_empty(), "{r}");
    }

    #[test]
    fn server() {
        let rows = [
            (
                "empty hosts",
                srv(&format!("{{{HTTP}}}")),
                Some("server config must contain at least one host"),
            ),
            (
                "happy",
                srv(&format!("{{hosts: [foo.bar.com], {HTTP}}}")),
                None,
            ),
            (
                "happy ip",
                srv(&format!("{{hosts: [1.1.1.1], {HTTP}}}")),
                None,
            ),
            (
                "happy ns/name",
                srv(&format!("{{hosts: [ns1/foo.bar.com], {HTTP}}}")),
                None,
            ),
            (
                "happy */name",
                srv(&format!("{{hosts: ['*/foo.bar.com'], {HTTP}}}")),
                None,
            ),
            (
                "happy ./name",
                srv(&format!("{{hosts: [./foo.bar.com], {HTTP}}}")),
                None,
            ),
            (
                "happy */*",
                srv(&format!("{{hosts: ['*/*'], {HTTP}}}")),
                None,
            ),
            (
                "happy wildcard",
                srv(&format!("{{hosts: ['*'], {HTTP}}}")),
                None,
            ),
            (
                "invalid ~/name",
                srv(&format!("{{hosts: [~/foo.bar.com], {HTTP}}}")),
                Some("invalid namespace value \"~\" in gateway"),
            ),
            (
                "invalid domain ns/name format",
                srv(&format!("{{hosts: ['ns1/foo.*.bar.com'], {HTTP}}}")),
                Some("domain name"),
            ),
            (
                "invalid short name host",
                srv(&format!("{{hosts: [foo], {HTTP}}}")),
                Some("short names (non FQDN) are not allowed"),
            ),
            (
                "empty namespace",
                srv(&format!("{{hosts: [/foo.bar.com], {HTTP}}}")),
                Some("config namespace and dnsName in host entry cannot be empty"),
            ),
            (
                "invalid port",
                srv("{hosts: [foo.bar.com], port: {number: 66000, name: http, protocol: HTTP}}"),
                Some("port number 66000 must be in the range 1..65535"),
            ),
            (
                "invalid tls options",
                srv(
                    "{hosts: [foo.bar.com], port: {number: 443, name: https, protocol: HTTPS}, tls: {mode: SIMPLE}}",
                ),
                Some("SIMPLE TLS requires a server certificate"),
            ),
            (
                "no tls on HTTPS",
                srv("{hosts: [foo.bar.com], port: {number: 443, name: https, protocol: HTTPS}}"),
                Some("server must have TLS settings for HTTPS/TLS protocols"),
            ),
            (
                "no tls on TLS",
                srv("{hosts: [foo.bar.com], port: {number: 443, name: tls, protocol: TLS}}"),
                Some("server must have TLS settings for HTTPS/TLS protocols"),
            ),
            (
                "tls on HTTP",
                srv(&format!(
                    "{{hosts: [foo.bar.com], {HTTP}, tls: {{mode: SIMPLE, credentialName: c}}}}"
                )),
                Some("server cannot have TLS settings for plain text HTTP ports"),
            ),
            (
                "tls with certs on HTTP passthrough",
                srv(&format!(
                    "{{hosts: [foo.bar.com], {HTTP}, tls: {{httpsRedirect: true, serverCertificate: /c}}}}"
                )),
                Some("server cannot have TLS settings for plain text HTTP ports"),
            ),
            (
                "tls redirect on HTTP",
                srv(&format!(
                    "{{hosts: [foo.bar.com], {HTTP}, tls: {{httpsRedirect: true}}}}"
                )),
                None,
            ),
            (
                "tls on TCP",
                srv(
                    "{hosts: [foo.bar.com], port: {number: 9000, name: tcp, protocol: TCP}, tls: {mode: PASSTHROUGH}}",
                ),
                Some("server cannot have TLS settings for non HTTPS/TLS ports"),
            ),
            (
                "bind ip",
                srv(&format!(
                    "{{hosts: [foo.bar.com], {HTTP}, bind: 127.0.0.1}}"
                )),
                None,
            ),
            (
                "bind unix path with invalid port",
                srv(&format!(
                    "{{hosts: [foo.bar.com], {HTTP}, bind: 'unix:///@foo/bar.com'}}"
                )),
                Some("port number must be 0 for unix domain socket"),
            ),
            (
                "bind unix path",
                srv(
                    "{hosts: [foo.bar.com], port: {number: 0, name: http, protocol: HTTP}, bind: 'unix:///@foo/bar.com'}",
                ),
                None,
            ),
            (
                "bind unix abstract",
                srv(
                    "{hosts: [foo.bar.com], port: {name: http, protocol: HTTP}, bind: 'unix://@foo'}",
                ),
                None,
            ),
            (
                "bind unix relative path",
                srv(
                    "{hosts: [foo.bar.com], port: {name: http, protocol: HTTP}, bind: 'unix://foo/bar'}",
                ),
                Some("foo/bar is not an absolute path to a file"),
            ),
            (
                "bind unix empty",
                srv("{hosts: [foo.bar.com], port: {name: http, protocol: HTTP}, bind: 'unix://'}"),
                Some("unix address must not be empty"),
            ),
            (
                "bind bad ip",
                srv(&format!("{{hosts: [foo.bar.com], {HTTP}, bind: foo.bar}}")),
                Some("foo.bar is not a valid IP"),
            ),
            (
                "ns/ip host",
                srv(&format!("{{hosts: [ns/1.1.1.1], {HTTP}}}")),
                None,
            ),
            (
                "ip-like short name",
                srv(&format!("{{hosts: ['1234'], {HTTP}}}")),
                Some("short names (non FQDN) are not allowed"),
            ),
        ];
        run(&rows);
    }

    #[test]
    fn server_port() {
        let p = |port: &str| srv(&format!("{{hosts: [foo.bar.com], port: {port}}}"));
        let rows = [
            (
                "empty protocol",
                p("{number: 80, name: http}"),
                Some("invalid protocol \"\""),
            ),
            (
                "empty name",
                p("{number: 80, protocol: HTTP}"),
                Some("port name must be set"),
            ),
            ("happy", p("{number: 1, name: Henry, protocol: http}"), None),
            (
                "happy grpc-web",
                p("{number: 8080, name: web, protocol: GRPC-WEB}"),
                None,
            ),
            (
                "happy tcp",
                p("{number: 3306, name: mysql, protocol: TCP}"),
                None,
            ),
            (
                "invalid protocol",
                p("{number: 1, name: Henry, protocol: kafka}"),
                Some(
                    "invalid protocol \"kafka\", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
                ),
            ),
            (
                "invalid number",
                p("{number: 0, name: Henry, protocol: http}"),
                Some("port number 0 must be in the range 1..65535"),
            ),
            (
                "name, no number",
                p("{name: Henry, protocol: http}"),
                Some("must be in the range"),
            ),
            (
                "target port",
                p("{number: 80, name: http, protocol: HTTP, targetPort: 8080}"),
                Some("targetPort has no impact on Gateways"),
            ),
        ];
        run(&rows);
    }

    #[test]
    fn tls_options() {
        let rows = [
            ("empty", tls("{}"), None),
            (
                "simple",
                tls("{mode: SIMPLE, serverCertificate: Captain, privateKey: Khan}"),
                None,
            ),
            (
                "simple with client bundle",
                tls(
                    "{mode: SIMPLE, serverCertificate: Captain, privateKey: Khan, caCertificates: Riker}",
                ),
                None,
            ),
            (
                "simple sds with client bundle",
                tls("{mode: SIMPLE, caCertificates: Riker, credentialName: sds-name}"),
                None,
            ),
            (
                "simple sds with client bundle but with server cert",
                tls(
                    "{mode: SIMPLE, serverCertificate: Captain, privateKey: Khan, caCertificates: Riker, credentialName: sds-name}",
                ),
                Some(
                    "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified",
                ),
            ),
            (
                "simple no server cert",
                tls("{mode: SIMPLE, privateKey: Khan}"),
                Some("SIMPLE TLS requires a server certificate"),
            ),
            (
                "simple no private key",
                tls("{mode: SIMPLE, serverCertificate: Captain}"),
                Some("SIMPLE TLS requires a private key"),
            ),
            (
                "simple more than 2 certs",
                tls(
                    "{mode: SIMPLE, tlsCertificates: [{serverCertificate: a, privateKey: a}, {serverCertificate: b, privateKey: b}, {serverCertificate: c, privateKey: c}]}",
                ),
                Some("must have at most 2 items"),
            ),
            (
                "simple two tls certs",
                tls(
                    "{mode: SIMPLE, tlsCertificates: [{serverCertificate: a, privateKey: a}, {serverCertificate: b, privateKey: b}]}",
                ),
                None,
            ),
            (
                "simple with both server cert and tls certs",
                tls(
                    "{mode: SIMPLE, serverCertificate: Captain, privateKey: Khan, tlsCertificates: [{serverCertificate: a, privateKey: a}]}",
                ),
                Some("only one of credential_name, credential_names"),
            ),
            (
                "simple 2 certs with missing certificate",
                tls(
                    "{mode: SIMPLE, tlsCertificates: [{privateKey: a}, {serverCertificate: b, privateKey: b}]}",
                ),
                Some("SIMPLE TLS requires a server certificate"),
            ),
            (
                "simple 2 certs with missing private key",
                tls(
                    "{mode: SIMPLE, tlsCertificates: [{serverCertificate: a}, {serverCertificate: b, privateKey: b}]}",
                ),
                Some("SIMPLE TLS requires a private key"),
            ),
            (
                "simple sds no server cert",
                tls("{mode: SIMPLE, privateKey: Khan, credentialName: sds-name}"),
                None,
            ),
            (
                "simple sds no private key",
                tls("{mode: SIMPLE, serverCertificate: Captain, credentialName: sds-name}"),
                None,
            ),
            (
                "mutual",
                tls(
                    "{mode: MUTUAL, serverCertificate: Captain, privateKey: Khan, caCertificates: Riker}",
                ),
                None,
            ),
            (
                "mutual sds",
                tls("{mode: MUTUAL, caCertificates: Riker, credentialName: sds-name}"),
                None,
            ),
            (
                "mutual sds with credential name and server cert",
                tls(
                    "{mode: MUTUAL, serverCertificate: Captain, privateKey: Khan, caCertificates: Riker, credentialName: sds-name}",
                ),
                Some("only one of credential_name, credential_names"),
            ),
            (
                "mutual sds with credential name and tls certs",
                tls(
                    "{mode: MUTUAL, caCertificates: Riker, credentialName: sds-name, tlsCertificates: [{serverCertificate: a, privateKey: a}]}",
                ),
                Some("only one of credential_name, credential_names"),
            ),
            (
                "mutual no server cert",
                tls("{mode: MUTUAL, privateKey: Khan, caCertificates: Riker}"),
                Some("MUTUAL TLS requires a server certificate"),
            ),
            (
                "credential names and certificates",
                tls(
                    "{mode: MUTUAL, serverCertificate: Captain, privateKey: Khan, caCertificates: Riker, credentialNames: [a, b]}",
                ),
                Some("only one of credential_name, credential_names"),
            ),
            (
                "credential names and tls certificates",
                tls(
                    "{mode: MUTUAL, caCertificates: Riker, credentialNames: [a], tlsCertificates: [{serverCertificate: a, privateKey: a}]}",
                ),
                Some("only one of credentialNames or tlsCertificates can be set"),
            ),
            (
                "credential name and credential names",
                tls("{mode: SIMPLE, credentialName: a, credentialNames: [b]}"),
                Some("only one of credentialName or credentialNames can be set"),
            ),
            (
                "three credential names",
                tls("{mode: SIMPLE, credentialNames: [a, b, c]}"),
                Some("must have at most 2 items"),
            ),
            (
                "only tls certificates",
                tls(
                    "{mode: MUTUAL, caCertificates: Riker, tlsCertificates: [{serverCertificate: a, privateKey: a}, {serverCertificate: b, privateKey: b}]}",
                ),
                None,
            ),
            (
                "mutual sds no server cert",
                tls(
                    "{mode: MUTUAL, privateKey: Khan, caCertificates: Riker, credentialName: sds-name}",
                ),
                None,
            ),
            (
                "mutual no client CA bundle",
                tls("{mode: MUTUAL, serverCertificate: Captain, privateKey: Khan}"),
                Some("MUTUAL TLS requires a client CA bundle"),
            ),
            (
                "mutual sds no client CA bundle",
                tls("{mode: MUTUAL, credentialName: sds-name}"),
                None,
            ),
            (
                "mutual 2 certs with missing CA certificate",
                tls(
                    "{mode: MUTUAL, tlsCertificates: [{serverCertificate: a, privateKey: a}, {serverCertificate: b, privateKey: b}]}",
                ),
                Some("MUTUAL TLS requires a client CA bundle"),
            ),
            (
                "mutual 2 certs with missing private key",
                tls(
                    "{mode: MUTUAL, caCertificates: Riker, tlsCertificates: [{serverCertificate: a}, {serverCertificate: b, privateKey: b}]}",
                ),
                Some("MUTUAL TLS requires a private key"),
            ),
            (
                "optional mutual no server cert",
                tls("{mode: OPTIONAL_MUTUAL, privateKey: Khan, caCertificates: Riker}"),
                Some("MUTUAL TLS requires a server certificate"),
            ),
            (
                "optional mutual no private key",
                tls("{mode: OPTIONAL_MUTUAL, serverCertificate: Captain, caCertificates: Riker}"),
                Some("MUTUAL TLS requires a private key"),
            ),
            (
                "optional mutual no CA",
                tls("{mode: OPTIONAL_MUTUAL, serverCertificate: Captain, privateKey: Khan}"),
                Some("MUTUAL TLS requires a client CA bundle"),
            ),
            (
                "pass through sds no certs",
                tls("{mode: PASSTHROUGH, credentialName: sds-name}"),
                None,
            ),
            ("auto passthrough", tls("{mode: AUTO_PASSTHROUGH}"), None),
            ("istio_mutual no certs", tls("{mode: ISTIO_MUTUAL}"), None),
            (
                "istio_mutual with server cert",
                tls("{mode: ISTIO_MUTUAL, serverCertificate: Captain}"),
                Some("ISTIO_MUTUAL TLS cannot have associated server certificate"),
            ),
            (
                "istio_mutual with client bundle",
                tls("{mode: ISTIO_MUTUAL, caCertificates: Riker}"),
                Some("ISTIO_MUTUAL TLS cannot have associated CA bundle"),
            ),
            (
                "istio_mutual with private key",
                tls("{mode: ISTIO_MUTUAL, privateKey: Khan}"),
                Some("ISTIO_MUTUAL TLS cannot have associated private key"),
            ),
            (
                "istio_mutual with credential name",
                tls("{mode: ISTIO_MUTUAL, credentialName: some-cred}"),
                Some("ISTIO_MUTUAL TLS cannot have associated credentialName"),
            ),
            (
                "istio_mutual with credential names",
                tls("{mode: ISTIO_MUTUAL, credentialNames: [some-cred]}"),
                Some("ISTIO_MUTUAL TLS cannot have associated credentialNames"),
            ),
            (
                "istio_mutual with tls certificates",
                tls("{mode: ISTIO_MUTUAL, tlsCertificates: [{serverCertificate: a}]}"),
                Some("ISTIO_MUTUAL TLS cannot have associated tlsCertificates"),
            ),
            (
                "invalid cipher suites",
                tls("{mode: SIMPLE, credentialName: sds-name, cipherSuites: [not-a-cipher-suite]}"),
                None,
            ),
            (
                "valid cipher suites",
                tls(
                    "{mode: SIMPLE, credentialName: sds-name, cipherSuites: [ECDHE-ECDSA-AES128-SHA]}",
                ),
                None,
            ),
            (
                "crl with credential name",
                tls("{mode: MUTUAL, credentialName: c, caCrl: crl}"),
                None,
            ),
            (
                "crl with simple",
                tls("{mode: SIMPLE, serverCertificate: a, privateKey: b, caCrl: crl}"),
                Some("CRL is not supported with SIMPLE TLS"),
            ),
            (
                "crl with mutual files",
                tls(
                    "{mode: MUTUAL, serverCertificate: a, privateKey: b, caCertificates: c, caCrl: crl}",
                ),
                None,
            ),
            (
                "credentialNames two",
                tls("{mode: SIMPLE, credentialNames: [rsa, ecdsa]}"),
                None,
            ),
            (
                "ca cert credential name",
                tls("{mode: MUTUAL, credentialName: c, caCertCredentialName: ca}"),
                None,
            ),
        ];
        run(&rows);
    }
}
