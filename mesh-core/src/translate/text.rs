//! Names built from parts on the translation's hot paths (cluster names, SNIs, virtual host
//! names and domains): one allocation of the exact size, without `core::fmt`, which costs
//! several times as much for these short strings.

/// The parts one after another.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// A number's decimal digits, without `core::fmt`.
pub(crate) struct Decimal {
    buf: [u8; 10],
    start: usize,
}

impl Decimal {
    pub(crate) fn new(n: u32) -> Decimal {
        let mut buf = [0; 10];
        let mut n = n;
        let mut start = buf.len();
        loop {
            start -= 1;
            // A digit: `n % 10` is below 10.
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { buf, start }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).expect("ASCII digits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_what_display_writes() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            8080,
            15006,
            65535,
            1_000_000_007,
            u32::MAX,
        ] {
            assert_eq!(Decimal::new(n).as_str(), n.to_string());
        }
    }

    #[test]
    fn concat_joins_the_parts() {
        assert_eq!(
            concat(&["outbound|", "80", "||", "a.b"]),
            "outbound|80||a.b"
        );
        assert_eq!(concat(&[]), "");
        assert_eq!(concat(&["", "x", ""]), "x");
    }
}
