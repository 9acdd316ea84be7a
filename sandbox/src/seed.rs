//! Seed data: the org a sandbox starts from (and returns to on reset). Either a file in Zoho's
//! own JSON shapes, or the generated org (`generated`). Every object is normalised on load: ids and
//! counts become strings, missing optional fields get Zoho-like defaults, references are checked.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::clock::{epoch, iso, parse_iso};
use crate::error::SandboxError;
use crate::ids::IdAllocator;
use crate::record::{self, Record, count, default, id_array, s, stringify, stringify_array};
use crate::text::{escape_html, strip_html, summary};

/// The statuses every Zoho Desk org starts with, and the `statusType` each maps to.
pub(crate) const STATUSES: &[(&str, &str)] = &[
    ("Open", "Open"),
    ("On Hold", "On Hold"),
    ("Escalated", "Open"),
    ("Closed", "Closed"),
];
pub(crate) const PRIORITIES: &[&str] = &["High", "Medium", "Low"];

/// The org a sandbox is built from. Construct it with [`SeedData::from_path`],
/// [`SeedData::from_json_str`] or [`SeedData::generated`].
#[derive(Clone, Debug, Default)]
pub struct SeedData {
    pub(crate) organization: Record,
    pub(crate) departments: Vec<Record>,
    pub(crate) teams: Vec<Record>,
    pub(crate) agents: Vec<Record>,
    pub(crate) contacts: Vec<Record>,
    pub(crate) articles: Vec<Record>,
    pub(crate) support_email_addresses: Vec<Record>,
    pub(crate) tickets: Vec<TicketEntry>,
}

/// A ticket with its conversation, as the seed file nests them.
#[derive(Clone, Debug, Default)]
pub(crate) struct TicketEntry {
    pub ticket: Record,
    pub threads: Vec<Record>,
    pub comments: Vec<Record>,
}

const SEED_KEYS: &[&str] = &[
    "organization",
    "departments",
    "teams",
    "agents",
    "contacts",
    "articles",
    "supportEmailAddresses",
    "tickets",
];

