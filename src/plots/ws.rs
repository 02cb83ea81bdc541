//! The plot WebSocket, `/plots/<id>/ws`: the browser sends input as small JSON text messages,
//! the server answers with frames (a JSON `frame` text message, then the PNG as one binary
//! message). Modelled on matplotlib's WebAgg (see `docs/refs/plots/webagg-protocol.md`)
//! with its measured lessons: full opaque PNG frames at the fastest zlib level (diff frames do
//! not pay for pans), overlays (zoom box, hover line) drawn in the browser.
//!
//! # Client → server (text, JSON, at most [`MAX_MESSAGE`] bytes)
//!
//! Positions are CSS pixels relative to the canvas' top-left corner. Messages marked *input*
//! change the view and are counted; every frame says how many inputs it includes (`events`).
//!
//! | `type` | fields | what happens |
//! |---|---|---|
//! | `hello`, `resize` | `width`, `height` (CSS px), `dpr` | *input*; frames are rendered at `width·dpr × height·dpr` |
//! | `pan` | `dx`, `dy` (CSS px the pointer moved), `push` | *input*; moves the view with the pointer; `push: true` (first move of a drag) records the old view in the history |
//! | `zoom` | `x`, `y`, `factor` (> 1 zooms in), `push` | *input*; zooms around the pointer |
//! | `box` | `x0`, `y0`, `x1`, `y1` | *input*; zooms to the rectangle |
//! | `range` | `x0`, `x1`, `y0`, `y1` (data units; each may be `null` = keep) | *input*; typed axis ranges |
//! | `scale` | `xlog`, `ylog` (optional booleans) | *input*; log/linear axes (a view with non-positive bounds starts from home) |
//! | `home`, `back`, `forward` | – | *input*; view history |
//! | `visible` | `series` (index or `null` = all), `on` | *input*; show/hide series |
//! | `mode` | `mode`: `auto`, `lines`, `density` | *input* |
//! | `hover` | `x`, `y` | replies `hover` (never renders) |
//! | `ack` | – | the client has received the last frame |
//!
//! # Server → client
//!
//! - `info` (once, first): `title`, `count`, `points`, `series` (names and colours of the first
//!   [`LEGEND_MAX`] series, for the legend).
//! - `frame` (text) immediately followed by the PNG (binary): `seq`, `events`, `view`
//!   (`x0 x1 y0 y1 xlog ylog`), `plot` (plot area in device px), `width`, `height`, `dpr`,
//!   `density`, `max_count`, `render_ms`, `encode_ms`, `bytes`, `back`, `forward` (history
//!   available), `visible` (for the legend).
//! - `hover`: `x`, `y` (data units under the pointer), `series` (index or `null`), `name`,
//!   `value` (the series' flux at `x`).
//!
//! # Flow control
//!
//! At most one frame is in flight per socket: after sending a frame the server renders again
//! only once the client has acked it. Inputs that arrive meanwhile are applied to the view at
//! once and folded into the next frame, so a burst of drag messages costs as many renders as the
//! server can finish, never a queue. Rendering runs on a blocking thread while the socket keeps
//! reading.
//!
//! # Bad input
//!
//! A message that is not valid JSON of the table above, a binary message, a message over
//! [`MAX_MESSAGE`] bytes, a non-finite number or an absurd size closes *that socket* with a
//! close code and a reason naming the problem; the session and other sockets are untouched.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_ws::{CloseCode, CloseReason, Message};
use serde::Deserialize;
use serde_json::json;

use super::live::{Session, ViewState};
use super::render::{self, FrameSpec, Mode, View};

/// Largest accepted client message.
pub const MAX_MESSAGE: usize = 4096;
/// Series listed by name in the `info` message.
pub const LEGEND_MAX: usize = 64;
/// A socket with no message for this long is closed.
const IDLE: Duration = Duration::from_secs(600);

