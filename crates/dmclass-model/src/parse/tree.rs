//! A small YAML node tree with source positions, built from yaml-rust2's event
//! parser. Anchors, aliases, tags, several documents and non-text keys are refused:
//! the configuration language needs none of them, and each would blur which line an
//! error belongs to.

use crate::config::Span;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting accepted; the schema needs 5 levels, garbage gets a clear error
/// instead of unbounded recursion.
const MAX_DEPTH: usize = 32;

/// A YAML node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// What the node is.
    pub kind: NodeKind,
    /// Where it starts.
    pub span: Span,
}

/// The three YAML node shapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    /// A scalar with its text; `plain` is false for quoted and block scalars.
    Scalar { text: String, plain: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with text keys, in file order (duplicates already refused).
    Map(Vec<(Located, Node)>),
}

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Located {
    pub text: String,
    pub span: Span,
}

/// A syntax problem: position and message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub span: Span,
    pub message: String,
}

impl Node {
    /// Whether this is a plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A short description for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            _ if self.is_null() => "nothing (null)".to_string(),
            NodeKind::Scalar { text, plain: true } => format!("`{}`", shorten(text)),
            NodeKind::Scalar { text, .. } => format!("the quoted text \"{}\"", shorten(text)),
            NodeKind::Seq(_) => "a list".to_string(),
            NodeKind::Map(_) => "a mapping".to_string(),
        }
    }
}

/// Cut long text for messages.
pub(crate) fn shorten(text: &str) -> String {
    if text.chars().count() > 40 {
        let mut s: String = text.chars().take(37).collect();
        s.push_str("...");
        s
    } else {
        text.to_string()
    }
}

fn span_of(m: Marker) -> Span {
    // yaml-rust2 markers: 1-based line, 0-based column.
    Span {
        line: u32::try_from(m.line()).unwrap_or(u32::MAX),
        column: u32::try_from(m.col().saturating_add(1)).unwrap_or(u32::MAX),
    }
}

/// A container being filled.
enum Open {
    Seq(Span, Vec<Node>),
    Map(Span, Vec<(Located, Node)>, Pending),
}

/// State of a mapping between a key and its value.
enum Pending {
    /// Next node is a key.
    Key,
    /// Next node is the value of this key.
    Value(Located),
    /// Next node is the value of a refused key: drop it.
    Skip,
}

/// The tree and every problem found while building it.
pub(crate) struct Tree {
    /// The document's root node (`None` for an empty file or a fatal error).
    pub root: Option<Node>,
    /// Problems; the tree is still usable unless `root` is `None`.
    pub errors: Vec<SyntaxError>,
}

/// Parse `text` into one document's root node. A scanner error is fatal (after one,
/// positions are guesses); anchors, tags, aliases and bad keys are reported and the
/// tree is built without them so later checks still run.
pub(crate) fn parse_tree(text: &str) -> Tree {
    let mut b = Builder {
        stack: Vec::new(),
        root: None,
        errors: Vec::new(),
    };
    match b.run(text) {
        Ok(()) => Tree {
            root: b.root,
            errors: b.errors,
        },
        Err(e) => {
            b.errors.push(e);
            Tree {
                root: None,
                errors: b.errors,
            }
        }
    }
}

struct Builder {
    stack: Vec<Open>,
    root: Option<Node>,
    errors: Vec<SyntaxError>,
}

