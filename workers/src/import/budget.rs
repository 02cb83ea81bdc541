//! The bytes an import may still write before its owner's storage quota is reached.
//!
//! The master tells the job its owner's usage when it hands the job out (`JobContext::quota`);
//! the downloads, running in parallel, take their bytes from this one shared budget chunk by
//! chunk, so together they never pass it. A download that would pass it is dropped (its partial
//! file removed and its bytes given back) and the budget is marked spent: no new download starts.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Budget {
    /// Bytes left; `None` when there is no quota.
    left: Mutex<Option<u64>>,
    /// Set once a download did not fit: the import stops starting downloads.
    spent: AtomicBool,
    /// The quota and the usage at start, for messages.
    pub quota: Option<crate::Quota>,
}

impl Budget {
    pub fn new(quota: Option<crate::Quota>) -> Budget {
        Budget { left: Mutex::new(quota.map(|q| q.available())), spent: AtomicBool::new(false), quota }
    }

    /// Would `n` more bytes fit now?
    pub fn fits(&self, n: u64) -> bool {
        self.left.lock().unwrap_or_else(|e| e.into_inner()).is_none_or(|left| n <= left)
    }

    /// Takes `n` bytes; false (and nothing taken) if they do not fit.
    pub fn take(&self, n: u64) -> bool {
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        match *left {
            None => true,
            Some(l) if n <= l => {
                *left = Some(l - n);
                true
            }
            Some(_) => false,
        }
    }

    /// Returns bytes taken for a file that was then removed.
    pub fn give_back(&self, n: u64) {
        if let Some(l) = self.left.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            *l = l.saturating_add(n);
        }
    }

    pub fn mark_spent(&self) {
        self.spent.store(true, Ordering::SeqCst);
    }

    pub fn is_spent(&self) -> bool {
        self.spent.load(Ordering::SeqCst)
    }

    /// "the 1000 byte storage quota (600 used when the import started)".
    pub fn describe(&self) -> String {
        match self.quota {
            Some(crate::Quota { quota: Some(q), used }) => {
                format!("the {q} byte storage quota ({used} bytes were in use when the import started)")
            }
            _ => "the storage quota".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_until_full_and_gives_back() {
        let b = Budget::new(Some(crate::Quota { quota: Some(100), used: 40 }));
        assert!(b.take(50));
        assert!(!b.take(20), "only 10 left");
        assert!(b.fits(10) && !b.fits(11));
        b.give_back(50);
        assert!(b.take(60));
        assert!(Budget::new(None).take(u64::MAX));
    }
}
