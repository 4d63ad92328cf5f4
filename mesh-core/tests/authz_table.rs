//! The authorization table: AuthorizationPolicy and RequestAuthentication fields and
//! conditions enforced by real Envoy on real connections, each request with the status Istio's
//! documentation gives it. One Envoy serves several listeners, each with its own policies:
//!
//! - `mtls`: HTTPS requiring client certificates from a test CA (`mesh_ca`), so that source
//!   principals and namespaces are the peer's SPIFFE identity (curl presents the certificates);
//! - `network`: plaintext HTTP, for hosts, ports, IP blocks, `source.ip`, `destination.port`
//!   and header conditions;
//! - `jwt`: JWT authentication (two issuers, one read from a query parameter and a custom
//!   header) with `requestPrincipals`, `notRequestPrincipals`, `request.auth.audiences`,
//!   `request.auth.presenter`;
//! - four TCP listeners (network RBAC before a TCP proxy to an echo server): an ALLOW rule with
//!   HTTP-only fields is dropped (nothing allowed), a DENY rule's HTTP-only fields are ignored
//!   so it matches more (the port alone denies), never less.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{
    DataSource, TransportSocket, data_source, transport_socket,
};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, TlsCertificate,
    common_tls_context,
};
use envoy_types::pb::google::protobuf::BoolValue;
use mesh_ca::{Ca, CaOptions, SpiffeId, TrustDomain, workload_csr};
use mesh_core::api::AuthorizationPolicy;
use mesh_core::api::security::JwtRule;
use mesh_core::translate::authz::{TrustDomains, build_http, build_tcp};
use mesh_core::translate::inbound::inbound_route_configuration;
use mesh_core::translate::jwt::jwt_authn_filter;
use mesh_core::translate::listener::{socket, tcp_proxy_filter};
use serde_json::json;
use support::envoy;
use support::jwt::{Signer, now};
use support::policies;

/// One plaintext request with this Host header; the status.
fn plain(port: u16, method: &str, host: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    envoy::exchange(port, method, host, path, headers).0
}

const ISS: &str = "https://issuer.test";
const ISS2: &str = "https://issuer2.test";

fn policy(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: {name}, namespace: foo}}\nspec:\n{spec}\n---\n"
    )
}

fn inline(pem: &str) -> Option<DataSource> {
    Some(DataSource {
        specifier: Some(data_source::Specifier::InlineString(pem.to_string())),
        ..Default::default()
    })
}

/// A workload certificate for `ns/sa` from `ca`, written to `dir`: (chain file, key file).
fn identity(
    ca: &Ca,
    td: &TrustDomain,
    ns: &str,
    sa: &str,
    dir: &Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let id = SpiffeId::istio(td, ns, sa).expect("id");
    let (key, csr) = workload_csr(&id).expect("csr");
    let issued = ca
        .sign_csr(&csr, &id, Duration::from_secs(3600))
        .expect("signed");
    let (cert, keyf) = (
        dir.join(format!("{sa}.{ns}.pem")),
        dir.join(format!("{sa}.{ns}.key")),
    );
    std::fs::write(&cert, issued.chain.concat()).expect("write");
    std::fs::write(&keyf, key.serialize_pem()).expect("write");
    (cert, keyf)
}

/// The server side of mTLS: the workload's certificate, client certificates required and
/// verified against the CA's roots.
fn mtls(ca: &Ca, td: &TrustDomain) -> TransportSocket {
    let id = SpiffeId::istio(td, "foo", "httpbin").expect("id");
    let (key, csr) = workload_csr(&id).expect("csr");
    let issued = ca
        .sign_csr(&csr, &id, Duration::from_secs(3600))
        .expect("signed");
    let tls = DownstreamTlsContext {
        require_client_certificate: Some(BoolValue { value: true }),
        common_tls_context: Some(CommonTlsContext {
            tls_certificates: vec![TlsCertificate {
                certificate_chain: inline(&issued.chain[..1].concat()),
                private_key: inline(&key.serialize_pem()),
                ..Default::default()
            }],
            validation_context_type: Some(
                common_tls_context::ValidationContextType::ValidationContext(
                    CertificateValidationContext {
                        trusted_ca: inline(&ca.bundle().pem()),
                        ..Default::default()
                    },
                ),
            ),
            ..Default::default()
        }),
        ..Default::default()
    };
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(
            mesh_core::dump::to_any(&tls),
        )),
    }
}

