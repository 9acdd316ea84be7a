//! Tick computation without waiting: nominal times across DST in Europe/Berlin, seconds
//! schedules, catch-up after downtime, invalid schedules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Berlin;
use chrono_tz::Tz;
use deskhand::scheduler::ticks::MISSED_COUNT_CAP;
use deskhand::scheduler::{TickError, TickPlanner};
use deskhand::workflow::{CatchUp, Workflow};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn planner(expr: &str, tz: Tz, start: &str) -> TickPlanner {
    TickPlanner::parse(expr, tz, CatchUp::None, None, utc(start)).unwrap()
}

/// The ticks a planner hands out, running each as soon as it is due, until `until`.
fn ticks_until(p: &mut TickPlanner, until: &str) -> Vec<DateTime<Utc>> {
    let until = utc(until);
    let mut out = Vec::new();
    while let Some(next) = p.upcoming().filter(|t| *t <= until) {
        let due = p
            .due(next)
            .expect("the upcoming tick is due at its own time");
        assert_eq!(due.scheduled_for, next);
        assert_eq!(due.missed, 0);
        out.push(next);
    }
    out
}

fn local(t: &DateTime<Utc>) -> String {
    t.with_timezone(&Berlin)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

#[test]
fn nine_am_berlin_stays_nine_am_across_spring_forward() {
    let mut p = planner("0 9 * * *", Berlin, "2026-03-27T12:00:00Z");
    let ticks = ticks_until(&mut p, "2026-03-30T23:00:00Z");
    assert_eq!(
        ticks,
        vec![
            utc("2026-03-28T08:00:00Z"), // 09:00 CET (+01:00)
            utc("2026-03-29T07:00:00Z"), // 09:00 CEST (+02:00), the day of the change
            utc("2026-03-30T07:00:00Z"),
        ]
    );
    assert!(ticks.iter().all(|t| t.with_timezone(&Berlin).hour() == 9));
}

#[test]
fn nine_am_berlin_stays_nine_am_across_fall_back() {
    let mut p = planner("0 9 * * *", Berlin, "2026-10-23T12:00:00Z");
    let ticks = ticks_until(&mut p, "2026-10-26T23:00:00Z");
    assert_eq!(
        ticks,
        vec![
            utc("2026-10-24T07:00:00Z"), // 09:00 CEST
            utc("2026-10-25T08:00:00Z"), // 09:00 CET, the day of the change
            utc("2026-10-26T08:00:00Z"),
        ]
    );
}

#[test]
fn a_time_skipped_by_spring_forward_runs_once_right_after_the_gap() {
    // 02:30 does not exist in Berlin on 2026-03-29 (02:00 CET jumps to 03:00 CEST).
    let mut p = planner("30 2 * * *", Berlin, "2026-03-27T12:00:00Z");
    let ticks = ticks_until(&mut p, "2026-03-30T12:00:00Z");
    let shown: Vec<String> = ticks.iter().map(local).collect();
    assert_eq!(
        shown,
        vec![
            "2026-03-28 02:30:00 CET",
            "2026-03-29 03:00:00 CEST",
            "2026-03-30 02:30:00 CEST",
        ]
    );
}

#[test]
fn a_time_repeated_by_fall_back_runs_once_at_its_first_occurrence() {
    // 02:30 happens twice in Berlin on 2026-10-25 (03:00 CEST falls back to 02:00 CET).
    let mut p = planner("30 2 * * *", Berlin, "2026-10-24T12:00:00Z");
    let ticks = ticks_until(&mut p, "2026-10-26T12:00:00Z");
    assert_eq!(
        ticks,
        vec![
            utc("2026-10-25T00:30:00Z"), // 02:30 CEST; not again at 01:30Z (02:30 CET)
            utc("2026-10-26T01:30:00Z"),
        ]
    );
    // Waking the planner during the repeated hour hands out nothing.
    let mut p = planner("30 2 * * *", Berlin, "2026-10-24T12:00:00Z");
    assert!(p.due(utc("2026-10-25T00:30:00Z")).is_some());
    assert_eq!(p.due(utc("2026-10-25T01:30:05Z")), None);
}

#[test]
fn interval_schedules_do_not_repeat_the_fall_back_hour() {
    let mut p = planner("*/30 * * * *", Berlin, "2026-10-24T23:50:00Z");
    let ticks = ticks_until(&mut p, "2026-10-25T02:30:00Z");
    assert_eq!(
        ticks,
        vec![
            utc("2026-10-25T00:00:00Z"), // 02:00 CEST
            utc("2026-10-25T00:30:00Z"), // 02:30 CEST
            utc("2026-10-25T02:00:00Z"), // 03:00 CET: the second 02:00-02:59 is not repeated
            utc("2026-10-25T02:30:00Z"),
        ]
    );
    assert!(ticks.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn six_field_schedules_tick_on_seconds_and_are_due_once() {
    let mut p = planner("*/2 * * * * *", chrono_tz::UTC, "2026-05-01T12:00:00.500Z");
    assert_eq!(p.upcoming(), Some(utc("2026-05-01T12:00:02Z")));
    assert_eq!(
        p.due(utc("2026-05-01T12:00:01.900Z")),
        None,
        "not due early"
    );
    let due = p.due(utc("2026-05-01T12:00:02.250Z")).unwrap();
    assert_eq!(due.scheduled_for, utc("2026-05-01T12:00:02Z"));
    assert_eq!(due.lag.num_milliseconds(), 250);
    assert_eq!(due.missed, 0);
    assert_eq!(
        p.due(utc("2026-05-01T12:00:02.900Z")),
        None,
        "woken twice, due once"
    );
    // A stalled process runs only the latest tick and reports what it skipped.
    let due = p.due(utc("2026-05-01T12:00:09Z")).unwrap();
    assert_eq!(due.scheduled_for, utc("2026-05-01T12:00:08Z"));
    assert_eq!(due.missed, 2, "12:00:04 and 12:00:06");
}

#[test]
fn the_key_is_the_nominal_time_whenever_a_replica_wakes() {
    // Two replicas whose timers fire at different moments agree on the tick.
    let mut a = planner("0 */5 * * * *", chrono_tz::UTC, "2026-05-01T12:00:30Z");
    let mut b = planner("0 */5 * * * *", chrono_tz::UTC, "2026-05-01T12:01:10Z");
    let ta = a.due(utc("2026-05-01T12:05:00.010Z")).unwrap();
    let tb = b.due(utc("2026-05-01T12:05:01.700Z")).unwrap();
    assert_eq!(ta.scheduled_for, tb.scheduled_for);
    assert_eq!(ta.scheduled_for, utc("2026-05-01T12:05:00Z"));
}

#[test]
fn catch_up_none_drops_ticks_missed_while_down() {
    let last_claimed = Some(utc("2026-05-01T06:00:00Z"));
    let now = utc("2026-05-01T10:20:00Z");
    let mut p = TickPlanner::parse(
        "0 * * * *",
        chrono_tz::UTC,
        CatchUp::None,
        last_claimed,
        now,
    )
    .unwrap();
    assert_eq!(p.due(now), None);
    assert_eq!(p.upcoming(), Some(utc("2026-05-01T11:00:00Z")));
}

#[test]
fn catch_up_latest_runs_the_most_recent_missed_tick_once() {
    let last_claimed = Some(utc("2026-05-01T06:00:00Z"));
    let now = utc("2026-05-01T10:20:00Z");
    let mut p = TickPlanner::parse(
        "0 * * * *",
        chrono_tz::UTC,
        CatchUp::Latest,
        last_claimed,
        now,
    )
    .unwrap();
    let due = p.due(now).expect("the 10:00 tick was missed");
    assert_eq!(due.scheduled_for, utc("2026-05-01T10:00:00Z"));
    assert_eq!(due.missed, 3, "07:00, 08:00 and 09:00 are dropped");
    assert_eq!(due.lag.num_minutes(), 20);
    assert_eq!(p.due(now), None, "only once");
}

#[test]
fn catch_up_latest_has_nothing_to_do_without_downtime() {
    let now = utc("2026-05-01T10:20:00Z");
    // Never ran: a new workflow does not fire on deploy.
    let mut p =
        TickPlanner::parse("0 * * * *", chrono_tz::UTC, CatchUp::Latest, None, now).unwrap();
    assert_eq!(p.due(now), None);
    // The latest tick was already claimed (by another replica that stayed up).
    let mut p = TickPlanner::parse(
        "0 * * * *",
        chrono_tz::UTC,
        CatchUp::Latest,
        Some(utc("2026-05-01T10:00:00Z")),
        now,
    )
    .unwrap();
    assert_eq!(p.due(now), None);
}

#[test]
fn catch_up_after_a_long_outage_of_a_seconds_schedule_is_cheap() {
    let now = utc("2026-05-31T10:20:00.400Z");
    let mut p = TickPlanner::parse(
        "* * * * * *",
        chrono_tz::UTC,
        CatchUp::Latest,
        Some(utc("2026-05-01T00:00:00Z")),
        now,
    )
    .unwrap();
    let due = p.due(now).unwrap();
    assert_eq!(due.scheduled_for, utc("2026-05-31T10:20:00Z"));
    assert_eq!(due.missed, MISSED_COUNT_CAP);
}

#[test]
fn catch_up_latest_in_a_zone_uses_local_wall_clock() {
    // Down across the spring-forward night; the missed 09:00 CEST tick is the one run.
    let now = utc("2026-03-29T10:00:00Z");
    let mut p = TickPlanner::parse(
        "0 9 * * *",
        Berlin,
        CatchUp::Latest,
        Some(utc("2026-03-27T08:00:00Z")),
        now,
    )
    .unwrap();
    let due = p.due(now).unwrap();
    assert_eq!(local(&due.scheduled_for), "2026-03-29 09:00:00 CEST");
    assert_eq!(due.missed, 1, "09:00 CET on the 28th");
}

#[test]
fn invalid_schedules_are_errors() {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    for bad in [
        "61 * * * *",
        "* * *",
        "0 0 0 0 0 0 0",
        "every day",
        "*/0 * * * * *",
    ] {
        let err = TickPlanner::parse(bad, chrono_tz::UTC, CatchUp::None, None, now).expect_err(bad);
        assert!(matches!(err, TickError::Invalid { .. }), "{bad}: {err:?}");
        assert!(err.to_string().contains(bad), "{err}");
    }
    let minimal = Workflow::load(
        std::path::Path::new("tests/fixtures/workflows/valid/minimal.yaml"),
        common::catalog().as_ref(),
    )
    .unwrap();
    let err = TickPlanner::for_workflow(&minimal, None, now).unwrap_err();
    assert_eq!(err, TickError::NoSchedule("backlog-summary".into()));
}

#[test]
fn a_reloaded_schedule_keeps_the_progress_of_the_old_one() {
    let old_start = utc("2026-05-01T12:00:00Z");
    let mut old = planner("*/10 * * * * *", chrono_tz::UTC, "2026-05-01T12:00:00Z");
    assert!(old.due(utc("2026-05-01T12:00:10Z")).is_some());
    // The reload happens later; nothing between the last tick and the reload is lost.
    let new = TickPlanner::parse(
        "*/5 * * * * *",
        chrono_tz::UTC,
        CatchUp::None,
        None,
        utc("2026-05-01T12:00:16Z"),
    )
    .unwrap()
    .resume_from(&old);
    assert!(new.last() > old_start);
    assert_eq!(new.last(), utc("2026-05-01T12:00:10Z"));
    let mut new = new;
    assert_eq!(
        new.due(utc("2026-05-01T12:00:16Z"))
            .map(|d| d.scheduled_for),
        Some(utc("2026-05-01T12:00:15Z"))
    );
}