impl SeedData {
    pub fn from_path(path: &Path) -> Result<Self, SandboxError> {
        let text = std::fs::read_to_string(path).map_err(|source| SandboxError::ReadSeed {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn from_json_str(s: &str) -> Result<Self, SandboxError> {
        Self::parse(s, "<inline>")
    }

    /// The generated org: the shipped org description plus tickets sampled and varied by `seed`.
    pub fn generated(seed: u64) -> Self {
        crate::generated::generate(seed)
    }

    pub fn ticket_count(&self) -> usize {
        self.tickets.len()
    }

    /// The seed in file shape; `SeedData::from_json_str(&seed.to_json().to_string())` round-trips.
    pub fn to_json(&self) -> Value {
        let tickets: Vec<Value> = self
            .tickets
            .iter()
            .map(|t| {
                let mut rec = t.ticket.clone();
                rec.insert(
                    "threads".into(),
                    Value::Array(t.threads.iter().cloned().map(Value::Object).collect()),
                );
                rec.insert(
                    "comments".into(),
                    Value::Array(t.comments.iter().cloned().map(Value::Object).collect()),
                );
                Value::Object(rec)
            })
            .collect();
        let arr = |v: &Vec<Record>| Value::Array(v.iter().cloned().map(Value::Object).collect());
        json!({
            "organization": Value::Object(self.organization.clone()),
            "departments": arr(&self.departments),
            "teams": arr(&self.teams),
            "agents": arr(&self.agents),
            "contacts": arr(&self.contacts),
            "articles": arr(&self.articles),
            "supportEmailAddresses": arr(&self.support_email_addresses),
            "tickets": tickets,
        })
    }

    fn parse(text: &str, origin: &str) -> Result<Self, SandboxError> {
        let value: Value = serde_json::from_str(text).map_err(|source| SandboxError::SeedJson {
            origin: origin.to_owned(),
            source,
        })?;
        Self::from_value(value).map_err(|message| SandboxError::SeedInvalid {
            origin: origin.to_owned(),
            message,
        })
    }

    /// Normalises a seed document; the error is a sentence naming the offending object and field.
    pub(crate) fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut root) = value else {
            return Err("the top level must be a JSON object with keys departments, teams, agents, contacts, articles, supportEmailAddresses, tickets".into());
        };
        if let Some(k) = root.keys().find(|k| !SEED_KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown top-level key '{k}' (expected one of: {})",
                SEED_KEYS.join(", ")
            ));
        }
        // Support addresses may be plain strings (an address usable by every department).
        if let Some(Value::Array(items)) = root.get_mut("supportEmailAddresses") {
            for v in items.iter_mut() {
                if let Value::String(a) = v {
                    *v = json!({ "address": a.clone() });
                }
            }
        }
        let mut take = |key: &str| -> Result<Vec<Record>, String> {
            match root.remove(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::Object(m) => Ok(m),
                        _ => Err(format!("{key}[{i}] must be a JSON object")),
                    })
                    .collect(),
                Some(_) => Err(format!("'{key}' must be an array")),
            }
        };
        let mut seed = SeedData {
            departments: take("departments")?,
            teams: take("teams")?,
            agents: take("agents")?,
            contacts: take("contacts")?,
            articles: take("articles")?,
            support_email_addresses: take("supportEmailAddresses")?,
            ..Default::default()
        };
        let raw_tickets = take("tickets")?;
        seed.organization = match root.remove("organization") {
            Some(Value::Object(m)) => m,
            None | Some(Value::Null) => Map::new(),
            Some(_) => return Err("'organization' must be an object".into()),
        };
        let mut ids = IdAllocator::default();
        seed.normalize(raw_tickets, &mut ids)?;
        Ok(seed)
    }

    fn normalize(&mut self, raw_tickets: Vec<Record>, ids: &mut IdAllocator) -> Result<(), String> {
        let created = iso(epoch() - chrono::Duration::days(400));
        let mut seen: HashMap<&'static str, BTreeSet<String>> = HashMap::new();
        for (kind, list) in [
            ("departments", &mut self.departments),
            ("teams", &mut self.teams),
            ("agents", &mut self.agents),
            ("contacts", &mut self.contacts),
            ("articles", &mut self.articles),
        ] {
            let set = seen.entry(kind).or_default();
            for (i, r) in list.iter_mut().enumerate() {
                let id = require_id(r, &format!("{kind}[{i}]"))?;
                if !set.insert(id.clone()) {
                    return Err(format!("{kind}[{i}]: duplicate id {id}"));
                }
                ids.reserve(&id);
            }
        }
        let dept_ids = seen.remove("departments").unwrap_or_default();
        let agent_ids = seen.remove("agents").unwrap_or_default();
        let team_ids = seen.remove("teams").unwrap_or_default();

        for (i, d) in self.departments.iter_mut().enumerate() {
            let name = require_str(d, "name", &format!("departments[{i}]"))?;
            default(d, "description", Value::Null);
            default(d, "isEnabled", json!(true));
            default(d, "isDefault", json!(i == 0));
            default(d, "chatStatus", json!("NOT_CREATED"));
            default(d, "hasLogo", json!(false));
            default(d, "sanitizedName", json!(sanitize(&name)));
            default(d, "nameInCustomerPortal", json!(name));
            default(d, "isVisibleInCustomerPortal", json!(true));
            default(d, "isAssignToTeamEnabled", json!(true));
            default(d, "creatorId", Value::Null);
            default(d, "createdTime", json!(created));
            stringify(d, &["creatorId"]);
            stringify_array(d, "associatedAgentIds");
        }
        for (i, a) in self.agents.iter_mut().enumerate() {
            let at = format!("agents[{i}]");
            let last = require_str(a, "lastName", &at)?;
            let first = s(a, "firstName").map(str::to_owned);
            let name = match &first {
                Some(f) => format!("{f} {last}"),
                None => last.clone(),
            };
            default(a, "firstName", Value::Null);
            default(a, "name", json!(name));
            require_str(a, "emailId", &at)?;
            let zuid = format!(
                "7{}",
                &record::id(a)[record::id(a).len().saturating_sub(8)..]
            );
            default(a, "zuid", json!(zuid));
            for k in [
                "phone",
                "mobile",
                "extn",
                "countryCode",
                "aboutInfo",
                "roleId",
                "profileId",
                "photoURL",
            ] {
                default(a, k, Value::Null);
            }
            default(a, "langCode", json!("en_US"));
            default(a, "timeZone", json!("Europe/London"));
            default(a, "status", json!("ACTIVE"));
            default(a, "isConfirmed", json!(true));
            default(a, "rolePermissionType", json!("AgentPublic"));
            default(a, "associatedDepartmentIds", json!([]));
            default(a, "associatedChatDepartmentIds", json!([]));
            default(a, "channelExpert", json!([]));
            default(a, "isZiaAgent", json!(false));
            default(a, "cf", json!({}));
            stringify(a, &["zuid", "roleId", "profileId"]);
            stringify_array(a, "associatedDepartmentIds");
            stringify_array(a, "associatedChatDepartmentIds");
            for d in id_array(a, "associatedDepartmentIds") {
                if !dept_ids.contains(&d) {
                    return Err(format!(
                        "{at}: associatedDepartmentIds refers to department {d}, which is not in 'departments'"
                    ));
                }
            }
        }
        // A department's agents are whoever lists it; the seed may also list them itself.
        for d in self.departments.iter_mut() {
            let did = record::id(d).to_owned();
            let mut members: Vec<String> = id_array(d, "associatedAgentIds");
            for a in &self.agents {
                let aid = record::id(a).to_owned();
                if id_array(a, "associatedDepartmentIds").contains(&did) && !members.contains(&aid)
                {
                    members.push(aid);
                }
            }
            d.insert("associatedAgentIds".into(), json!(members));
        }
        for a in self.agents.iter_mut() {
            let aid = record::id(a).to_owned();
            let mut depts = id_array(a, "associatedDepartmentIds");
            for d in &self.departments {
                if id_array(d, "associatedAgentIds").contains(&aid)
                    && !depts.contains(&record::id(d).to_owned())
                {
                    depts.push(record::id(d).to_owned());
                }
            }
            a.insert("associatedDepartmentIds".into(), json!(depts));
        }
        for (i, t) in self.teams.iter_mut().enumerate() {
            let at = format!("teams[{i}]");
            require_str(t, "name", &at)?;
            let dept = require_ref(t, "departmentId", &at)?;
            if !dept_ids.contains(&dept) {
                return Err(format!("{at}: departmentId {dept} is not in 'departments'"));
            }
            default(t, "description", Value::Null);
            for k in ["roles", "rolesWithSubordinates", "subTeams", "agents"] {
                default(t, k, json!([]));
            }
            stringify_array(t, "agents");
            for a in id_array(t, "agents") {
                if !agent_ids.contains(&a) {
                    return Err(format!(
                        "{at}: agents refers to agent {a}, which is not in 'agents'"
                    ));
                }
            }
            let members = t.get("agents").cloned().unwrap_or(json!([]));
            default(t, "derivedAgents", members);
            default(t, "logoUrl", Value::Null);
        }
        for (i, c) in self.contacts.iter_mut().enumerate() {
            let at = format!("contacts[{i}]");
            require_str(c, "lastName", &at)?;
            for k in [
                "firstName",
                "email",
                "secondaryEmail",
                "phone",
                "mobile",
                "accountId",
                "ownerId",
                "type",
                "photoURL",
                "zohoCRMContact",
                "description",
                "title",
                "street",
                "city",
                "state",
                "zip",
                "country",
                "twitter",
                "facebook",
                "layoutId",
            ] {
                default(c, k, Value::Null);
            }
            default(c, "isAnonymous", json!(false));
            default(c, "isEndUser", json!(false));
            default(c, "isSpam", json!(false));
            default(c, "accountCount", json!("0"));
            default(
                c,
                "customerHappiness",
                json!({"badPercentage": "0", "okPercentage": "0", "goodPercentage": "0"}),
            );
            default(c, "createdTime", json!(created));
            let ct = c.get("createdTime").cloned().unwrap_or(Value::Null);
            default(c, "modifiedTime", ct);
            default(c, "cf", json!({}));
            default(c, "customFields", json!({}));
            stringify(c, &["accountId", "ownerId", "accountCount", "layoutId"]);
            let cid = record::id(c).to_owned();
            default(
                c,
                "webUrl",
                json!(format!(
                    "https://desk.zoho.eu/support/sandbox/ShowHomePage.do#Contacts/dv/{cid}"
                )),
            );
        }
        for (i, e) in self.support_email_addresses.iter_mut().enumerate() {
            let at = format!("supportEmailAddresses[{i}]");
            match e.get("id").and_then(record::as_id_string) {
                Some(id) => ids.reserve(&id),
                None => {
                    e.insert("id".into(), json!(ids.next()));
                }
            }
            stringify(e, &["id"]);
            if !e.contains_key("address") {
                let alt = ["emailAddress", "email", "emailId"]
                    .iter()
                    .find_map(|k| s(e, k).map(str::to_owned));
                match alt {
                    Some(a) => {
                        e.insert("address".into(), json!(a));
                    }
                    None => return Err(format!("{at}: missing required field 'address'")),
                }
            }
            require_str(e, "address", &at)?;
            stringify(e, &["departmentId"]);
            default(e, "departmentId", Value::Null);
            default(e, "isVerified", json!(true));
            default(e, "isActive", json!(true));
            default(e, "displayName", Value::Null);
            default(e, "createdTime", json!(created));
            let ct = e.get("createdTime").cloned().unwrap_or(Value::Null);
            default(e, "modifiedTime", ct);
        }
        let agent_index: HashMap<String, Record> = self
            .agents
            .iter()
            .map(|a| (record::id(a).to_owned(), a.clone()))
            .collect();
        for (i, art) in self.articles.iter_mut().enumerate() {
            normalize_article(art, i, &agent_index, &created)?;
        }
        if self.organization.is_empty() {
            self.organization = Map::new();
        }

        let contacts: HashMap<String, Record> = self
            .contacts
            .iter()
            .map(|c| (record::id(c).to_owned(), c.clone()))
            .collect();
        let dept_names: HashMap<String, String> = self
            .departments
            .iter()
            .map(|d| {
                (
                    record::id(d).to_owned(),
                    s(d, "name").unwrap_or("").to_owned(),
                )
            })
            .collect();
        let support_by_dept: HashMap<String, String> = self
            .support_email_addresses
            .iter()
            .filter_map(|e| {
                Some((
                    record::owned(e, "departmentId")?,
                    record::owned(e, "address")?,
                ))
            })
            .collect();
        let fallback_agent = self.agents.first().cloned();
        let mut seen_tickets = BTreeSet::new();
        let mut next_number = 101u64;
        for r in &raw_tickets {
            if let Some(n) = r
                .get("ticketNumber")
                .and_then(record::as_id_string)
                .and_then(|n| n.parse::<u64>().ok())
            {
                next_number = next_number.max(n + 1);
            }
        }
        for (i, mut t) in raw_tickets.into_iter().enumerate() {
            let at = format!("tickets[{i}]");
            let tid = require_id(&mut t, &at)?;
            if !seen_tickets.insert(tid.clone()) {
                return Err(format!("{at}: duplicate id {tid}"));
            }
            ids.reserve(&tid);
            let threads = take_children(&mut t, "threads", &at)?;
            let comments = take_children(&mut t, "comments", &at)?;
            require_str(&t, "subject", &at)?;
            stringify(
                &mut t,
                &[
                    "departmentId",
                    "contactId",
                    "teamId",
                    "assigneeId",
                    "accountId",
                    "productId",
                    "ticketNumber",
                    "layoutId",
                    "createdBy",
                    "modifiedBy",
                    "slaId",
                ],
            );
            let dept = require_ref(&t, "departmentId", &at)?;
            if !dept_ids.contains(&dept) {
                return Err(format!("{at}: departmentId {dept} is not in 'departments'"));
            }
            let contact_id = require_ref(&t, "contactId", &at)?;
            let Some(contact) = contacts.get(&contact_id) else {
                return Err(format!("{at}: contactId {contact_id} is not in 'contacts'"));
            };
            if let Some(team) = s(&t, "teamId")
                && !team_ids.contains(team)
            {
                return Err(format!("{at}: teamId {team} is not in 'teams'"));
            }
            if let Some(a) = s(&t, "assigneeId")
                && !agent_ids.contains(a)
            {
                return Err(format!("{at}: assigneeId {a} is not in 'agents'"));
            }
            let status = s(&t, "status").unwrap_or("Open").to_owned();
            if status_type(&status).is_none() {
                return Err(format!(
                    "{at}: status '{status}' is not one of Open, On Hold, Escalated, Closed"
                ));
            }
            if !t.contains_key("ticketNumber") {
                t.insert("ticketNumber".into(), json!(next_number.to_string()));
                next_number += 1;
            }
            let created_time = s(&t, "createdTime")
                .map(str::to_owned)
                .unwrap_or_else(|| created.clone());
            if parse_iso(&created_time).is_none() {
                return Err(format!(
                    "{at}: createdTime '{created_time}' is not an ISO-8601 timestamp"
                ));
            }
            fill_ticket_defaults(&mut t, contact, &created_time, &dept_names);
            let channel = s(&t, "channel").unwrap_or("Email").to_owned();
            let support = support_by_dept.get(&dept).cloned().unwrap_or_default();
            let mut entry = TicketEntry {
                ticket: t,
                threads: Vec::new(),
                comments: Vec::new(),
            };
            for (j, mut th) in threads.into_iter().enumerate() {
                let tat = format!("{at}.threads[{j}]");
                let thid = match th.get("id").and_then(record::as_id_string) {
                    Some(x) => x,
                    None => ids.next(),
                };
                th.insert("id".into(), json!(thid));
                ids.reserve(&thid);
                if !matches!(th.get("content"), Some(Value::String(_))) {
                    return Err(format!(
                        "{tat}: missing required field 'content' (a string)"
                    ));
                }
                let author = match s(&th, "direction") {
                    Some("out") => th
                        .get("author")
                        .and_then(Value::as_object)
                        .and_then(|a| record::owned(a, "id"))
                        .and_then(|aid| agent_index.get(&aid).cloned())
                        .or_else(|| fallback_agent.clone())
                        .map(|a| agent_author(&a)),
                    _ => Some(contact_author(contact)),
                };
                // An author given only by id (as the generator and hand-written seeds do) is
                // expanded; a complete Zoho author object is kept as it is.
                let complete = th
                    .get("author")
                    .and_then(Value::as_object)
                    .is_some_and(|a| a.contains_key("type"));
                if !complete {
                    th.remove("author");
                }
                fill_thread_defaults(&mut th, &channel, &created_time, author, contact, &support);
                entry.threads.push(th);
            }
            for (j, mut c) in comments.into_iter().enumerate() {
                let cat = format!("{at}.comments[{j}]");
                let cid = match c.get("id").and_then(record::as_id_string) {
                    Some(x) => x,
                    None => ids.next(),
                };
                c.insert("id".into(), json!(cid));
                ids.reserve(&cid);
                if !matches!(c.get("content"), Some(Value::String(_))) {
                    return Err(format!(
                        "{cat}: missing required field 'content' (a string)"
                    ));
                }
                stringify(&mut c, &["commenterId"]);
                let commenter = record::owned(&c, "commenterId")
                    .and_then(|aid| agent_index.get(&aid).cloned())
                    .or_else(|| fallback_agent.clone());
                fill_comment_defaults(&mut c, commenter.as_ref(), &created_time);
                entry.comments.push(c);
            }
            refresh_ticket(&mut entry);
            self.tickets.push(entry);
        }
        Ok(())
    }
}

