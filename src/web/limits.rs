//! How often one address may ask for something by mail from the pages: a sign-in link, a web
//! request. Keyed by the address (lower-case), in memory: a restart forgets, which only ever
//! lets a few more through.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Sign-in links one address may ask for per hour.
pub const SIGN_INS_PER_HOUR: u32 = 5;
/// Web requests one address may file per hour.
pub const REQUESTS_PER_HOUR: u32 = 10;

/// The limiters of the pages.
#[derive(Debug)]
pub struct WebLimits {
    sign_in: DefaultKeyedRateLimiter<String>,
    request: DefaultKeyedRateLimiter<String>,
}

impl Default for WebLimits {
    fn default() -> Self {
        Self::new(SIGN_INS_PER_HOUR, REQUESTS_PER_HOUR)
    }
}

fn per_hour(count: u32) -> Quota {
    Quota::per_hour(NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN))
}

impl WebLimits {
    /// Limiters allowing `sign_ins` sign-in links and `requests` web requests per address and hour.
    pub fn new(sign_ins: u32, requests: u32) -> Self {
        Self { sign_in: RateLimiter::keyed(per_hour(sign_ins)), request: RateLimiter::keyed(per_hour(requests)) }
    }

    /// Whether `address` may have another sign-in link now (and counts it).
    pub fn sign_in(&self, address: &str) -> bool {
        self.sign_in.check_key(&address.trim().to_lowercase()).is_ok()
    }

    /// Whether `address` may file another web request now (and counts it).
    pub fn request(&self, address: &str) -> bool {
        self.request.check_key(&address.trim().to_lowercase()).is_ok()
    }
}
