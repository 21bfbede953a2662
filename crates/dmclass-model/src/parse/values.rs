//! Reading typed values out of the node tree, reporting each problem at the node
//! that has it and carrying on (so one run reports every problem).

use super::tree::{shorten, Located as Key, Node, NodeKind};
use crate::config::{Located, Name, Span};
use crate::diag::Diagnostic;
use crate::name::NAME_ACCEPTED;
use crate::size::{Bytes, SIZE_ACCEPTED};
use std::collections::HashSet;

/// Conversion state: the file name, problems found so far, and the spans of objects
/// whose kind could not be read (semantic checks skip what depends on it).
pub(crate) struct Ctx<'f> {
    pub file: &'f str,
    pub diags: Vec<Diagnostic>,
    pub incomplete: HashSet<Span>,
}

/// The entries of a mapping whose keys were checked against the accepted set.
pub(crate) struct Fields<'n> {
    pub entries: Vec<(&'n Key, &'n Node)>,
    pub span: Span,
    /// What the mapping describes, e.g. "disk `d1`", for messages.
    pub what: String,
}

impl<'n> Fields<'n> {
    /// The value of `key`, if written.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(_, v)| *v)
    }

    /// The position of `key` itself, if written.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(k, _)| k.span)
    }
}

impl<'f> Ctx<'f> {
    pub fn new(file: &'f str) -> Self {
        Ctx {
            file,
            diags: Vec::new(),
            incomplete: HashSet::new(),
        }
    }

    /// Record a problem.
    pub fn err(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(self.file, span, message));
    }

    /// Record a problem with what would be accepted.
    pub fn err_accepting(
        &mut self,
        span: Span,
        message: impl Into<String>,
        accepted: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::new(self.file, span, message).accepting(accepted));
    }

    /// Check that `node` is a mapping with only `known` keys.
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> Option<Fields<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.err_accepting(
                node.span,
                format!("expected a mapping for {what}, found {}", node.describe()),
                format!("a mapping with keys {}", known.join(", ")),
            );
            return None;
        };
        let mut kept = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            if known.contains(&k.text.as_str()) {
                kept.push((k, v));
            } else {
                self.err_accepting(
                    k.span,
                    format!("unknown key `{}` in {what}", shorten(&k.text)),
                    known.join(", "),
                );
            }
        }
        Some(Fields {
            entries: kept,
            span: node.span,
            what: what.to_string(),
        })
    }

    /// `key` must be present; reports it missing otherwise.
    pub fn required<'n>(&mut self, f: &Fields<'n>, key: &str, accepted: &str) -> Option<&'n Node> {
        let v = f.get(key);
        if v.is_none() {
            self.err_accepting(
                f.span,
                format!("{} has no `{key}`", f.what),
                accepted.to_string(),
            );
        }
        v
    }

    /// A text scalar (quoted or plain, not null).
    pub fn text(&mut self, node: &Node, key: &str, accepted: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { text, .. } if !node.is_null() => Some(text.clone()),
            _ => {
                self.err_accepting(
                    node.span,
                    format!("`{key}` must be text, found {}", node.describe()),
                    accepted.to_string(),
                );
                None
            }
        }
    }

    /// An object name. An invalid name is reported but kept as written, so that
    /// references to it do not produce a second, misleading error.
    pub fn name(&mut self, node: &Node, key: &str) -> Option<Located<Name>> {
        let text = self.text(node, key, NAME_ACCEPTED)?;
        let value = match Name::new(&text) {
            Ok(n) => n,
            Err(e) => {
                self.err_accepting(node.span, e.to_string(), NAME_ACCEPTED);
                Name(text)
            }
        };
        Some(Located {
            value,
            span: node.span,
        })
    }

    /// A reference to another object by name (checked later, when resolved).
    pub fn reference(&mut self, node: &Node, key: &str) -> Option<Located<Name>> {
        let text = self.text(node, key, "the name of an object declared in this class")?;
        Some(Located {
            value: Name(text),
            span: node.span,
        })
    }

    /// `true` or `false` (plain), or `default` when absent.
    pub fn boolean(&mut self, node: Option<&Node>, key: &str, default: bool) -> bool {
        let Some(node) = node else { return default };
        match &node.kind {
            NodeKind::Scalar { text, plain: true } if text == "true" => true,
            NodeKind::Scalar { text, plain: true } if text == "false" => false,
            _ => {
                self.err_accepting(
                    node.span,
                    format!("`{key}` must be true or false, found {}", node.describe()),
                    "true, false",
                );
                default
            }
        }
    }

    /// One of a closed set of words.
    pub fn choice<T: Copy>(&mut self, node: &Node, key: &str, options: &[(&str, T)]) -> Option<T> {
        let found = match &node.kind {
            NodeKind::Scalar { text, .. } => {
                options.iter().find(|(w, _)| *w == text).map(|(_, v)| *v)
            }
            _ => None,
        };
        if found.is_none() {
            let words: Vec<&str> = options.iter().map(|(w, _)| *w).collect();
            self.err_accepting(
                node.span,
                format!("unknown `{key}` {}", node.describe()),
                words.join(", "),
            );
        }
        found
    }

    /// A size (`512MiB`, `1GiB`, plain bytes); `what` adds further rules to the hint.
    pub fn size(&mut self, node: &Node, key: &str) -> Option<Bytes> {
        let text = match &node.kind {
            NodeKind::Scalar { text, .. } if !node.is_null() => text,
            _ => {
                self.err_accepting(
                    node.span,
                    format!("`{key}` must be a size, found {}", node.describe()),
                    SIZE_ACCEPTED,
                );
                return None;
            }
        };
        match Bytes::parse(text) {
            Ok(b) => Some(b),
            Err(e) => {
                self.err_accepting(node.span, format!("`{key}`: {e}"), SIZE_ACCEPTED);
                None
            }
        }
    }

    /// The items of a list; a null value is an empty list.
    pub fn list<'n>(&mut self, node: Option<&'n Node>, key: &str, accepted: &str) -> &'n [Node] {
        let Some(node) = node else { return &[] };
        match &node.kind {
            NodeKind::Seq(items) => items,
            _ if node.is_null() => &[],
            _ => {
                self.err_accepting(
                    node.span,
                    format!("`{key}` must be a list, found {}", node.describe()),
                    accepted.to_string(),
                );
                &[]
            }
        }
    }
}