fn take_children(t: &mut Record, key: &str, at: &str) -> Result<Vec<Record>, String> {
    match t.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .into_iter()
            .enumerate()
            .map(|(j, v)| match v {
                Value::Object(m) => Ok(m),
                _ => Err(format!("{at}.{key}[{j}] must be a JSON object")),
            })
            .collect(),
        Some(_) => Err(format!("{at}: '{key}' must be an array")),
    }
}

fn require_id(r: &mut Record, at: &str) -> Result<String, String> {
    match r.get("id").and_then(record::as_id_string) {
        Some(id) if crate::input::is_id(&id) => {
            r.insert("id".into(), json!(id));
            Ok(id)
        }
        Some(id) => Err(format!("{at}: id '{id}' is not a numeric Zoho id")),
        None => Err(format!("{at}: missing required field 'id'")),
    }
}

fn require_str(r: &Record, key: &str, at: &str) -> Result<String, String> {
    match r.get(key) {
        Some(Value::String(v)) => Ok(v.clone()),
        Some(_) => Err(format!("{at}: field '{key}' must be a string")),
        None => Err(format!("{at}: missing required field '{key}'")),
    }
}

fn require_ref(r: &Record, key: &str, at: &str) -> Result<String, String> {
    match r.get(key).and_then(record::as_id_string) {
        Some(v) => Ok(v),
        None => Err(format!("{at}: missing required field '{key}'")),
    }
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches('-').to_owned()
}

