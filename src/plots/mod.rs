//! Interactive plots: sessions that hold a spectra collection, rendered on the server and
//! streamed to the browser over a WebSocket.
//!
//! - [`data`]: series with min/max pyramids, the dataset of a session.
//! - [`spectra`]: readers (CSV, 1-D/2-D FITS with linear WCS) from user storage or job results.
//! - [`render`]: pure rendering, data in, PNG/SVG bytes out.
//! - [`live`]: the open sessions, owned by a user, bounded per user, closed when idle.
//! - [`ws`]: the WebSocket protocol (documented there).
//! - [`http`]: the routes (`/plots/new`, the page, the socket, exports).

pub mod data;
pub mod http;
pub mod live;
pub mod render;
pub mod spectra;
pub mod ws;

pub use live::{PlotSettings, Plots};
