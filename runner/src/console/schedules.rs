//! The Schedules page: every scheduled workflow of the workflows directory with its next tick
//! (computed by the scheduler's own [`TickPlanner`]), its last run and its policies. A file that
//! does not load is listed with its error rather than failing the page.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::{Console, html, page_error, redirect, session};
use crate::scheduler::TickPlanner;
use crate::store::{Run, RunFilter};
use crate::workflow::Workflow;

/// One row of the page.
pub(crate) enum ScheduleRow {
    Scheduled {
        name: String,
        expression: String,
        timezone: String,
        /// The next tick, or why there is none.
        next: Result<Option<DateTime<Utc>>, String>,
        overlap: String,
        catch_up: String,
        writes: String,
        last_run: Option<Run>,
    },
    /// A file that did not load: its path and the error's first line.
    Broken { file: String, error: String },
}

/// What the page shows: the rows, the workflows without a schedule, and a directory error.
pub(crate) struct SchedulesView {
    pub dir: PathBuf,
    pub rows: Vec<ScheduleRow>,
    pub unscheduled: Vec<String>,
    pub error: Option<String>,
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

async fn view(console: &Console) -> Result<SchedulesView, crate::store::StoreError> {
    let dir = console.backend.workflows.clone();
    let loaded = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            let catalog = crate::cli::backend::catalog().map_err(|e| format!("{e:#}"))?;
            Workflow::load_each(&dir, catalog.as_ref()).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("loading the workflows stopped: {e}")))
    };
    let mut out = SchedulesView {
        dir,
        rows: Vec::new(),
        unscheduled: Vec::new(),
        error: None,
    };
    let results = match loaded {
        Ok(results) => results,
        Err(e) => {
            out.error = Some(first_line(&e));
            return Ok(out);
        }
    };
    let now = Utc::now();
    for (path, result) in results {
        let workflow = match result {
            Ok(w) => w,
            Err(e) => {
                out.rows.push(ScheduleRow::Broken {
                    file: path.display().to_string(),
                    error: first_line(&e.to_string()),
                });
                continue;
            }
        };
        let Some(schedule) = &workflow.schedule else {
            out.unscheduled.push(workflow.name.clone());
            continue;
        };
        // A planner started now, as the scheduler's would be: its upcoming tick is the next one.
        let next = TickPlanner::for_workflow(&workflow, None, now)
            .map(|p| p.upcoming())
            .map_err(|e| e.to_string());
        let last_run = console
            .store
            .list_runs(&RunFilter {
                workflow: Some(workflow.name.clone()),
                limit: 1,
            })
            .await?
            .into_iter()
            .next();
        out.rows.push(ScheduleRow::Scheduled {
            name: workflow.name.clone(),
            expression: schedule.expression.clone(),
            timezone: workflow.timezone.to_string(),
            next,
            overlap: workflow.overlap.to_string(),
            catch_up: workflow.catch_up.to_string(),
            writes: workflow.writes.to_string(),
            last_run,
        });
    }
    Ok(out)
}

pub(super) async fn schedules(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&console, &headers) else {
        return redirect("/login");
    };
    match view(&console).await {
        Ok(view) => html(super::pages::schedules(&session.csrf, &view)),
        Err(e) => page_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
