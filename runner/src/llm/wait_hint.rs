//! How long a provider asks us to wait, read from its response headers.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// The wait the response asks for: `Retry-After` (delta seconds or HTTP-date) first, then
/// OpenAI's `x-ratelimit-reset-requests` / `-tokens`. When both reset headers are present, the
/// one whose `remaining` is 0 is the limit that was hit; if neither says, the longer one.
pub fn wait_hint(headers: &HeaderMap) -> Option<Duration> {
    if let Some(wait) = header(headers, "retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
    {
        return Some(wait);
    }
    if let Some(wait) = header(headers, "retry-after").and_then(parse_retry_after) {
        return Some(wait);
    }
    let requests = header(headers, "x-ratelimit-reset-requests").and_then(parse_go_duration);
    let tokens = header(headers, "x-ratelimit-reset-tokens").and_then(parse_go_duration);
    let exhausted = |name: &str| header(headers, name).is_some_and(|v| v.trim() == "0");
    match (requests, tokens) {
        (Some(r), Some(t)) => match (
            exhausted("x-ratelimit-remaining-requests"),
            exhausted("x-ratelimit-remaining-tokens"),
        ) {
            (true, false) => Some(r),
            (false, true) => Some(t),
            _ => Some(r.max(t)),
        },
        (r, t) => r.or(t),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Some proxies send fractional seconds; accept them rather than fall back to blind backoff.
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    // A date in the past means "now".
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// OpenAI's reset durations, written like Go's `time.Duration`: `1s`, `6m0s`, `250ms`, `1h2m3.5s`.
pub fn parse_go_duration(value: &str) -> Option<Duration> {
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_go_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(parse_go_duration("0.5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("abc"), None);
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let wait = parse_retry_after(&future).unwrap();
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn reset_headers_pick_the_exhausted_limit() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset-requests", "1s".parse().unwrap());
        h.insert("x-ratelimit-reset-tokens", "6m0s".parse().unwrap());
        assert_eq!(wait_hint(&h), Some(Duration::from_secs(360)));
        h.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
        h.insert("x-ratelimit-remaining-tokens", "1200".parse().unwrap());
        assert_eq!(wait_hint(&h), Some(Duration::from_secs(1)));
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(wait_hint(&h), Some(Duration::from_secs(7)));
    }
}