pub(crate) fn status_type(status: &str) -> Option<&'static str> {
    STATUSES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(status))
        .map(|(_, t)| *t)
}

pub(crate) fn canonical_status(status: &str) -> Option<&'static str> {
    STATUSES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(status))
        .map(|(n, _)| *n)
}

/// Thread channels are upper case (`EMAIL`); ticket channels are display values (`Email`).
pub(crate) fn thread_channel(ticket_channel: &str) -> &'static str {
    match ticket_channel
        .to_ascii_lowercase()
        .replace([' ', '_'], "")
        .as_str()
    {
        "email" => "EMAIL",
        "phone" => "PHONE",
        "web" | "webform" => "WEB",
        "chat" | "onlinechat" | "livechat" => "ONLINE_CHAT",
        "offlinechat" => "OFFLINE_CHAT",
        "forums" | "forum" | "community" => "FORUMS",
        "twitter" => "TWITTER",
        "twitterdm" => "TWITTER_DM",
        "facebook" => "FACEBOOK",
        "feedback" => "FEEDBACK",
        "feedbackwidget" => "FEEDBACK_WIDGET",
        "customerportal" | "portal" | "helpcenter" => "CUSTOMERPORTAL",
        _ => "WEB",
    }
}

pub(crate) fn contact_author(c: &Record) -> Value {
    let first = c.get("firstName").cloned().unwrap_or(Value::Null);
    let last = c.get("lastName").cloned().unwrap_or(Value::Null);
    let name = match (s(c, "firstName"), s(c, "lastName")) {
        (Some(f), Some(l)) => format!("{f} {l}"),
        (None, Some(l)) => l.to_owned(),
        _ => String::new(),
    };
    json!({
        "id": record::id(c), "name": name, "firstName": first, "lastName": last,
        "email": c.get("email").cloned().unwrap_or(Value::Null),
        "photoURL": Value::Null, "type": "END_USER"
    })
}

