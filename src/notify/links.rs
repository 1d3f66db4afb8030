//! Signed links that mails carry besides the survey's: the one-time sign-in link to the pages
//! (staff) and, for customers, the status page of their request ([`StatusLink`]).
//!
//! A link's token is `PAYLOAD.SIGNATURE`, the signature an HMAC-SHA256 (first 16 bytes, hex)
//! of the payload under a secret the server keeps in its database. The outbox stores only the
//! payload's parts; the delivery worker signs the link when it renders the mail, so the outbox
//! never holds a working link.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::engine::TicketId;

/// The signature of `payload` under `secret`: 16 bytes of HMAC-SHA256, in hex.
pub fn mac(secret: &[u8], payload: &str) -> String {
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(payload.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// Whether `signature` is the signature of `payload`, compared in constant time (a signature is
/// a secret until it is right).
pub fn signed(secret: &[u8], payload: &str, signature: &str) -> bool {
    let expected = mac(secret, payload);
    expected.len() == signature.len()
        && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Why a link's token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token, or not signed by this server.
    #[error("this link is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("this link expired at {0}")]
    Expired(DateTime<Utc>),
}

/// A one-time sign-in link: which stored sign-in it uses, and until when it works. Used once
/// by removing its record ([`crate::store::Store::take_sign_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLink {
    /// The stored sign-in's id.
    pub id: [u8; 16],
    /// When it stops working.
    pub expires: DateTime<Utc>,
}

impl SignInLink {
    /// The signed token (`ID.EXPIRES.SIGNATURE`).
    pub fn sign(&self, secret: &[u8]) -> String {
        let payload = format!("{}.{}", hex::encode(self.id), self.expires.timestamp());
        let signature = mac(secret, &format!("sign-in.{payload}"));
        format!("{payload}.{signature}")
    }

    /// Reads and checks a token at `now`.
    pub fn verify(token: &str, secret: &[u8], now: DateTime<Utc>) -> Result<Self, LinkError> {
        let (payload, signature) = token.trim().rsplit_once('.').ok_or(LinkError::Invalid)?;
        if !signed(secret, &format!("sign-in.{payload}"), signature) {
            return Err(LinkError::Invalid);
        }
        let (id, expires) = payload.split_once('.').ok_or(LinkError::Invalid)?;
        let id: [u8; 16] = hex::decode(id).ok().and_then(|bytes| bytes.try_into().ok()).ok_or(LinkError::Invalid)?;
        let expires = expires.parse().ok().and_then(|s| DateTime::from_timestamp(s, 0)).ok_or(LinkError::Invalid)?;
        if now > expires {
            return Err(LinkError::Expired(expires));
        }
        Ok(Self { id, expires })
    }
}

/// A link to the status page of a customer's request (`/status/TOKEN`): the ticket's id,
/// signed. It carries no expiry of its own, so every mail about a request links to the same
/// page for as long as the request lives; the page itself stops answering
/// [`STATUS_DAYS_AFTER_CLOSING`] days after the request was closed. Nothing is stored per link:
/// a forged or altered token fails the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLink {
    /// The ticket.
    pub ticket: TicketId,
}

/// How long after closing a request's status page still answers.
pub const STATUS_DAYS_AFTER_CLOSING: i64 = 180;

impl StatusLink {
    /// The signed token (`TICKET.SIGNATURE`).
    pub fn sign(&self, secret: &[u8]) -> String {
        let payload = self.ticket.to_string();
        let signature = mac(secret, &format!("status.{payload}"));
        format!("{payload}.{signature}")
    }

    /// Reads and checks a token.
    pub fn verify(token: &str, secret: &[u8]) -> Result<Self, LinkError> {
        let (payload, signature) = token.trim().rsplit_once('.').ok_or(LinkError::Invalid)?;
        if !signed(secret, &format!("status.{payload}"), signature) {
            return Err(LinkError::Invalid);
        }
        let ticket = TicketId(ulid::Ulid::from_string(payload).map_err(|_| LinkError::Invalid)?);
        Ok(Self { ticket })
    }

    /// Whether the status page of a request closed at `closed_at` (if it is) still answers at
    /// `now`.
    pub fn answers(closed_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        closed_at.is_none_or(|closed| now - closed <= chrono::Duration::days(STATUS_DAYS_AFTER_CLOSING))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_link_verifies_and_an_altered_one_does_not() {
        let link = StatusLink { ticket: TicketId(ulid::Ulid::from_parts(1, 2)) };
        let token = link.sign(b"secret");
        assert_eq!(StatusLink::verify(&token, b"secret"), Ok(link));
        assert_eq!(StatusLink::verify(&token, b"other"), Err(LinkError::Invalid));
        let other = StatusLink { ticket: TicketId(ulid::Ulid::from_parts(1, 3)) }.sign(b"secret");
        let swapped =
            format!("{}.{}", &other[..other.find('.').expect("a dot")], &token[token.find('.').expect("a dot") + 1..]);
        assert_eq!(StatusLink::verify(&swapped, b"secret"), Err(LinkError::Invalid));
        assert_eq!(StatusLink::verify("garbage", b"secret"), Err(LinkError::Invalid));
        // A sign-in token is not a status token, even under the same secret.
        let sign_in = SignInLink { id: [7; 16], expires: DateTime::from_timestamp(1_800_000_000, 0).expect("time") };
        assert_eq!(StatusLink::verify(&sign_in.sign(b"secret"), b"secret"), Err(LinkError::Invalid));
    }

    #[test]
    fn a_status_page_answers_until_half_a_year_after_closing() {
        let closed = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        assert!(StatusLink::answers(None, closed));
        assert!(StatusLink::answers(Some(closed), closed + chrono::Duration::days(180)));
        assert!(!StatusLink::answers(Some(closed), closed + chrono::Duration::days(181)));
    }

    #[test]
    fn a_sign_in_link_verifies_until_it_expires_and_not_altered() {
        let expires = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let link = SignInLink { id: [7; 16], expires };
        let token = link.sign(b"secret");
        let before = DateTime::from_timestamp(1_799_999_000, 0).expect("time");
        assert_eq!(SignInLink::verify(&token, b"secret", before), Ok(link));
        assert_eq!(SignInLink::verify(&token, b"other", before), Err(LinkError::Invalid));
        let later = token.replace("1800000000", "1900000000");
        assert_eq!(SignInLink::verify(&later, b"secret", before), Err(LinkError::Invalid));
        let after = DateTime::from_timestamp(1_800_000_001, 0).expect("time");
        assert_eq!(SignInLink::verify(&token, b"secret", after), Err(LinkError::Expired(expires)));
    }
}
