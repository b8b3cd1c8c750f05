//! The wire frames. Each WebSocket message carries exactly one frame: a map whose `type` field
//! names the variant, with named fields (so any MessagePack or JSON library can read it).
//!
//! Client commands carry a request id `rid` chosen by the client; each gets exactly one reply
//! frame with the same `rid`, or an `error` frame with that `rid`. Events carry no `rid`.
//! docs/PROTOCOL.md is the reference for every frame below.

#[macro_use]
mod declare;
mod client;
mod server;

pub use client::*;
pub use server::*;
