//! The generated org: `data/org.json` (departments, teams, agents, contacts, articles, support
//! addresses) plus tickets drawn from the labelled ticket corpus, shuffled and varied by the seed.
//! At least 220 tickets, spread over the 30 days before the sandbox epoch, mostly Open, some
//! assigned to an eligible agent, each with its description thread, follow-ups and comments.

use serde_json::{Map, Value, json};

use crate::clock::{EPOCH_MILLIS, iso};
use crate::prng::SplitMix64;
use crate::record::{self, Record, s};
use crate::seed::SeedData;

const ORG: &str = include_str!("../data/org.json");
const CORPUS: &str = include_str!("../data/ticket-corpus.json");

const MIN_TICKETS: usize = 220;
const THIRTY_DAYS_MS: u64 = 30 * 24 * 3600 * 1000;

pub(crate) fn generate(seed: u64) -> SeedData {
    match build(seed) {
        Ok(s) => s,
        Err(e) => {
            // The shipped data files are compiled in and covered by tests; this cannot happen in a
            // released build, but it must not panic either.
            tracing::error!(error = %e, "the built-in org data is invalid; starting with an empty org");
            SeedData::default()
        }
    }
}

/// The expected routing and answers for each generated ticket, keyed by ticket id:
/// `{"tickets": {"<id>": {"key","departmentId","teamId","eligibleAssigneeIds","articleIds","kinds"}}}`.
pub(crate) fn gold(seed: u64) -> Value {
    match plan(seed) {
        Ok((_, labels)) => labels,
        Err(_) => json!({"tickets": {}}),
    }
}

fn build(seed: u64) -> Result<SeedData, String> {
    let (doc, _) = plan(seed)?;
    SeedData::from_value(doc)
}

