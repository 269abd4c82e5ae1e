use chrono::{Duration, NaiveDate};

use super::*;

fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2030, 1, 1)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .expect("a valid date")
}

/// `now` plus some hours.
fn at(hours: i64) -> NaiveDateTime {
    now() + Duration::hours(hours)
}

fn who(id: &str) -> Target {
    Target {
        kind: crate::TargetKind::User,
        id: id.into(),
        name: format!("{id}@example.com"),
    }
}

fn new() -> Current {
    Current::default()
}

/// Reserved for a project, for a team, until tomorrow.
fn held() -> Current {
    Current {
        status: Reserved,
        reservation: Some(Reservation {
            reason: "project".into(),
            reserved_for: Some("team".into()),
            until: Some(at(24)),
        }),
        ..Current::default()
    }
}

fn quarantined(until: NaiveDateTime) -> Current {
    Current {
        status: Quarantined,
        quarantine_until: Some(until),
        ..Current::default()
    }
}

fn assigned(to: Option<&str>) -> Current {
    Current {
        status: Assigned,
        assignee: to.map(who),
        ..Current::default()
    }
}

/// A line with no status cell.
fn keep() -> Wanted {
    Wanted::default()
}

fn to(status: NumberStatus) -> Wanted {
    Wanted {
        status: Some(status),
        ..Wanted::default()
    }
}

/// Builders for the cells of a line.
impl Wanted {
    fn by(mut self, id: &str) -> Wanted {
        self.target = Some(who(id));
        self.assigned_to = Some(true);
        self
    }
    /// `assigned_to` names the number's current assignee (no look-up, no target).
    fn same_assignee(mut self) -> Wanted {
        self.assigned_to = Some(true);
        self
    }
    /// `assigned_to` is an empty cell.
    fn no_assignee(mut self) -> Wanted {
        self.assigned_to = Some(false);
        self
    }
    fn reason(mut self, v: Option<&str>) -> Wanted {
        self.reserved_reason = Some(v.map(str::to_string));
        self
    }
    fn reserved_for(mut self, v: Option<&str>) -> Wanted {
        self.reserved_for = Some(v.map(str::to_string));
        self
    }
    fn reserved_until(mut self, v: Option<NaiveDateTime>) -> Wanted {
        self.reserved_until = Some(v);
        self
    }
    fn q_until(mut self, v: Option<NaiveDateTime>) -> Wanted {
        self.quarantined_until = Some(v);
        self
    }
    fn q_reason(mut self, v: &str) -> Wanted {
        self.quarantine_reason = Some(v.into());
        self
    }
}

fn refused(t: Transition, from: NumberStatus, r: Refusal) -> PlanError {
    refused_until(t, from, r, None)
}

fn refused_until(
    t: Transition,
    from: NumberStatus,
    r: Refusal,
    quarantine_until: Option<NaiveDateTime>,
) -> PlanError {
    PlanError::Refused {
        transition: t,
        from,
        refusal: r,
        quarantine_until,
        column: "status",
    }
}

/// A refusal of a step a cell (not the status column) asked for.
fn by_cell(cell: &'static str, e: PlanError) -> PlanError {
    match e {
        PlanError::Refused {
            transition,
            from,
            refusal,
            quarantine_until,
            ..
        } => PlanError::Refused {
            transition,
            from,
            refusal,
            quarantine_until,
            column: cell,
        },
        other => other,
    }
}

fn reserve(reason: &str, reserved_for: Option<&str>, until: Option<NaiveDateTime>) -> Step {
    Step::Reserve {
        reason: reason.into(),
        reserved_for: reserved_for.map(str::to_string),
        until,
    }
}

fn quarantine(reason: &str, until: Option<NaiveDateTime>) -> Step {
    Step::Quarantine {
        reason: reason.into(),
        until,
    }
}

fn assign(id: &str, override_reservation: bool, override_quarantine: bool) -> Step {
    Step::Assign {
        target: who(id),
        override_reservation,
        override_quarantine,
    }
}

