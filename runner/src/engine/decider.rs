//! Who decides what to do with an item: a model, or the offline baseline when none is configured.

use std::sync::Arc;

use crate::baseline;
use crate::llm::{LlmClient, LlmError, LlmSettings};
use crate::retry::RetryObserver;
use crate::workflow::{BaselineKind, Workflow};

#[derive(Debug, Clone)]
pub enum Decider {
    Llm(Box<LlmSettings>),
    Baseline(BaselineKind),
}

#[derive(Debug, thiserror::Error)]
pub enum DeciderError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(
        "workflow `{0}` has no LLM configured (set OPENAI_API_KEY or OPENAI_BASE_URL, or a `model:` block) and no `baseline:` routine to fall back to"
    )]
    Nothing(String),
}

impl Decider {
    /// The best available for `workflow`: its `model:` block merged with the environment, else
    /// the environment's LLM, else the workflow's baseline routine.
    pub fn for_workflow(
        workflow: &Workflow,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Decider, DeciderError> {
        match LlmSettings::resolve(workflow.model.as_ref(), env)? {
            Some(settings) => Ok(Decider::Llm(Box::new(settings))),
            None => workflow
                .baseline
                .map(Decider::Baseline)
                .ok_or_else(|| DeciderError::Nothing(workflow.name.clone())),
        }
    }

    /// The label shown in output and history.
    pub fn label(&self) -> String {
        match self {
            Decider::Llm(settings) => settings.provider_label(),
            Decider::Baseline(_) => baseline::LABEL.to_owned(),
        }
    }

    pub fn uses_llm(&self) -> bool {
        matches!(self, Decider::Llm(_))
    }

    /// A client whose retries are reported to `observer`; `None` for the baseline.
    pub fn client(&self, observer: Arc<dyn RetryObserver>) -> Result<Option<LlmClient>, LlmError> {
        match self {
            Decider::Llm(settings) => Ok(Some(
                LlmClient::new((**settings).clone())?.with_observer(observer),
            )),
            Decider::Baseline(_) => Ok(None),
        }
    }
}
