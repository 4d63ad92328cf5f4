//! Finding the line of a field after loading, for errors found later (validation).

use super::{Origin, yaml};
use crate::path::FieldPath;

/// Positions of every node of a source, to point later findings (validation errors) at a line.
///
/// ```
/// use mesh_core::{FieldPath, load::{self, SourceMap}};
/// let text = "kind: Namespace\napiVersion: v1\nmetadata:\n  name: a\n---\nkind: Namespace\napiVersion: v1\nmetadata:\n  name: b\n";
/// let objects = load::from_str(text, "ns.yaml")?;
/// let map = SourceMap::new(text);
/// assert_eq!(map.line(&objects[1].origin, &FieldPath::parse("metadata.name")), Some(9));
/// # Ok::<(), load::LoadErrors>(())
/// ```
#[derive(Debug)]
pub struct SourceMap {
    docs: Vec<yaml::PosTree>,
}

impl SourceMap {
    /// Parses `text` (the same text given to the loader) for positions.
    pub fn new(text: &str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let (docs, _) = yaml::parse_stream(text);
        Self {
            docs: docs.into_iter().map(|d| d.pos).collect(),
        }
    }

    /// Line and column of `path` inside the object at `origin` (or of its nearest existing
    /// ancestor, when the field is absent).
    pub fn locate(&self, origin: &Origin, path: &FieldPath) -> Option<yaml::Mark> {
        let doc = self.docs.get(origin.document)?;
        let object = doc.get(origin.path.segments())?;
        Some(object.locate(path))
    }

    /// Line of `path` inside the object at `origin`.
    pub fn line(&self, origin: &Origin, path: &FieldPath) -> Option<usize> {
        self.locate(origin, path).map(|m| m.line)
    }
}
