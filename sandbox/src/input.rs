//! Request input as Zoho validates it: query parameters against an allow-list (422 for anything
//! else), integer ranges, id shapes, and JSON bodies with Zoho's media-type and payload errors.
//! Axum's own extractor rejections never reach the client.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::urlencoded::parse_pairs;
use crate::zoho_error::ApiError;

/// Bodies above this are refused with 413, well above Zoho's largest text field (65,535).
const MAX_BODY: usize = 1024 * 1024;

/// The query string of a request, checked against the endpoint's allow-list.
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// `orgId` is always allowed: it is the shared Common.json parameter.
    pub(crate) fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs = parse_pairs(raw.unwrap_or("")).ok_or_else(|| {
            ApiError::bad_request("The query string is not valid UTF-8 percent-encoding.")
        })?;
        for (k, _) in &pairs {
            if k != "orgId" && !allowed.contains(&k.as_str()) {
                return Err(ApiError::extra_param(k));
            }
        }
        Ok(Self { pairs })
    }

    pub(crate) fn str(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// An integer in `[lo, hi]`; absent gives `default`. Zoho words both a too-small and a
    /// too-large value as exceeding the range.
    pub(crate) fn int(&self, key: &str, lo: i64, hi: i64, default: i64) -> Result<i64, ApiError> {
        match self.str(key) {
            None => Ok(default),
            Some(v) => {
                let n: i64 = v.trim().parse().map_err(|_| ApiError::invalid_param(key))?;
                if n < lo || n > hi {
                    Err(ApiError::out_of_range(key, lo, hi))
                } else {
                    Ok(n)
                }
            }
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.str(key) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid_param(key)),
        }
    }

    /// A comma-separated list; empty items are refused.
    pub(crate) fn list(&self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.str(key) {
            None => Ok(None),
            Some(v) => {
                let items: Vec<String> = v.split(',').map(|s| s.trim().to_owned()).collect();
                if items.iter().any(|s| s.is_empty()) {
                    return Err(ApiError::invalid_param(key));
                }
                Ok(Some(items))
            }
        }
    }

    pub(crate) fn list_max(&self, key: &str, max: usize) -> Result<Option<Vec<String>>, ApiError> {
        let l = self.list(key)?;
        if let Some(items) = &l
            && items.len() > max
        {
            return Err(ApiError::unprocessable(format!(
                "The number of values passed for field '{key}' exceeds the maximum of '{max}'."
            )));
        }
        Ok(l)
    }

    /// A comma list whose every item is one of `allowed`.
    pub(crate) fn enum_list(&self, key: &str, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
        let items = self.list(key)?.unwrap_or_default();
        if items.iter().any(|i| !allowed.contains(&i.as_str())) {
            return Err(ApiError::invalid_param(key));
        }
        Ok(items)
    }

    pub(crate) fn one_of(&self, key: &str, allowed: &[&str]) -> Result<Option<&str>, ApiError> {
        match self.str(key) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(_) => Err(ApiError::invalid_param(key)),
        }
    }

    pub(crate) fn id(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.str(key) {
            None => Ok(None),
            Some(v) if is_id(v) => Ok(Some(v.to_owned())),
            Some(_) => Err(ApiError::invalid_param(key)),
        }
    }

    /// A required id parameter (the OAS `required: true` query parameters).
    pub(crate) fn required_id(&self, key: &str) -> Result<String, ApiError> {
        self.id(key)?.ok_or_else(|| {
            ApiError::unprocessable(format!(
                "The query parameter '{key}' is mandatory and no value was given."
            ))
        })
    }

    pub(crate) fn id_list(&self, key: &str, max: usize) -> Result<Option<Vec<String>>, ApiError> {
        let l = self.list_max(key, max)?;
        if let Some(items) = &l
            && items.iter().any(|i| !is_id(i))
        {
            return Err(ApiError::invalid_param(key));
        }
        Ok(l)
    }

    /// Free text for search: at least `min` characters.
    /// The searches' `_all`: 3 to 100 characters (OAS Search.json).
    pub(crate) fn full_text(&self, key: &str) -> Result<Option<&str>, ApiError> {
        let v = self.text(key, 3)?;
        if v.is_some_and(|v| v.chars().count() > 100) {
            return Err(ApiError::unprocessable(format!(
                "The value passed for field '{key}' exceeds the specified maximum length of '100'."
            )));
        }
        Ok(v)
    }

    pub(crate) fn text(&self, key: &str, min: usize) -> Result<Option<&str>, ApiError> {
        match self.str(key) {
            None => Ok(None),
            Some(v) if v.trim().chars().count() < min => Err(ApiError::too_short(key, min)),
            Some(v) => Ok(Some(v.trim())),
        }
    }
}

pub(crate) fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Path parameters, validated as Zoho ids (a malformed id is a 422, an unknown one a 404).
pub(crate) struct PathIds(Vec<(String, String)>);

impl PathIds {
    pub(crate) fn get(&self, name: &str) -> Result<String, ApiError> {
        let v = self
            .0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(ApiError::not_found)?;
        if is_id(&v) {
            Ok(v)
        } else {
            Err(ApiError::invalid_param(name))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(pairs) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        Ok(PathIds(pairs))
    }
}

/// A JSON object body. Wrong media type → 415, no body → 422 `EMPTY_PAYLOAD`, malformed JSON →
/// 400 `BAD_REQUEST` (the reference does not quote a live response; a syntax error is a malformed
/// request rather than a validation failure), a non-object → 422 `INVALID_DATA`.
pub(crate) struct JsonBody(pub Map<String, Value>);

/// A body the OAS declares optional: nothing (or only whitespace) is an empty object; anything
/// else is held to [`JsonBody`]'s rules.
pub(crate) struct OptionalJsonBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match JsonBody::from_request(req, state).await {
            Ok(JsonBody(map)) => Ok(OptionalJsonBody(map)),
            Err(e) if e.code == "EMPTY_PAYLOAD" => Ok(OptionalJsonBody(Map::new())),
            Err(e) => Err(e),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| ApiError::payload_too_large())?;
        match ct.as_deref() {
            Some("application/json") => {}
            None if bytes.is_empty() => return Err(ApiError::empty_payload()),
            _ => return Err(ApiError::unsupported_media_type()),
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ApiError::empty_payload());
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request(format!("The request body is not valid JSON: {e}."))
        })?;
        match value {
            Value::Object(map) => Ok(JsonBody(map)),
            _ => Err(ApiError::invalid_data(vec![
                crate::zoho_error::FieldError::invalid(
                    "",
                    "The request body must be a JSON object.",
                ),
            ])),
        }
    }
}
