//! Free ports on 127.0.0.1 for tests (also included by mesh-xds's test support).

use std::sync::Mutex;

/// A free TCP port on 127.0.0.1, never the same twice in one test binary: tests run side by
/// side, and the kernel may offer a port again once the probe is closed, before its first
/// taker binds it.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}
