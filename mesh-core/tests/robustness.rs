//! The fuzz property (`mesh_core::load::fuzz_one`, also the cargo-fuzz target in `fuzz/`) on a
//! deterministic set of mutations of real Istio files: truncations, byte flips, and insertions
//! of YAML syntax. Runs in the normal test suite so the property is checked on every change.

mod support;

/// xorshift64*: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SYNTAX: &[&[u8]] = &[
    b"\n---\n",
    b": ",
    b"- ",
    b"{",
    b"}",
    b"[",
    b"]",
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"!!str ",
    b"!!int ",
    b"'",
    b"\"",
    b"\t",
    b"\n  ",
    b"#",
    b"|\n",
    b">\n",
    b"\xff",
    b"\x00",
    b"~",
    b"1e999",
    b"-0",
    b"99999999999999999999999",
    b"kind: List\nitems:\n- ",
];

#[test]
fn mutated_corpus_files_never_panic() {
    let files = support::corpus_files();
    let seeds: Vec<&support::CorpusFile> = files
        .iter()
        .filter(|f| {
            f.rel.contains("tests/testdata/config/")
                || f.rel.contains("samples/bookinfo/networking/")
        })
        .collect();
    assert!(seeds.len() > 20);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cases = 0;
    for seed in &seeds {
        let original = seed.text.as_bytes();
        mesh_core::load::fuzz_one(original);
        for _ in 0..60 {
            let mut data = original.to_vec();
            for _ in 0..=rng.below(4) {
                let at = rng.below(data.len() + 1);
                match rng.below(4) {
                    0 => data.truncate(at),
                    1 if at < data.len() => data[at] ^= 1 << rng.below(8),
                    2 => {
                        let s = SYNTAX[rng.below(SYNTAX.len())];
                        data.splice(at..at, s.iter().copied());
                    }
                    _ if at < data.len() => {
                        let end = (at + rng.below(40)).min(data.len());
                        data.drain(at..end);
                    }
                    _ => {}
                }
            }
            mesh_core::load::fuzz_one(&data);
            cases += 1;
        }
    }
    assert!(cases > 1000);
}
