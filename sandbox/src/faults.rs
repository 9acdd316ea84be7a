//! Fault injection: upstream trouble on demand, decided by a seeded PRNG so that the same seed and
//! the same request order always give the same faults.

use serde::{Deserialize, Serialize};

use crate::prng::SplitMix64;

/// What a fault does to a request.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// Answer with this 5xx status without touching state: a Zoho `INTERNAL_SERVER_ERROR` body, or
    /// with `html` the HTML error page a load balancer sends.
    Status { status: u16, html: bool },
    /// Hold the request this long before handling it.
    Latency { ms: u64 },
    /// Handle the request, then cut the connection mid-response. A write *has* happened; the
    /// client cannot know it. This is the case idempotent clients must survive.
    Drop,
    /// Handle the request, then answer 200 with a truncated, unparseable JSON body.
    Malformed,
}

/// One fault and when it fires. Without `next` and `rate` it fires on every matching request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct FaultRule {
    pub kind: FaultKind,
    /// Fire on the next N matching requests only.
    pub next: Option<u64>,
    /// Fire on this fraction (0.0–1.0) of matching requests.
    pub rate: Option<f64>,
    /// Only requests whose path starts with this (e.g. `/api/v1/tickets`).
    pub path_prefix: Option<String>,
    /// Only requests with this method (case-insensitive).
    pub method: Option<String>,
}

impl FaultRule {
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            next: None,
            rate: None,
            path_prefix: None,
            method: None,
        }
    }
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status {
            status,
            html: false,
        })
    }
    pub fn html_bad_gateway() -> Self {
        Self::new(FaultKind::Status {
            status: 502,
            html: true,
        })
    }
    pub fn latency(ms: u64) -> Self {
        Self::new(FaultKind::Latency { ms })
    }
    pub fn drop_connection() -> Self {
        Self::new(FaultKind::Drop)
    }
    pub fn malformed() -> Self {
        Self::new(FaultKind::Malformed)
    }
    pub fn next(mut self, n: u64) -> Self {
        self.next = Some(n);
        self
    }
    pub fn rate(mut self, r: f64) -> Self {
        self.rate = Some(r);
        self
    }
    pub fn path_prefix(mut self, p: impl Into<String>) -> Self {
        self.path_prefix = Some(p.into());
        self
    }
    pub fn method(mut self, m: impl Into<String>) -> Self {
        self.method = Some(m.into());
        self
    }
}

/// A set of fault rules, tried in order; the first that fires applies. `seed` overrides the
/// sandbox seed for the fault PRNG.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

/// The wire form: `{"kind":"status","status":503,"html":false,"next":2,"rate":0.5,"path_prefix":"/api/v1/tickets","method":"GET"}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    html: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
}

impl TryFrom<RawRule> for FaultRule {
    type Error = String;

    fn try_from(r: RawRule) -> Result<Self, Self::Error> {
        let kind = match r.kind.as_str() {
            "status" => {
                let status = r.status.unwrap_or(500);
                if !(500..=599).contains(&status) {
                    return Err(format!("status fault needs a 5xx status, got {status}"));
                }
                FaultKind::Status {
                    status,
                    html: r.html.unwrap_or(false),
                }
            }
            "latency" => FaultKind::Latency {
                ms: r.ms.ok_or("latency fault needs 'ms'")?,
            },
            "drop" => FaultKind::Drop,
            "malformed" => FaultKind::Malformed,
            other => {
                return Err(format!(
                    "unknown fault kind '{other}' (expected status, latency, drop or malformed)"
                ));
            }
        };
        if let Some(rate) = r.rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(format!("rate must be between 0.0 and 1.0, got {rate}"));
        }
        Ok(FaultRule {
            kind,
            next: r.next,
            rate: r.rate,
            path_prefix: r.path_prefix,
            method: r.method,
        })
    }
}

impl From<FaultRule> for RawRule {
    fn from(f: FaultRule) -> Self {
        let mut raw = RawRule {
            kind: String::new(),
            status: None,
            html: None,
            ms: None,
            next: f.next,
            rate: f.rate,
            path_prefix: f.path_prefix,
            method: f.method,
        };
        match f.kind {
            FaultKind::Status { status, html } => {
                raw.kind = "status".into();
                raw.status = Some(status);
                raw.html = Some(html);
            }
            FaultKind::Latency { ms } => {
                raw.kind = "latency".into();
                raw.ms = Some(ms);
            }
            FaultKind::Drop => raw.kind = "drop".into(),
            FaultKind::Malformed => raw.kind = "malformed".into(),
        }
        raw
    }
}

pub(crate) struct FaultState {
    plan: FaultPlan,
    remaining: Vec<Option<u64>>,
    rng: SplitMix64,
    base_seed: u64,
}

impl FaultState {
    pub(crate) fn new(base_seed: u64) -> Self {
        let mut s = Self {
            plan: FaultPlan::default(),
            remaining: Vec::new(),
            rng: SplitMix64::new(0),
            base_seed,
        };
        s.set(FaultPlan::default());
        s
    }

    /// Installing a plan restarts the PRNG, so a plan replays identically.
    pub(crate) fn set(&mut self, plan: FaultPlan) {
        self.rng = SplitMix64::new(plan.seed.unwrap_or(self.base_seed) ^ 0xFA17_5EED_0000_0000);
        self.remaining = plan.rules.iter().map(|r| r.next).collect();
        self.plan = plan;
    }

    pub(crate) fn plan(&self) -> FaultPlan {
        self.plan.clone()
    }

    pub(crate) fn decide(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        for (i, rule) in self.plan.rules.iter().enumerate() {
            if let Some(p) = &rule.path_prefix
                && !path.starts_with(p.as_str())
            {
                continue;
            }
            if let Some(m) = &rule.method
                && !m.eq_ignore_ascii_case(method)
            {
                continue;
            }
            if self.remaining.get(i).copied().flatten() == Some(0) {
                continue;
            }
            if let Some(rate) = rule.rate
                && !self.rng.chance(rate)
            {
                continue;
            }
            if let Some(Some(n)) = self.remaining.get_mut(i) {
                *n -= 1;
            }
            return Some(rule.kind.clone());
        }
        None
    }
}
