//! YAML (and JSON, which is YAML) to JSON values, keeping where each node starts.
//!
//! Built on `saphyr-parser`'s event stream: scalars are resolved with the YAML 1.2 core schema
//! (what the JSON Kubernetes stores can express), anchors and aliases are expanded, `<<` merge
//! keys are applied (as go-yaml does), and duplicate keys are errors (as in `kubectl`'s strict
//! decoding). Every node records its line and column so that errors found later, by serde or by
//! validation, can point at the source.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

use crate::path::{FieldPath, Segment};

/// A position in the source text: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Mark {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Mark {
    fn from_span(span: &Span) -> Self {
        Self {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// Where each node of one document starts, in the shape of the document.
#[derive(Clone, Debug, Default)]
pub(crate) struct PosTree {
    pub mark: Mark,
    children: Children,
}

#[derive(Clone, Debug, Default)]
enum Children {
    #[default]
    Leaf,
    Seq(Vec<PosTree>),
    Map(Vec<(String, PosTree)>),
}

impl PosTree {
    /// The mark of the deepest node on `path` (the node itself when it exists; otherwise its
    /// nearest existing ancestor, which is where a missing field would go).
    pub fn locate(&self, path: &FieldPath) -> Mark {
        self.locate_segments(path.segments())
    }

    pub fn locate_segments(&self, segments: &[Segment]) -> Mark {
        let mut node = self;
        for seg in segments {
            let next = match (seg, &node.children) {
                (Segment::Key(k), Children::Map(entries)) => {
                    entries.iter().find(|(name, _)| name == k).map(|(_, t)| t)
                }
                (Segment::Index(i), Children::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.mark
    }

    /// The subtree at `path`, if the whole path exists.
    pub fn get(&self, segments: &[Segment]) -> Option<&PosTree> {
        let mut node = self;
        for seg in segments {
            node = match (seg, &node.children) {
                (Segment::Key(k), Children::Map(entries)) => {
                    entries.iter().find(|(name, _)| name == k).map(|(_, t)| t)?
                }
                (Segment::Index(i), Children::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }
}

/// One YAML document as JSON, with positions.
#[derive(Debug)]
pub(crate) struct YamlDoc {
    pub value: Value,
    pub pos: PosTree,
}

/// A YAML syntax error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub mark: Mark,
    /// Index of the document in which the error was found.
    pub document: usize,
    pub message: String,
}

/// Parses every document of a YAML stream. Stops at the first syntax error, returning the
/// documents before it.
pub(crate) fn parse_stream(text: &str) -> (Vec<YamlDoc>, Option<SyntaxError>) {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        docs: 0,
        text,
        ascii: text.is_ascii(),
    };
    let mut docs = Vec::new();
    loop {
        match b.next_document() {
            Ok(Some(doc)) => docs.push(doc),
            Ok(None) => return (docs, None),
            Err(e) => return (docs, Some(e)),
        }
    }
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, (Value, PosTree)>,
    docs: usize,
    text: &'a str,
    /// When the text is ASCII, character indices are byte indices.
    ascii: bool,
}

type Result<T> = std::result::Result<T, SyntaxError>;

impl<'a> Builder<'a> {
    fn err(&self, mark: Mark, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            mark,
            document: self.docs,
            message: message.into(),
        }
    }

    fn next_event(&mut self) -> Result<(Event<'a>, Span)> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => {
                let m = e.marker();
                Err(self.err(
                    Mark {
                        line: m.line(),
                        column: m.col() + 1,
                    },
                    e.info().to_string(),
                ))
            }
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn next_document(&mut self) -> Result<Option<YamlDoc>> {
        loop {
            let (ev, span) = self.next_event()?;
            match ev {
                Event::StreamStart | Event::Nothing | Event::DocumentEnd => {}
                Event::StreamEnd => return Ok(None),
                Event::DocumentStart(_) => {
                    self.anchors.clear();
                    let (ev, span) = self.next_event()?;
                    let (value, pos) = if matches!(ev, Event::DocumentEnd) {
                        (
                            Value::Null,
                            PosTree {
                                mark: Mark::from_span(&span),
                                ..Default::default()
                            },
                        )
                    } else {
                        let node = self.node(ev, span)?;
                        let (end, end_span) = self.next_event()?;
                        if !matches!(end, Event::DocumentEnd) {
                            return Err(
                                self.err(Mark::from_span(&end_span), "expected end of document")
                            );
                        }
                        node
                    };
                    self.docs += 1;
                    return Ok(Some(YamlDoc { value, pos }));
                }
                _ => {
                    return Err(self.err(
                        Mark::from_span(&span),
                        "unexpected event outside a document",
                    ));
                }
            }
        }
    }

    fn remember(&mut self, anchor: usize, node: &(Value, PosTree)) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    fn node(&mut self, ev: Event<'a>, span: Span) -> Result<(Value, PosTree)> {
        let mark = Mark::from_span(&span);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let value =
                    resolve_scalar(&text, style, tag.as_deref()).map_err(|m| self.err(mark, m))?;
                let node = (
                    value,
                    PosTree {
                        mark,
                        children: Children::Leaf,
                    },
                );
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor) {
                Some((v, p)) => Ok((
                    v.clone(),
                    PosTree {
                        mark,
                        children: p.children.clone(),
                    },
                )),
                None => Err(self.err(mark, "alias to an unknown anchor")),
            },
            Event::SequenceStart(anchor, _) => {
                let mut values = Vec::new();
                let mut marks = Vec::new();
                loop {
                    let (ev, span) = self.next_event()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    let (v, p) = self.node(ev, span)?;
                    values.push(v);
                    marks.push(p);
                }
                let node = (
                    Value::Array(values),
                    PosTree {
                        mark,
                        children: Children::Seq(marks),
                    },
                );
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::MappingStart(anchor, _) => {
                let node = self.mapping(mark)?;
                self.remember(anchor, &node);
                Ok(node)
            }
            _ => Err(self.err(mark, "unexpected YAML event")),
        }
    }

    /// Whether the text at character index `at` is `:` directly followed by `,`, `]` or `}`.
    fn colon_before_flow_indicator(&self, at: usize) -> bool {
        let mut next = if self.ascii {
            self.text.get(at..).unwrap_or("").chars()
        } else {
            match self.text.char_indices().nth(at) {
                Some((byte, _)) => self.text[byte..].chars(),
                None => "".chars(),
            }
        };
        next.next() == Some(':') && matches!(next.next(), Some(',' | ']' | '}'))
    }

    fn mapping(&mut self, mark: Mark) -> Result<(Value, PosTree)> {
        let mut map = Map::new();
        let mut entries: Vec<(String, PosTree)> = Vec::new();
        let mut merged: Vec<(Value, PosTree)> = Vec::new();
        let mut first_key_end = None;
        loop {
            let (ev, span) = self.next_event()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let key_mark = Mark::from_span(&span);
            if first_key_end.is_none() {
                first_key_end = Some(span.end.index());
            }
            let key = match ev {
                Event::Scalar(text, _, _, _) => text.into_owned(),
                Event::Alias(a) => match self.anchors.get(&a) {
                    Some((Value::String(s), _)) => s.clone(),
                    Some((v @ (Value::Number(_) | Value::Bool(_)), _)) => v.to_string(),
                    _ => return Err(self.err(key_mark, "mapping keys must be scalars")),
                },
                _ => return Err(self.err(key_mark, "mapping keys must be scalars")),
            };
            let (ev, span) = self.next_event()?;
            let (value, pos) = self.node(ev, span)?;
            if key == "<<" {
                match value {
                    Value::Object(_) => merged.push((value, pos)),
                    Value::Array(items) => {
                        let Children::Seq(poss) = pos.children else {
                            return Err(self.err(key_mark, "merge key needs a mapping"));
                        };
                        for (v, p) in items.into_iter().zip(poss) {
                            merged.push((v, p));
                        }
                    }
                    _ => {
                        return Err(self.err(
                            key_mark,
                            "merge key `<<` needs a mapping or a list of mappings",
                        ));
                    }
                }
                continue;
            }
            if map.contains_key(&key) {
                return Err(self.err(key_mark, format!("duplicate key {key:?} in mapping")));
            }
            map.insert(key.clone(), value);
            entries.push((
                key,
                PosTree {
                    mark: key_mark,
                    children: pos.children,
                },
            ));
        }
        // `[2001:db8::]`: YAML 1.2 reads a `:` before a flow indicator as a key separator, making
        // a one-pair mapping with a null value; Kubernetes' YAML reader keeps it in the scalar.
        // Read it as Kubernetes does.
        if entries.len() == 1
            && merged.is_empty()
            && map.values().all(Value::is_null)
            && first_key_end.is_some_and(|end| self.colon_before_flow_indicator(end))
            && let Some((key, _)) = entries.pop()
        {
            return Ok((
                Value::String(format!("{key}:")),
                PosTree {
                    mark,
                    children: Children::Leaf,
                },
            ));
        }
        // Explicit keys win over merged ones; earlier merge sources win over later ones.
        for (value, pos) in merged {
            let (Value::Object(m), Children::Map(ps)) = (value, pos.children) else {
                return Err(self.err(mark, "merge key `<<` needs a mapping or a list of mappings"));
            };
            for ((k, v), (_, p)) in m.into_iter().zip(ps) {
                if !map.contains_key(&k) {
                    map.insert(k.clone(), v);
                    entries.push((k, p));
                }
            }
        }
        Ok((
            Value::Object(map),
            PosTree {
                mark,
                children: Children::Map(entries),
            },
        ))
    }
}

/// Resolves a scalar with the YAML 1.2 core schema, honouring `!!str`-style tags.
fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> std::result::Result<Value, String> {
    if let Some(tag) = tag.filter(|t| t.handle == "tag:yaml.org,2002:" || t.handle == "!!") {
        let plain = resolve_plain(text);
        return match tag.suffix.as_str() {
            "str" => Ok(Value::String(text.to_string())),
            "int" => match plain {
                Value::Number(n) if !n.is_f64() => Ok(Value::Number(n)),
                _ => Err(format!("{text:?} is not an integer")),
            },
            "float" => match plain {
                Value::Number(n) => Ok(Value::Number(n)),
                _ => Err(format!("{text:?} is not a number")),
            },
            "bool" => match plain {
                Value::Bool(b) => Ok(Value::Bool(b)),
                _ => Err(format!("{text:?} is not a boolean")),
            },
            "null" => Ok(Value::Null),
            "binary" => Ok(Value::String(text.split_whitespace().collect())),
            other => Err(format!("unsupported tag !!{other}")),
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    Ok(resolve_plain(text))
}

fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            // JSON cannot hold these; Kubernetes rejects them too. Keep the text.
            return Value::String(text.to_string());
        }
        _ => {}
    }
    let bytes = text.as_bytes();
    let first = bytes[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Value::String(text.to_string());
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(n) = u64::from_str_radix(hex, 16)
    {
        return Value::Number(n.into());
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(n) = u64::from_str_radix(oct, 8)
    {
        return Value::Number(n.into());
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = digits
            .parse::<u64>()
            .ok()
            .filter(|_| !text.starts_with('-'))
            .ok_or(())
        {
            return Value::Number(n.into());
        }
    }
    if is_core_float(digits)
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int)
        && digits(frac)
        && !(int.is_empty() && frac.is_empty())
        && (!int.is_empty() || mantissa.starts_with('.'));
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        let (docs, err) = parse_stream(text);
        assert_eq!(err, None);
        assert_eq!(docs.len(), 1);
        docs.into_iter().next().map(|d| d.value).unwrap_or_default()
    }

    #[test]
    fn core_schema_scalars() {
        assert_eq!(
            one(
                "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: '1'\ng: 0x1f\nh: 1e3\ni: yes\nj: 10.0.0.1\nk: \"\"\nl: 18446744073709551615\nm: .5"
            ),
            json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "1", "g": 31, "h": 1000.0,
                   "i": "yes", "j": "10.0.0.1", "k": "", "l": 18446744073709551615u64, "m": 0.5})
        );
        assert_eq!(one("a: !!str 80\nb: !!int '7'"), json!({"a": "80", "b": 7}));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = one("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nlist: [*b]");
        assert_eq!(
            v,
            json!({"base": {"x": 1, "y": 2}, "use": {"y": 3, "x": 1}, "list": [{"x": 1, "y": 2}]})
        );
    }

    #[test]
    fn colons_before_flow_indicators_stay_in_scalars() {
        assert_eq!(
            one("a: [1.2.3.4, 001:db8::, 2001:db8::1]"),
            json!({"a": ["1.2.3.4", "001:db8::", "2001:db8::1"]})
        );
        assert_eq!(one("a: [x:]"), json!({"a": ["x:"]}));
        // A real one-pair mapping in a flow sequence stays a mapping.
        assert_eq!(one("a: [x: 1, y: ]"), json!({"a": [{"x": 1}, {"y": null}]}));
        assert_eq!(one("a:\n  b:\n"), json!({"a": {"b": null}}));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let (_, err) = parse_stream("a: 1\nb: 2\na: 3\n");
        let err = err.map(|e| (e.mark.line, e.message));
        assert_eq!(err, Some((3, "duplicate key \"a\" in mapping".to_string())));
    }

    #[test]
    fn multi_documents_and_positions() {
        let text =
            "---\na: 1\n---\n# only a comment\n---\nspec:\n  http:\n  - route:\n    - weight: 5\n";
        let (docs, err) = parse_stream(text);
        assert!(err.is_none());
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1].value, Value::Null);
        let m = docs[2]
            .pos
            .locate(&FieldPath::parse("spec.http[0].route[0].weight"));
        assert_eq!((m.line, m.column), (9, 7));
        // A missing field points at its nearest ancestor.
        let m = docs[2]
            .pos
            .locate(&FieldPath::parse("spec.http[0].timeout"));
        assert_eq!(m.line, 8);
    }

    #[test]
    fn json_with_tabs_parses() {
        let v = one("{\n\t\"a\": [1, 2],\n\t\"b\": {\"c\": \"d\"}\n}\n");
        assert_eq!(v, json!({"a": [1, 2], "b": {"c": "d"}}));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (_, err) = parse_stream("a: [1, 2\nb: 3\n");
        assert!(err.is_some_and(|e| e.mark.line >= 1 && !e.message.is_empty()));
    }
}
