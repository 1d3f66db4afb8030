//! Languages of the built-in texts (pages and mails): English, Persian and Arabic.
//!
//! A workflow names its language (`language = "fa"`); a person's own choice (a page's language
//! switch, their browser's `Accept-Language`) wins where it is known. Persian and Arabic are
//! written right to left. Dates and times are shown in the workflow's time zone; Persian ones in
//! the Solar Hijri calendar, Arabic and English ones in the Gregorian calendar ([`dates`]).

pub mod dates;

use serde::{Deserialize, Serialize};

/// A language Afterdesk has built-in texts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// Persian (Farsi).
    Fa,
    /// Arabic.
    Ar,
}

impl Lang {
    /// Every language, in the order a language switch lists them.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Fa, Lang::Ar];

    /// The BCP 47 code (`en`, `fa`, `ar`).
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fa => "fa",
            Self::Ar => "ar",
        }
    }

    /// The language's own name for itself (for a language switch).
    pub fn native_name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Fa => "فارسی",
            Self::Ar => "العربية",
        }
    }

    /// Whether the language is written right to left.
    pub fn is_rtl(self) -> bool {
        matches!(self, Self::Fa | Self::Ar)
    }

    /// The HTML `dir` value: `rtl` or `ltr`.
    pub fn dir(self) -> &'static str {
        if self.is_rtl() { "rtl" } else { "ltr" }
    }

    /// The language of a code such as `fa`, `fa-IR` or `AR` (the primary subtag decides).
    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next().unwrap_or_default();
        Self::ALL.into_iter().find(|lang| lang.code().eq_ignore_ascii_case(primary))
    }

    /// The first language of an `Accept-Language` header that Afterdesk has texts in, by the
    /// header's weights (`fa;q=0.9, en;q=0.8`), if any.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut choices: Vec<(f32, usize, Lang)> = header
            .split(',')
            .enumerate()
            .filter_map(|(position, part)| {
                let mut pieces = part.split(';');
                let lang = Lang::parse(pieces.next()?)?;
                let weight = pieces
                    .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                    .unwrap_or(1.0);
                (weight > 0.0).then_some((weight, position, lang))
            })
            .collect();
        choices.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        choices.first().map(|choice| choice.2)
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_headers_choose_a_language() {
        assert_eq!(Lang::parse("fa-IR"), Some(Lang::Fa));
        assert_eq!(Lang::parse("AR"), Some(Lang::Ar));
        assert_eq!(Lang::parse("de"), None);
        assert_eq!(Lang::from_accept_language("de-DE, fa;q=0.5, ar;q=0.9"), Some(Lang::Ar));
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("de, fr;q=0.5"), None);
        assert_eq!(Lang::from_accept_language("fa;q=0, en;q=0.1"), Some(Lang::En));
        assert!(Lang::Fa.is_rtl() && !Lang::En.is_rtl());
    }
}
