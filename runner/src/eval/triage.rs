//! Scoring a triage run: where each ticket ended up in the sandbox against where it belongs.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{Gold, States, ratio};
use crate::engine::ItemReport;

/// Routing figures. "Assigned" means the run left an assignee on a ticket that had none; a
/// ticket without one (and without a failed item) was left for a person: an abstention.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TriageScore {
    pub tickets: usize,
    pub assigned: usize,
    pub abstained: usize,
    /// Items that ended in an error (counted as wrong, not as abstentions).
    pub failed: usize,
    pub abstention_rate: f64,
    /// Over every ticket: the department decided (where the ticket was assigned, or the one the
    /// agent named when it abstained) is the gold one.
    pub department_accuracy: f64,
    /// Over the assigned tickets: in the gold department.
    pub assigned_department_accuracy: f64,
    /// Over the assigned tickets: the gold team (no team where none fits).
    pub team_accuracy: f64,
    /// Over the assigned tickets: an eligible agent of the gold team.
    pub assignee_accuracy: f64,
    /// Over every ticket: assigned with department, team and assignee all right.
    pub fully_routed_rate: f64,
    pub moved: usize,
    pub moved_right: usize,
    /// Public comments or replies written by a triage run (it should only write private notes).
    pub public_writes: usize,
    /// The same figures per difficulty kind of the gold file (injection, non_english, ...).
    pub by_kind: BTreeMap<String, KindScore>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct KindScore {
    pub tickets: usize,
    pub department_right: usize,
    pub fully_routed: usize,
    pub abstained: usize,
}

#[derive(Default)]
struct Counts {
    tickets: usize,
    assigned: usize,
    abstained: usize,
    failed: usize,
    department_right: usize,
    assigned_department_right: usize,
    team_right: usize,
    assignee_right: usize,
    fully_routed: usize,
    moved: usize,
    moved_right: usize,
    public_writes: usize,
}

pub fn score(gold: &Gold, states: &States, items: &[ItemReport]) -> TriageScore {
    let mut c = Counts::default();
    let mut by_kind: BTreeMap<String, KindScore> = BTreeMap::new();
    for item in items {
        let (Some(g), Some(before), Some(after)) = (
            gold.get(&item.key),
            states.before(&item.key),
            states.after(&item.key),
        ) else {
            continue;
        };
        c.tickets += 1;
        c.public_writes += states.public_writes(&item.key);
        let assignee = text(after, "assigneeId");
        let assigned = assignee.is_some() && assignee != text(before, "assigneeId");
        let department = text(after, "departmentId");
        let team = text(after, "teamId");
        let failed = item.error.is_some();
        let decided = if assigned {
            department
        } else {
            item.output.as_ref().and_then(|o| text(o, "departmentId"))
        };
        let department_right = decided == Some(g.department_id.as_str());
        let team_right = team == g.team_id.as_deref();
        let assignee_right =
            assignee.is_some_and(|a| g.eligible_assignee_ids.iter().any(|e| e == a));
        let fully = assigned
            && department == Some(g.department_id.as_str())
            && team_right
            && assignee_right;

        c.department_right += usize::from(department_right);
        if assigned {
            c.assigned += 1;
            c.assigned_department_right +=
                usize::from(department == Some(g.department_id.as_str()));
            c.team_right += usize::from(team_right);
            c.assignee_right += usize::from(assignee_right);
            c.fully_routed += usize::from(fully);
        } else if failed {
            c.failed += 1;
        } else {
            c.abstained += 1;
        }
        if department != text(before, "departmentId") {
            c.moved += 1;
            c.moved_right += usize::from(department == Some(g.department_id.as_str()));
        }
        for kind in &g.kinds {
            let k = by_kind.entry(kind.clone()).or_default();
            k.tickets += 1;
            k.department_right += usize::from(department_right);
            k.fully_routed += usize::from(fully);
            k.abstained += usize::from(!assigned && !failed);
        }
    }
    TriageScore {
        tickets: c.tickets,
        assigned: c.assigned,
        abstained: c.abstained,
        failed: c.failed,
        abstention_rate: ratio(c.abstained, c.tickets),
        department_accuracy: ratio(c.department_right, c.tickets),
        assigned_department_accuracy: ratio(c.assigned_department_right, c.assigned),
        team_accuracy: ratio(c.team_right, c.assigned),
        assignee_accuracy: ratio(c.assignee_right, c.assigned),
        fully_routed_rate: ratio(c.fully_routed, c.tickets),
        moved: c.moved,
        moved_right: c.moved_right,
        public_writes: c.public_writes,
        by_kind,
    }
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}
