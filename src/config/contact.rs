//! The operator's `--contact` as a URI, as RFC 9511's probing.txt needs it.

/// A URI from the operator's `--contact` text: the text itself if it is a URI (a scheme,
/// no spaces), else the first word with an `@` as `mailto:`, else the first `http(s)://`
/// word; `None` if the text has neither.
pub(crate) fn contact_uri(contact: &str) -> Option<String> {
    let t = contact.trim();
    if is_uri(t) {
        return Some(t.to_string());
    }
    let words = || {
        t.split_whitespace()
            .map(|w| w.trim_matches(|c| "<>()[],;\"'".contains(c)))
            .filter(|w| !w.is_empty())
    };
    if let Some(mail) = words().find(|w| {
        w.split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !w.contains(':'))
    }) {
        return Some(format!("mailto:{mail}"));
    }
    words()
        .find(|w| (w.starts_with("https://") || w.starts_with("http://")) && is_uri(w))
        .map(str::to_string)
}

/// A URI as RFC 3986 starts one: a scheme (a letter, then letters, digits, `+-.`), a
/// colon and something after it; no spaces or controls.
pub(crate) fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut c = scheme.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || "+-.".contains(x))
        && !rest.is_empty()
        && s.chars().all(|x| x.is_ascii_graphic())
}
