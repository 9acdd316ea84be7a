//! Fixtures for the scheduler tests: workflow files on disk, a scripted model that comments on
//! each ticket once, and reading the outcome back from the sandbox and the store.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use deskhand_e2e::scripted_llm::{ScriptedLlm, Step};
use serde_json::{Value, json};

/// A workflow file `name.yaml` (and its prompt) in `dir`. `body` holds every key after `name`.
pub fn write_workflow(dir: &Path, name: &str, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("prompt.md"),
        "Handle ticket TICKET={{ item.id }} (RUN={{ run.id }} TICK={{ run.scheduled_for }}).\n",
    )
    .unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!("version: 1\nname: {name}\ndescription: scheduler test\nprompt: prompt.md\n{body}"),
    )
    .unwrap();
    path
}

/// The keys of a ticket-commenting workflow driven by `llm_base_url`: every ticket selected gets
/// one private comment containing `marker`, written with `writes: apply`.
pub fn commenter_body(schedule: &str, llm_base_url: &str, marker: &str, extra: &str) -> String {
    format!(
        "schedule: \"{schedule}\"\n\
         model: {{ provider: openai_compatible, name: scripted, base_url: \"{llm_base_url}\" }}\n\
         tools: [create_a_zoho_desk_ticket_comment]\n\
         for_each:\n  tool: list_all_zoho_desk_tickets\n  args: {{ limit: 12 }}\n  max_items: 12\n  fingerprint: [id]\n\
         inputs: {{ marker: \"{marker}\" }}\n\
         writes: apply\n\
         {extra}"
    )
}

/// A model that, for each item, comments `marker` on the ticket named in the prompt, then
/// answers. Each reply waits `delay` first so runs stay in flight long enough to overlap.
pub async fn commenting_llm(marker: &str, delay: Duration) -> ScriptedLlm {
    let marker = marker.to_owned();
    ScriptedLlm::builder()
        .responder(move |body: &Value| {
            let messages = body["messages"].as_array().cloned().unwrap_or_default();
            let step = if messages.iter().any(|m| m["role"] == "tool") {
                Step::text("{\"done\": true}")
            } else {
                let prompt = messages
                    .iter()
                    .filter(|m| m["role"] == "user")
                    .filter_map(|m| m["content"].as_str())
                    .collect::<String>();
                let ticket = prompt
                    .split("TICKET=")
                    .nth(1)
                    .map(|rest| {
                        rest.chars()
                            .take_while(char::is_ascii_digit)
                            .collect::<String>()
                    })
                    .unwrap_or_default();
                Step::tool_call(
                    "create_a_zoho_desk_ticket_comment",
                    json!({ "ticketId": ticket, "content": marker, "isPublic": false }),
                )
            };
            if delay.is_zero() {
                step
            } else {
                Step::delay(delay, step)
            }
        })
        .start()
        .await
}

/// Comments containing `marker`, per ticket id, in a sandbox state document.
pub fn comment_counts(state: &Value, marker: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for ticket in state["tickets"].as_array().into_iter().flatten() {
        let id = match &ticket["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let n = ticket["comments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["content"].as_str().is_some_and(|s| s.contains(marker)))
            .count();
        if n > 0 {
            counts.insert(id, n);
        }
    }
    counts
}

/// Executions of each tick as the model saw them: per `TICK=` in the prompts it was sent, the
/// distinct `RUN=` ids. A tick executed twice shows two run ids, whatever the run table says.
pub fn executions_per_tick(
    requests: &[deskhand_e2e::scripted_llm::RecordedRequest],
) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    let field = |prompt: &str, key: &str| {
        prompt.split(key).nth(1).map(|rest| {
            rest.chars()
                .take_while(|c| !c.is_whitespace() && *c != ')')
                .collect::<String>()
        })
    };
    let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for request in requests {
        let prompt = request.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["role"] == "user")
            .filter_map(|m| m["content"].as_str())
            .collect::<String>();
        if let (Some(tick), Some(run)) = (field(&prompt, "TICK="), field(&prompt, "RUN=")) {
            out.entry(tick).or_default().insert(run);
        }
    }
    out
}

/// Polls `check` every 100 ms until it returns `Some`, or panics with `what` after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(stem: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "deskhand-{stem}-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `deskhand schedule` child process whose JSON log lines are collected.
pub struct ScheduleProcess {
    pub child: tokio::process::Child,
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl ScheduleProcess {
    /// Starts `deskhand --log-format json schedule <args>` with `env` set and no LLM or Zoho
    /// variables inherited.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> ScheduleProcess {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_deskhand"));
        command
            .args(["--log-format", "json", "schedule"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for key in [
            "DATABASE_URL",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "DESKHAND_METRICS_ADDR",
        ] {
            command.env_remove(key);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("deskhand starts");
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = logs.clone();
        let stderr = child.stderr.take().unwrap();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                sink.lock().unwrap().push(value);
            }
        });
        ScheduleProcess { child, logs }
    }

    /// The first log line whose message contains `text`, waiting up to `limit`.
    pub async fn log_line(&self, text: &str, limit: Duration) -> Value {
        wait_for(limit, &format!("log line {text:?}"), || async {
            self.logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| {
                    l["fields"]["message"]
                        .as_str()
                        .or_else(|| l.as_str())
                        .is_some_and(|m| m.contains(text))
                })
                .cloned()
        })
        .await
    }

    pub fn log_dump(&self) -> String {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// Waits for the process to exit on its own.
    pub async fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("the process exits in time")
            .unwrap()
            .code()
    }
}
