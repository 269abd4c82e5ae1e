//! Assignment rates, and the change feed the event stream reads.

use super::*;
use chrono::Duration;
use store::{
    audit::Change,
    lifecycle::{Request, Target, apply},
    stats::{Group, compute_at},
};

fn assign_to(t: &TestDb, e164: &str, who: &str) -> store::StoreResult<store::numbers::Number> {
    let request = Request::Assign {
        target: Target {
            kind: domain::TargetKind::User,
            id: who.into(),
            name: format!("{who}@contoso.example"),
        },
        override_reservation: false,
        override_quarantine: false,
        // The rates count assignments; moving a number between users is a reassign.
        reassign: true,
    };
    t.db.write(|c| apply(c, &owner(), e164, request, None))
}

fn find<'a>(groups: &'a [Group], id: &str) -> &'a Group {
    groups
        .iter()
        .find(|g| g.id == id)
        .unwrap_or_else(|| panic!("no group {id:?} in {groups:?}"))
}

/// The `at` of every `number.assign` record, oldest first.
fn assign_times(t: &TestDb) -> Vec<chrono::NaiveDateTime> {
    let filter = AuditFilter {
        action: Some("number.assign".into()),
        ..Default::default()
    };
    let mut at: Vec<_> =
        t.db.read(|c| store::audit::list(c, &owner(), &filter, None, Some(1000)))
            .unwrap()
            .items
            .into_iter()
            .map(|r| r.at)
            .collect();
    at.sort();
    at
}

#[test]
fn stats_give_each_pool_its_assignment_rate_and_runway() {
    let t = TestDb::new();
    let hq = location(&t, "HQ");
    let branch = location(&t, "Branch");
    let pool = range(&t, "+442071230000", "+442071230009", Some(hq), &["Pool"]).unwrap();
    t.db.write(|c| {
        store::numbers::create(
            c,
            &owner(),
            NewNumber {
                location_id: Some(branch),
                ..new_number("+442079460001")
            },
        )
    })
    .unwrap();
    for e164 in [
        "+442071230000",
        "+442071230001",
        "+442071230002",
        "+442079460001",
    ] {
        assign_to(&t, e164, "ann").unwrap();
    }
    // Reassigning is not a new assignment from the pool.
    assign_to(&t, "+442071230000", "bob").unwrap();
    let times = assign_times(&t);
    assert_eq!(
        times.len(),
        4,
        "reassignments are recorded as number.reassign"
    );
    let now = store::now();

    let s = compute_at_now(&t, &Scope::unrestricted(), now);
    assert_eq!(s.forecast.assignments_last_30_days, 4);
    assert!((s.forecast.assignments_per_day - 4.0 / 30.0).abs() < 1e-9);
    let available = s.totals.available as f64;
    assert!((s.forecast.days_until_exhausted.unwrap() - available / (4.0 / 30.0)).abs() < 1e-6);

    let r = find(&s.by_range, &pool.id.to_string());
    assert_eq!(r.counts.available, 7);
    assert_eq!(r.forecast.assignments_last_30_days, 3);
    assert!((r.forecast.assignments_per_day - 0.1).abs() < 1e-9);
    assert!(
        (r.forecast.days_until_exhausted.unwrap() - 70.0).abs() < 1e-6,
        "{r:?}"
    );
    let outside = find(&s.by_range, "");
    assert_eq!(outside.forecast.assignments_last_30_days, 1);
    assert_eq!(
        find(&s.by_location, &hq.to_string())
            .forecast
            .assignments_last_30_days,
        3
    );
    assert_eq!(
        find(&s.by_location, &branch.to_string())
            .forecast
            .assignments_last_30_days,
        1
    );
    let tag = find(&s.by_tag, "Pool");
    assert_eq!(tag.forecast.assignments_last_30_days, 3);
    assert!((tag.forecast.days_until_exhausted.unwrap() - 70.0).abs() < 1e-6);

    // The daily series: 30 days ending today, every day present, summing to the total.
    assert_eq!(s.daily.len(), 30);
    assert_eq!(s.daily.last().unwrap().day, now.date());
    assert!(
        s.daily
            .windows(2)
            .all(|w| w[1].day == w[0].day.succ_opt().unwrap())
    );
    assert_eq!(s.daily.iter().map(|d| d.assignments).sum::<i64>(), 4);
    for at in &times {
        assert!(
            s.daily
                .iter()
                .any(|d| d.day == at.date() && d.assignments > 0)
        );
    }

    // A scoped caller's rates count only its numbers.
    let scoped = Scope {
        locations: vec![branch.to_string()],
        tags: vec![],
    };
    let s = compute_at_now(&t, &scoped, now);
    assert_eq!(s.forecast.assignments_last_30_days, 1);
    assert_eq!(s.by_range.len(), 1, "{:?}", s.by_range);
}

fn compute_at_now(t: &TestDb, scope: &Scope, now: chrono::NaiveDateTime) -> store::stats::Stats {
    t.db.read(|c| compute_at(c, scope, now, None)).unwrap()
}

#[test]
fn assignments_leave_the_rate_after_thirty_days() {
    let t = TestDb::new();
    range(&t, "+442071230000", "+442071230009", None, &[]).unwrap();
    assign_to(&t, "+442071230000", "ann").unwrap();
    assign_to(&t, "+442071230001", "ann").unwrap();
    let times = assign_times(&t);
    let (first, last) = (times[0], *times.last().unwrap());

    // On the 30th day (counting the day of the assignments) they still count…
    let s = compute_at_now(&t, &Scope::unrestricted(), first + Duration::days(29));
    assert_eq!(s.forecast.assignments_last_30_days, 2);
    assert_eq!(s.daily[0].day, first.date());
    // …on the 31st they do not, and with no rate there is no runway.
    let s = compute_at_now(&t, &Scope::unrestricted(), last + Duration::days(30));
    assert_eq!(s.forecast.assignments_last_30_days, 0);
    assert_eq!(s.forecast.assignments_per_day, 0.0);
    assert_eq!(s.forecast.days_until_exhausted, None);
    assert!(
        s.by_range
            .iter()
            .all(|g| g.forecast.days_until_exhausted.is_none())
    );
    assert!(s.daily.iter().all(|d| d.assignments == 0));
}