/// A client message (see the module docs).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Input {
    Hello {
        width: f64,
        height: f64,
        dpr: Option<f64>,
    },
    Resize {
        width: f64,
        height: f64,
        dpr: Option<f64>,
    },
    Pan {
        dx: f64,
        dy: f64,
        #[serde(default)]
        push: bool,
    },
    Zoom {
        x: f64,
        y: f64,
        factor: f64,
        #[serde(default)]
        push: bool,
    },
    Box {
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
    },
    Range {
        x0: Option<f64>,
        x1: Option<f64>,
        y0: Option<f64>,
        y1: Option<f64>,
    },
    Scale {
        xlog: Option<bool>,
        ylog: Option<bool>,
    },
    Home,
    Back,
    Forward,
    Visible {
        series: Option<usize>,
        on: bool,
    },
    Mode {
        mode: Mode,
    },
    Hover {
        x: f64,
        y: f64,
    },
    Ack,
}

/// A protocol violation: closes the socket with this reason.
#[derive(Debug)]
pub struct Violation(pub CloseCode, pub String);

fn finite(values: &[f64]) -> Result<(), Violation> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Violation(CloseCode::Policy, "numbers must be finite".into()))
    }
}

/// Parses one text message.
pub fn parse(text: &str) -> Result<Input, Violation> {
    if text.len() > MAX_MESSAGE {
        return Err(Violation(CloseCode::Size, format!("message longer than {MAX_MESSAGE} bytes")));
    }
    serde_json::from_str(text).map_err(|e| Violation(CloseCode::Policy, format!("bad message: {e}")))
}

/// Where the socket's frames go: the plot area of the last frame, to map pointer positions.
#[derive(Clone, Copy)]
struct Geometry {
    dpr: f64,
    plot: render::PlotRect,
}

impl Geometry {
    /// A CSS-pixel canvas position as a plot-area device-pixel position.
    fn plot_px(&self, x: f64, y: f64) -> (f64, f64) {
        (x * self.dpr - self.plot.left as f64, y * self.dpr - self.plot.top as f64)
    }
    fn wh(&self) -> (f64, f64) {
        (self.plot.width as f64, self.plot.height as f64)
    }
}

/// Applies an input to the view state; a violation closes the socket.
fn apply(input: &Input, st: &mut ViewState, session: &Session, geo: &Geometry, max_side: u32) -> Result<(), Violation> {
    match *input {
        Input::Hello { width, height, dpr } | Input::Resize { width, height, dpr } => {
            let dpr = dpr.unwrap_or(1.0);
            finite(&[width, height, dpr])?;
            if !(0.25..=8.0).contains(&dpr) {
                return Err(Violation(CloseCode::Policy, "dpr must be between 0.25 and 8".into()));
            }
            let (w, h) = ((width * dpr).round(), (height * dpr).round());
            if !(64.0..=max_side as f64).contains(&w) || !(64.0..=max_side as f64).contains(&h) {
                return Err(Violation(CloseCode::Policy, format!("frame size must be 64..{max_side} device pixels")));
            }
            st.size = (w as u32, h as u32, dpr);
        }
        Input::Pan { dx, dy, push } => {
            finite(&[dx, dy])?;
            if push {
                st.push();
            }
            let (w, h) = geo.wh();
            let v = st.view.pan(dx * geo.dpr, dy * geo.dpr, w, h);
            st.set(v);
        }
        Input::Zoom { x, y, factor, push } => {
            finite(&[x, y, factor])?;
            if !(0.01..=100.0).contains(&factor) {
                return Err(Violation(CloseCode::Policy, "zoom factor must be between 0.01 and 100".into()));
            }
            if push {
                st.push();
            }
            let (px, py) = geo.plot_px(x, y);
            let (w, h) = geo.wh();
            let v = st.view.zoom_at(px, py, factor, w, h);
            st.set(v);
        }
        Input::Box { x0, y0, x1, y1 } => {
            finite(&[x0, y0, x1, y1])?;
            let (w, h) = geo.wh();
            let v = st.view.zoom_box(geo.plot_px(x0, y0), geo.plot_px(x1, y1), w, h);
            if v.is_valid() {
                st.push();
                st.set(v);
            }
        }
        Input::Range { x0, x1, y0, y1 } => {
            let pick = |new: Option<f64>, old: f64| new.unwrap_or(old);
            let v = View {
                x0: pick(x0, st.view.x0),
                x1: pick(x1, st.view.x1),
                y0: pick(y0, st.view.y0),
                y1: pick(y1, st.view.y1),
                ..st.view
            };
            if v.is_valid() {
                st.push();
                st.set(v);
            }
        }
        Input::Scale { xlog, ylog } => {
            st.push();
            let mut v = View { xlog: xlog.unwrap_or(st.view.xlog), ylog: ylog.unwrap_or(st.view.ylog), ..st.view };
            if !v.is_valid() {
                let home = session.home(v.xlog, v.ylog);
                if v.x0 <= 0.0 || !v.is_valid() {
                    (v.x0, v.x1) = (home.x0, home.x1);
                }
                if v.y0 <= 0.0 || !v.is_valid() {
                    (v.y0, v.y1) = (home.y0, home.y1);
                }
            }
            st.set(v);
        }
        Input::Home => {
            let home = session.home(st.view.xlog, st.view.ylog);
            if home != st.view {
                st.push();
                st.view = home;
            }
        }
        Input::Back => st.go_back(),
        Input::Forward => st.go_forward(),
        Input::Visible { series, on } => match series {
            None => st.visible.iter_mut().for_each(|v| *v = on),
            Some(i) if i < st.visible.len() => st.visible[i] = on,
            Some(_) => return Err(Violation(CloseCode::Policy, "no such series".into())),
        },
        Input::Mode { mode } => st.mode = mode,
        Input::Hover { .. } | Input::Ack => {}
    }
    Ok(())
}

