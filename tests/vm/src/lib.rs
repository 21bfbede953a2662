//! QEMU VM test harness.
