//! Loading Istio and Kubernetes objects from YAML and JSON.
//!
//! A source is a stream of YAML documents separated by `---` (JSON is YAML, so JSON objects
//! load the same way); a document of kind `List` contributes each of its `items`. Every object
//! of a modelled kind is decoded into its typed form ([`crate::api::Object`]); objects of other
//! kinds become [`crate::api::UntypedObject`]s that keep their kind and metadata.
//!
//! Decoding is strict by default, like `kubectl apply --validate=strict`: a field the schema
//! does not know is an error. [`LoadOptions::lenient`] accepts such fields, drops them, and
//! lists them in [`Loaded::unknown_fields`].
//!
//! Errors name the source, the document (0-based index in the stream), the line and column,
//! the object (`Kind namespace/name`) and the path of the offending field:
//!
//! ```
//! use mesh_core::load;
//!
//! let yaml = "\
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: reviews}
//! spec:
//!   hosts: [reviews]
//!   http:
//!   - route:
//!     - destination: {host: reviews}
//!       weight: heavy
//! ";
//! let err = load::from_str(yaml, "vs.yaml").unwrap_err();
//! let first = &err.errors()[0];
//! assert_eq!(first.line(), Some(9));
//! assert_eq!(first.path().map(|p| p.to_string()).as_deref(), Some("spec.http[0].route[0].weight"));
//! assert!(err.to_string().starts_with("vs.yaml:0:9:7: VirtualService reviews: spec.http[0].route[0].weight: invalid type"));
//! ```
//!
//! The YAML parser is `saphyr-parser`, a maintained pure-Rust YAML 1.2 parser: `serde_yaml`
//! is archived, and its forks either carry `unsafe` C-derived code or drop position
//! information. Working from parser events lets the loader keep the line and column of every
//! node, reject duplicate keys, and expand anchors and `<<` merge keys as Kubernetes does.

mod error;
mod source_map;
mod strict;
pub(crate) mod yaml;

use std::sync::Arc;

use serde_json::Value;

use crate::api::{Kind, Object, UntypedObject};
use crate::path::{FieldPath, Segment};

pub use error::{LoadError, LoadErrors, ObjectRef};
pub use source_map::SourceMap;
pub(crate) use strict::Strict;
pub use yaml::Mark;

/// How strictly to decode.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// Reject objects carrying fields their schema does not declare (the default).
    pub strict: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { strict: true }
    }
}

impl LoadOptions {
    /// Strict decoding: unknown fields are errors.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Lenient decoding: unknown fields are dropped and listed in [`Loaded::unknown_fields`].
    pub fn lenient() -> Self {
        Self { strict: false }
    }
}

/// Where an object came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The source name given to the loader (a file path, `-` for stdin, ...).
    pub source: Arc<str>,
    /// Index of the document in the stream, from 0.
    pub document: usize,
    /// Path of the object inside its document: empty, or `items[i]` inside a `List`.
    pub path: FieldPath,
    /// Line where the object starts.
    pub line: usize,
}

/// One loaded object with its origin.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The object.
    pub object: Object,
    /// Where it was read from.
    pub origin: Origin,
    /// Fields dropped because the schema does not declare them (lenient mode only).
    pub unknown_fields: Vec<FieldPath>,
}

/// Everything read from one source: the objects that loaded and the errors of those that did
/// not. A bad document never hides the good ones around it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadOutput {
    /// Objects that loaded.
    pub objects: Vec<Loaded>,
    /// One entry per problem found; an object with errors is not in `objects`.
    pub errors: Vec<LoadError>,
}

/// Every document of a YAML (or JSON) stream as JSON, whatever it holds (not only Kubernetes
/// objects). Empty documents are left out.
///
/// ```
/// let docs = mesh_core::load::documents("a: 1\n---\n- x\n", "t.yaml")?;
/// assert_eq!(docs, [serde_json::json!({"a": 1}), serde_json::json!(["x"])]);
/// # Ok::<(), mesh_core::load::LoadErrors>(())
/// ```
pub fn documents(text: &str, source: &str) -> Result<Vec<Value>, LoadErrors> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (docs, err) = yaml::parse_stream(text);
    if let Some(e) = err {
        return Err(LoadErrors::new(vec![
            LoadError::new(
                Arc::from(source),
                format!("YAML syntax error: {}", e.message),
            )
            .in_document(e.document)
            .at_line(e.mark.line, Some(e.mark.column)),
        ]));
    }
    Ok(docs
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect())
}