/// A rendered frame ready to send.
struct Rendered {
    meta: String,
    png: Vec<u8>,
    plot: render::PlotRect,
    dpr: f64,
}

/// Renders the session's current state (a snapshot: inputs arriving meanwhile go to the next).
fn render_frame(session: &Session, seq: u64, events: u64) -> Rendered {
    let (view, visible, mode, (w, h, dpr), back, forward) = {
        let st = session.state();
        (st.view, st.visible.clone(), st.mode, st.size, !st.back.is_empty(), !st.forward.is_empty())
    };
    let spec = FrameSpec { width: w, height: h, scale: dpr, mode, visible: Some(&visible) };
    let t0 = Instant::now();
    let frame = render::render(&session.data, &view, &spec);
    let t1 = Instant::now();
    let png = render::encode_png(&frame);
    let t2 = Instant::now();
    let legend: Vec<bool> = visible.iter().take(LEGEND_MAX).copied().collect();
    let meta = json!({
        "type": "frame", "seq": seq, "events": events, "view": view, "plot": frame.plot,
        "width": w, "height": h, "dpr": dpr, "density": frame.density, "max_count": frame.max_count,
        "render_ms": (t1 - t0).as_secs_f64() * 1e3, "encode_ms": (t2 - t1).as_secs_f64() * 1e3,
        "bytes": png.len(), "back": back, "forward": forward, "visible": legend,
    })
    .to_string();
    Rendered { meta, png, plot: frame.plot, dpr }
}

fn info(session: &Session) -> String {
    let d = &session.data;
    let series: Vec<_> = d
        .series
        .iter()
        .take(LEGEND_MAX)
        .enumerate()
        .map(|(i, s)| {
            let (r, g, b) = render::PALETTE[i % render::PALETTE.len()];
            json!({ "name": s.name, "colour": format!("#{r:02x}{g:02x}{b:02x}") })
        })
        .collect();
    json!({ "type": "info", "title": d.title, "count": d.series.len(), "points": d.points, "series": series })
        .to_string()
}

fn hover(session: &Session, geo: &Geometry, x: f64, y: f64) -> Result<String, Violation> {
    finite(&[x, y])?;
    let st = session.state();
    let (px, py) = geo.plot_px(x, y);
    let (w, h) = geo.wh();
    let (dx, dy) = st.view.data_at(px, py, w, h);
    let spec =
        FrameSpec { width: st.size.0, height: st.size.1, scale: st.size.2, mode: st.mode, visible: Some(&st.visible) };
    let near = render::nearest(&session.data, &st.view, &spec, dx, dy);
    let (series, name, value) = match near {
        Some((i, v)) => (Some(i), Some(session.data.series[i].name.clone()), Some(v)),
        None => (None, None, None),
    };
    Ok(json!({ "type": "hover", "x": dx, "y": dy, "series": series, "name": name, "value": value }).to_string())
}

