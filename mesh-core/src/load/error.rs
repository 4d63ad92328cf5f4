//! Load errors: what went wrong and exactly where.

use std::{fmt, sync::Arc};

use serde_json::Value;

use crate::path::FieldPath;

/// `Kind namespace/name` of the object an error belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ObjectRef {
    /// The kind, as written.
    pub kind: String,
    /// The namespace, possibly empty.
    pub namespace: String,
    /// The name, possibly empty.
    pub name: String,
}

impl ObjectRef {
    pub(crate) fn of_value(v: &Value) -> Option<Self> {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let kind = s(v.get("kind"));
        let meta = v.get("metadata");
        let r = Self {
            kind,
            namespace: s(meta.and_then(|m| m.get("namespace"))),
            name: s(meta.and_then(|m| m.get("name"))),
        };
        (!r.kind.is_empty() || !r.name.is_empty()).then_some(r)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.kind.is_empty() {
            "<no kind>"
        } else {
            &self.kind
        })?;
        match (self.namespace.is_empty(), self.name.is_empty()) {
            (_, true) => f.write_str(" <no name>"),
            (true, false) => write!(f, " {}", self.name),
            (false, false) => write!(f, " {}/{}", self.namespace, self.name),
        }
    }
}

/// One problem found while loading.
///
/// Displays as `source:document:line:column: Kind namespace/name: field.path: message`, leaving
/// out the parts that are not known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub(crate) source: Arc<str>,
    pub(crate) document: Option<usize>,
    pub(crate) line: Option<usize>,
    pub(crate) column: Option<usize>,
    pub(crate) object: Option<ObjectRef>,
    pub(crate) path: Option<FieldPath>,
    pub(crate) message: String,
}

impl LoadError {
    pub(crate) fn new(source: Arc<str>, message: String) -> Self {
        Self {
            source,
            document: None,
            line: None,
            column: None,
            object: None,
            path: None,
            message,
        }
    }

    pub(crate) fn in_document(mut self, document: usize) -> Self {
        self.document = Some(document);
        self
    }

    pub(crate) fn at_line(mut self, line: usize, column: Option<usize>) -> Self {
        self.line = Some(line);
        self.column = column;
        self
    }

    /// The source name given to the loader.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Index of the document in the stream, from 0.
    pub fn document(&self) -> Option<usize> {
        self.document
    }

    /// 1-based line.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// 1-based column.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// The object the error belongs to, when its kind or name could be read.
    pub fn object(&self) -> Option<&ObjectRef> {
        self.object.as_ref()
    }

    /// Path of the offending field inside the object.
    pub fn path(&self) -> Option<&FieldPath> {
        self.path.as_ref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(d) = self.document {
            write!(f, ":{d}")?;
        }
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(o) = &self.object {
            write!(f, "{o}: ")?;
        }
        if let Some(p) = self.path.as_ref().filter(|p| !p.is_root()) {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

/// Every error from one load; never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadErrors {
    errors: Vec<LoadError>,
}

impl LoadErrors {
    pub(crate) fn new(errors: Vec<LoadError>) -> Self {
        Self { errors }
    }

    /// The errors, in source order.
    pub fn errors(&self) -> &[LoadError] {
        &self.errors
    }
}

impl IntoIterator for LoadErrors {
    type Item = LoadError;
    type IntoIter = std::vec::IntoIter<LoadError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}