#[test]
fn a_longer_daily_series_charts_older_assignments_but_the_rate_keeps_thirty_days() {
    let t = TestDb::new();
    range(&t, "+442071230000", "+442071230009", None, &[]).unwrap();
    assign_to(&t, "+442071230000", "ann").unwrap();
    assign_to(&t, "+442071230001", "ann").unwrap();
    let times = assign_times(&t);
    let (first, last) = (times[0], *times.last().unwrap());
    let at = |now, days| {
        t.db.read(|c| compute_at(c, &Scope::unrestricted(), now, days))
    };

    // Sixty days on, a 90-day series still shows both, on their day; the rate does not.
    let now = last + Duration::days(60);
    let s = at(now, Some(90)).unwrap();
    assert_eq!(s.daily.len(), 90);
    assert_eq!(s.daily.last().unwrap().day, now.date());
    assert!(
        s.daily
            .windows(2)
            .all(|w| w[1].day == w[0].day.succ_opt().unwrap())
    );
    assert_eq!(s.daily.iter().map(|d| d.assignments).sum::<i64>(), 2);
    assert!(
        s.daily
            .iter()
            .any(|d| d.day == first.date() && d.assignments > 0)
    );
    assert_eq!(s.forecast.assignments_last_30_days, 0);
    assert!(
        s.by_range
            .iter()
            .all(|g| g.forecast.assignments_last_30_days == 0)
    );
    // The default is the rate's 30 days, which no longer reach them.
    let s = at(now, None).unwrap();
    assert_eq!(s.daily.len(), 30);
    assert!(s.daily.iter().all(|d| d.assignments == 0));

    // A one-day series on the day of the assignments: that day alone, and the full rate.
    let s = at(last, Some(1)).unwrap();
    assert_eq!(s.daily.len(), 1);
    assert_eq!(s.daily[0].day, last.date());
    assert_eq!(s.forecast.assignments_last_30_days, 2);
    // A year and a day back is the longest.
    assert_eq!(at(now, Some(366)).unwrap().daily.len(), 366);
}

#[test]
fn a_daily_series_outside_one_to_366_days_is_invalid_naming_days() {
    let t = TestDb::new();
    for days in [0, -1, 367, i64::MAX, i64::MIN] {
        match t
            .db
            .read(|c| compute_at(c, &Scope::unrestricted(), store::now(), Some(days)))
        {
            Err(StoreError::Invalid {
                code,
                field,
                message,
            }) => {
                assert_eq!((code, field.as_str()), ("invalid_query", "days"));
                assert!(message.contains("1..=366"), "{message}");
            }
            other => panic!("{days}: {:?}", other.map(|s| s.daily.len())),
        }
    }
}

#[test]
fn the_change_feed_lists_committed_records_after_an_id() {
    let t = TestDb::new();
    let mark = t.db.read(store::audit::last_id).unwrap();
    location(&t, "HQ");
    let failed = t.db.write(|c| {
        store::audit::record(
            c,
            &owner(),
            Change {
                action: "location.create",
                entity_kind: "location",
                entity_id: "999",
                before: None,
                after: None,
            },
        )?;
        Err::<(), _>(StoreError::Internal("fails after its record".into()))
    });
    assert!(failed.is_err());
    location(&t, "Branch");
    let rows = t.db.read(|c| store::audit::since(c, mark, 100)).unwrap();
    assert_eq!(
        rows.len(),
        2,
        "the rolled-back record is not there: {rows:?}"
    );
    assert!(rows.iter().all(|r| r.entity_id != "999"));
    assert!(rows[0].id < rows[1].id);
    assert_eq!(t.db.read(store::audit::last_id).unwrap(), rows[1].id);
    let again =
        t.db.read(|c| store::audit::with_ids(c, &[rows[1].id, rows[0].id, rows[1].id + 100]))
            .unwrap();
    assert_eq!(
        again.iter().map(|r| r.id).collect::<Vec<_>>(),
        [rows[0].id, rows[1].id]
    );
    let after_first =
        t.db.read(|c| store::audit::since(c, rows[0].id, 100))
            .unwrap();
    assert_eq!(after_first.len(), 1);
}

#[test]
fn postgres_notifies_listeners_of_committed_changes_only() {
    let t = TestDb::new();
    let Some(mut listener) = t.db.change_listener().unwrap() else {
        assert_eq!(
            t.db.backend(),
            store::Backend::Sqlite,
            "only SQLite has no notifications"
        );
        return;
    };
    let failed = t.db.write(|c| {
        store::audit::record(
            c,
            &owner(),
            Change {
                action: "location.create",
                entity_kind: "location",
                entity_id: "999",
                before: None,
                after: None,
            },
        )?;
        Err::<(), _>(StoreError::Internal("fails after its record".into()))
    });
    assert!(failed.is_err());
    assert!(
        !listener
            .wait(std::time::Duration::from_millis(500))
            .unwrap(),
        "a rolled-back change notified"
    );
    location(&t, "HQ");
    assert!(
        listener.wait(std::time::Duration::from_secs(10)).unwrap(),
        "no notification after a commit"
    );
}
