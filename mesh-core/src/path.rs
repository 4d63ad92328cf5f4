//! Paths to fields inside an object, as `kubectl` and Istio print them:
//! `spec.http[0].route[1].weight`.

use std::fmt;

/// One step of a [`FieldPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A field of an object, or a key of a map.
    Key(String),
    /// An element of a list.
    Index(usize),
}

/// The path from the root of an object to one of its fields.
///
/// ```
/// use mesh_core::FieldPath;
/// let p = FieldPath::root().key("spec").key("http").index(0).key("route");
/// assert_eq!(p.to_string(), "spec.http[0].route");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath {
    segments: Vec<Segment>,
}

impl FieldPath {
    /// The empty path (the object itself).
    pub fn root() -> Self {
        Self::default()
    }

    /// Parses the dotted form (`spec.http[0].route`); map keys holding dots are written `[key]`.
    pub fn parse(s: &str) -> Self {
        let mut path = Self::root();
        let mut rest = s;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').unwrap_or(after.len());
                let inner = &after[..end];
                path.segments.push(match inner.parse::<usize>() {
                    Ok(i) => Segment::Index(i),
                    Err(_) => Segment::Key(inner.to_string()),
                });
                rest = after.get(end + 1..).unwrap_or("");
            } else {
                let rest_trim = rest.strip_prefix('.').unwrap_or(rest);
                let end = rest_trim.find(['.', '[']).unwrap_or(rest_trim.len());
                if end > 0 {
                    path.segments
                        .push(Segment::Key(rest_trim[..end].to_string()));
                }
                rest = &rest_trim[end..];
            }
        }
        path
    }

    /// This path extended by a field or map key.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.segments.push(Segment::Key(key.into()));
        self
    }

    /// This path extended by a list index.
    #[must_use]
    pub fn index(mut self, index: usize) -> Self {
        self.segments.push(Segment::Index(index));
        self
    }

    /// Appends a segment in place.
    pub fn push(&mut self, segment: Segment) {
        self.segments.push(segment);
    }

    /// Removes the last segment in place.
    pub fn pop(&mut self) -> Option<Segment> {
        self.segments.pop()
    }

    /// The segments from the root.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether this is the root path.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// Whether `self` starts with `prefix`.
    pub fn starts_with(&self, prefix: &FieldPath) -> bool {
        self.segments.starts_with(&prefix.segments)
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$' || c == '@')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Key(k) if is_plain_key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Segment::Key(k) => write!(f, "[{k}]")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl From<&serde_path_to_error::Path> for FieldPath {
    fn from(p: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        let mut out = FieldPath::root();
        for seg in p.iter() {
            match seg {
                S::Seq { index } => out.push(Segment::Index(*index)),
                S::Map { key } => out.push(Segment::Key(key.clone())),
                S::Enum { variant } => out.push(Segment::Key(variant.clone())),
                S::Unknown => {}
            }
        }
        out
    }
}

impl serde::Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for s in [
            "spec.http[0].route[1].weight",
            "metadata.labels[app.kubernetes.io/name]",
            "spec",
            "spec.portLevelMtls.8080.mode",
        ] {
            assert_eq!(FieldPath::parse(s).to_string(), s);
        }
        assert_eq!(
            FieldPath::parse("a.b[2]").segments(),
            &[
                Segment::Key("a".into()),
                Segment::Key("b".into()),
                Segment::Index(2)
            ]
        );
    }
}
