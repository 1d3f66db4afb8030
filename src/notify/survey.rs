//! Survey links: signed, expiring, and good for one answer.
//!
//! A link's token names the ticket, the survey (the id of the survey mail) and when it expires,
//! signed with HMAC-SHA256 under a secret the server keeps in its database:
//! `TICKET.SURVEY.EXPIRES.SIGNATURE`. Nothing is stored per link; a forged or altered token
//! fails the signature, an old one fails the expiry, and a used one is refused because the
//! ticket already holds an answer to that survey.

use chrono::{DateTime, Utc};
use ulid::Ulid;

use crate::engine::TicketId;

/// What a valid token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyToken {
    /// The ticket.
    pub ticket: TicketId,
    /// The survey (the survey mail's id).
    pub survey: Ulid,
    /// When the link stops working.
    pub expires: DateTime<Utc>,
}

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token, or not signed by this server.
    #[error("this survey link is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("this survey link expired on {0}")]
    Expired(DateTime<Utc>),
}

impl SurveyToken {
    /// The signed token.
    pub fn sign(&self, secret: &[u8]) -> String {
        let payload = format!("{}.{}.{}", self.ticket, self.survey, self.expires.timestamp());
        let signature = super::links::mac(secret, &payload);
        format!("{payload}.{signature}")
    }

    /// Reads and checks a token at `now`.
    pub fn verify(token: &str, secret: &[u8], now: DateTime<Utc>) -> Result<Self, TokenError> {
        let (payload, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        if !super::links::signed(secret, payload, signature) {
            return Err(TokenError::Invalid);
        }
        let mut parts = payload.split('.');
        let (Some(ticket), Some(survey), Some(expires), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let ticket = TicketId(Ulid::from_string(ticket).map_err(|_| TokenError::Invalid)?);
        let survey = Ulid::from_string(survey).map_err(|_| TokenError::Invalid)?;
        let expires = expires.parse().ok().and_then(|s| DateTime::from_timestamp(s, 0)).ok_or(TokenError::Invalid)?;
        if now > expires {
            return Err(TokenError::Expired(expires));
        }
        Ok(Self { ticket, survey, expires })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> SurveyToken {
        let expires = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        SurveyToken { ticket: TicketId(Ulid::from_parts(1, 2)), survey: Ulid::from_parts(3, 4), expires }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let text = token().sign(b"secret");
        let before = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        assert_eq!(SurveyToken::verify(&text, b"secret", before), Ok(token()));
        let after = DateTime::from_timestamp(1_800_000_001, 0).expect("time");
        assert!(matches!(SurveyToken::verify(&text, b"secret", after), Err(TokenError::Expired(_))));
    }

    #[test]
    fn an_altered_or_foreign_token_is_refused() {
        let text = token().sign(b"secret");
        let now = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        assert_eq!(SurveyToken::verify(&text, b"other secret", now), Err(TokenError::Invalid));
        let later = text.replace("1800000000", "1900000000");
        assert_eq!(SurveyToken::verify(&later, b"secret", now), Err(TokenError::Invalid));
        assert_eq!(SurveyToken::verify("garbage", b"secret", now), Err(TokenError::Invalid));
    }
}
