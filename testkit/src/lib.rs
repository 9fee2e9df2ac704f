//! Test support shared by the integration tests of every JabberKit crate.
//!
//! - [`server`]: a throwaway Prosody (or ejabberd) started on free loopback
//!   ports, with a private CA and test accounts, stopped when dropped.
//! - [`fake`]: a scripted fake server, for what a real one will not do
//!   (broken or hostile answers, what a client sends before logging in).
//! - [`proxy`]: a fault-injecting TCP proxy (pass, reset, blackhole, refuse,
//!   delay) placed between a client and that server.
//! - [`raw`]: a bare XMPP client stream (login, send, read text), for
//!   checking the servers without the client library.
//! - [`dns`]: a throwaway DNS server (dnsmasq) serving a test's SRV and
//!   address records.

pub mod dns;
pub mod fake;
pub mod federation;
pub mod proxy;
pub mod raw;
pub mod server;
