//! Test JWTs signed RS256 with a key made by Debian's `openssl` (a real signer, not ours).

use std::process::Command;

/// base64url without padding.
pub fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// An RSA signing key with its JWKS.
pub struct Signer {
    dir: tempfile::TempDir,
    /// The JWKS (one RS256 key, `kid` `test`).
    pub jwks: String,
}

fn openssl(args: &[&str], dir: &std::path::Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl Signer {
    /// A new 2048-bit key.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        openssl(&["genrsa", "-out", "key.pem", "2048"], dir.path());
        let modulus = String::from_utf8(openssl(
            &["rsa", "-in", "key.pem", "-noout", "-modulus"],
            dir.path(),
        ))
        .expect("utf-8");
        let hex = modulus.trim().trim_start_matches("Modulus=");
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        let jwks = serde_json::json!({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "test", "n": b64url(&bytes), "e": "AQAB"}]}).to_string();
        Self { dir, jwks }
    }

    /// A token with these claims.
    pub fn token(&self, claims: &serde_json::Value) -> String {
        let header = b64url(br#"{"alg":"RS256","typ":"JWT","kid":"test"}"#);
        let payload = b64url(claims.to_string().as_bytes());
        let input = format!("{header}.{payload}");
        std::fs::write(self.dir.path().join("input"), &input).expect("write");
        let sig = openssl(
            &["dgst", "-sha256", "-sign", "key.pem", "input"],
            self.dir.path(),
        );
        format!("{input}.{}", b64url(&sig))
    }
}

/// Seconds since the epoch (for `exp`).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