/// Loads every object of a YAML or JSON stream, strictly; fails if any document fails.
pub fn from_str(text: &str, source: &str) -> Result<Vec<Loaded>, LoadErrors> {
    Loader::new(LoadOptions::strict())
        .load_str(text, source)
        .into_result()
}

/// Like [`from_str`] for bytes; invalid UTF-8 is an error.
pub fn from_slice(bytes: &[u8], source: &str) -> Result<Vec<Loaded>, LoadErrors> {
    Loader::new(LoadOptions::strict())
        .load_slice(bytes, source)
        .into_result()
}

impl LoadOutput {
    /// The objects, or every error if there was one.
    pub fn into_result(self) -> Result<Vec<Loaded>, LoadErrors> {
        if self.errors.is_empty() {
            Ok(self.objects)
        } else {
            Err(LoadErrors::new(self.errors))
        }
    }
}

/// A configured loader.
#[derive(Clone, Debug, Default)]
pub struct Loader {
    options: LoadOptions,
}

impl Loader {
    /// A loader with these options.
    pub fn new(options: LoadOptions) -> Self {
        Self { options }
    }

    /// Loads bytes, which must be UTF-8 (a leading byte-order mark is skipped).
    pub fn load_slice(&self, bytes: &[u8], source: &str) -> LoadOutput {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match std::str::from_utf8(bytes) {
            Ok(text) => self.load_str(text, source),
            Err(e) => {
                let line = bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1;
                LoadOutput {
                    objects: Vec::new(),
                    errors: vec![
                        LoadError::new(
                            source.into(),
                            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                        )
                        .at_line(line, None),
                    ],
                }
            }
        }
    }

    /// Loads every document of a YAML or JSON stream.
    pub fn load_str(&self, text: &str, source: &str) -> LoadOutput {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let source: Arc<str> = Arc::from(source);
        let (docs, syntax_error) = yaml::parse_stream(text);
        let mut out = LoadOutput::default();
        for (index, doc) in docs.into_iter().enumerate() {
            self.load_document(&source, index, doc, &mut out);
        }
        if let Some(e) = syntax_error {
            out.errors.push(
                LoadError::new(source.clone(), format!("YAML syntax error: {}", e.message))
                    .in_document(e.document)
                    .at_line(e.mark.line, Some(e.mark.column)),
            );
        }
        out
    }

    fn load_document(
        &self,
        source: &Arc<str>,
        index: usize,
        doc: yaml::YamlDoc,
        out: &mut LoadOutput,
    ) {
        let yaml::YamlDoc { value, pos } = doc;
        match value {
            Value::Null => {}
            Value::Object(ref map)
                if map.get("kind").and_then(Value::as_str) == Some("List")
                    && map.get("items").is_some_and(Value::is_array) =>
            {
                let Value::Object(mut map) = value else {
                    return;
                };
                let Some(Value::Array(items)) = map.remove("items") else {
                    return;
                };
                for (i, item) in items.into_iter().enumerate() {
                    let path = FieldPath::root().key("items").index(i);
                    self.load_object(source, index, path, item, &pos, out);
                }
            }
            value => self.load_object(source, index, FieldPath::root(), value, &pos, out),
        }
    }

    fn load_object(
        &self,
        source: &Arc<str>,
        document: usize,
        path: FieldPath,
        value: Value,
        doc_pos: &yaml::PosTree,
        out: &mut LoadOutput,
    ) {
        let Some(pos) = doc_pos.get(path.segments()) else {
            return;
        };
        let object_ref = ObjectRef::of_value(&value);
        let base = |message: String, field: Option<FieldPath>| {
            let mark = field.as_ref().map_or(pos.mark, |f| pos.locate(f));
            let mut e = LoadError::new(source.clone(), message)
                .in_document(document)
                .at_line(mark.line, Some(mark.column));
            e.object = object_ref.clone();
            e.path = field;
            e
        };
        match object_from_value(value, self.options.strict) {
            Ok((object, unknown_fields)) => out.objects.push(Loaded {
                object,
                origin: Origin {
                    source: source.clone(),
                    document,
                    path,
                    line: pos.mark.line,
                },
                unknown_fields,
            }),
            Err(errors) => {
                for e in errors {
                    out.errors.push(base(e.message, e.path));
                }
            }
        }
    }
}

/// A problem with one object, before positions are attached.
#[derive(Debug, Clone)]
pub(crate) struct ObjectError {
    pub path: Option<FieldPath>,
    pub message: String,
}

