//! Small JSON-over-HTTP calls to Spark's own services: the driver's status API and the
//! standalone master's REST submission server and web UI. Their addresses come from the
//! operator's settings or from the port we gave the driver, never from clients.

use std::time::Duration;

use serde_json::Value;

/// Largest answer read (a status document or the tail of a driver log).
const MAX_BODY: u64 = 4 << 20;

pub struct Rest {
    agent: ureq::Agent,
}

impl Rest {
    pub fn new(timeout: Duration) -> Rest {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // These services sit next to us (localhost, the cluster's network): no proxy.
            .proxy(None)
            .user_agent(concat!("vocloud-spark/", env!("CARGO_PKG_VERSION")))
            .build();
        Rest { agent: config.into() }
    }

    pub fn get_json(&self, url: &str) -> Result<Value, String> {
        serde_json::from_str(&self.get_text(url)?).map_err(|e| format!("{url}: not JSON ({e})"))
    }

    pub fn get_text(&self, url: &str) -> Result<String, String> {
        let response = self.agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
        read(url, response)
    }

    /// POSTs an empty body; the answer as JSON.
    pub fn post_json(&self, url: &str) -> Result<Value, String> {
        let response = self.agent.post(url).send_empty().map_err(|e| format!("{url}: {e}"))?;
        serde_json::from_str(&read(url, response)?).map_err(|e| format!("{url}: not JSON ({e})"))
    }
}

fn read(url: &str, mut response: ureq::http::Response<ureq::Body>) -> Result<String, String> {
    let status = response.status();
    let text = response.body_mut().with_config().limit(MAX_BODY).read_to_string().map_err(|e| format!("{url}: {e}"))?;
    // The REST submission server answers unknown submissions with an error status and a JSON
    // body that says so; callers read the body.
    if status.is_server_error() || (status.is_client_error() && !text.trim_start().starts_with('{')) {
        return Err(format!("{url}: HTTP {status}"));
    }
    Ok(text)
}
