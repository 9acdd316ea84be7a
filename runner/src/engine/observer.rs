//! Retries from every layer, recorded under the run and the item they happened in.
//!
//! The retry layers report through a synchronous [`RetryObserver`]; the item is found through a
//! task-local set around each item's future, so neither layer needs to know about items. Records
//! go through a channel to one writer task, since the store is async.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::retry::RetryObserver;
use crate::store::{AttemptId, NewRetry, RetryLayer, RunId, Store};

tokio::task_local! {
    /// The item attempt the current task works on.
    pub static CURRENT_ITEM: (AttemptId, String);
}

/// Counts every retry and records it in the run history.
pub struct RunObserver {
    tx: mpsc::UnboundedSender<Message>,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Zoho credits spent by the run, and by each item (the rest went to the run's own reads:
    /// selection, context, reconciliation).
    credits: AtomicU64,
    item_credits: Mutex<HashMap<String, u64>>,
    extra: Option<Arc<dyn RetryObserver>>,
}

impl RunObserver {
    /// Starts the writer task; `extra` also hears every retry (metrics).
    pub fn start(
        store: Store,
        run_id: RunId,
        extra: Option<Arc<dyn RetryObserver>>,
    ) -> Arc<RunObserver> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                match message {
                    Message::Retry(retry) => {
                        if let Err(e) = store.record_retry(run_id, &retry).await {
                            tracing::warn!(error = %e, "could not record a retry in the run history");
                        }
                    }
                    Message::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Arc::new(RunObserver {
            tx,
            retries: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            credits: AtomicU64::new(0),
            item_credits: Mutex::new(HashMap::new()),
            extra,
        })
    }

    /// Waits until every retry reported so far is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    pub fn credits(&self) -> u64 {
        self.credits.load(Ordering::Relaxed)
    }

    /// Credits spent while working `item_key`.
    pub fn item_credits(&self, item_key: &str) -> u64 {
        self.item_credits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(item_key)
            .copied()
            .unwrap_or(0)
    }
}

enum Message {
    Retry(NewRetry),
    Flush(oneshot::Sender<()>),
}

impl RetryObserver for RunObserver {
    fn on_credits(&self, credits: u64) {
        self.credits.fetch_add(credits, Ordering::Relaxed);
        if let Some(extra) = &self.extra {
            extra.on_credits(credits);
        }
        if let Ok(key) = CURRENT_ITEM.try_with(|(_, key)| key.clone()) {
            *self
                .item_credits
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key)
                .or_insert(0) += credits;
        }
    }

    fn on_retry(&self, layer: &'static str, attempt: u32, wait: Duration, reason: &str) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if reason.starts_with("429") || reason.contains(" 429") {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(extra) = &self.extra {
            extra.on_retry(layer, attempt, wait, reason);
        }
        let item = CURRENT_ITEM.try_with(|c| c.clone()).ok();
        let layer = match layer {
            "llm" => RetryLayer::Llm,
            "item" => RetryLayer::Item,
            _ => RetryLayer::Mcp,
        };
        let _ = self.tx.send(Message::Retry(NewRetry {
            attempt_id: item.as_ref().map(|(id, _)| *id),
            item_key: item.map(|(_, key)| key),
            layer,
            reason: reason.to_owned(),
            wait_ms: i64::try_from(wait.as_millis()).unwrap_or(i64::MAX),
            attempt: i64::from(attempt),
        }));
    }
}