fn reassign(from: &str, to: &str) -> Step {
    Step::Reassign {
        previous: who(from),
        target: who(to),
    }
}

fn unassign(from: &str, quarantine_days: Option<i64>) -> Step {
    Step::Unassign {
        previous: who(from),
        quarantine_days,
    }
}

/// A row of the table: the case, the number now, what the line wants, whether the
/// caller may override, and the planned steps or the error.
type Case = (
    &'static str,
    Current,
    Wanted,
    bool,
    Result<Vec<Step>, PlanError>,
);

const ADMIN: bool = true;
const OPER: bool = false;

#[test]
fn every_branch_of_status_planning() {
    use PlanError::*;
    use Refusal as R;
    use Step::Release;
    use Transition as T;
    let (running, ended) = (at(48), at(-1));
    let none = Ok(vec![]);
    let past = |column| Err(NotInFuture { column });
    let (ru, qu) = ("reserved_until", "quarantined_until");
    // One row per case; rustfmt would spread each over a dozen lines.
    #[rustfmt::skip]
    let table: Vec<Case> = vec![
        // → available
        ("no status cell keeps it", new(), keep(), OPER, none.clone()),
        ("available stays", new(), to(Available), OPER, none.clone()),
        ("reserved is released", held(), to(Available), OPER, Ok(vec![Release])),
        ("a running quarantine is released by an admin", quarantined(running), to(Available), ADMIN, Ok(vec![Release])),
        ("a running quarantine is not released by an operator", quarantined(running), to(Available), OPER,
            Err(refused_until(T::Release, Quarantined, R::Quarantined, Some(running)))),
        ("an ended quarantine is released by anyone", quarantined(ended), to(Available), OPER, Ok(vec![Release])),
        ("assigned to available unassigns with no quarantine", assigned(Some("a")), to(Available), ADMIN,
            Ok(vec![unassign("a", Some(0))])),
        ("assigned to available is the override", assigned(Some("a")), to(Available), OPER,
            Err(refused(T::Unassign, Assigned, R::OverrideForbidden))),
        ("assigned with no assignee plans nothing", assigned(None), to(Available), ADMIN, none.clone()),
        // → reserved
        ("available is reserved", new(), to(Reserved).reason(Some("project")), OPER, Ok(vec![reserve("project", None, None)])),
        ("a reservation with its details", new(),
            to(Reserved).reason(Some("project")).reserved_for(Some("team")).reserved_until(Some(at(1))), OPER,
            Ok(vec![reserve("project", Some("team"), Some(at(1)))])),
        ("a reservation needs a reason", new(), to(Reserved), OPER, Err(NoReservationReason)),
        ("a blank reason is no reason", new(), to(Reserved).reason(Some("  ")), OPER, Err(NoReservationReason)),
        ("a reservation ends in the future", new(), to(Reserved).reason(Some("p")).reserved_until(Some(now())), OPER, past(ru)),
        ("absent columns keep a reservation", held(), to(Reserved), OPER, none.clone()),
        ("the same end to the second is no change", held(),
            to(Reserved).reserved_until(Some(at(24) + Duration::milliseconds(400))), OPER, none.clone()),
        ("a new reason re-reserves with the rest kept", held(), to(Reserved).reason(Some("other")), OPER,
            Ok(vec![Release, reserve("other", Some("team"), Some(at(24)))])),
        ("empty cells clear the details", held(), to(Reserved).reserved_for(None).reserved_until(None), OPER,
            Ok(vec![Release, reserve("project", None, None)])),
        ("an emptied reason is no reason", held(), to(Reserved).reason(None), OPER, Err(NoReservationReason)),
        ("a re-reservation ends in the future", held(), to(Reserved).reserved_until(Some(at(-2))), OPER, past(ru)),
        ("assigned cannot be reserved", assigned(Some("a")), to(Reserved).reason(Some("p")), ADMIN,
            Err(refused(T::Reserve, Assigned, R::Assigned))),
        ("quarantined cannot be reserved", quarantined(running), to(Reserved).reason(Some("p")), ADMIN,
            Err(refused_until(T::Reserve, Quarantined, R::Quarantined, Some(running)))),
        // → assigned
        ("available is assigned", new(), to(Assigned).by("b"), OPER, Ok(vec![assign("b", false, false)])),
        ("an assignment needs an assignee", new(), to(Assigned), OPER, Err(NoAssignee)),
        ("reserved is assigned by an admin", held(), to(Assigned).by("b"), ADMIN, Ok(vec![assign("b", true, false)])),
        ("reserved is not assigned by an operator", held(), to(Assigned).by("b"), OPER,
            Err(refused(T::Assign, Reserved, R::OverrideForbidden))),
        ("a running quarantine is assigned by an admin", quarantined(running), to(Assigned).by("b"), ADMIN,
            Ok(vec![assign("b", false, true)])),
        ("an ended quarantine is assigned by anyone", quarantined(ended), to(Assigned).by("b"), OPER,
            Ok(vec![assign("b", false, false)])),
        ("a running quarantine is not assigned by an operator", quarantined(running), to(Assigned).by("b"), OPER,
            Err(refused_until(T::Assign, Quarantined, R::OverrideForbidden, Some(running)))),
        ("no assignee cell keeps the assignee", assigned(Some("a")), to(Assigned), OPER, none.clone()),
        ("the same assignee by another name is no change",
            Current { assignee: Some(Target { name: "old".into(), ..who("a") }), ..assigned(None) },
            to(Assigned).by("a"), OPER, none.clone()),
        ("another assignee is a reassignment", assigned(Some("a")), to(Assigned).by("b"), OPER, Ok(vec![reassign("a", "b")])),
        ("an assignee without a status cell reassigns", assigned(Some("a")), keep().by("b"), OPER, Ok(vec![reassign("a", "b")])),
        ("assigned with no assignee stays as it is", assigned(None), to(Assigned).by("b"), OPER, none.clone()),
        // → quarantined
        ("available is quarantined for the default period", new(), to(Quarantined), OPER, Ok(vec![quarantine("import", None)])),
        ("a quarantine with its reason and end", new(), to(Quarantined).q_until(Some(at(5))).q_reason("port"), OPER,
            Ok(vec![quarantine("port", Some(at(5)))])),
        ("a quarantine ends in the future", new(), to(Quarantined).q_until(Some(at(-5))), OPER, past(qu)),
        ("assigned is unassigned for the default period", assigned(Some("a")), to(Quarantined), OPER, Ok(vec![unassign("a", None)])),
        ("unassigning rounds up to whole days", assigned(Some("a")), to(Quarantined).q_until(Some(at(36))), OPER,
            Ok(vec![unassign("a", Some(2))])),
        ("unassigning quarantines at least a day", assigned(Some("a")),
            to(Quarantined).q_until(Some(now() + Duration::seconds(1))), OPER, Ok(vec![unassign("a", Some(1))])),
        ("unassigning quarantines at most ten years", assigned(Some("a")), to(Quarantined).q_until(Some(at(24 * 365 * 20))), OPER,
            Ok(vec![unassign("a", Some(3650))])),
        ("an unassignment's quarantine ends in the future", assigned(Some("a")), to(Quarantined).q_until(Some(now())), OPER, past(qu)),
        ("assigned with no assignee plans no unassignment", assigned(None), to(Quarantined), OPER, none.clone()),
        ("no end cell keeps a quarantine", quarantined(running), to(Quarantined), OPER, none.clone()),
        ("the same end to the second keeps a quarantine", quarantined(running),
            to(Quarantined).q_until(Some(running + Duration::milliseconds(900))), OPER, none.clone()),
        ("an empty end cell keeps a quarantine", quarantined(running), to(Quarantined).q_until(None), OPER, none.clone()),
        ("a new end re-quarantines, by an admin", quarantined(running), to(Quarantined).q_until(Some(at(72))), ADMIN,
            Ok(vec![Release, quarantine("import", Some(at(72)))])),
        ("a new end is an early release for an operator", quarantined(running), to(Quarantined).q_until(Some(at(72))), OPER,
            Err(refused_until(T::Release, Quarantined, R::Quarantined, Some(running)))),
        ("a new end lies in the future", quarantined(running), to(Quarantined).q_until(Some(at(-3))), ADMIN, past(qu)),
        ("reserved cannot be quarantined", held(), to(Quarantined), ADMIN, Err(refused(T::Quarantine, Reserved, R::Reserved))),
    ];
    for (case, current, wanted, may_override, want) in table {
        assert_eq!(plan(&current, &wanted, may_override, now()), want, "{case}");
    }
}

