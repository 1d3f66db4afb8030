//! The built-in texts of the pages, in English, Persian and Arabic: one TOML file per language
//! (`src/web/texts/en.toml`, `fa.toml`, `ar.toml`), compiled into the binary, read as dotted
//! keys (`[signin] title = "..."` is `signin.title`).
//!
//! A text may hold named values in braces (`"{count} open"`), filled by the template's call
//! (`t("work.open", count=3)`). Counted texts have a `.one` and an `.other` form (and, for Arabic,
//! `.two`, `.few`, `.many`, `.zero` where its grammar needs them), chosen by [`counted`] with the
//! language's plural rules. A key missing in Persian or Arabic falls back to English (a test
//! keeps the three files in step), and a key missing everywhere shows as itself, so a typo is
//! visible on the page instead of an empty place.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::locale::Lang;

type Catalogue = HashMap<String, String>;

static CATALOGUES: LazyLock<[Catalogue; 3]> = LazyLock::new(|| {
    [
        load(include_str!("texts/en.toml"), "en"),
        load(include_str!("texts/fa.toml"), "fa"),
        load(include_str!("texts/ar.toml"), "ar"),
    ]
});

fn load(source: &str, name: &str) -> Catalogue {
    let mut out = Catalogue::new();
    match toml::from_str::<toml::Table>(source) {
        Ok(table) => flatten("", &table, &mut out),
        // A test parses every file; a broken one cannot ship.
        Err(error) => tracing::error!("the built-in texts `{name}.toml` do not parse: {error}"),
    }
    out
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Catalogue) {
    for (key, value) in table {
        let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            toml::Value::String(text) => {
                out.insert(key, text.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

fn catalogue(lang: Lang) -> &'static Catalogue {
    &CATALOGUES[match lang {
        Lang::En => 0,
        Lang::Fa => 1,
        Lang::Ar => 2,
    }]
}

/// The text of `key` in `lang` (English when `lang` lacks it; the key itself when nothing has it).
pub fn text(lang: Lang, key: &str) -> &str {
    catalogue(lang).get(key).or_else(|| catalogue(Lang::En).get(key)).map_or(key, String::as_str)
}

/// Whether any language has `key`.
pub fn has(key: &str) -> bool {
    catalogue(Lang::En).contains_key(key)
}

/// The text of `key` with each `{name}` replaced by its value.
pub fn fill(lang: Lang, key: &str, values: &[(&str, String)]) -> String {
    let mut out = text(lang, key).to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The form of counted text `key` for `count` (`key.one`, `key.other`, ...), with `{count}`
/// filled in as the language writes numbers.
pub fn counted(lang: Lang, key: &str, count: i64, values: &[(&str, String)]) -> String {
    let form = plural_form(lang, count);
    let chosen = [format!("{key}.{form}"), format!("{key}.other")]
        .into_iter()
        .find(|candidate| catalogue(lang).contains_key(candidate) || catalogue(Lang::En).contains_key(candidate))
        .unwrap_or_else(|| format!("{key}.other"));
    let mut all = vec![("count", crate::locale::dates::number(count, lang))];
    all.extend(values.iter().cloned());
    fill(lang, &chosen, &all)
}

/// The CLDR plural category of `count` in `lang`.
fn plural_form(lang: Lang, count: i64) -> &'static str {
    let n = count.unsigned_abs();
    match lang {
        // CLDR: English "one" is exactly 1; Persian "one" is 0 and 1 (i = 0 or n = 1).
        Lang::En => {
            if n == 1 {
                "one"
            } else {
                "other"
            }
        }
        Lang::Fa => {
            if n <= 1 {
                "one"
            } else {
                "other"
            }
        }
        Lang::Ar => match (n, n % 100) {
            (0, _) => "zero",
            (1, _) => "one",
            (2, _) => "two",
            (_, 3..=10) => "few",
            (_, 11..=99) => "many",
            _ => "other",
        },
    }
}

/// Every key of a language's file (for the tests that keep the files in step).
pub fn keys(lang: Lang) -> Vec<&'static str> {
    let mut keys: Vec<&str> = catalogue(lang).keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_parses_and_has_every_english_key() {
        for (source, name) in [
            (include_str!("texts/en.toml"), "en"),
            (include_str!("texts/fa.toml"), "fa"),
            (include_str!("texts/ar.toml"), "ar"),
        ] {
            toml::from_str::<toml::Table>(source).unwrap_or_else(|e| panic!("{name}.toml: {e}"));
        }
        let english = keys(Lang::En);
        for lang in [Lang::Fa, Lang::Ar] {
            let theirs = keys(lang);
            // Arabic may have plural forms English has not; every other key is in both.
            let missing: Vec<_> = english
                .iter()
                .filter(|k| !theirs.contains(k))
                .filter(|k| !(k.ends_with(".one") && theirs.iter().any(|t| t.starts_with(&k[..k.len() - 3]))))
                .collect();
            assert!(missing.is_empty(), "{lang} lacks {missing:?}");
            let extra: Vec<_> = theirs
                .iter()
                .filter(|k| !english.contains(k))
                .filter(|k| {
                    let plural = [".zero", ".one", ".two", ".few", ".many"].iter().any(|s| k.ends_with(s));
                    !plural
                })
                .collect();
            assert!(extra.is_empty(), "{lang} has keys English lacks: {extra:?}");
        }
    }

    #[test]
    fn every_key_a_template_asks_for_exists() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/templates");
        let call = regex::Regex::new(r#"\bt[n]?\(\s*"([a-z0-9_.]+)""#).expect("regex");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&folder).expect("templates folder") {
            let path = entry.expect("entry").path();
            let source = std::fs::read_to_string(&path).expect("template");
            for found in call.captures_iter(&source) {
                let key = &found[1];
                let counted = [".one", ".other"].iter().any(|form| has(&format!("{key}{form}")));
                // `t("clocks." ~ kind)`: a prefix some keys must start with.
                let prefix = key.ends_with('.') && keys(Lang::En).iter().any(|k| k.starts_with(key));
                if !has(key) && !counted && !prefix {
                    missing.push(format!("{}: {key}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "texts used but not defined: {missing:#?}");
    }

    #[test]
    fn counted_texts_follow_each_language() {
        assert_eq!(counted(Lang::En, "common.tickets", 1, &[]), "1 ticket");
        assert_eq!(counted(Lang::En, "common.tickets", 3, &[]), "3 tickets");
        assert_eq!(counted(Lang::Ar, "common.tickets", 2, &[]), text(Lang::Ar, "common.tickets.two"));
        assert_eq!(fill(Lang::En, "no.such.key", &[]), "no.such.key");
    }
}