/// One HTTPS request with a client certificate (`curl`); the status, 0 when TLS fails.
fn curl_mtls(
    port: u16,
    cert: &(std::path::PathBuf, std::path::PathBuf),
    method: &str,
    path: &str,
) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-k",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg("--cert")
        .arg(&cert.0)
        .arg("--key")
        .arg(&cert.1)
        .args([
            "--resolve",
            &format!("httpbin.foo:{port}:127.0.0.1"),
            "-X",
            method,
        ])
        .arg(format!("https://httpbin.foo:{port}{path}"))
        .output()
        .expect("curl runs (Debian's curl package)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// An echo server: every connection gets back what it sends.
fn echo_upstream() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Whether a TCP connection through `port` carries data (200) or is closed by RBAC (403).
fn tcp(port: u16) -> u16 {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    if s.write_all(b"ping\n").is_err() {
        return 403;
    }
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(n) if &buf[..n] == b"ping\n" => 200,
        _ => 403,
    }
}

fn http_filters_for(
    yaml: &str,
    jwt: &[&JwtRule],
) -> Vec<
    envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter,
> {
    let ps = policies(yaml);
    let refs: Vec<&AuthorizationPolicy> = ps.iter().collect();
    let mut filters: Vec<_> = jwt_authn_filter(jwt, false).into_iter().collect();
    filters.extend(build_http(&refs, &TrustDomains::new("cluster.local")));
    filters
}

