//! The org's current state. Lookups are linear scans: a sandbox org holds a few hundred records.

use crate::ids::IdAllocator;
use crate::record::{self, Record, s};
use crate::seed::{SeedData, TicketEntry};

pub(crate) struct Store {
    pub data: SeedData,
    pub ids: IdAllocator,
    pub next_ticket_number: u64,
}

impl Store {
    pub(crate) fn new(data: SeedData) -> Self {
        let mut ids = IdAllocator::default();
        let mut max_number = 100;
        for list in [
            &data.departments,
            &data.teams,
            &data.agents,
            &data.contacts,
            &data.articles,
            &data.support_email_addresses,
        ] {
            for r in list {
                ids.reserve(record::id(r));
            }
        }
        for t in &data.tickets {
            ids.reserve(record::id(&t.ticket));
            for r in t.threads.iter().chain(&t.comments) {
                ids.reserve(record::id(r));
            }
            if let Some(n) = s(&t.ticket, "ticketNumber").and_then(|n| n.parse::<u64>().ok()) {
                max_number = max_number.max(n);
            }
        }
        Self {
            data,
            ids,
            next_ticket_number: max_number + 1,
        }
    }

    pub(crate) fn ticket(&self, id: &str) -> Option<&TicketEntry> {
        self.data
            .tickets
            .iter()
            .find(|t| record::id(&t.ticket) == id)
    }

    pub(crate) fn ticket_mut(&mut self, id: &str) -> Option<&mut TicketEntry> {
        self.data
            .tickets
            .iter_mut()
            .find(|t| record::id(&t.ticket) == id)
    }

    pub(crate) fn department(&self, id: &str) -> Option<&Record> {
        find(&self.data.departments, id)
    }

    pub(crate) fn team(&self, id: &str) -> Option<&Record> {
        find(&self.data.teams, id)
    }

    pub(crate) fn agent(&self, id: &str) -> Option<&Record> {
        find(&self.data.agents, id)
    }

    pub(crate) fn contact(&self, id: &str) -> Option<&Record> {
        find(&self.data.contacts, id)
    }

    pub(crate) fn article(&self, id: &str) -> Option<&Record> {
        find(&self.data.articles, id)
    }

    /// The user the OAuth token belongs to: the org's first administrator (or first agent). Comments,
    /// replies and `modifiedBy` are attributed to this agent, as Zoho attributes them to the token's user.
    pub(crate) fn current_agent(&self) -> Option<&Record> {
        self.data
            .agents
            .iter()
            .find(|a| {
                s(a, "rolePermissionType") == Some("Admin") && s(a, "status") == Some("ACTIVE")
            })
            .or_else(|| {
                self.data
                    .agents
                    .iter()
                    .find(|a| s(a, "status") == Some("ACTIVE"))
            })
            .or_else(|| self.data.agents.first())
    }

    /// Support addresses a reply from this department may be sent from.
    pub(crate) fn support_addresses(&self, department_id: &str) -> Vec<String> {
        self.data
            .support_email_addresses
            .iter()
            .filter(|e| s(e, "departmentId").is_none_or(|d| d == department_id))
            .filter(|e| e.get("isActive").and_then(serde_json::Value::as_bool) != Some(false))
            .filter_map(|e| record::owned(e, "address"))
            .collect()
    }
}

fn find<'a>(list: &'a [Record], id: &str) -> Option<&'a Record> {
    list.iter().find(|r| record::id(r) == id)
}
