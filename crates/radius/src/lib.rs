//! RADIUS for Gatehouse.
//!
//! [`packet`], [`crypto`] and [`message`] are a pure codec: bytes in, typed
//! packets out, never a panic on malformed input; they know nothing of
//! Gatehouse. The Message-Authenticator (RFC 3579) is verified on every
//! request that has one and placed first in every reply, which is why
//! Gatehouse carries its own codec.
//!
//! [`server`] is the UDP server: `run(socket, server, shutdown)` answers
//! Access-Requests with the Gatehouse service (the same one `gatehouse auth`
//! uses), challenges for one-time codes, drops what must be dropped, and
//! answers retransmissions from a response cache ([`dedup`]).

pub mod attributes;
pub mod crypto;
pub mod dedup;
pub mod dictionary;
pub mod message;
pub mod packet;
pub mod server;

pub use message::{AccessRequest, Reply};
pub use packet::{Attribute, Code, Packet, ParseError};
pub use server::{RadiusServer, RadiusSettings, run};
