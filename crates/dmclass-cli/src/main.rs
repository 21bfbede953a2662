//! dmclass command line.
fn main() {}