#[test]
fn every_error_names_its_column_and_reads_as_before() {
    use Refusal as R;
    use Transition as T;
    #[rustfmt::skip]
    let table: &[(PlanError, &str, &str)] = &[
        (refused(T::Reserve, Reserved, R::Reserved), "status",
            "cannot reserve a reserved number (number_reserved): it is reserved; release it first (status available)"),
        (refused_until(T::Release, Quarantined, R::Quarantined, Some(at(1))), "status",
            "cannot release a quarantined number (number_quarantined): it is quarantined until 2030-01-01T13:00:00+00:00; release it first (status available)"),
        (refused(T::Reserve, Quarantined, R::Quarantined), "status",
            "cannot reserve a quarantined number (number_quarantined): it is quarantined; release it first (status available)"),
        (refused(T::Quarantine, Assigned, R::Assigned), "status",
            "cannot quarantine a assigned number (number_assigned): it is assigned; unassign it first (status available or quarantined)"),
        (refused(T::Unassign, Available, R::NotAssigned), "status",
            "cannot unassign a available number (number_not_assigned): it is not assigned"),
        (refused(T::Reserve, Assigned, R::NotAvailable), "status",
            "cannot reserve a assigned number (number_not_available): only an available number can be reserved"),
        (refused(T::Release, Available, R::NotHeld), "status",
            "cannot release a available number (number_not_held): only a reserved or quarantined number can be released"),
        (refused(T::Assign, Reserved, R::OverrideForbidden), "status",
            "cannot assign a reserved number (override_forbidden): overriding a reservation or quarantine needs the admin role"),
        (PlanError::NotInFuture { column: "reserved_until" }, "reserved_until", "must be in the future"),
        (PlanError::NoReservationReason, "reserved_reason", "is required to reserve a number"),
        (PlanError::NoAssignee, "assigned_to", "is required for status assigned"),
    ];
    for (e, column, sentence) in table {
        assert_eq!((e.column(), e.to_string().as_str()), (*column, *sentence));
    }
}

