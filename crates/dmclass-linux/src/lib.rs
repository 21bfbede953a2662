//! dmclass-linux: the kernel-facing shell.
#![allow(unsafe_code)]