pub(crate) fn agent_author(a: &Record) -> Value {
    json!({
        "id": record::id(a), "name": a.get("name").cloned().unwrap_or(Value::Null),
        "firstName": a.get("firstName").cloned().unwrap_or(Value::Null),
        "lastName": a.get("lastName").cloned().unwrap_or(Value::Null),
        "email": a.get("emailId").cloned().unwrap_or(Value::Null),
        "photoURL": a.get("photoURL").cloned().unwrap_or(Value::Null), "type": "AGENT"
    })
}

pub(crate) fn agent_commenter(a: &Record) -> Value {
    let mut v = agent_author(a);
    if let Some(o) = v.as_object_mut() {
        let role = match s(a, "rolePermissionType") {
            Some("Admin") => "CEO",
            _ => "Agent",
        };
        o.insert("roleName".into(), json!(role));
    }
    v
}

pub(crate) fn fill_ticket_defaults(
    t: &mut Record,
    contact: &Record,
    created: &str,
    dept_names: &HashMap<String, String>,
) {
    let tid = record::id(t).to_owned();
    let dept = record::owned(t, "departmentId").unwrap_or_default();
    default(t, "status", json!("Open"));
    default(t, "description", Value::Null);
    default(t, "priority", Value::Null);
    for k in [
        "category",
        "subCategory",
        "classification",
        "channelCode",
        "dueDate",
        "responseDueDate",
        "closedTime",
        "onholdTime",
        "lockedTime",
        "accountId",
        "assigneeId",
        "teamId",
        "productId",
        "sentiment",
        "resolution",
        "slaId",
        "channelRelatedInfo",
        "sourceTicket",
        "modifiedBy",
        "createdBy",
    ] {
        default(t, k, Value::Null);
    }
    default(t, "channel", json!("Email"));
    default(t, "language", json!("English"));
    default(
        t,
        "email",
        contact.get("email").cloned().unwrap_or(Value::Null),
    );
    default(
        t,
        "phone",
        contact.get("phone").cloned().unwrap_or(Value::Null),
    );
    default(t, "createdTime", json!(created));
    default(t, "modifiedTime", json!(created));
    default(t, "layoutId", json!(dept.clone()));
    let layout_name = format!(
        "{} Layout",
        dept_names
            .get(&dept)
            .map(String::as_str)
            .unwrap_or("Standard")
    );
    let layout_id = t.get("layoutId").cloned().unwrap_or(Value::Null);
    default(
        t,
        "layoutDetails",
        json!({"id": layout_id, "layoutName": layout_name}),
    );
    default(
        t,
        "webUrl",
        json!(format!(
            "https://desk.zoho.eu/support/sandbox/ShowHomePage.do#Cases/dv/{tid}"
        )),
    );
    default(t, "isSpam", json!(false));
    default(t, "isArchived", json!(false));
    default(t, "relationshipType", json!("NONE"));
    default(
        t,
        "source",
        json!({"appName": null, "extId": null, "permalink": null, "type": "SYSTEM", "appPhotoURL": null}),
    );
    default(t, "cf", json!({}));
    default(t, "customFields", json!({}));
    for k in ["secondaryContacts", "sharedDepartments", "entitySkills"] {
        default(t, k, json!([]));
    }
    for k in [
        "isOverDue",
        "isResponseOverdue",
        "isEscalated",
        "isDeleted",
        "isTrashed",
        "isFollowing",
        "isRead",
    ] {
        default(t, k, json!(false));
    }
    for k in [
        "taskCount",
        "tagCount",
        "attachmentCount",
        "followerCount",
        "timeEntryCount",
        "approvalCount",
    ] {
        default(t, k, json!("0"));
    }
    stringify(
        t,
        &[
            "taskCount",
            "tagCount",
            "attachmentCount",
            "followerCount",
            "timeEntryCount",
            "approvalCount",
        ],
    );
}

