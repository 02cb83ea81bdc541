//! Identifiers and the view of a job that the protocol layers render.

use rand::Rng;

/// A job id: 12 characters, a digit then lower-case letters and digits. URL-safe, and never
/// starting with h, t, p or s, which uws-client strips from redirect paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobId(String);

impl JobId {
    pub fn generate() -> JobId {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut rng = rand::thread_rng();
        let mut id = String::with_capacity(12);
        id.push(char::from(b'0' + rng.gen_range(0..10u8)));
        for _ in 0..11 {
            id.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
        }
        JobId(id)
    }

    /// Accepts what [`JobId::generate`] produces; anything else cannot name a job.
    pub fn parse(text: &str) -> Option<JobId> {
        let ok = text.len() == 12
            && text.as_bytes()[0].is_ascii_digit()
            && text.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
        ok.then(|| JobId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The authenticated user making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub name: String,
    pub is_admin: bool,
}

impl Caller {
    /// Whether this caller may see and touch a job owned by `owner_id`.
    pub fn may_access(&self, owner_id: i64) -> bool {
        self.is_admin || self.user_id == owner_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_avoid_letters_uws_client_strips() {
        for _ in 0..1000 {
            let id = JobId::generate();
            assert!(JobId::parse(id.as_str()).is_some(), "{id}");
            assert!(!"htps".contains(id.as_str().chars().next().unwrap()));
        }
        for bad in ["", "abc", "0123456789AB", "0123456789a/", "h12345678901"] {
            assert!(JobId::parse(bad).is_none(), "{bad}");
        }
    }
}
