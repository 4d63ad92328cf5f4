//! Protobuf wire format, written by hand where building the prost message first would cost
//! more than the message is worth (cached route pieces, endpoint assignments). Fields are
//! written as prost writes them: proto3 defaults (0, "") left out unless the caller says the
//! field is a oneof member, which is always written. Each `*_len` gives what the matching
//! `put_*` writes, so that a message's length can be written before its fields.

/// Wire type of varint fields.
const VARINT: u64 = 0;
/// Wire type of length-delimited fields (strings, bytes, messages).
const LEN: u64 = 2;

/// The bytes `v` takes as a varint.
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key_len(field: u32) -> usize {
    varint_len(u64::from(field) << 3)
}

/// A length-delimited field of `n` bytes, with its key and length.
pub(crate) fn len_field(field: u32, n: usize) -> usize {
    key_len(field) + varint_len(n as u64) + n
}

/// A string field (left out when empty).
pub(crate) fn str_len(field: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        len_field(field, s.len())
    }
}

/// A varint field (left out when 0).
pub(crate) fn uint_len(field: u32, v: u64) -> usize {
    if v == 0 { 0 } else { uint_len_always(field, v) }
}

/// A varint field written even when 0 (a oneof member).
pub(crate) fn uint_len_always(field: u32, v: u64) -> usize {
    key_len(field) + varint_len(v)
}

/// The key and length of a length-delimited field whose `n` bytes the caller writes next.
pub(crate) fn put_len(out: &mut Vec<u8>, field: u32, n: usize) {
    put_varint(out, u64::from(field) << 3 | LEN);
    put_varint(out, n as u64);
}

/// A string field, left out when empty.
pub(crate) fn put_str(out: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        put_field(out, field, s.as_bytes());
    }
}

/// A varint field, left out when 0.
pub(crate) fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_uint_always(out, field, v);
    }
}

/// A varint field written even when 0 (a oneof member).
pub(crate) fn put_uint_always(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, u64::from(field) << 3 | VARINT);
    put_varint(out, v);
}

/// Appends `bytes` as a length-delimited field `field`.
pub(crate) fn put_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_len(out, field, bytes.len());
    out.extend_from_slice(bytes);
}

/// Appends the concatenation of `parts` as one length-delimited field `field`.
pub(crate) fn put_field_parts(out: &mut Vec<u8>, field: u32, parts: &[&[u8]]) {
    put_len(out, field, parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.extend_from_slice(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_what_is_written() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            assert_eq!(varint_len(v), prost::encoding::encoded_len_varint(v));
            for field in [1, 15, 16, 2047, 2048] {
                let mut out = Vec::new();
                put_uint(&mut out, field, v);
                assert_eq!(out.len(), uint_len(field, v), "{field} {v}");
                let mut out = Vec::new();
                put_uint_always(&mut out, field, v);
                assert_eq!(out.len(), uint_len_always(field, v), "{field} {v}");
            }
        }
        for s in ["", "x", &"y".repeat(200)] {
            let mut out = Vec::new();
            put_str(&mut out, 20, s);
            assert_eq!(out.len(), str_len(20, s));
        }
    }
}
