//! The protocol a service port carries, chosen as istiod chooses it.
//!
//! Istio reads a Kubernetes Service port's protocol from, in order: a UDP transport protocol,
//! the port's `appProtocol` (including the Kubernetes standard names `kubernetes.io/h2c`,
//! `kubernetes.io/ws` and `kubernetes.io/wss`), then the port name, whose part before the
//! first `-` names the protocol (`http-web`, `grpc`, `TCP-db`; `grpc-web...` is gRPC-Web).
//! Case does not matter. A port whose protocol cannot be told is [`Protocol::Unsupported`]:
//! istiod sniffs it, except on the well-known ports 25, 53, 3306 and 27017, which are TCP.

use std::fmt;

/// A port protocol as Istio models it (`protocol.Instance` in istiod).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// gRPC (HTTP/2).
    Grpc,
    /// gRPC-Web (HTTP/2 upstream).
    GrpcWeb,
    /// HTTP/1.1.
    Http,
    /// A generic outbound HTTP proxy port (Sidecar egress listeners only).
    HttpProxy,
    /// HTTP/2 (cleartext).
    Http2,
    /// HTTPS: TLS carrying HTTP, routed as opaque TLS by SNI.
    Https,
    /// Opaque TCP (also what an unnamed port on a well-known server-first port is).
    Tcp,
    /// TLS with SNI.
    Tls,
    /// UDP, which the proxy does not carry.
    Udp,
    /// MongoDB wire protocol.
    Mongo,
    /// Redis.
    Redis,
    /// MySQL.
    MySql,
    /// Not recognised: istiod detects the protocol from the first bytes of each connection.
    Unsupported,
}

/// Ports that are TCP when their name says nothing, because sniffing would break them
/// (server-first protocols: SMTP, DNS, MySQL, MongoDB).
const WELL_KNOWN_TCP_PORTS: [u32; 4] = [25, 53, 3306, 27017];

impl Protocol {
    /// Parses a protocol name, ignoring case, as in a ServiceEntry or Gateway port's
    /// `protocol` field. Anything else is [`Protocol::Unsupported`].
    ///
    /// ```
    /// use mesh_core::model::Protocol;
    /// assert_eq!(Protocol::parse("HTTP2"), Protocol::Http2);
    /// assert_eq!(Protocol::parse("grpc-web"), Protocol::GrpcWeb);
    /// assert_eq!(Protocol::parse("thrift"), Protocol::Unsupported);
    /// ```
    pub fn parse(name: &str) -> Protocol {
        const NAMES: [(&str, Protocol); 12] = [
            ("tcp", Protocol::Tcp),
            ("udp", Protocol::Udp),
            ("grpc", Protocol::Grpc),
            ("grpc-web", Protocol::GrpcWeb),
            ("http", Protocol::Http),
            ("http_proxy", Protocol::HttpProxy),
            ("http2", Protocol::Http2),
            ("https", Protocol::Https),
            ("tls", Protocol::Tls),
            ("mongo", Protocol::Mongo),
            ("redis", Protocol::Redis),
            ("mysql", Protocol::MySql),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(Protocol::Unsupported, |(_, p)| *p)
    }

    /// The protocol of a Kubernetes Service port: its number, name, transport protocol
    /// (`TCP`, `UDP`, `SCTP`; `None` means TCP) and `appProtocol`.
    ///
    /// ```
    /// use mesh_core::model::Protocol;
    /// assert_eq!(Protocol::from_service_port(9080, "http", None, None), Protocol::Http);
    /// assert_eq!(Protocol::from_service_port(80, "web", None, Some("kubernetes.io/h2c")), Protocol::Http2);
    /// assert_eq!(Protocol::from_service_port(3306, "db", None, None), Protocol::Tcp);
    /// assert_eq!(Protocol::from_service_port(8080, "web", None, None), Protocol::Unsupported);
    /// ```
    pub fn from_service_port(
        number: u32,
        name: &str,
        transport: Option<&str>,
        app_protocol: Option<&str>,
    ) -> Protocol {
        if transport.is_some_and(|t| t.eq_ignore_ascii_case("UDP")) {
            return Protocol::Udp;
        }
        let label = match app_protocol {
            Some("kubernetes.io/h2c") => return Protocol::Http2,
            Some("kubernetes.io/ws") => return Protocol::Http,
            Some("kubernetes.io/wss") => return Protocol::Https,
            Some(app) => app,
            None => name,
        };
        let out = if label
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("grpc-web"))
        {
            Protocol::GrpcWeb
        } else {
            let prefix = label.split('-').next().unwrap_or(label);
            match Protocol::parse(prefix) {
                // A name cannot make a TCP port UDP.
                Protocol::Udp => Protocol::Tcp,
                p => p,
            }
        };
        if out == Protocol::Unsupported && WELL_KNOWN_TCP_PORTS.contains(&number) {
            Protocol::Tcp
        } else {
            out
        }
    }

