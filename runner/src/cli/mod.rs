//! The command line: one module per subcommand, each a thin layer over the library.

pub(crate) mod approvals;
pub mod backend;
mod connect;
mod console;
mod demo;
mod doctor;
mod eval;
mod history;
mod items;
pub(crate) mod mcp;
pub mod output;
mod run;
mod sandbox;
pub(crate) mod schedule;
mod table;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

/// Run LLM agent workflows against Zoho Desk, safely, on a schedule or now.
#[derive(Debug, Parser)]
#[command(name = "deskhand", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "DESKHAND_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,

    /// Let workflows' `prompt:` and `system_prompt:` name files outside the workflow's directory
    /// and the `prompts/` directory beside it. Prompt files are sent to the LLM provider.
    #[arg(long, global = true, env = "DESKHAND_ALLOW_OUTSIDE_PROMPTS")]
    allow_outside_prompts: bool,

    #[command(subcommand)]
    command: Command,
}

impl Cli {
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the offline Zoho Desk sandbox (API v1 and the accounts token endpoint).
    Sandbox(sandbox::SandboxArgs),
    /// The Zoho Desk MCP server: serve it, and manage hosted server URLs and API tokens.
    Mcp(mcp::McpArgs),
    /// Check workflow files and their tools; exit code 1 if any is broken.
    Validate(validate::ValidateArgs),
    /// Try it: triage and KB replies on an offline sandbox, with a before/after table.
    Demo(demo::DemoArgs),
    /// Run a workflow once, now; exit code 1 if any item failed.
    Run(run::RunArgs),
    /// List runs, or show one run's items, LLM steps, tool calls and retries.
    History(history::HistoryArgs),
    /// Review the writes queued under `writes: approve`: list, show, approve (applies it), reject.
    Approvals(approvals::ApprovalsArgs),
    /// The review console: runs, a ticket's history and the approvals queue in the browser.
    Console(console::ConsoleArgs),
    /// Work items: list them (deferred, failed, abandoned...) and retry them.
    Items(items::ItemsArgs),
    /// Score a workflow on a labelled dataset: routing accuracy, grounded replies, tokens, time.
    Eval(eval::EvalArgs),
    /// Run every workflow that has a `schedule`, once per tick across replicas; /metrics and /healthz.
    Schedule(schedule::ScheduleArgs),
    /// Connect a Zoho Desk org: exchange a grant code (or use the browser flow), pick the org,
    /// verify, and save a named connection with its secrets in a user-only file.
    Connect(connect::ConnectArgs),
    /// Check Zoho, the LLM, the store and the workflows; one line per check, a fix for each failure.
    ///
    /// Every Zoho connection the workflows name is checked (only --connection's when given).
    /// With an LLM configured, doctor sends it two one-line chat completions (one offering a tool
    /// to call, one with a strict JSON-schema response_format): they cost a few tokens.
    Doctor(doctor::DoctorArgs),
}

/// Runs the parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    crate::workflow::allow_prompts_anywhere(cli.allow_outside_prompts);
    match cli.command {
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Mcp(args) => mcp::run(args).await,
        Command::Validate(args) => validate::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Run(args) => run::run(args).await,
        Command::History(args) => history::run(args).await,
        Command::Approvals(args) => approvals::run(args).await,
        Command::Schedule(args) => schedule::run(args).await,
        Command::Eval(args) => eval::run(args).await,
        Command::Items(args) => items::run(args).await,
        Command::Connect(args) => connect::run(args).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::Console(args) => console::run(args).await,
    }
}
