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

/// The value of one length-delimited field (key and length skipped), as [`fields`] bounds it.
pub(crate) fn payload(field: &[u8]) -> &[u8] {
    let mut at = 0;
    // The key's varint, then the length's.
    for _ in 0..2 {
        while field.get(at).is_some_and(|b| b & 0x80 != 0) {
            at += 1;
        }
        at += 1;
    }
    field.get(at..).unwrap_or_default()
}

/// The top-level fields of an encoded message: (field number, where the field starts, where
/// it ends), key included, in the order they come.
pub(crate) fn fields(bytes: &[u8]) -> Vec<(u32, usize, usize)> {
    each_field(bytes).collect()
}

/// [`fields`], one by one.
pub(crate) fn each_field(bytes: &[u8]) -> impl Iterator<Item = (u32, usize, usize)> + '_ {
    fn varint(bytes: &[u8], at: &mut usize) -> u64 {
        let mut v = 0;
        for shift in (0..64).step_by(7) {
            let Some(b) = bytes.get(*at) else { break };
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        v
    }
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        let key = varint(bytes, &mut at);
        match key & 7 {
            0 => {
                varint(bytes, &mut at);
            }
            1 => at += 8,
            2 => at += varint(bytes, &mut at) as usize,
            5 => at += 4,
            // Groups: prost writes none for the messages merged here.
            _ => at = bytes.len(),
        }
        Some(((key >> 3) as u32, start, at.min(bytes.len())))
    })
}

/// An encoded message with its fields found ([`fields`]), for merging other encodings of its
/// type into it ([`Self::merge`]).
#[derive(Debug)]
pub(crate) struct Indexed {
    bytes: Vec<u8>,
    fields: Vec<(u32, usize, usize)>,
}

impl Indexed {
    pub(crate) fn new(bytes: Vec<u8>) -> Indexed {
        Indexed {
            fields: fields(&bytes),
            bytes,
        }
    }

    /// This message and `b`, another encoding of its type with other fields, each as prost
    /// writes it (fields in number order), merged into the encoding of the message holding
    /// both: the same bytes prost writes for it.
    pub(crate) fn merge(&self, b: &[u8]) -> Vec<u8> {
        let (a, fa, fb) = (&self.bytes, &self.fields, fields(b));
        let mut out = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < fa.len() || j < fb.len() {
            let take_a = j == fb.len() || (i < fa.len() && fa[i].0 <= fb[j].0);
            if take_a {
                out.extend_from_slice(&a[fa[i].1..fa[i].2]);
                i += 1;
            } else {
                out.extend_from_slice(&b[fb[j].1..fb[j].2]);
                j += 1;
            }
        }
        out
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

    #[test]
    fn varint_fields_match_prost() {
        use prost::Message;
        let rc = envoy_types::pb::envoy::config::route::v3::RouteConfiguration {
            name: "x".repeat(200),
            ..Default::default()
        };
        let mut ours = Vec::new();
        put_field(&mut ours, 1, "x".repeat(200).as_bytes());
        assert_eq!(ours, rc.encode_to_vec());
    }

    #[test]
    fn merged_fields_encode_as_the_whole_message() {
        use envoy_types::pb::envoy::config::cluster::v3::Cluster;
        use envoy_types::pb::google::protobuf::Duration;
        use prost::Message;
        let whole = Cluster {
            name: "outbound|80|v1|a.x.svc.cluster.local".into(),
            alt_stat_name: "outbound|80|v1|a.x.svc.cluster.local;".into(),
            connect_timeout: Some(Duration {
                seconds: 10,
                nanos: 0,
            }),
            lb_policy: 1,
            per_connection_buffer_limit_bytes: Some(
                envoy_types::pb::google::protobuf::UInt32Value { value: 32_768 },
            ),
            ..Default::default()
        };
        let mut rest = whole.clone();
        let mut own = Cluster::default();
        std::mem::swap(&mut own.name, &mut rest.name);
        std::mem::swap(&mut own.alt_stat_name, &mut rest.alt_stat_name);
        let merged = Indexed::new(rest.encode_to_vec()).merge(&own.encode_to_vec());
        assert_eq!(merged, whole.encode_to_vec());
        assert_eq!(
            Indexed::new(Vec::new()).merge(&own.encode_to_vec()),
            own.encode_to_vec()
        );
    }
}
