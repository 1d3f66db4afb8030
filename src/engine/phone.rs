//! Phone numbers in one form, E.164 (`+989121112222`), so a customer who calls from
//! `+98 912 111 2222` one day and `0912 111 2222` the next is one customer.
//!
//! A number written with its country code (`+98 ...`, `0098 ...` is not) needs nothing else; a
//! national number (`0912 ...`) is read in the server's default region
//! (`default_phone_region`). Pure: no I/O, only the `phonenumber` crate's metadata.

use std::str::FromStr;

/// A region (ISO 3166 country code, `IR`, `DE`) national numbers are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(phonenumber::country::Id);

impl FromStr for Region {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        phonenumber::country::Id::from_str(&text.trim().to_uppercase())
            .map(Self)
            .map_err(|_| format!("\"{text}\" is not a region code (write two letters, like IR or DE)"))
    }
}

/// `text` in E.164, read in `region` when it has no country code; why not, otherwise.
pub fn normalise(text: &str, region: Option<Region>) -> Result<String, String> {
    let text = text.trim();
    if !crate::engine::forms::is_phone(text) {
        return Err(format!("\"{text}\" is not a phone number"));
    }
    let international = text.starts_with('+');
    let number = phonenumber::parse(if international { None } else { region.map(|r| r.0) }, text).map_err(|_| {
        if international || region.is_some() {
            format!("\"{text}\" is not a phone number")
        } else {
            format!(
                "\"{text}\" has no country code: write it as +<country code> <number>, or set the server's \
                 default_phone_region"
            )
        }
    })?;
    if !phonenumber::is_valid(&number) {
        return Err(format!("\"{text}\" is not a valid phone number"));
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iran() -> Option<Region> {
        Some("ir".parse().expect("a region"))
    }

    #[test]
    fn one_number_written_many_ways_is_one_e164_number() {
        for written in ["+98 912 111 2222", "+989121112222", "0912 111 2222", "09121112222", "(0912) 111-2222"] {
            assert_eq!(normalise(written, iran()).as_deref(), Ok("+989121112222"), "{written}");
        }
        assert_eq!(normalise("+98 912 111 2222", None).as_deref(), Ok("+989121112222"), "no region needed");
        assert_eq!(normalise("+49 30 901820", iran()).as_deref(), Ok("+4930901820"), "the + wins over the region");
        assert_eq!(normalise("+98 912 000 0000", None).as_deref(), Ok("+989120000000"));
    }

    #[test]
    fn what_is_no_number_says_why() {
        let error = normalise("09121112222", None).expect_err("no region");
        assert!(error.contains("default_phone_region"), "{error}");
        assert!(normalise("call me", iran()).is_err());
        assert!(normalise("12", iran()).is_err());
        assert!(normalise("+98 1", iran()).is_err());
        assert!(normalise("+999 1234 5678", iran()).is_err(), "no such country code");
        assert!("Persia".parse::<Region>().is_err());
    }
}
