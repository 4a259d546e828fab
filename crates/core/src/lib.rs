//! The exporter's model, free of AWS and of any async runtime.
//!
//! One export is a [`job::Job`] that moves through a few steps (request → poll → copy → done);
//! [`input`] turns every payload the function accepts into one [`input::Event`] or one typed
//! [`input::InvalidJob`]. The rest is what both need: [`scope`] (a database or a region group),
//! [`time`] (windows and their RFC 3339 form), [`keys`] (where things go in the bucket),
//! [`manifest`] (the verified summary stored beside each object), [`redact`] (the one
//! redaction of upstream text) and [`shown`] (how much of a quoted value a message shows).
//!
//! Layers, each importing only from those below it: [`input`] → [`manifest`] → [`job`] →
//! [`scope`], [`keys`], [`time`]; [`redact`] and [`shown`] stand alone.

pub mod input;
pub mod job;
pub mod keys;
pub mod manifest;
pub mod redact;
pub mod scope;
pub mod shown;
pub mod time;

/// How the exporter names itself: the HTTP `User-Agent` of its Fauna calls and the `exporter` of
/// its manifests.
pub const USER_AGENT: &str = concat!("fauna-logs-export/", env!("CARGO_PKG_VERSION"));
