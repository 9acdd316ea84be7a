//! The gold-label file: where each ticket of a labelled dataset belongs and which articles really
//! answer it (`tests/fixtures/eval/gold.json` documents the semantics).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum GoldError {
    #[error("could not read the gold file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the gold file {path} is not valid: {source} (expected {{\"tickets\": {{\"<ticketId>\": {{\"departmentId\", \"teamId\", \"eligibleAssigneeIds\", \"articleIds\"}}}}}})"
    )]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

/// The expected answer for one ticket.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GoldTicket {
    pub department_id: String,
    /// `None` when no team fits; then leaving the team empty is right.
    pub team_id: Option<String>,
    /// Any of these is a right assignee.
    #[serde(default)]
    pub eligible_assignee_ids: Vec<String>,
    /// Articles that answer the ticket; empty when none does (the right reply is "no article").
    #[serde(default)]
    pub article_ids: Vec<String>,
    /// What makes the ticket hard (`injection`, `non_english`, `wrong_department`, ...).
    #[serde(default)]
    pub kinds: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Gold {
    pub tickets: BTreeMap<String, GoldTicket>,
}

impl Gold {
    pub fn load(path: &Path) -> Result<Gold, GoldError> {
        let text = std::fs::read_to_string(path).map_err(|source| GoldError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Gold::parse(&text).map_err(|source| GoldError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn parse(text: &str) -> Result<Gold, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn get(&self, ticket: &str) -> Option<&GoldTicket> {
        self.tickets.get(ticket)
    }
}