fn plan(seed: u64) -> Result<(Value, Value), String> {
    let mut org: Map<String, Value> =
        serde_json::from_str(ORG).map_err(|e| format!("org.json: {e}"))?;
    let corpus: Vec<Record> =
        serde_json::from_str(CORPUS).map_err(|e| format!("ticket corpus: {e}"))?;
    if corpus.is_empty() {
        return Ok((Value::Object(org), json!({"tickets": {}})));
    }
    let agents: Vec<Record> = org
        .get("agents")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_object().cloned()).collect())
        .unwrap_or_default();
    let mut rng = SplitMix64::new(seed);

    // Every corpus entry once, then seeded re-draws until there are enough tickets.
    let mut order: Vec<usize> = (0..corpus.len()).collect();
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    while order.len() < MIN_TICKETS {
        order.push(rng.below(corpus.len() as u64) as usize);
    }

    // Creation times first, so ticket numbers grow with time.
    let mut times: Vec<u64> = order
        .iter()
        .map(|_| {
            let back = rng.below(THIRTY_DAYS_MS - 3_600_000) + 3_600_000;
            (EPOCH_MILLIS as u64 - back) / 1000 * 1000
        })
        .collect();
    times.sort_unstable();

    let active_in = |dept: &str, candidates: &[String]| -> Vec<String> {
        candidates
            .iter()
            .filter(|id| {
                agents.iter().any(|a| {
                    record::id(a) == id.as_str()
                        && s(a, "status") == Some("ACTIVE")
                        && record::id_array(a, "associatedDepartmentIds")
                            .iter()
                            .any(|d| d == dept)
                })
            })
            .cloned()
            .collect()
    };
    let dept_agents = |dept: &str| -> Vec<String> {
        agents
            .iter()
            .filter(|a| {
                s(a, "status") == Some("ACTIVE")
                    && record::id_array(a, "associatedDepartmentIds")
                        .iter()
                        .any(|d| d == dept)
            })
            .map(|a| record::id(a).to_owned())
            .collect()
    };

    let mut tickets = Vec::new();
    let mut labels = Map::new();
    let mut thread_seq = 0u64;
    let mut comment_seq = 0u64;
    for (n, (&ci, &created_ms)) in order.iter().zip(&times).enumerate() {
        let c = &corpus[ci];
        let tid = format!("1892000010{:06}", n + 1);
        let created = iso_ms(created_ms);
        let arrives = s(c, "arrivesInDepartmentId")
            .or_else(|| s(c, "departmentId"))
            .unwrap_or("")
            .to_owned();
        let gold_dept = s(c, "departmentId").unwrap_or("").to_owned();
        let eligible: Vec<String> = record::id_array(c, "eligibleAssigneeIds");
        let roll = rng.next_f64();
        let status = if roll < 0.72 {
            "Open"
        } else if roll < 0.82 {
            "On Hold"
        } else if roll < 0.86 {
            "Escalated"
        } else {
            "Closed"
        };
        // Tickets still in their arrival department may already be routed; misrouted ones wait
        // for triage, unassigned.
        let candidates = active_in(&arrives, &eligible);
        let assigned =
            arrives == gold_dept && !candidates.is_empty() && (status != "Open" || rng.chance(0.3));
        let assignee = if assigned {
            rng.pick(&candidates).cloned()
        } else {
            None
        };
        let team = if assignee.is_some() && arrives == gold_dept {
            s(c, "teamId").map(str::to_owned)
        } else {
            None
        };
        let responder = assignee
            .clone()
            .or_else(|| rng.pick(&dept_agents(&arrives)).cloned());

        let mut t = Map::new();
        t.insert("id".into(), json!(tid));
        t.insert("ticketNumber".into(), json!((1001 + n).to_string()));
        t.insert(
            "subject".into(),
            c.get("subject").cloned().unwrap_or(json!("(no subject)")),
        );
        t.insert(
            "description".into(),
            c.get("description").cloned().unwrap_or(Value::Null),
        );
        t.insert("status".into(), json!(status));
        t.insert(
            "priority".into(),
            c.get("priority").cloned().unwrap_or(Value::Null),
        );
        t.insert(
            "channel".into(),
            c.get("channel").cloned().unwrap_or(json!("Email")),
        );
        t.insert(
            "language".into(),
            c.get("language").cloned().unwrap_or(json!("English")),
        );
        t.insert("departmentId".into(), json!(arrives));
        t.insert(
            "contactId".into(),
            c.get("contactId").cloned().unwrap_or(Value::Null),
        );
        t.insert("assigneeId".into(), json!(assignee));
        t.insert("teamId".into(), json!(team));
        t.insert("createdTime".into(), json!(created));
        t.insert("createdBy".into(), Value::Null);
        if status != "Closed" && rng.chance(0.5) {
            t.insert(
                "dueDate".into(),
                json!(iso_ms(created_ms + 2 * 24 * 3600 * 1000)),
            );
        }

        let mut last = created_ms;
        let step = |rng: &mut SplitMix64, last: u64| -> u64 {
            (last + rng.below(20 * 3_600_000) + 600_000).min(EPOCH_MILLIS as u64 - 1000) / 1000
                * 1000
        };
        let mut threads = vec![json!({
            "id": format!("1892000011{:06}", { thread_seq += 1; thread_seq }),
            "content": c.get("description").cloned().unwrap_or(json!("")),
            "direction": "in", "isDescriptionThread": true, "createdTime": created,
        })];
        for f in c
            .get("followUps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(f) = f.as_object() else { continue };
            last = step(&mut rng, last);
            let dir = s(f, "direction").unwrap_or("in");
            let mut th = json!({
                "id": format!("1892000011{:06}", { thread_seq += 1; thread_seq }),
                "content": f.get("content").cloned().unwrap_or(json!("")),
                "direction": dir, "createdTime": iso_ms(last),
            });
            if dir == "out"
                && let (Some(o), Some(r)) = (th.as_object_mut(), &responder)
            {
                o.insert("author".into(), json!({"id": r}));
            }
            threads.push(th);
        }
        let mut comments = Vec::new();
        for cm in c
            .get("comments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(cm) = cm.as_object() else { continue };
            last = step(&mut rng, last);
            comments.push(json!({
                "id": format!("1892000012{:06}", { comment_seq += 1; comment_seq }),
                "content": cm.get("content").cloned().unwrap_or(json!("")),
                "isPublic": cm.get("isPublic").cloned().unwrap_or(json!(false)),
                "commentedTime": iso_ms(last),
                "commenterId": responder,
            }));
        }
        t.insert("modifiedTime".into(), json!(iso_ms(last)));
        if status == "Closed" {
            t.insert("closedTime".into(), json!(iso_ms(last)));
        }
        t.insert("threads".into(), Value::Array(threads));
        t.insert("comments".into(), Value::Array(comments));
        tickets.push(Value::Object(t));
        labels.insert(
            tid,
            json!({
                "key": c.get("key").cloned().unwrap_or(Value::Null),
                "departmentId": gold_dept,
                "teamId": c.get("teamId").cloned().unwrap_or(Value::Null),
                "eligibleAssigneeIds": eligible,
                "articleIds": c.get("articleIds").cloned().unwrap_or(json!([])),
                "kinds": c.get("kinds").cloned().unwrap_or(json!([])),
            }),
        );
    }
    org.insert("tickets".into(), Value::Array(tickets));
    org.entry("organization").or_insert(
        json!({"companyName": "Brightline", "portalName": "brightline", "edition": "ENTERPRISE"}),
    );
    Ok((Value::Object(org), json!({"tickets": labels})))
}

fn iso_ms(ms: u64) -> String {
    iso(chrono::DateTime::from_timestamp_millis(ms as i64).unwrap_or_default())
}
