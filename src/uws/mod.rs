//! UWS 1.1 (IVOA REC-UWS-1.1-20161024): phases, control parameters, the XML documents and the
//! REST binding. See `docs/refs/uws/checklist.md` for the rules this module follows.

pub mod http;
pub mod params;
pub mod phase;
pub mod time;
pub mod xml;

pub use phase::ExecutionPhase;
