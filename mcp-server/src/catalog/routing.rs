//! Splits one flat argument object into path, query and body, by the documentation record's
//! schemas. Query values are rendered the way Zoho expects them: arrays as comma-separated lists.

use serde_json::{Map, Value};

use super::Operation;
use crate::zoho::lenient;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub http: http::Method,
    pub template: String,
    /// The `{names}` of the template, in order.
    pub params: Vec<String>,
}

impl Route {
    pub fn parse(http: http::Method, template: &str) -> Result<Route, String> {
        if !template.starts_with('/') {
            return Err(format!("path `{template}` must start with `/`"));
        }
        let mut params = Vec::new();
        for segment in template.split('/').skip(1) {
            if let Some(inner) = segment.strip_prefix('{') {
                let name = inner.strip_suffix('}').ok_or_else(|| {
                    format!("path `{template}`: unterminated `{{` in `{segment}`")
                })?;
                let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(format!("path `{template}`: bad parameter name `{name}`"));
                }
                if params.iter().any(|p| p == name) {
                    return Err(format!(
                        "path `{template}`: parameter `{name}` appears twice"
                    ));
                }
                params.push(name.to_string());
            } else if segment.contains(['{', '}']) || segment.is_empty() {
                return Err(format!(
                    "path `{template}`: parameters must be whole segments and segments non-empty"
                ));
            }
        }
        Ok(Route {
            http,
            template: template.to_string(),
            params,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub http: http::Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// `args` have been validated already, so path parameters are present.
pub(crate) fn route(
    op: &Operation,
    route: &Route,
    args: &Map<String, Value>,
) -> Result<Request, String> {
    let mut path = String::new();
    for segment in route.template.split('/').skip(1) {
        path.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let value = args
                    .get(name)
                    .and_then(lenient::as_string)
                    .ok_or_else(|| format!("argument `{name}` is required"))?;
                path.push_str(&path_segment(name, &value)?);
            }
            None => path.push_str(segment),
        }
    }
    let mut query = Vec::new();
    for key in &op.query_keys {
        if let Some(value) = args.get(key).filter(|v| !v.is_null()) {
            query.push((key.clone(), query_value(value)));
        }
    }
    let body = op.has_body.then(|| {
        let mut body = Map::new();
        for key in &op.body_keys {
            if let Some(value) = args.get(key) {
                body.insert(key.clone(), value.clone());
            }
        }
        Value::Object(body)
    });
    Ok(Request {
        http: route.http.clone(),
        path,
        query,
        body,
    })
}

/// Path values are ids; anything that could change the path's shape (`/`, `..`, `%`, `?`) is
/// refused rather than encoded, because URL parsers normalise even encoded dot-segments.
pub(crate) fn path_segment(name: &str, value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        && !value.chars().all(|c| c == '.');
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!(
            "argument `{name}`: expected an id such as 1892000000042001, got \"{value}\""
        ))
    }
}

fn query_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::catalog::{EnvelopeKey, MethodKind};
    use serde_json::json;

    fn op(route: &Route, query: &[&str], body: Option<&[&str]>) -> Operation {
        Operation {
            resource: "tickets".into(),
            method: "x".into(),
            kind: MethodKind::Get,
            route: Some(route.clone()),
            paging: None,
            envelope: EnvelopeKey::None,
            count: false,
            query_keys: query.iter().map(|s| s.to_string()).collect(),
            body_keys: body.unwrap_or(&[]).iter().map(|s| s.to_string()).collect(),
            has_body: body.is_some(),
            contract: Default::default(),
        }
    }

    #[test]
    fn parses_templates() {
        let r = Route::parse(http::Method::GET, "/tickets/{ticketId}/threads/{id}").unwrap();
        assert_eq!(r.params, vec!["ticketId", "id"]);
        assert!(Route::parse(http::Method::GET, "tickets").is_err());
        assert!(Route::parse(http::Method::GET, "/t/{a}/{a}").is_err());
        assert!(Route::parse(http::Method::GET, "/t/x{a}").is_err());
        assert!(Route::parse(http::Method::GET, "/t/{a").is_err());
    }

    #[test]
    fn routes_flat_arguments() {
        let r = Route::parse(http::Method::PATCH, "/tickets/{id}").unwrap();
        let o = op(
            &r,
            &["disableClosureNotification", "status"],
            Some(&["priority", "assigneeId"]),
        );
        let args = json!({"id": "7", "disableClosureNotification": true, "priority": "High",
                          "assigneeId": null, "status": ["Open", "On Hold"]});
        let req = route(&o, &r, args.as_object().unwrap()).unwrap();
        assert_eq!(req.path, "/tickets/7");
        assert_eq!(
            req.query,
            vec![
                ("disableClosureNotification".to_string(), "true".to_string()),
                ("status".to_string(), "Open,On Hold".to_string())
            ]
        );
        assert_eq!(
            req.body,
            Some(json!({"priority": "High", "assigneeId": null}))
        );
    }

    #[test]
    fn refuses_path_tricks() {
        let r = Route::parse(http::Method::GET, "/tickets/{id}").unwrap();
        let o = op(&r, &[], None);
        for bad in ["..", "1/2", "a?b", "%2e%2e", " "] {
            let args = json!({ "id": bad });
            assert!(route(&o, &r, args.as_object().unwrap()).is_err(), "{bad}");
        }
    }
}
