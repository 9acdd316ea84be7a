//! What a run may do when it would write, overlap a running one, or find a tick it missed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happens to a write tool call (create, update, delete, or a non-read custom method).
///
/// The default is [`WritePolicy::Approve`]: a workflow that says nothing about writes changes
/// nothing in Zoho Desk without a human saying yes, yet its work is not thrown away as it would be
/// with `dry_run` (the queued writes can be approved as they are). Going live takes an explicit
/// `writes: apply`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WritePolicy {
    /// Send writes to Zoho Desk.
    Apply,
    /// Record writes without sending them; the model sees a simulated success.
    DryRun,
    /// Queue writes for `deskhand approvals`.
    #[default]
    Approve,
}

impl WritePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            WritePolicy::Apply => "apply",
            WritePolicy::DryRun => "dry_run",
            WritePolicy::Approve => "approve",
        }
    }
}

impl std::fmt::Display for WritePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a scheduled tick does while the previous run of the same workflow is still going.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// Drop the tick (recorded as skipped).
    #[default]
    Skip,
    /// Start it when the running one finishes.
    Queue,
}

/// What the scheduler does on start with ticks that passed while it was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Missed ticks are dropped.
    #[default]
    None,
    /// The most recent missed tick runs once.
    Latest,
}

/// As written in a workflow file, for logs (`skip`, not `Skip`).
impl std::fmt::Display for OverlapPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OverlapPolicy::Skip => "skip",
            OverlapPolicy::Queue => "queue",
        })
    }
}

/// As written in a workflow file, for logs.
impl std::fmt::Display for CatchUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CatchUp::None => "none",
            CatchUp::Latest => "latest",
        })
    }
}

/// Who hears that a run left writes waiting for approval: a Slack-compatible incoming webhook
/// (`{"text": ...}`), whose URL is read from the environment (it is a secret: anyone holding it
/// can post to the channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Name of the environment variable holding the webhook URL.
    pub webhook_url_env: String,
}
