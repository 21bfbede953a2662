//! Comparing configurations by content: the same configuration read from two
//! differently laid out files differs only in spans.

use crate::config::{Config, Located, SnapshotKind, Span};

fn zero<T: Clone>(l: &Located<T>) -> Located<T> {
    Located {
        value: l.value.clone(),
        span: Span::default(),
    }
}

impl Config {
    /// A copy with every [`Span`] set to the default, for content comparisons.
    #[must_use]
    pub fn without_spans(&self) -> Config {
        let mut c = self.clone();
        // Only says where the value was written; `auto` may or may not be spelled out.
        c.environment_span = None;
        c.exclude = c.exclude.iter().map(zero).collect();
        for class in &mut c.classes {
            class.span = Span::default();
            for d in &mut class.disks {
                d.span = Span::default();
            }
            for g in &mut class.groups {
                g.span = Span::default();
                g.members = g.members.iter().map(zero).collect();
            }
            for v in &mut class.volumes {
                v.span = Span::default();
                v.on = zero(&v.on);
            }
            for s in &mut class.snapshots {
                s.span = Span::default();
                s.origin = zero(&s.origin);
                if let SnapshotKind::Proxy { on, .. } = &mut s.kind {
                    *on = zero(on);
                }
            }
        }
        c
    }
}