impl Builder {
    fn run(&mut self, text: &str) -> Result<(), SyntaxError> {
        let mut parser = Parser::new_from_str(text);
        let mut documents = 0usize;
        loop {
            let (event, mark) = parser.next_token().map_err(|e| SyntaxError {
                span: span_of(*e.marker()),
                message: format!("YAML syntax error: {}", e.info()),
            })?;
            let span = span_of(mark);
            let node = match event {
                Event::StreamEnd => return Ok(()),
                Event::DocumentStart => {
                    documents += 1;
                    if documents > 1 {
                        return Err(SyntaxError {
                            span,
                            message: "a second YAML document; the configuration is one document"
                                .to_string(),
                        });
                    }
                    continue;
                }
                Event::Nothing | Event::StreamStart | Event::DocumentEnd => continue,
                Event::Alias(_) => {
                    self.refuse(
                        span,
                        "YAML aliases (*name) are not accepted; write the value out",
                    );
                    Node {
                        kind: NodeKind::Scalar {
                            text: String::new(),
                            plain: true,
                        },
                        span,
                    }
                }
                Event::Scalar(value, style, anchor, tag) => {
                    self.check_plain(span, anchor, tag.is_some());
                    Node {
                        kind: NodeKind::Scalar {
                            text: value,
                            plain: style == TScalarStyle::Plain,
                        },
                        span,
                    }
                }
                Event::SequenceStart(anchor, tag) => {
                    self.open(span, anchor, tag.is_some())?;
                    self.stack.push(Open::Seq(span, Vec::new()));
                    continue;
                }
                Event::MappingStart(anchor, tag) => {
                    self.open(span, anchor, tag.is_some())?;
                    self.stack.push(Open::Map(span, Vec::new(), Pending::Key));
                    continue;
                }
                Event::SequenceEnd => match self.stack.pop() {
                    Some(Open::Seq(s, items)) => Node {
                        kind: NodeKind::Seq(items),
                        span: s,
                    },
                    _ => return Err(unbalanced(span)),
                },
                Event::MappingEnd => match self.stack.pop() {
                    Some(Open::Map(s, entries, _)) => Node {
                        // Point at the first key: that is where `- name: x` is read.
                        span: entries.first().map_or(s, |(k, _)| k.span),
                        kind: NodeKind::Map(entries),
                    },
                    _ => return Err(unbalanced(span)),
                },
            };
            self.add(node);
        }
    }

    fn refuse(&mut self, span: Span, message: &str) {
        self.errors.push(SyntaxError {
            span,
            message: message.to_string(),
        });
    }

    fn check_plain(&mut self, span: Span, anchor: usize, tagged: bool) {
        if anchor != 0 {
            self.refuse(
                span,
                "YAML anchors (&name) are not accepted; write each value out",
            );
        }
        if tagged {
            self.refuse(span, "YAML tags (!tag) are not accepted");
        }
    }

    fn open(&mut self, span: Span, anchor: usize, tagged: bool) -> Result<(), SyntaxError> {
        self.check_plain(span, anchor, tagged);
        if self.stack.len() >= MAX_DEPTH {
            return Err(SyntaxError {
                span,
                message: format!("nested more than {MAX_DEPTH} levels deep"),
            });
        }
        Ok(())
    }

    /// Put a finished node into its parent (or make it the root).
    fn add(&mut self, node: Node) {
        let Some(top) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        let mut error = None;
        match top {
            Open::Seq(_, items) => items.push(node),
            Open::Map(_, entries, pending) => match std::mem::replace(pending, Pending::Key) {
                Pending::Key => {
                    if let NodeKind::Scalar { text, .. } = node.kind {
                        if let Some((first, _)) = entries.iter().find(|(k, _)| k.text == text) {
                            error = Some(SyntaxError {
                                span: node.span,
                                message: format!(
                                    "duplicate key `{}` (first written at line {}, column {})",
                                    shorten(&text),
                                    first.span.line,
                                    first.span.column
                                ),
                            });
                            *pending = Pending::Skip;
                        } else {
                            *pending = Pending::Value(Located {
                                text,
                                span: node.span,
                            });
                        }
                    } else {
                        error = Some(SyntaxError {
                            span: node.span,
                            message: format!(
                                "a mapping key must be text, found {}",
                                node.describe()
                            ),
                        });
                        *pending = Pending::Skip;
                    }
                }
                Pending::Value(key) => entries.push((key, node)),
                Pending::Skip => {}
            },
        }
        if let Some(e) = error {
            self.errors.push(e);
        }
    }
}

fn unbalanced(span: Span) -> SyntaxError {
    SyntaxError {
        span,
        message: "unbalanced YAML collection".to_string(),
    }
}
