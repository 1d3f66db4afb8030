//! `Content-Disposition` both ways: the file name a client sends with a raw upload
//! (`filename="..."` or RFC 5987 `filename*=UTF-8''...`), and the header a download answers
//! with (RFC 6266: an ASCII fallback and the exact UTF-8 name, percent-encoded).

/// The file name in a `Content-Disposition` value, `filename*` preferred; `None` without one
/// (or when its encoding is broken).
pub fn file_name(header: &str) -> Option<String> {
    let mut plain = None;
    for part in header.split(';').skip(1) {
        let Some((key, value)) = part.split_once('=') else { continue };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        if key == "filename*" {
            let (charset, rest) = value.split_once('\'')?;
            let (_, encoded) = rest.split_once('\'')?;
            if !charset.eq_ignore_ascii_case("utf-8") {
                return None;
            }
            return String::from_utf8(percent_decode(encoded)?).ok();
        }
        if key == "filename" {
            let unquoted = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            plain = Some(unquoted.replace("\\\"", "\"").replace("\\\\", "\\"));
        }
    }
    plain
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// `attachment; filename="ASCII fallback"; filename*=UTF-8''percent-encoded`: every client
/// gets a safe name, and those that read RFC 5987 the exact one.
pub fn attachment(name: &str) -> String {
    let fallback: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_the_header() {
        for name in ["report.pdf", "گزارش سرویس.pdf", "a \"quoted\" name;.txt", "100%.txt"] {
            assert_eq!(file_name(&attachment(name)).as_deref(), Some(name), "{}", attachment(name));
        }
        assert_eq!(attachment("a b.pdf"), "attachment; filename=\"a b.pdf\"; filename*=UTF-8''a%20b.pdf");
    }

    #[test]
    fn a_plain_filename_is_read_when_there_is_no_encoded_one() {
        assert_eq!(file_name("attachment; filename=\"report.pdf\"").as_deref(), Some("report.pdf"));
        assert_eq!(file_name("attachment; filename=report.pdf").as_deref(), Some("report.pdf"));
        assert_eq!(file_name("attachment"), None);
        assert_eq!(file_name("attachment; filename*=UTF-8''%ZZ"), None);
    }
}
