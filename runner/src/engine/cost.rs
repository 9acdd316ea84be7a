//! What a run cost: Zoho credits (the request weight the gateway reports on every answer) and LLM
//! tokens, in total, per item, and extrapolated to a backlog of 1,000 such items, so an operator
//! sees what a schedule will take from the org's daily credits before it does.

use serde::{Deserialize, Serialize};

use super::ItemReport;

/// What a run spent, and what a backlog of such items would.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunCost {
    /// Zoho credits of every call of the run.
    pub credits: u64,
    /// Of which the run's own reads outside items: selection, `context`, reconciliation.
    pub run_credits: u64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// Items whose cost is counted (succeeded or not).
    pub items: u64,
    /// Writes recorded but not sent (dry_run, approve): the estimate counts each at the 1 credit
    /// a create, update or move costs, so a dry run predicts what applying would spend.
    #[serde(default)]
    pub unsent_writes: u64,
    /// Estimates for 1,000 items like these (the run's own reads counted once).
    pub per_1000_items: Option<CostEstimate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostEstimate {
    pub credits: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl RunCost {
    /// `credits`: every call of the run, as the observer counted them; `writes_sent`: whether the
    /// items' writes went to Zoho (`writes: apply`).
    pub fn of(items: &[ItemReport], credits: u64, writes_sent: bool) -> RunCost {
        let item_credits: u64 = items.iter().map(|i| i.credits).sum();
        let prompt_tokens: i64 = items.iter().map(|i| i.prompt_tokens).sum();
        let completion_tokens: i64 = items.iter().map(|i| i.completion_tokens).sum();
        let n = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let run_credits = credits.saturating_sub(item_credits);
        let unsent_writes = if writes_sent {
            0
        } else {
            items.iter().map(|i| u64::from(i.writes)).sum()
        };
        let per = |total: u64| (total.saturating_mul(1000)).div_ceil(n.max(1));
        RunCost {
            credits,
            run_credits,
            prompt_tokens,
            completion_tokens,
            items: n,
            unsent_writes,
            per_1000_items: (n > 0).then(|| CostEstimate {
                credits: run_credits + per(item_credits + unsent_writes),
                prompt_tokens: per(u64::try_from(prompt_tokens).unwrap_or(0)),
                completion_tokens: per(u64::try_from(completion_tokens).unwrap_or(0)),
            }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::AttemptStatus;

    fn item(credits: u64, prompt_tokens: i64) -> ItemReport {
        ItemReport {
            key: "1".into(),
            label: "1".into(),
            status: AttemptStatus::Succeeded,
            error: None,
            output: None,
            attempt: 1,
            steps: 1,
            tool_calls: 3,
            writes: 2,
            prompt_tokens,
            completion_tokens: 10,
            cached_tokens: 0,
            credits,
            duration_ms: 1,
        }
    }

    #[test]
    fn the_runs_own_reads_count_once_in_the_estimate() {
        let cost = RunCost::of(&[item(3, 2000), item(4, 3000)], 19, true);
        assert_eq!(cost.run_credits, 12);
        assert_eq!(cost.prompt_tokens, 5000);
        let estimate = cost.per_1000_items.unwrap();
        assert_eq!(estimate.credits, 12 + 3500);
        assert_eq!(estimate.prompt_tokens, 2_500_000);
        assert_eq!(estimate.completion_tokens, 10_000);
    }

    #[test]
    fn a_dry_run_estimates_its_writes_at_one_credit_each() {
        let cost = RunCost::of(&[item(1, 0), item(1, 0)], 14, false);
        assert_eq!(cost.unsent_writes, 4);
        assert_eq!(cost.per_1000_items.unwrap().credits, 12 + 3000);
    }

    #[test]
    fn no_items_no_estimate() {
        let cost = RunCost::of(&[], 3, true);
        assert_eq!(cost.run_credits, 3);
        assert!(cost.per_1000_items.is_none());
    }
}