    /// The name istiod prints for this protocol (`HTTP`, `GRPC-Web`, `UnsupportedProtocol`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "GRPC",
            Protocol::GrpcWeb => "GRPC-Web",
            Protocol::Http => "HTTP",
            Protocol::HttpProxy => "HTTP_PROXY",
            Protocol::Http2 => "HTTP2",
            Protocol::Https => "HTTPS",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
            Protocol::Udp => "UDP",
            Protocol::Mongo => "Mongo",
            Protocol::Redis => "Redis",
            Protocol::MySql => "MySQL",
            Protocol::Unsupported => "UnsupportedProtocol",
        }
    }

    /// Whether traffic is HTTP, so it gets an HttpConnectionManager and routes.
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http
                | Protocol::Http2
                | Protocol::HttpProxy
                | Protocol::Grpc
                | Protocol::GrpcWeb
        )
    }

    /// Whether the upstream speaks HTTP/2.
    pub fn is_http2(self) -> bool {
        matches!(self, Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb)
    }

    /// Whether traffic is carried as opaque TCP (tcp_proxy or SNI routing).
    pub fn is_tcp(self) -> bool {
        matches!(
            self,
            Protocol::Tcp
                | Protocol::Https
                | Protocol::Tls
                | Protocol::Mongo
                | Protocol::Redis
                | Protocol::MySql
        )
    }

    /// Whether the traffic is TLS (routed by SNI).
    pub fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Tls)
    }

    /// Whether istiod sniffs the protocol (HTTP or TCP) per connection.
    pub fn is_sniffed(self) -> bool {
        self == Protocol::Unsupported
    }

    /// The protocol left once a gateway terminates TLS: HTTPS becomes HTTP, TLS becomes TCP.
    pub fn after_tls_termination(self) -> Protocol {
        match self {
            Protocol::Https => Protocol::Http,
            Protocol::Tls => Protocol::Tcp,
            p => p,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Protocol::{self, *};

    #[test]
    fn port_names_as_istio_reads_them() {
        let cases = [
            (9080, "http", Http),
            (9080, "HTTP-web", Http),
            (9080, "http2", Http2),
            (9080, "http2-x", Http2),
            (9080, "grpc", Grpc),
            (9080, "grpc-api", Grpc),
            (9080, "grpc-web", GrpcWeb),
            (9080, "grpc-webby", GrpcWeb),
            (9080, "GRPC-WEB-x", GrpcWeb),
            (9080, "tcp-db", Tcp),
            (9080, "tls", Tls),
            (9080, "https-admin", Https),
            (9080, "mongo", Mongo),
            (9080, "redis-cache", Redis),
            (9080, "mysql", MySql),
            (9080, "udp-dns", Tcp),
            (9080, "web", Unsupported),
            (9080, "", Unsupported),
            (53, "dns", Tcp),
            (27017, "", Tcp),
            (3306, "http", Http),
        ];
        for (port, name, want) in cases {
            assert_eq!(
                Protocol::from_service_port(port, name, None, None),
                want,
                "port {port} name {name:?}"
            );
        }
        // The transport protocol comes first: a UDP port is UDP whatever its name.
        assert_eq!(
            Protocol::from_service_port(53, "http", Some("UDP"), None),
            Udp
        );
        assert_eq!(
            Protocol::from_service_port(80, "http", Some("TCP"), None),
            Http
        );
    }

    #[test]
    fn app_protocol_wins_over_the_name() {
        let cases = [
            ("http", "kubernetes.io/h2c", Http2),
            ("tcp", "kubernetes.io/ws", Http),
            ("http", "kubernetes.io/wss", Https),
            ("tcp", "http", Http),
            ("http", "grpc", Grpc),
            ("http", "HTTP2", Http2),
            // An appProtocol Istio does not know hides the port name: the port is sniffed.
            ("http", "example.com/custom", Unsupported),
        ];
        for (name, app, want) in cases {
            assert_eq!(
                Protocol::from_service_port(8080, name, None, Some(app)),
                want,
                "name {name:?} appProtocol {app:?}"
            );
        }
    }

    #[test]
    fn classes_and_names() {
        assert!(Grpc.is_http() && Grpc.is_http2() && !Grpc.is_tcp());
        assert!(Https.is_tcp() && Https.is_tls() && !Https.is_http());
        assert!(Unsupported.is_sniffed() && !Unsupported.is_http() && !Unsupported.is_tcp());
        assert_eq!(Https.after_tls_termination(), Http);
        assert_eq!(Tls.after_tls_termination(), Tcp);
        assert_eq!(Http2.after_tls_termination(), Http2);
        for p in [
            Grpc, GrpcWeb, Http, HttpProxy, Http2, Https, Tcp, Tls, Udp, Mongo, Redis, MySql,
        ] {
            assert_eq!(Protocol::parse(p.as_str()), p, "{p} does not parse back");
        }
        assert_eq!(Unsupported.to_string(), "UnsupportedProtocol");
    }
}