#[test]
fn without_a_status_column_the_cells_decide_and_no_cell_is_dropped() {
    use PlanError::*;
    use Refusal as R;
    use Step::Release;
    use Transition as T;
    let running = at(48);
    let none = Ok(vec![]);
    let misplaced = |column, belongs_to, status| {
        Err(NotApplied {
            column,
            belongs_to,
            status,
        })
    };
    #[rustfmt::skip]
    let table: Vec<Case> = vec![
        // Assignment cells alone.
        ("a named assignee assigns a free number", new(), keep().by("b"), OPER, Ok(vec![assign("b", false, false)])),
        ("a named assignee reassigns a held number", assigned(Some("a")), keep().by("b"), OPER, Ok(vec![reassign("a", "b")])),
        ("the current assignee again changes nothing", assigned(Some("a")), keep().same_assignee(), OPER, none.clone()),
        ("an emptied assignee unassigns into quarantine", assigned(Some("a")), keep().no_assignee(), OPER, Ok(vec![unassign("a", None)])),
        ("an emptied assignee with an end unassigns until then", assigned(Some("a")), keep().no_assignee().q_until(Some(at(48))), OPER,
            Ok(vec![unassign("a", Some(2))])),
        ("an empty assignee on a free number agrees with it", new(), keep().no_assignee(), OPER, none.clone()),
        ("a named assignee on a reserved number needs the override", held(), keep().by("b"), OPER,
            Err(by_cell("assigned_to", refused(T::Assign, Reserved, R::OverrideForbidden)))),
        ("a named assignee on a quarantined number is refused", quarantined(running), keep().by("b"), OPER,
            Err(by_cell("assigned_to", refused_until(T::Assign, Quarantined, R::OverrideForbidden, Some(running))))),
        // Reservation cells alone.
        ("a reason reserves a free number", new(), keep().reason(Some("vip")), OPER, Ok(vec![reserve("vip", None, None)])),
        ("reserved_for alone still needs a reason", new(), keep().reserved_for(Some("team")), OPER, Err(NoReservationReason)),
        ("a new reason re-reserves", held(), keep().reason(Some("other")), OPER,
            Ok(vec![Release, reserve("other", Some("team"), Some(at(24)))])),
        ("an emptied reason releases", held(), keep().reason(None), OPER, Ok(vec![Release])),
        ("a reason on an assigned number is refused", assigned(Some("a")), keep().reason(Some("vip")), OPER,
            Err(by_cell("reserved_reason", refused(T::Reserve, Assigned, R::Assigned)))),
        // Quarantine cells alone.
        ("an end quarantines a free number", new(), keep().q_until(Some(at(24))), OPER, Ok(vec![quarantine("import", Some(at(24)))])),
        ("a new end re-quarantines (an admin)", quarantined(running), keep().q_until(Some(at(72))), ADMIN,
            Ok(vec![Release, quarantine("import", Some(at(72)))])),
        ("an emptied end releases early only with the override", quarantined(running), keep().q_until(None), OPER,
            Err(by_cell("quarantined_until", refused_until(T::Release, Quarantined, R::Quarantined, Some(running))))),
        ("an emptied end is released by an admin", quarantined(running), keep().q_until(None), ADMIN, Ok(vec![Release])),
        // Cells that disagree.
        ("an assignee and a reason contradict", new(), keep().by("b").reason(Some("vip")), OPER,
            Err(Ambiguous { column: "reserved_reason", other: "assigned_to" })),
        ("a reason and an end contradict", new(), keep().reason(Some("vip")).q_until(Some(at(1))), OPER,
            Err(Ambiguous { column: "quarantined_until", other: "reserved_reason" })),
        // With a status, a cell of another status is an error, not dropped.
        ("status available with an assignee", assigned(Some("a")), to(Available).same_assignee(), ADMIN,
            misplaced("assigned_to", Assigned, Available)),
        ("status assigned with a reason", new(), to(Assigned).by("b").reason(Some("vip")), OPER,
            misplaced("reserved_reason", Reserved, Assigned)),
        ("status reserved with an end of quarantine", new(), to(Reserved).reason(Some("vip")).q_until(Some(at(1))), OPER,
            misplaced("quarantined_until", Quarantined, Reserved)),
        ("status quarantined with a reserved_until", new(), to(Quarantined).reserved_until(Some(at(1))), OPER,
            misplaced("reserved_until", Reserved, Quarantined)),
        ("status assigned with an emptied assignee", assigned(Some("a")), to(Assigned).no_assignee(), OPER, Err(NoAssignee)),
        ("empty cells of other statuses are fine", assigned(Some("a")), to(Assigned).reason(None).q_until(None).same_assignee(), OPER,
            none.clone()),
    ];
    for (case, current, wanted, may_override, want) in table {
        assert_eq!(plan(&current, &wanted, may_override, now()), want, "{case}");
    }
}

#[test]
fn misplaced_and_ambiguous_cells_say_which_column_and_what_to_do() {
    let e = PlanError::NotApplied {
        column: "assigned_to",
        belongs_to: Assigned,
        status: Available,
    };
    assert_eq!(e.column(), "assigned_to");
    assert_eq!(
        e.to_string(),
        "belongs to status assigned but this line's status is available, so it would not be applied; empty the cell or set status assigned"
    );
    let e = PlanError::Ambiguous {
        column: "reserved_reason",
        other: "assigned_to",
    };
    assert_eq!(e.column(), "reserved_reason");
    assert_eq!(
        e.to_string(),
        "and assigned_to ask for different statuses; add a status column to say which"
    );
}