pub(crate) fn fill_thread_defaults(
    th: &mut Record,
    ticket_channel: &str,
    created: &str,
    author: Option<Value>,
    contact: &Record,
    support: &str,
) {
    let channel = match s(th, "channel") {
        Some(c) => thread_channel(c).to_owned(),
        None => thread_channel(ticket_channel).to_owned(),
    };
    th.insert("channel".into(), json!(channel));
    default(th, "direction", json!("in"));
    default(th, "visibility", json!("public"));
    default(th, "status", json!("SUCCESS"));
    default(th, "contentType", json!("text/html"));
    let content = s(th, "content").unwrap_or("").to_owned();
    default(th, "summary", json!(summary(&content)));
    default(th, "createdTime", json!(created));
    default(th, "author", author.unwrap_or(Value::Null));
    let incoming = s(th, "direction") == Some("in");
    let contact_email = s(contact, "email").unwrap_or("").to_owned();
    if channel == "EMAIL" {
        let (from, to) = if incoming {
            (contact_email, support.to_owned())
        } else {
            (support.to_owned(), contact_email)
        };
        default(th, "fromEmailAddress", json!(from));
        default(th, "to", json!(to));
        for k in ["cc", "bcc", "replyTo", "fullContentURL", "responderId"] {
            default(th, k, Value::Null);
        }
        default(th, "isForward", json!(false));
        default(th, "attachmentIds", json!([]));
    }
    if channel == "FACEBOOK" {
        default(th, "facebookProfile", Value::Null);
    }
    if channel == "TWITTER" {
        default(th, "twitterProfile", Value::Null);
    }
    if channel == "FORUMS" {
        default(th, "fromEmailAddress", Value::Null);
        default(th, "fullContentURL", Value::Null);
        default(th, "attachmentIds", json!([]));
    }
    default(th, "hasAttach", json!(false));
    default(th, "attachmentCount", json!("0"));
    default(th, "attachments", json!([]));
    default(th, "isDescriptionThread", json!(false));
    default(th, "canReply", json!(incoming));
    default(th, "respondedIn", Value::Null);
    default(th, "actions", json!([]));
    default(
        th,
        "source",
        json!({"appName": null, "extId": null, "permalink": null, "type": "SYSTEM", "appPhotoURL": null}),
    );
    default(th, "channelRelatedInfo", Value::Null);
    default(th, "isContentTruncated", json!(false));
    default(th, "fullContentURL", Value::Null);
    default(th, "sentiment", Value::Null);
    default(th, "keyWords", json!([]));
    default(th, "aspects", json!([]));
    default(th, "lastRatingIconURL", Value::Null);
    default(th, "impersonatedUser", Value::Null);
    default(th, "readReceipts", json!([]));
    stringify(th, &["attachmentCount", "responderId"]);
}

