//! The middleware every request passes (mounted by `app.rs`):
//!
//! - **CSRF.** Cookie-authenticated state changes and logins must come from our own origin
//!   ([`csrf::check`](crate::auth::csrf::check)); otherwise 403 with the reason.
//! - **Bodies cannot stall forever.** A request body that sends nothing for
//!   `http.body_timeout_seconds` fails its reader (the handler answers 408 or 400), so a client
//!   that stops mid-upload does not hold a handler, a file and a connection. (Headers are bounded
//!   by actix's `client_request_timeout`, idle connections by keep-alive: see `app.rs`.)
//! - **No connection kept for an unread body.** When a handler answers without reading the body
//!   (401, 403, 413, …), the connection must be closed (`Connection: close`), not left waiting
//!   for the rest of it. actix closes when it sees the body unread, but drains a chunked body it
//!   sees dropped, however long the client takes (200 stalled uploads held 200 connections for
//!   minutes). The guard keeps the body alive in the answer until the answer is sent, so actix
//!   sees it unread and closes (after a 1 s linger, `client_disconnect_timeout`).
//! - **Headers on every answer**: `X-Content-Type-Options: nosniff`, `Referrer-Policy`, and the
//!   CSP of vocloud's pages ([`PAGE_CSP`]) unless the handler set one (user content sets its
//!   sandbox, `respond::inert`).

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, ResponseError};
use futures_util::Stream;

use crate::error::ApiError;
use crate::respond::PAGE_CSP;
use crate::site::Site;

/// What the guard enforces (app data).
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// Longest wait for the next bytes of a request body.
    pub body_idle: Duration,
}

pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<Holding>, actix_web::Error> {
    let body = (has_body(&req) && !req.headers().contains_key(header::UPGRADE)).then(|| {
        let idle = req.app_data::<web::Data<GuardSettings>>().map_or(Duration::from_secs(60), |s| s.body_idle);
        let held = Rc::new(RefCell::new(req.take_payload()));
        let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
            Box::pin(IdleTimeout { inner: held.clone(), idle, timer: None, done: false });
        req.set_payload(Payload::from(stream));
        // Held whatever the answer: a body read to the end changes nothing, an unread one makes
        // actix close the connection.
        held
    });
    let origin = Site::of(req.request()).origin(req.request());
    let mut res = match crate::auth::csrf::check(req.request(), &origin) {
        Err(reason) => req.into_response(ApiError::Forbidden(reason).error_response()).map_into_boxed_body(),
        Ok(()) => next.call(req).await?.map_into_boxed_body(),
    };
    finish(&mut res);
    Ok(res.map_body(|_, answer| Holding { answer, _request: body }))
}

/// An answer's body that keeps the request's body alive until it is fully sent: actix decides
/// whether to close or drain the connection just before it drops the answer.
pub struct Holding {
    answer: BoxBody,
    _request: Option<Rc<RefCell<Payload>>>,
}

impl MessageBody for Holding {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.answer.size()
    }

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.answer).poll_next(cx)
    }
}

/// Whether the request announces a body (its bytes may still be on the way).
fn has_body(req: &ServiceRequest) -> bool {
    let length = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    req.headers().contains_key(header::TRANSFER_ENCODING) || length.is_some_and(|l| l.trim() != "0")
}

/// The headers every answer carries.
fn finish<B>(res: &mut ServiceResponse<B>) {
    let headers = res.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

/// A request body that fails with `TimedOut` when no bytes come for `idle`. The clock starts at
/// the first read, so time spent before the handler reads (authentication) does not count.
struct IdleTimeout {
    inner: Rc<RefCell<Payload>>,
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    done: bool,
}

impl Stream for IdleTimeout {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let idle = this.idle;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        let polled = Pin::new(&mut *this.inner.borrow_mut()).poll_next(cx);
        match polled {
            Poll::Ready(item) => {
                timer.as_mut().reset(tokio::time::Instant::now() + idle);
                Poll::Ready(item)
            }
            Poll::Pending => match timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.done = true;
                    let message = format!("no request body bytes for {} s", idle.as_secs());
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, message)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
