//! Hostile review of the search engine (issue 14): inputs, scopes and write sequences
//! that make a search fail, differ between backends, or read the whole estate.

use super::*;
use chrono::Duration;
use domain::{NumberStatus, TargetKind};
use store::{
    imports,
    lifecycle::{Request, Target, apply},
};

fn list(
    t: &TestDb,
    scope: &Scope,
    f: &NumberFilter,
    cursor: Option<&str>,
) -> store::StoreResult<Vec<String>> {
    t.db.read(|c| store::numbers::list(c, scope, f, cursor, Some(1000)))
        .map(|p| p.items.into_iter().map(|n| n.number).collect())
}

fn driver(t: &TestDb, scope: &Scope, f: &NumberFilter) -> String {
    t.db.read(|c| store::numbers::explain_list(c, scope, f, None, None))
        .unwrap()
        .into_iter()
        .find(|l| l.starts_with("driver: "))
        .unwrap_or_default()
}

/// A grant of 16 tags and 1,100 sites: the tag facet drives, and every one of its 64 arms
/// repeated the site ids as bound values in its residual — 38,400 bound values, over SQLite's 32,766 (PostgreSQL
/// refuses from 1,024 sites: 65,535). The search before this engine inlined the ids.
#[test]
fn a_grant_of_many_sites_and_sixteen_tags_lists_its_numbers() {
    let t = TestDb::new();
    let tags: Vec<String> = (0..16).map(|i| format!("t{i}")).collect();
    let tag_refs: Vec<&str> = tags.iter().map(String::as_str).collect();
    let mut sites = Vec::new();
    for i in 0..1100 {
        sites.push(location(&t, &format!("Store {i}")));
    }
    range(
        &t,
        "+442070000000",
        "+442070000009",
        Some(sites[0]),
        &tag_refs,
    )
    .unwrap();
    let grant = Scope {
        locations: sites.iter().map(i64::to_string).collect(),
        tags: tags.clone(),
    };
    let got = list(&t, &grant, &NumberFilter::default(), None);
    match got {
        Ok(v) => assert_eq!(v.len(), 10),
        Err(e) => panic!("a regional admin's list fails (a 500): {e:?}"),
    }
}

/// Free text is case-insensitive: on PostgreSQL `lower()` folds `Ü`, on SQLite only
/// ASCII, so the same query finds the number on one backend and not the other — and the
/// FTS5 index (which folds Unicode) did find it as a candidate.
#[test]
fn free_text_ignores_the_case_of_non_ascii_letters_on_every_backend() {
    let t = TestDb::new();
    let mut x = new_number("+4930123456");
    x.description = "BÜRO MÜNCHEN".into();
    t.db.write(|c| store::numbers::create_many(c, &owner(), vec![x]))
        .unwrap();
    for q in ["münchen", "MÜNCHEN", "Büro"] {
        let f = NumberFilter {
            q: Some(q.into()),
            ..Default::default()
        };
        assert_eq!(
            list(&t, &Scope::unrestricted(), &f, None).unwrap(),
            ["+4930123456"],
            "q={q:?} on {:?}",
            t.db.backend()
        );
    }
}

/// An assignee's name matches case-insensitively (`assigned_to` and `q`), on both backends.
#[test]
fn an_assignee_name_with_non_ascii_capitals_matches_on_every_backend() {
    let t = TestDb::new();
    t.db.write(|c| store::numbers::create_many(c, &owner(), vec![new_number("+4930123457")]))
        .unwrap();
    let request = Request::Assign {
        target: Target {
            kind: TargetKind::Service,
            id: "svc-1".into(),
            name: "ÉQUIPE Accueil".into(),
        },
        override_reservation: false,
        override_quarantine: false,
        reassign: false,
    };
    t.db.write(|c| apply(c, &owner(), "+4930123457", request, None))
        .unwrap();
    let by_name = NumberFilter {
        assigned_to: Some("équipe accueil".into()),
        ..Default::default()
    };
    let by_text = NumberFilter {
        q: Some("équipe".into()),
        ..Default::default()
    };
    for f in [by_name, by_text] {
        assert_eq!(
            list(&t, &Scope::unrestricted(), &f, None).unwrap(),
            ["+4930123457"],
            "{f:?} on {:?}",
            t.db.backend()
        );
    }
}

/// A cursor is opaque: one that decodes to a NUL is "not a cursor this server issued" on
/// both backends (SQLite answers a page from it, PostgreSQL a 400 naming `input`).
#[test]
fn a_cursor_that_decodes_to_nul_is_an_invalid_cursor_on_every_backend() {
    let t = TestDb::new();
    range(&t, "+442070000000", "+442070000004", None, &["bulk"]).unwrap();
    let r = list(
        &t,
        &Scope::unrestricted(),
        &NumberFilter::default(),
        Some("AA"),
    );
    match r {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "cursor"),
        other => panic!("expected invalid_cursor, got {other:?}"),
    }
}

