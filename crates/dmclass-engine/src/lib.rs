//! dmclass-engine
#![forbid(unsafe_code)]