pub(crate) fn fill_comment_defaults(c: &mut Record, commenter: Option<&Record>, created: &str) {
    default(c, "contentType", json!("html"));
    default(c, "isPublic", json!(false));
    default(c, "commentedTime", json!(created));
    let ct = c.get("commentedTime").cloned().unwrap_or(Value::Null);
    default(c, "modifiedTime", ct);
    if let Some(a) = commenter {
        default(c, "commenterId", json!(record::id(a)));
        default(c, "commenter", agent_commenter(a));
    } else {
        default(c, "commenterId", Value::Null);
        default(c, "commenter", Value::Null);
    }
    default(c, "attachments", json!([]));
    default(c, "impersonatedUser", Value::Null);
    let content = s(c, "content").unwrap_or("").to_owned();
    c.insert("encodedContent".into(), json!(escape_html(&content)));
}

fn normalize_article(
    art: &mut Record,
    i: usize,
    agents: &HashMap<String, Record>,
    created: &str,
) -> Result<(), String> {
    let at = format!("articles[{i}]");
    let title = require_str(art, "title", &at)?;
    default(art, "answer", json!(""));
    let answer = s(art, "answer").unwrap_or("").to_owned();
    default(art, "summary", json!(summary(&strip_html(&answer))));
    default(art, "status", json!("Published"));
    let status = s(art, "status").unwrap_or("Published").to_owned();
    default(art, "permission", json!("ALL"));
    default(art, "locale", json!("en"));
    default(art, "sourceLocale", json!("en"));
    stringify(
        art,
        &[
            "categoryId",
            "rootCategoryId",
            "departmentId",
            "authorId",
            "ownerId",
            "creatorId",
            "modifierId",
            "latestVersionModifierId",
            "translationId",
            "position",
        ],
    );
    for k in [
        "categoryId",
        "rootCategoryId",
        "departmentId",
        "expiryDate",
        "translationSource",
        "secondaryTitles",
        "templateLastUpdatedTime",
        "recycleBinEntityId",
        "deletedTime",
        "deletedBy",
        "myVote",
        "position",
        "templateUsageCount",
        "templateUsedUsersCount",
    ] {
        default(art, k, Value::Null);
    }
    if !art.contains_key("category") {
        let cat = match s(art, "categoryId") {
            Some(cid) => {
                json!({"id": cid, "name": "General", "locale": s(art, "locale").unwrap_or("en")})
            }
            None => Value::Null,
        };
        art.insert("category".into(), cat);
    }
    let rc = art.get("categoryId").cloned().unwrap_or(Value::Null);
    if art.get("rootCategoryId") == Some(&Value::Null) {
        art.insert("rootCategoryId".into(), rc);
    }
    let author_id = record::owned(art, "authorId");
    let person = author_id.as_ref().and_then(|a| agents.get(a)).map(|a| {
        json!({"id": record::id(a), "name": a.get("name").cloned().unwrap_or(Value::Null),
               "photoURL": a.get("photoURL").cloned().unwrap_or(Value::Null), "status": "ACTIVE",
               "zuid": a.get("zuid").cloned().unwrap_or(Value::Null)})
    });
    for k in [
        "authorId",
        "ownerId",
        "creatorId",
        "modifierId",
        "latestVersionModifierId",
    ] {
        default(
            art,
            k,
            author_id.clone().map(Value::String).unwrap_or(Value::Null),
        );
    }
    for k in [
        "author",
        "owner",
        "createdBy",
        "modifiedBy",
        "latestVersionModifiedBy",
    ] {
        default(art, k, person.clone().unwrap_or(Value::Null));
    }
    default(art, "createdTime", json!(created));
    let ct = art.get("createdTime").cloned().unwrap_or(Value::Null);
    default(art, "modifiedTime", ct);
    let permalink = sanitize(&title);
    default(art, "permalink", json!(permalink));
    default(
        art,
        "webUrl",
        json!(format!(
            "https://desk.zoho.eu/agent/sandbox/kb/articles/{permalink}"
        )),
    );
    default(
        art,
        "portalUrl",
        json!(format!(
            "https://support.example.com/portal/en/kb/articles/{permalink}"
        )),
    );
    for k in [
        "likeCount",
        "dislikeCount",
        "viewCount",
        "feedbackCount",
        "usageCount",
        "commentCount",
        "attachmentCount",
    ] {
        default(art, k, json!("0"));
    }
    stringify(
        art,
        &[
            "likeCount",
            "dislikeCount",
            "viewCount",
            "feedbackCount",
            "usageCount",
            "commentCount",
            "attachmentCount",
            "templateUsageCount",
            "templateUsedUsersCount",
        ],
    );
    default(art, "latestVersion", json!("1.0"));
    default(art, "currentVersion", json!("1.0"));
    default(
        art,
        "latestPublishedVersion",
        if status == "Published" {
            json!("1.0")
        } else {
            Value::Null
        },
    );
    default(art, "latestVersionStatus", json!(status));
    default(art, "articleNumber", json!(format!("{}", 1000 + i)));
    default(
        art,
        "translationId",
        art.get("id").cloned().unwrap_or(Value::Null),
    );
    default(art, "translationState", json!("UP-TO-DATE"));
    for k in ["tags", "attachments", "availableLocaleTranslations"] {
        default(art, k, json!([]));
    }
    for k in ["isTemplate", "isLocked", "isTrashed", "isFollowing"] {
        default(art, k, json!(false));
    }
    Ok(())
}

