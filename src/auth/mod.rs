//! Accounts and credentials: argon2 password hashes, API tokens, and the `Caller` extractor that
//! every API and UWS handler takes (HTTP Basic or `Authorization: Bearer <token>`).
//!
//! Verifying an argon2 hash costs tens of milliseconds by design, far too much per request for
//! scripts that poll, so successful verifications are cached for [`CACHE_TTL`], at most
//! [`CACHE_MAX`] of them, keyed by an HMAC of the header under a key made at start-up (never the
//! credentials themselves, nor a plain hash someone could test guesses against). A changed
//! password or a revoked token therefore takes up to that long to stop working. Passwords that
//! are not cached go through [`password`]: a bounded pool, back-off, no enumeration by timing.
//!
//! Browsers log in through [`session`] and send a cookie instead of a header; state changes they
//! make with it are checked by [`csrf`].

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use base64::Engine;
use hmac::{KeyInit, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::{self, Db, users::UserRow};
use crate::error::ApiError;
use crate::jobs::Caller;
use crate::site::Site;

pub mod accounts;
pub mod csrf;
pub mod password;
pub mod session;
mod throttle;

pub use password::AuthSettings;

const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 10_000;

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A new random secret: 32 bytes, URL-safe base64, with a prefix that makes it recognisable.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A user name: 1–64 of letters, digits, `_`, `-`, `.`, not starting with `.`; it names the
/// user's storage folder, so nothing else is allowed.
pub fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Creates a user; errors if the name is invalid or taken.
pub async fn add_user(db: &Db, name: &str, password: &str, is_admin: bool) -> anyhow::Result<i64> {
    anyhow::ensure!(valid_user_name(name), "invalid user name '{name}': use 1-64 letters, digits, '_', '-', '.'");
    anyhow::ensure!(password.len() >= 8, "the password must have at least 8 characters");
    let hash = hash_password(password)?;
    db::users::insert(db, name, &hash, is_admin).await?.with_context(|| format!("user '{name}' already exists"))
}

/// Creates an API token for `user` and returns it (only its hash is stored).
pub async fn create_token(db: &Db, user: &str) -> anyhow::Result<String> {
    let row = db::users::by_name(db, user).await?.with_context(|| format!("no user '{user}'"))?;
    let token = new_secret("voc_");
    db::tokens::insert(db, row.id, &token_hash(&token)).await?;
    Ok(token)
}

/// Creates a worker token named `name` (for one host or group of workers) and returns it.
pub async fn create_worker_token(db: &Db, name: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        valid_user_name(name),
        "invalid worker token name '{name}': use 1-64 letters, digits, '_', '-', '.'"
    );
    let token = new_secret("vocw_");
    anyhow::ensure!(
        db::fleet::insert_token(db, name, &token_hash(&token)).await?,
        "a worker token named '{name}' exists already"
    );
    Ok(token)
}

/// Revokes the worker token `name`: its workers are refused from their next request on.
pub async fn revoke_worker_token(db: &Db, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(db::fleet::revoke_token(db, name).await?, "no live worker token named '{name}'");
    Ok(())
}

/// Checks credentials against the database, with a cache of recent successes.
pub struct Authenticator {
    db: Db,
    cache: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
    /// Keys the cache: an HMAC, so the cache holds nothing a guess could be checked against.
    cache_key: [u8; 32],
    /// The argon2 pool and the back-off tables.
    passwords: password::Passwords,
    /// How long a browser login lasts.
    login_lifetime: std::time::Duration,
}

fn caller(row: UserRow) -> Caller {
    Caller { user_id: row.id, name: row.name, is_admin: row.is_admin != 0 }
}

impl Authenticator {
    pub fn new(db: Db) -> Self {
        Authenticator {
            db,
            cache: Mutex::new(HashMap::new()),
            cache_key: rand::random(),
            passwords: password::Passwords::new(&AuthSettings::default()),
            login_lifetime: session::DEFAULT_LIFETIME,
        }
    }

    /// Sets the password pool and back-off (`[auth]`).
    pub fn with_password_settings(mut self, settings: &AuthSettings) -> Self {
        self.passwords = password::Passwords::new(settings);
        self
    }

    /// Sets how long browser logins last.
    pub fn with_login_lifetime(mut self, lifetime: std::time::Duration) -> Self {
        self.login_lifetime = lifetime;
        self
    }

    /// The caller named by an `Authorization` header value, sent from `client`.
    pub async fn authenticate(&self, header: Option<&str>, client: Option<IpAddr>) -> Result<Caller, ApiError> {
        let header = header
            .ok_or_else(|| ApiError::Unauthorized("authentication required (HTTP Basic or Bearer token)".into()))?;
        let key = self.cache_key_of(header);
        if let Some(caller) = self.cached(&key) {
            return Ok(caller);
        }
        let caller = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                db::tokens::user_by_hash(&self.db, &token_hash(token.trim())).await?.map(caller)
            }
            Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                self.basic(encoded.trim(), client).await?
            }
            _ => {
                return Err(ApiError::Unauthorized("unsupported Authorization scheme; use Basic or Bearer".into()));
            }
        };
        let caller = caller.ok_or_else(|| ApiError::Unauthorized("invalid credentials".into()))?;
        self.remember(key, caller.clone());
        Ok(caller)
    }

    async fn basic(&self, encoded: &str, client: Option<IpAddr>) -> Result<Option<Caller>, ApiError> {
        let bad = || ApiError::Unauthorized("malformed Basic credentials".into());
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (name, password) = text.split_once(':').ok_or_else(bad)?;
        self.check_password(name, password, client).await
    }

    fn cache_key_of(&self, header: &str) -> [u8; 32] {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.cache_key).expect("HMAC takes any key length");
        mac.update(header.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Caller> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(key).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(c, _)| c.clone())
    }

    fn remember(&self, key: [u8; 32], caller: Caller) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(key, (caller, Instant::now()));
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Authenticator>>().cloned();
        let client = Site::of(req).client_ip(req);
        let header =
            req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok()).map(str::to_string);
        // No Authorization header: a browser's login cookie will do.
        let cookie = if header.is_none() { session::cookie_value(req) } else { None };
        Box::pin(async move {
            let auth =
                auth.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("authenticator missing from app data")))?;
            if let Some(token) = cookie
                && let Some(caller) = auth.session(&token).await?
            {
                return Ok(caller);
            }
            auth.authenticate(header.as_deref(), client).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn user_names_cannot_escape_storage() {
        for ok in ["alice", "a.b-c_d", "X1"] {
            assert!(valid_user_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(65)] {
            assert!(!valid_user_name(bad), "{bad}");
        }
    }
}
