//! Test support shared by the integration tests of every JabberKit crate.
//!
//! - [`server`]: a throwaway Prosody started on free loopback ports, with a
//!   private CA and test accounts, stopped when dropped.
//! - [`proxy`]: a fault-injecting TCP proxy (pass, reset, blackhole, refuse,
//!   delay) placed between a client and that server.

pub mod proxy;
pub mod server;
