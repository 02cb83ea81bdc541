//! Makes every wait for the server's bytes abortable: ABORT must end an import whose server
//! sent headers and then went quiet within a fraction of a second, not at the read timeout
//! (300 s by default).
//!
//! ureq blocks in the socket read, so the job's cancel token cannot reach it from outside.
//! This layer sits on top of ureq's own connector chain (TCP, then TLS) and cuts every wait for
//! input into slices of [`SLICE`]: between slices it looks at the token and gives up with an
//! error when the job was cancelled; otherwise it waits again until the caller's own timeout is
//! really spent. Dropping the transport then closes the socket, so nothing lingers.
//!
//! Not covered: the TCP connect itself (bounded by the connect timeout, at most 30 s) and DNS.

use std::fmt;
use std::time::Instant;

use ureq::Error;
use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

use crate::CancelToken;

/// How long a single wait lasts before the token is looked at again.
const SLICE: std::time::Duration = std::time::Duration::from_millis(100);

/// Wraps the transports of the connector before it in the chain.
pub struct CancelConnector(pub CancelToken);

impl fmt::Debug for CancelConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CancelConnector")
    }
}

impl<In: Transport> Connector<In> for CancelConnector {
    type Out = CancelTransport<In>;

    fn connect(&self, _: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, Error> {
        Ok(chained.map(|inner| CancelTransport { inner, cancel: self.0.clone() }))
    }
}

pub struct CancelTransport<T> {
    inner: T,
    cancel: CancelToken,
}

impl<T: Transport> fmt::Debug for CancelTransport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelTransport").field("inner", &self.inner).finish()
    }
}

fn cancelled() -> Error {
    Error::Io(std::io::Error::other("cancelled by the job"))
}

impl<T: Transport> Transport for CancelTransport<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        if self.cancel.is_cancelled() {
            return Err(cancelled());
        }
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        // The whole wait the caller allows (the per-read limit included), measured from now.
        let allowed = *timeout.for_read().after;
        let started = Instant::now();
        loop {
            if self.cancel.is_cancelled() {
                return Err(cancelled());
            }
            let left = allowed.saturating_sub(started.elapsed());
            let slice = NextTimeout { after: UreqDuration::Exact(left.min(SLICE)), ..timeout };
            match self.inner.await_input(slice) {
                // Only our slice ran out: look at the token and wait on.
                Err(Error::Timeout(_)) if left > SLICE => continue,
                other => return other,
            }
        }
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
