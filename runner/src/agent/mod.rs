//! Working one item: the tools an item may use (allow-list, argument checks, the write policy,
//! exactly-once writes) and the two deciders that use them, the LLM conversation and the offline
//! baseline. Both go through [`ItemTools`], so the policy holds whoever decides.

pub mod conversation;
pub mod decide;
pub mod output;
pub mod proposal;
pub mod reconcile;
pub mod run_context;
pub mod toolbox;
pub mod writes;

pub use conversation::{Conversation, Finish, OutsideFault};
pub use decide::DecideRun;
pub use run_context::{ContextError, RunContext};
pub use toolbox::{Halt, ItemTools, ToolInfo, ToolReply, Toolbox};