fn tcp_listener(name: &str, port: u16, yaml: &str) -> Listener {
    let ps = policies(yaml);
    let refs: Vec<&AuthorizationPolicy> = ps.iter().collect();
    let mut filters = build_tcp(&refs, &TrustDomains::new("cluster.local"));
    filters.push(tcp_proxy_filter("echo", "echo"));
    Listener {
        name: name.into(),
        address: Some(socket("127.0.0.1", u32::from(port))),
        filter_chains: vec![FilterChain {
            filters,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// (listener, what, request, expected status)
type Row = (&'static str, String, Box<dyn Fn() -> u16>, u16);

#[test]
fn the_authorization_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let td = TrustDomain::new("cluster.local").expect("td");
    let ca = Ca::generate(CaOptions::new(td.clone())).expect("ca");
    let foreign = Ca::generate(CaOptions::new(td.clone())).expect("ca");
    let upstream = envoy::ok_upstream();
    let echo = echo_upstream();
    let [p_mtls, p_net, p_jwt, t1, t2, t3, t4] = [(); 7].map(|()| envoy::free_port());

    // --- mtls: principals, namespaces, source.principal, DENY over ALLOW ---
    let mtls_policies = policy(
        "allow",
        "  rules:\n  - from: [{source: {namespaces: [foo]}}]\n  - from: [{source: {namespaces: [bar]}}]\n    to: [{operation: {methods: [GET]}}]\n  - from: [{source: {notNamespaces: [foo, bar]}}]\n    to: [{operation: {paths: [/third]}}]\n    when: [{key: source.principal, values: [cluster.local/ns/baz/sa/third]}]\n  - from: [{source: {principals: [\"*/sa/admin\"]}}]\n",
    ) + &policy(
        "deny-evil",
        "  action: DENY\n  rules:\n  - from: [{source: {principals: [cluster.local/ns/foo/sa/evil]}}]\n  - from: [{source: {notPrincipals: [\"cluster.local/*\"]}}]\n",
    );
    let mut mtls_listener = envoy::http_listener(
        u32::from(p_mtls),
        inbound_route_configuration(9080, "inbound|9080||"),
        http_filters_for(&mtls_policies, &[]),
    );
    mtls_listener.filter_chains[0].transport_socket = Some(mtls(&ca, &td));

    // --- network: hosts, notHosts, ports, ipBlocks, notIpBlocks, source.ip, destination.port ---
    let net_policies = policy(
        "allow",
        &format!(
            "  rules:\n  - from: [{{source: {{ipBlocks: [127.0.0.0/8]}}}}]\n    to: [{{operation: {{hosts: [httpbin.foo], methods: [GET]}}}}]\n  - to: [{{operation: {{ports: [\"{p_net}\"], paths: [/port], notHosts: [blocked.example]}}}}]\n  - to: [{{operation: {{paths: [/ten]}}}}]\n    when: [{{key: source.ip, values: [10.0.0.0/8]}}]\n  - to: [{{operation: {{paths: [/notten]}}}}]\n    when: [{{key: source.ip, notValues: [10.0.0.0/8]}}]\n"
        ),
    ) + &policy(
        "deny",
        &format!(
            "  action: DENY\n  rules:\n  - from: [{{source: {{notIpBlocks: [127.0.0.1/32]}}}}]\n  - when:\n    - {{key: destination.port, values: [\"{p_net}\"]}}\n    - {{key: \"request.headers[x-block]\", values: [\"yes\"]}}\n"
        ),
    );
    let net_listener = envoy::http_listener(
        u32::from(p_net),
        inbound_route_configuration(9080, "inbound|9080||"),
        http_filters_for(&net_policies, &[]),
    );

    // --- jwt: request principals, audiences, presenter; tokens from a param and a header ---
    let signer = Signer::new();
    let signer2 = Signer::new();
    let forger = Signer::new();
    let rule: JwtRule = serde_json::from_value(
        json!({"issuer": ISS, "jwks": signer.jwks, "audiences": ["mesh-rs", "admins"]}),
    )
    .expect("rule");
    let rule2: JwtRule = serde_json::from_value(json!({"issuer": ISS2, "jwks": signer2.jwks,
        "fromParams": ["token"], "fromHeaders": [{"name": "x-jwt", "prefix": "Token "}]}))
    .expect("rule");
    let jwt_policies = policy(
        "jwt",
        &format!(
            "  rules:\n  - to: [{{operation: {{paths: [/admin]}}}}]\n    when: [{{key: request.auth.audiences, values: [admins]}}]\n  - to: [{{operation: {{paths: [/presented]}}}}]\n    when: [{{key: request.auth.presenter, values: [frontend]}}]\n  - from: [{{source: {{requestPrincipals: [\"*\"], notRequestPrincipals: [\"{ISS}/mallory\"]}}}}]\n    to: [{{operation: {{paths: [/any]}}}}]\n  - from: [{{source: {{requestPrincipals: [\"{ISS2}/*\"]}}}}]\n    to: [{{operation: {{paths: [/iss2]}}}}]\n  - to: [{{operation: {{paths: [/principal]}}}}]\n    when: [{{key: request.auth.principal, values: [\"{ISS}/alice\"]}}]\n"
        ),
    );
    let jwt_listener = envoy::http_listener(
        u32::from(p_jwt),
        inbound_route_configuration(9080, "inbound|9080||"),
        http_filters_for(&jwt_policies, &[&rule, &rule2]),
    );

    // --- TCP: rule dropping for ALLOW, widening for DENY ---
    let allow_local = policy(
        "allow-local",
        "  rules:\n  - from: [{source: {ipBlocks: [127.0.0.1/32]}}]\n",
    );
    let tcp_listeners = vec![
        tcp_listener(
            "t1",
            t1,
            &policy(
                "http-only",
                "  rules:\n  - to: [{operation: {paths: [/x]}}]\n",
            ),
        ),
        tcp_listener("t2", t2, &allow_local),
        tcp_listener(
            "t3",
            t3,
            &(allow_local.clone()
                + &policy(
                    "deny-post",
                    &format!(
                        "  action: DENY\n  rules:\n  - to: [{{operation: {{methods: [POST], ports: [\"{t3}\"]}}}}]\n"
                    ),
                )),
        ),
        tcp_listener(
            "t4",
            t4,
            &(allow_local.clone()
                + &policy(
                    "deny-post-elsewhere",
                    "  action: DENY\n  rules:\n  - to: [{operation: {methods: [POST], ports: [\"1\"]}}]\n",
                )),
        ),
    ];

    let mut listeners = vec![mtls_listener, net_listener, jwt_listener];
    listeners.extend(tcp_listeners);
    let clusters = vec![
        envoy::static_cluster("inbound|9080||", Some(("127.0.0.1", u32::from(upstream)))),
        envoy::static_cluster("echo", Some(("127.0.0.1", u32::from(echo)))),
    ];
    let running = envoy::start(&envoy::bootstrap(listeners, clusters, false), t4);

    let who = |ns: &str, sa: &str| identity(&ca, &td, ns, sa, dir.path());
    let (sleep, other, third, evil, admin) = (
        who("foo", "sleep"),
        who("bar", "other"),
        who("baz", "third"),
        who("foo", "evil"),
        who("qux", "admin"),
    );
    let foreign_dir = dir.path().join("foreign");
    std::fs::create_dir(&foreign_dir).expect("mkdir");
    let intruder = identity(&foreign, &td, "foo", "sleep", &foreign_dir);
    let exp = now() + 3600;
    let tok = |s: &Signer, iss: &str, claims: serde_json::Value| {
        let mut c = json!({"iss": iss, "sub": "alice", "aud": "mesh-rs", "exp": exp});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), claims.as_object()) {
            c.extend(extra.clone());
        }
        s.token(&c)
    };
    let bearer = |t: String| format!("Bearer {t}");
    let j = |path: &'static str, headers: Vec<(&'static str, String)>| -> Box<dyn Fn() -> u16> {
        Box::new(move || {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            plain(p_jwt, "GET", "httpbin.foo", path, &h)
        })
    };
    let m = |c: (std::path::PathBuf, std::path::PathBuf),
             method: &'static str,
             path: &'static str|
     -> Box<dyn Fn() -> u16> { Box::new(move || curl_mtls(p_mtls, &c, method, path)) };
    let n = |method: &'static str,
             host: &'static str,
             path: &'static str,
             headers: &'static [(&'static str, &'static str)]|
     -> Box<dyn Fn() -> u16> {
        Box::new(move || plain(p_net, method, host, path, headers))
    };
    let t = |port: u16| -> Box<dyn Fn() -> u16> { Box::new(move || tcp(port)) };

    let rows: Vec<Row> = vec![
        // mtls
        (
            "mtls",
            "namespaces: foo, any method".into(),
            m(sleep.clone(), "DELETE", "/x"),
            200,
        ),
        (
            "mtls",
            "namespaces: foo".into(),
            m(sleep.clone(), "GET", "/"),
            200,
        ),
        (
            "mtls",
            "namespaces: bar with methods: GET".into(),
            m(other.clone(), "GET", "/"),
            200,
        ),
        (
            "mtls",
            "namespaces: bar, not GET".into(),
            m(other.clone(), "POST", "/"),
            403,
        ),
        (
            "mtls",
            "notNamespaces + source.principal + path".into(),
            m(third.clone(), "GET", "/third"),
            200,
        ),
        (
            "mtls",
            "source.principal, other path".into(),
            m(third.clone(), "GET", "/"),
            403,
        ),
        (
            "mtls",
            "principals suffix match */sa/admin".into(),
            m(admin.clone(), "GET", "/"),
            200,
        ),
        (
            "mtls",
            "DENY principals wins over ALLOW namespaces".into(),
            m(evil.clone(), "GET", "/"),
            403,
        ),
        (
            "mtls",
            "a foreign CA's certificate: no handshake".into(),
            m(intruder, "GET", "/"),
            0,
        ),
        // network
        (
            "network",
            "ipBlocks + hosts + GET".into(),
            n("GET", "httpbin.foo", "/", &[]),
            200,
        ),
        (
            "network",
            "hosts: another host".into(),
            n("GET", "other.foo", "/", &[]),
            403,
        ),
        (
            "network",
            "methods: POST".into(),
            n("POST", "httpbin.foo", "/", &[]),
            403,
        ),
        (
            "network",
            "ports: this listener's".into(),
            n("GET", "any.example", "/port", &[]),
            200,
        ),
        (
            "network",
            "notHosts".into(),
            n("GET", "blocked.example", "/port", &[]),
            403,
        ),
        (
            "network",
            "source.ip 10.0.0.0/8: not us".into(),
            n("GET", "x", "/ten", &[]),
            403,
        ),
        (
            "network",
            "source.ip notValues 10.0.0.0/8".into(),
            n("GET", "x", "/notten", &[]),
            200,
        ),
        (
            "network",
            "DENY destination.port + header".into(),
            n("GET", "httpbin.foo", "/", &[("x-block", "yes")]),
            403,
        ),
        (
            "network",
            "DENY header not matching".into(),
            n("GET", "httpbin.foo", "/", &[("x-block", "no")]),
            200,
        ),
        // jwt
        (
            "jwt",
            "request.auth.audiences".into(),
            j(
                "/admin",
                vec![(
                    "authorization",
                    bearer(tok(&signer, ISS, json!({"aud": ["mesh-rs", "admins"]}))),
                )],
            ),
            200,
        ),
        (
            "jwt",
            "request.auth.audiences: other".into(),
            j(
                "/admin",
                vec![("authorization", bearer(tok(&signer, ISS, json!({}))))],
            ),
            403,
        ),
        (
            "jwt",
            "request.auth.presenter".into(),
            j(
                "/presented",
                vec![(
                    "authorization",
                    bearer(tok(&signer, ISS, json!({"azp": "frontend"}))),
                )],
            ),
            200,
        ),
        (
            "jwt",
            "request.auth.presenter: other".into(),
            j(
                "/presented",
                vec![(
                    "authorization",
                    bearer(tok(&signer, ISS, json!({"azp": "backend"}))),
                )],
            ),
            403,
        ),
        (
            "jwt",
            "requestPrincipals *".into(),
            j(
                "/any",
                vec![("authorization", bearer(tok(&signer, ISS, json!({}))))],
            ),
            200,
        ),
        (
            "jwt",
            "notRequestPrincipals".into(),
            j(
                "/any",
                vec![(
                    "authorization",
                    bearer(tok(&signer, ISS, json!({"sub": "mallory"}))),
                )],
            ),
            403,
        ),
        (
            "jwt",
            "no token: no request principal".into(),
            j("/any", vec![]),
            403,
        ),
        (
            "jwt",
            "request.auth.principal".into(),
            j(
                "/principal",
                vec![("authorization", bearer(tok(&signer, ISS, json!({}))))],
            ),
            200,
        ),
        (
            "jwt",
            "request.auth.principal: other".into(),
            j(
                "/principal",
                vec![(
                    "authorization",
                    bearer(tok(&signer, ISS, json!({"sub": "bob"}))),
                )],
            ),
            403,
        ),
        (
            "jwt",
            "fromHeaders with prefix".into(),
            j(
                "/iss2",
                vec![("x-jwt", format!("Token {}", tok(&signer2, ISS2, json!({}))))],
            ),
            200,
        ),
        (
            "jwt",
            "another issuer's principal".into(),
            j(
                "/iss2",
                vec![("authorization", bearer(tok(&signer, ISS, json!({}))))],
            ),
            403,
        ),
        (
            "jwt",
            "fromHeaders, forged".into(),
            j(
                "/iss2",
                vec![("x-jwt", format!("Token {}", tok(&forger, ISS2, json!({}))))],
            ),
            401,
        ),
        // tcp
        (
            "tcp",
            "ALLOW with only HTTP fields: rule dropped, nothing allowed".into(),
            t(t1),
            403,
        ),
        ("tcp", "ALLOW ipBlocks".into(), t(t2), 200),
        (
            "tcp",
            "DENY methods+ports: methods ignored, the port denies".into(),
            t(t3),
            403,
        ),
        ("tcp", "DENY on another port".into(), t(t4), 200),
    ];
    let params = format!("/iss2?token={}", tok(&signer2, ISS2, json!({})));
    let extra: Vec<(&str, String, u16, u16)> = vec![(
        "jwt",
        "fromParams".into(),
        plain(p_jwt, "GET", "httpbin.foo", &params, &[]),
        200,
    )];
    let mut failures = Vec::new();
    let mut count = 0;
    for (listener, what, request, want) in &rows {
        count += 1;
        let got = request();
        if got != *want {
            failures.push(format!("{listener}: {what}: got {got}, want {want}"));
        }
    }
    for (listener, what, got, want) in &extra {
        count += 1;
        if got != want {
            failures.push(format!("{listener}: {what}: got {got}, want {want}"));
        }
    }
    eprintln!("{count} requests, {} unexpected", failures.len());
    assert!(
        failures.is_empty(),
        "{}\nenvoy log:\n{}",
        failures.join("\n"),
        std::fs::read_to_string(&running.log).unwrap_or_default()
    );
}
