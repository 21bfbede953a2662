//! YAML text → validated [`Config`], with every problem located.
//!
//! Three passes, each reporting all it finds: `tree` (YAML syntax, anchors, tags,
//! duplicate keys), `schema` (keys, value types, words, sizes, names) and `validate`
//! (references and placement rules). Diagnostics come back sorted by position.

mod schema;
mod tree;
mod validate;
mod values;

use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics};
use values::Ctx;

pub use schema::DEFAULT_COW_CHUNK;

/// Parse and validate a configuration file. `file` is only used in diagnostics.
pub fn parse(file: &str, text: &str) -> Result<Config, Diagnostics> {
    let tree = tree::parse_tree(text);
    let mut ctx = Ctx::new(file);
    for e in &tree.errors {
        ctx.diags
            .push(Diagnostic::new(file, e.span, e.message.clone()));
    }
    let fatal = tree.root.is_none() && !tree.errors.is_empty();
    if !fatal {
        let config = schema::config(&mut ctx, tree.root.as_ref());
        validate::check(&mut ctx, &config);
        if ctx.diags.is_empty() {
            return Ok(config);
        }
    }
    let mut d = Diagnostics(ctx.diags);
    d.sort();
    Err(d)
}

/// Check the relations of a configuration built in code (names, references,
/// membership, placement); the shape rules hold by construction of the types,
/// except sizes and names, which are checked here too.
pub fn validate(file: &str, config: &Config) -> Result<(), Diagnostics> {
    let mut ctx = Ctx::new(file);
    validate::check_values(&mut ctx, config);
    validate::check(&mut ctx, config);
    if ctx.diags.is_empty() {
        Ok(())
    } else {
        let mut d = Diagnostics(ctx.diags);
        d.sort();
        Err(d)
    }
}
