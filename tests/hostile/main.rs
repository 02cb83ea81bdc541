//! What vocloud withstands: one test per attack, each named after it. Every test starts the real
//! service on a random port (as `tests/api` does), attacks it over HTTP the way the attacker
//! would, checks the attack failed with a precise answer, and checks the service still answers
//! `/health` afterwards — none of these may abort or hang it.
//!
//! - [`passwords`]: password floods, user enumeration by timing, back-off.
//! - [`csrf`]: cross-site requests with the login cookie, login CSRF, open redirects, cookies.
//! - [`uploads`]: uploaded pages and images that would run as vocloud, hostile paths and names.
//! - [`slow_bodies`]: uploads that stop mid-body.
//! - [`quota`]: concurrent uploads racing the quota.
//! - [`proxies`]: forged forwarding headers.
//! - [`imports`]: imports aimed at the host and reserved ranges; directory crawls that climb out.
//!
//! Other attacks join as modules here (readers' hostile files, the job runner, …).

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod csrf;
mod imports;
mod passwords;
mod proxies;
mod quota;
mod slow_bodies;
mod uploads;

use helpers::TestApp;

/// The service still answers: every attack ends with this.
pub async fn still_serving(app: &TestApp) {
    let response = app.client.get(app.url("/health")).send().await.expect("the service answers");
    assert_eq!(response.status(), 200, "/health after the attack");
}