/// A site admin over 17 sites (no status filter) is not read through the site indexes:
/// 17 × 4 statuses > MAX_ARMS, so the page scans the whole estate in E.164 order and
/// tests each row — a million rows per page when the 17 sites hold a few numbers at the
/// end. Same for 16+ tags in a grant, and for 65+ sites with a status.
#[test]
fn a_grant_of_seventeen_sites_is_read_through_its_sites_not_the_whole_estate() {
    let t = TestDb::new();
    let mut sites = Vec::new();
    for i in 0..17 {
        sites.push(location(&t, &format!("Site {i}")));
    }
    range(&t, "+442070000000", "+442070000009", Some(sites[0]), &[]).unwrap();
    let grant = Scope {
        locations: sites.iter().map(i64::to_string).collect(),
        tags: vec![],
    };
    assert_ne!(
        driver(&t, &grant, &NumberFilter::default()),
        "driver: E.164 order"
    );
}

/// Tag links' status copies and the text index stay in step through imports (apply and
/// revert), a range retag, scheduler releases, allocation and deletion.
#[test]
fn the_copies_follow_imports_reverts_range_retags_releases_and_allocations() {
    let t = TestDb::new();
    let site = location(&t, "London");
    let r = range(&t, "+442071234000", "+442071234019", Some(site), &["Pool"]).unwrap();
    let text = "number,description,tags,status,reserved_reason\n\
                +442071234001,edited one,Pool;Extra,reserved,held\n\
                +442071234002,two,Extra,available,\n\
                +442071234030,created,Extra,reserved,held\n";
    let plan = || {
        imports::plan_csv(
            &t.db,
            &owner(),
            text.as_bytes(),
            store::now(),
            Duration::seconds(3600),
            1000,
            &mut |_, _| {},
        )
        .unwrap()
    };
    let p = plan();
    assert_eq!(
        p.error_count,
        0,
        "{:?}",
        t.db.read(|c| imports::rows(c, &owner(), &p.id, None, Some(100)))
            .unwrap()
            .items
    );
    let applied = t.db.write(|c| imports::apply(c, &owner(), &p.id)).unwrap();
    let revert = imports::revert(
        &t.db,
        &owner(),
        &applied.change_set_id,
        store::now(),
        Duration::seconds(3600),
        1000,
    )
    .unwrap();
    assert_eq!(revert.error_count, 0);
    t.db.write(|c| imports::apply(c, &owner(), &revert.id))
        .unwrap();
    let again = plan();
    t.db.write(|c| imports::apply(c, &owner(), &again.id))
        .unwrap();
    let patch = RangePatch {
        tags: Some(Tag::parse_set(&["Pool", "Later"]).unwrap()),
        apply_to_numbers: true,
        ..Default::default()
    };
    t.db.write(|c| store::ranges::patch(c, &owner(), r.id, patch, None))
        .unwrap();
    let pool = store::lifecycle::Pool {
        tags: vec!["later".into()],
        ..Default::default()
    };
    let target = Target {
        kind: TargetKind::Service,
        id: "svc".into(),
        name: "Alloc Queue".into(),
    };
    let got =
        t.db.write(|c| store::lifecycle::allocate(c, &owner(), &pool, target))
            .unwrap();
    assert_eq!(got.number, "+442071234000");
    // The scheduler releases the imported reservation once it has expired.
    let past = store::now() - Duration::minutes(1);
    t.db.write(|c| {
        use diesel::{ExpressionMethods, QueryDsl};
        use store::testing::schema::numbers as n;
        diesel::update(n::table.filter(n::e164.eq("+442071234001")))
            .set(n::reserved_until.eq(Some(past)))
            .execute(c)?;
        Ok(())
    })
    .unwrap();
    store::scheduler::tick(&t.db, "attack", std::time::Duration::from_secs(3600)).unwrap();
    assert_eq!(
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+442071234001"))
            .unwrap()
            .status,
        NumberStatus::Available
    );
    t.db.write(|c| store::numbers::delete(c, &owner(), "+442071234003", None))
        .unwrap();
    let (_, mismatched) = t.db.read(|c| Ok(store::testing::search_copies(c))).unwrap();
    assert_eq!(mismatched, 0);
    let plain = |status| {
        let all = all_numbers(&t);
        all.into_iter()
            .filter(|n| n.status == status && n.tags.iter().any(|t| t == "Later"))
            .map(|n| n.number)
            .collect::<Vec<_>>()
    };
    for status in NumberStatus::ALL {
        let f = NumberFilter {
            tags: vec!["later".into()],
            status: Some(*status),
            ..Default::default()
        };
        assert_eq!(
            list(&t, &Scope::unrestricted(), &f, None).unwrap(),
            plain(*status)
        );
    }
    let f = NumberFilter {
        q: Some("alloc queue".into()),
        ..Default::default()
    };
    assert_eq!(
        list(&t, &Scope::unrestricted(), &f, None).unwrap(),
        ["+442071234000"]
    );
}