/// Serves one socket until it closes. `_guard` keeps the session counted as connected.
pub async fn serve(session: Arc<Session>, mut out: actix_ws::Session, stream: actix_ws::MessageStream, max_side: u32) {
    let _guard = session.connect();
    let mut stream = stream.max_frame_size(MAX_MESSAGE * 4);
    let (w, h, dpr) = session.state().size;
    let mut geo = Geometry { dpr, plot: render::layout(w, h, dpr, false) };
    let (mut seq, mut events, mut dirty, mut in_flight, mut sized) = (0u64, 0u64, false, false, false);
    let mut rendering: Option<tokio::task::JoinHandle<Rendered>> = None;
    if out.text(info(&session)).await.is_err() {
        return;
    }
    let reason = loop {
        if dirty && sized && !in_flight && rendering.is_none() {
            let (s, n, e) = (session.clone(), seq + 1, events);
            rendering = Some(tokio::task::spawn_blocking(move || render_frame(&s, n, e)));
            dirty = false;
        }
        tokio::select! {
            done = async { rendering.as_mut().unwrap().await }, if rendering.is_some() => {
                rendering = None;
                let Ok(frame) = done else { break Some(CloseReason { code: CloseCode::Error, description: Some("rendering failed".into()) }) };
                seq += 1;
                geo = Geometry { dpr: frame.dpr, plot: frame.plot };
                if out.text(frame.meta).await.is_err() || out.binary(frame.png).await.is_err() {
                    break None;
                }
                in_flight = true;
            }
            msg = tokio::time::timeout(IDLE, stream.recv()) => {
                let msg = match msg {
                    Err(_) => break Some(CloseReason { code: CloseCode::Normal, description: Some("idle".into()) }),
                    Ok(None) => break None,
                    Ok(Some(Err(e))) => break Some(CloseReason { code: CloseCode::Protocol, description: Some(truncate(&e.to_string())) }),
                    Ok(Some(Ok(m))) => m,
                };
                session.touch();
                let text = match msg {
                    Message::Text(t) => t,
                    Message::Ping(p) => { let _ = out.pong(&p).await; continue; }
                    Message::Close(_) => break None,
                    Message::Pong(_) | Message::Nop => continue,
                    Message::Binary(_) | Message::Continuation(_) => break Some(CloseReason {
                        code: CloseCode::Unsupported,
                        description: Some("only JSON text messages are part of the protocol".into()),
                    }),
                };
                let step = parse(&text).and_then(|input| match input {
                    Input::Ack => { in_flight = false; Ok(None) }
                    Input::Hover { x, y } => hover(&session, &geo, x, y).map(Some),
                    ref other => {
                        let mut st = session.state();
                        apply(other, &mut st, &session, &geo, max_side)?;
                        if matches!(other, Input::Hello { .. } | Input::Resize { .. }) {
                            sized = true;
                            geo = Geometry { dpr: st.size.2, plot: render::layout(st.size.0, st.size.1, st.size.2, false) };
                        }
                        events += 1;
                        dirty = true;
                        Ok(None)
                    }
                });
                match step {
                    Ok(Some(reply)) => if out.text(reply).await.is_err() { break None; },
                    Ok(None) => {}
                    Err(Violation(code, why)) => break Some(CloseReason { code, description: Some(truncate(&why)) }),
                }
            }
        }
    };
    if let Some(r) = &reason {
        tracing::info!(plot.id = %session.id, reason = ?r.description, "closing plot socket");
    }
    let _ = out.close(reason).await;
}

/// Close reasons must fit a control frame (123 bytes).
fn truncate(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() + c.len_utf8() > 120 {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse_and_bad_ones_are_violations() {
        assert!(matches!(parse(r#"{"type":"pan","dx":3,"dy":-2}"#), Ok(Input::Pan { push: false, .. })));
        assert!(matches!(parse(r#"{"type":"mode","mode":"density"}"#), Ok(Input::Mode { mode: Mode::Density })));
        for bad in [r#"{"type":"explode"}"#, "not json", r#"{"type":"pan","dx":"a","dy":1}"#] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(parse(&"x".repeat(MAX_MESSAGE + 1)), Err(Violation(CloseCode::Size, _))));
    }
}
