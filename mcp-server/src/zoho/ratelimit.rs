//! Rate-limit information normalised to the IETF draft's vocabulary (limit, remaining, reset as
//! delta seconds) from whatever the upstream sent. Zoho sends its own `X-Rate-Limit-*-v3` headers and
//! `Retry-After`; the IETF fields (every draft syntax) are read too so the same code serves proxies
//! that add them. Malformed values are ignored, as the draft requires.

use http::HeaderMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitInfo {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Seconds until the quota returns (delta, never a timestamp).
    pub reset: Option<u64>,
    pub retry_after: Option<u64>,
    /// Credits this call cost (Zoho's `X-Rate-Limit-Request-Weight-v3`), so a client can tell
    /// how many more calls `remaining` allows.
    pub weight: Option<u64>,
}

impl RateLimitInfo {
    pub fn is_empty(&self) -> bool {
        *self == RateLimitInfo::default()
    }

    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_headers_at(headers, chrono::Utc::now())
    }

    /// `now` is a parameter so HTTP-date `Retry-After` values can be tested deterministically.
    pub fn from_headers_at(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Self {
        let text = |name: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let nonempty = |s: String| if s.is_empty() { None } else { Some(s) };

        let mut info = RateLimitInfo::default();

        // Draft -08 and later: `RateLimit: "default";r=50;t=30` and
        // `RateLimit-Policy: "default";q=100;w=60`. Draft -07: `RateLimit: limit=100, remaining=50, reset=5`.
        if let Some(v) = nonempty(text("ratelimit")) {
            // -07 spreads keys over dictionary members; -08+ puts them on the first list member.
            let members: Vec<Vec<(String, String)>> = v.split(',').map(params).collect();
            let structured = members.iter().find(|p| param_u64(p, "r").is_some());
            let dict: Vec<(String, String)> = members.iter().flatten().cloned().collect();
            info.remaining = structured
                .and_then(|p| param_u64(p, "r"))
                .or_else(|| param_u64(&dict, "remaining"));
            info.reset = structured
                .and_then(|p| param_u64(p, "t"))
                .or_else(|| param_u64(&dict, "reset"));
            info.limit = param_u64(&dict, "limit");
        }
        if let Some(v) = nonempty(text("ratelimit-policy")) {
            let first = first_member(&v);
            let params = params(first);
            info.limit = info
                .limit
                .or_else(|| param_u64(&params, "q"))
                .or_else(|| leading_u64(first));
        }
        // Drafts -00…-06: separate fields; `RateLimit-Limit` may carry policies (`10, 10;w=1`).
        if let Some(v) = nonempty(text("ratelimit-limit")) {
            info.limit = info.limit.or_else(|| leading_u64(first_member(&v)));
        }
        if let Some(v) = nonempty(text("ratelimit-remaining")) {
            info.remaining = info.remaining.or_else(|| leading_u64(first_member(&v)));
        }
        if let Some(v) = nonempty(text("ratelimit-reset")) {
            info.reset = info.reset.or_else(|| leading_u64(first_member(&v)));
        }
        // Zoho's own: credits left today.
        if let Some(v) = nonempty(text("x-rate-limit-remaining-v3")) {
            info.remaining = info.remaining.or_else(|| leading_u64(first_member(&v)));
        }
        if let Some(v) = nonempty(text("x-rate-limit-request-weight-v3")) {
            info.weight = leading_u64(first_member(&v));
        }
        if let Some(v) = nonempty(text("retry-after")) {
            info.retry_after = parse_retry_after(&v, now);
        }
        if info.reset.is_none() {
            info.reset = info.retry_after;
        }
        info
    }
}

fn first_member(v: &str) -> &str {
    v.split(',').next().unwrap_or("").trim()
}

fn params(member: &str) -> Vec<(String, String)> {
    member
        .split(';')
        .filter_map(|part| {
            let (k, v) = part.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect()
}

fn param_u64(params: &[(String, String)], key: &str) -> Option<u64> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

fn leading_u64(v: &str) -> Option<u64> {
    v.split(';').next()?.trim().parse().ok()
}

/// Delta-seconds or an HTTP-date; a date in the past means "now" (0).
fn parse_retry_after(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<u64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs);
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - now;
    Some(u64::try_from(delta.num_seconds()).unwrap_or(0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn zoho_headers_with_retry_after_seconds() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("X-Rate-Limit-Remaining-v3", "0"),
            ("X-Rate-Limit-Request-Weight-v3", "3"),
            ("Retry-After", "120"),
        ]));
        assert_eq!(
            info,
            RateLimitInfo {
                limit: None,
                remaining: Some(0),
                reset: Some(120),
                retry_after: Some(120),
                weight: Some(3),
            }
        );
    }

    #[test]
    fn retry_after_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let info = RateLimitInfo::from_headers_at(
            &headers(&[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")]),
            now,
        );
        assert_eq!(info.retry_after, Some(60));
        assert_eq!(info.reset, Some(60));
    }

    #[test]
    fn early_drafts_with_policy_in_limit() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("RateLimit-Limit", "110;w=10"),
            ("RateLimit-Remaining", "109"),
            ("RateLimit-Reset", "60"),
        ]));
        assert_eq!(
            info,
            RateLimitInfo {
                limit: Some(110),
                remaining: Some(109),
                reset: Some(60),
                retry_after: None,
                weight: None,
            }
        );
    }

    #[test]
    fn draft_07_dictionary() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("RateLimit", "limit=100, remaining=50, reset=5"),
            ("RateLimit-Policy", "100;w=10"),
        ]));
        assert_eq!(
            info,
            RateLimitInfo {
                limit: Some(100),
                remaining: Some(50),
                reset: Some(5),
                retry_after: None,
                weight: None,
            }
        );
        let info = RateLimitInfo::from_headers(&headers(&[("RateLimit-Policy", "100;w=10")]));
        assert_eq!(info.limit, Some(100));
    }

    #[test]
    fn draft_10_structured_fields() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("RateLimit-Policy", "\"default\";q=100;w=60"),
            ("RateLimit", "\"default\";r=50;t=30"),
        ]));
        assert_eq!(
            info,
            RateLimitInfo {
                limit: Some(100),
                remaining: Some(50),
                reset: Some(30),
                retry_after: None,
                weight: None,
            }
        );
    }

    #[test]
    fn malformed_values_are_ignored() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("RateLimit-Remaining", "lots"),
            ("Retry-After", "tomorrow-ish"),
        ]));
        assert!(info.is_empty());
    }
}
