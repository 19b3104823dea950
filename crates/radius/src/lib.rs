//! RADIUS for Gatehouse.
//!
//! [`packet`] and [`crypto`] are a pure codec: bytes in, typed packets out,
//! never a panic on malformed input; they know nothing of Gatehouse. The
//! Message-Authenticator (RFC 3579) is verified on every request that has
//! one and placed first in every reply, which is why Gatehouse carries its
//! own codec.

pub mod attributes;
pub mod crypto;
pub mod packet;

pub use packet::{Attribute, Code, Packet, ParseError};