impl std::fmt::Display for ObjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(p) if !p.is_root() => write!(f, "{p}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// A list of [`ObjectError`]s, displayed one per line.
pub(crate) struct ObjectErrors(pub Vec<ObjectError>);

impl IntoIterator for ObjectErrors {
    type Item = ObjectError;
    type IntoIter = std::vec::IntoIter<ObjectError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl std::fmt::Display for ObjectErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Decodes one JSON object into an [`Object`]: typed when its kind is modelled, untyped
/// otherwise. Returns the unknown fields found (always empty when `strict`, as they are
/// errors then).
pub(crate) fn object_from_value(
    value: Value,
    strict: bool,
) -> Result<(Object, Vec<FieldPath>), ObjectErrors> {
    let fail = |path: Option<FieldPath>, message: String| {
        ObjectErrors(vec![ObjectError { path, message }])
    };
    let Value::Object(map) = &value else {
        return Err(fail(
            None,
            format!(
                "expected an object (a mapping), found {}",
                json_type(&value)
            ),
        ));
    };
    let field = |name: &str| -> Result<&str, ObjectErrors> {
        match map.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(Value::String(_)) | None => Err(fail(
                Some(FieldPath::root().key(name)),
                "required field is missing".into(),
            )),
            Some(other) => Err(fail(
                Some(FieldPath::root().key(name)),
                format!("expected a string, found {}", json_type(other)),
            )),
        }
    };
    let api_version = field("apiVersion")?;
    let kind_name = field("kind")?;
    let kind = match Kind::from_type(api_version, kind_name) {
        Ok(Some(kind)) => kind,
        Ok(None) => {
            let untyped: UntypedObject =
                serde_path_to_error::deserialize(Strict(value)).map_err(|e| {
                    fail(
                        Some(FieldPath::from(e.path())),
                        clean_serde_message(&e.inner().to_string()),
                    )
                })?;
            return Ok((Object::Untyped(untyped), Vec::new()));
        }
        Err(served) => {
            return Err(fail(
                Some(FieldPath::root().key("apiVersion")),
                format!(
                    "{kind_name} is not served at {api_version:?}; served versions: {}",
                    served.join(", ")
                ),
            ));
        }
    };
    let mut unknown = Vec::new();
    let result = Object::from_value_typed(kind, value, &mut |p| unknown.push(ignored_path(&p)));
    match result {
        Err(e) => Err(fail(
            Some(FieldPath::from(e.path())),
            clean_serde_message(&e.inner().to_string()),
        )),
        Ok(_) if strict && !unknown.is_empty() => Err(ObjectErrors(
            unknown
                .into_iter()
                .map(|p| ObjectError {
                    path: Some(p),
                    message: "unknown field".into(),
                })
                .collect(),
        )),
        Ok(object) => Ok((object, unknown)),
    }
}

/// Converts a `serde_ignored` path to ours.
fn ignored_path(p: &serde_ignored::Path<'_>) -> FieldPath {
    use serde_ignored::Path as P;
    fn walk(p: &P<'_>, out: &mut FieldPath) {
        match p {
            P::Root => {}
            P::Seq { parent, index } => {
                walk(parent, out);
                out.push(Segment::Index(*index));
            }
            P::Map { parent, key } => {
                walk(parent, out);
                out.push(Segment::Key(key.clone()));
            }
            P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
                walk(parent, out)
            }
        }
    }
    let mut out = FieldPath::root();
    walk(p, &mut out);
    out
}

/// serde_json appends " at line 0 column 0" to errors from `Value`s; positions come from the
/// YAML instead.
fn clean_serde_message(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The loader's robustness property, shared by the cargo-fuzz target (`fuzz/`) and the
/// robustness test: on any bytes, loading (strict and lenient) never panics, every loaded
/// object validates without panicking, and serializing then reloading gives the same object.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    for options in [LoadOptions::strict(), LoadOptions::lenient()] {
        let out = Loader::new(options).load_slice(data, "fuzz");
        for e in &out.errors {
            let _ = e.to_string();
        }
        for loaded in out.objects {
            let _ = crate::validate::validate(&loaded.object);
            let Ok(json) = serde_json::to_string(&loaded.object) else {
                panic!("a loaded object does not serialize")
            };
            let again = Loader::new(LoadOptions::lenient()).load_str(&json, "reload");
            assert!(
                again.errors.is_empty(),
                "reload failed: {:?} for {json}",
                again.errors
            );
            assert_eq!(
                again.objects.len(),
                1,
                "reload changed the object count for {json}"
            );
            assert_eq!(
                again.objects[0].object, loaded.object,
                "round trip changed {json}"
            );
        }
    }
}