/// Recomputes what Zoho derives from a ticket's conversation and status.
pub(crate) fn refresh_ticket(e: &mut TicketEntry) {
    let sent: Vec<&Record> = e
        .threads
        .iter()
        .filter(|t| s(t, "status") != Some("DRAFT"))
        .collect();
    let thread_count = sent.len();
    let latest = e.threads.iter().max_by(|a, b| {
        s(a, "createdTime")
            .cmp(&s(b, "createdTime"))
            .then(record::id(a).cmp(record::id(b)))
    });
    let last_thread = latest.map(|t| {
        json!({"channel": t.get("channel").cloned().unwrap_or(Value::Null),
               "isDraft": s(t, "status") == Some("DRAFT"),
               "isForward": t.get("isForward").and_then(Value::as_bool).unwrap_or(false),
               "direction": t.get("direction").cloned().unwrap_or(Value::Null)})
    });
    let customer_response = sent
        .iter()
        .filter(|t| s(t, "direction") == Some("in"))
        .filter_map(|t| s(t, "createdTime"))
        .max()
        .map(str::to_owned);
    let status = s(&e.ticket, "status").unwrap_or("Open").to_owned();
    let t = &mut e.ticket;
    t.insert("threadCount".into(), count(thread_count));
    t.insert("commentCount".into(), count(e.comments.len()));
    t.insert("lastThread".into(), last_thread.unwrap_or(Value::Null));
    t.insert(
        "customerResponseTime".into(),
        customer_response.map(Value::String).unwrap_or(Value::Null),
    );
    t.insert(
        "statusType".into(),
        json!(status_type(&status).unwrap_or("Open")),
    );
}

impl SeedData {
    /// For the generated org: the expected department, team, eligible assignees and answering
    /// articles of every ticket (`{"tickets": {"<id>": {...}}}`), for evaluation. The gold labels
    /// are not part of the API.
    pub fn generated_gold_labels(seed: u64) -> Value {
        crate::generated::gold(seed)
    }
}
