//! CSV export (issue 4): `store::export` pages, names and cells.

use super::*;
use diesel::{ExpressionMethods, QueryDsl};
use domain::{Action, NumberStatus, NumberType, Permit, Source, TargetKind, csv_row};
use store::{
    export::{Export, ExportRow},
    lifecycle::{Request, Target, apply},
};

fn admin() -> Permit {
    Permit::authorize(
        &principal(Role::Admin, Scope::unrestricted()),
        Action::Manage,
        Source::Api,
        None,
    )
    .unwrap()
}

fn at(s: &str) -> chrono::NaiveDateTime {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

pub(crate) fn platform(t: &TestDb, name: &str) -> i64 {
    t.db.write(|c| {
            diesel::sql_query(format!(
                "INSERT INTO platforms (name, kind, created_at) VALUES ('{name}', 'teams', CURRENT_TIMESTAMP)"
            ))
            .execute(c)?;
            Ok(store::testing::schema::platforms::table
                .filter(store::testing::schema::platforms::name.eq(name))
                .select(store::testing::schema::platforms::id)
                .first::<i64>(c)?)
        })
        .unwrap()
}

/// Every row of an export read `page_rows` at a time, and how many pages it took.
fn export_all(
    t: &TestDb,
    scope: &Scope,
    filter: NumberFilter,
    page_rows: i64,
) -> (Vec<ExportRow>, usize) {
    let export = t.db.read(|c| Export::prepare(c, scope, filter)).unwrap();
    let (mut rows, mut pages, mut after) = (Vec::new(), 0, None::<String>);
    loop {
        let page =
            t.db.read(|c| export.page(c, after.as_deref(), page_rows))
                .unwrap();
        assert!(page.len() as i64 <= page_rows, "a page larger than asked");
        pages += 1;
        let last = page.len() < page_rows as usize;
        after = page.last().map(|r| r.number.clone());
        rows.extend(page);
        if last {
            break;
        }
    }
    let counted = t.db.read(|c| export.count(c)).unwrap();
    assert_eq!(counted, rows.len() as i64, "count disagrees with the pages");
    (rows, pages)
}

/// An estate with a named and an unnamed range, a number and its extension, and a
/// number in every status; returns the London location id.
fn estate(t: &TestDb) -> i64 {
    let london = location(t, "London HQ");
    let teams = platform(t, "Teams EU");
    let named = NewRange {
        name: Some("London DDI".into()),
        block: NumberBlock::new(n("+442070001000"), n("+442070001009"), 1_000_000).unwrap(),
        location_id: Some(london),
        tags: Tag::parse_set(&["London", "DDI"]).unwrap(),
        description: String::new(),
        platform_id: None,
        number_type: None,
    };
    t.db.write(|c| store::ranges::create(c, &owner(), named))
        .unwrap();
    range(t, "+441612340000", "+441612340004", None, &[]).unwrap();
    let mut base = new_number("+14255550100");
    base.description = "=SUM(A1)".into();
    base.tags = Tag::parse_set(&["VIP"]).unwrap();
    base.platform_id = Some(teams);
    base.number_type = Some(NumberType::DirectRouting);
    t.db.write(|c| {
        store::numbers::create_many(c, &owner(), vec![base, new_number("+14255550100;ext=123")])
    })
    .unwrap();
    let steps = [
        (
            "+442070001001",
            Request::Assign {
                target: Target {
                    kind: TargetKind::User,
                    id: "0f8c-user".into(),
                    name: "jo@contoso.example".into(),
                },
                override_reservation: false,
                override_quarantine: false,
                reassign: false,
            },
        ),
        (
            "+442070001002",
            Request::Assign {
                target: Target {
                    kind: TargetKind::Service,
                    id: "7".into(),
                    name: "Main IVR".into(),
                },
                override_reservation: false,
                override_quarantine: false,
                reassign: false,
            },
        ),
        (
            "+442070001003",
            Request::Reserve {
                reason: "new starter".into(),
                reserved_for: Some("@Jo, sales".into()),
                expires_at: Some(at("2030-01-01 00:00:00")),
            },
        ),
        (
            "+442070001004",
            Request::Quarantine {
                reason: "spam calls".into(),
                until: Some(at("2030-02-01 12:30:00")),
            },
        ),
    ];
    for (e164, request) in steps {
        t.db.write(|c| apply(c, &admin(), e164, request, None))
            .unwrap();
    }
    london
}

fn row<'a>(rows: &'a [ExportRow], number: &str) -> &'a ExportRow {
    rows.iter()
        .find(|r| r.number == number)
        .unwrap_or_else(|| panic!("{number} is not in the export"))
}

#[test]
fn an_export_pages_through_every_number_once_in_order_with_names_resolved() {
    let t = TestDb::new();
    estate(&t);
    let (rows, pages) = export_all(&t, &Scope::unrestricted(), NumberFilter::default(), 4);
    assert_eq!(rows.len(), 17);
    assert_eq!(pages, 5, "17 rows at 4 a page");
    let numbers: Vec<&str> = rows.iter().map(|r| r.number.as_str()).collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(numbers, sorted, "not in E.164 order, or a number twice");

    let user = row(&rows, "+442070001001");
    assert_eq!(user.status, "assigned");
    assert_eq!(user.location.as_deref(), Some("London HQ"));
    assert_eq!(user.range.as_deref(), Some("London DDI"));
    assert_eq!(
        user.tags.iter().map(|t| &**t).collect::<Vec<_>>(),
        ["DDI", "London"]
    );
    assert_eq!(user.assigned_to_kind, Some(TargetKind::User));
    assert_eq!(user.assigned_to.as_deref(), Some("jo@contoso.example"));
    let service = row(&rows, "+442070001002");
    assert_eq!(service.assigned_to_kind, Some(TargetKind::Service));
    assert_eq!(service.assigned_to.as_deref(), Some("Main IVR"));

    let reserved = row(&rows, "+442070001003").cells();
    assert_eq!(reserved[1], "reserved");
    assert_eq!(reserved[11], "new starter");
    assert_eq!(reserved[12], "'@Jo, sales", "a leading @ is neutralised");
    assert_eq!(reserved[13], "2030-01-01T00:00:00Z");
    let quarantined = row(&rows, "+442070001004").cells();
    assert_eq!(quarantined[1], "quarantined");
    assert_eq!(quarantined[14], "2030-02-01T12:30:00Z");

    let unnamed = row(&rows, "+441612340002");
    assert_eq!(
        unnamed.range.as_deref(),
        Some("+441612340000-+441612340004")
    );
    assert_eq!(unnamed.location, None);
    assert_eq!(unnamed.country, "GB");

    let base = row(&rows, "+14255550100").cells();
    assert_eq!(
        base[0], "+14255550100",
        "the number column is never neutralised"
    );
    assert_eq!(base[2], "US");
    assert_eq!(base[5], "VIP");
    assert_eq!(base[6], "'=SUM(A1)");
    assert_eq!(csv_row::unneutralise(&base[6]), "=SUM(A1)");
    assert_eq!(base[7], "Teams EU");
    assert_eq!(base[8], "direct_routing");
    assert_eq!(base[9..].iter().filter(|c| !c.is_empty()).count(), 0);
    let ext = row(&rows, "+14255550100;ext=123");
    assert_eq!(ext.status, "available");
    assert_eq!(ext.platform, None);
}

#[test]
fn an_export_applies_the_list_filters_and_the_callers_scope() {
    let t = TestDb::new();
    let london = estate(&t);
    let numbers = |rows: Vec<ExportRow>| rows.into_iter().map(|r| r.number).collect::<Vec<_>>();

    let assigned = NumberFilter {
        status: Some(NumberStatus::Assigned),
        ..Default::default()
    };
    let (rows, _) = export_all(&t, &Scope::unrestricted(), assigned, 1);
    assert_eq!(numbers(rows), ["+442070001001", "+442070001002"]);

    let vip = NumberFilter {
        tags: vec!["vip".into()],
        ..Default::default()
    };
    let (rows, _) = export_all(&t, &Scope::unrestricted(), vip, 100);
    assert_eq!(numbers(rows), ["+14255550100"]);

    let unknown_tag = NumberFilter {
        tags: vec!["nobody-has-this".into()],
        ..Default::default()
    };
    assert!(
        export_all(&t, &Scope::unrestricted(), unknown_tag, 100)
            .0
            .is_empty()
    );

    let by_location = Scope {
        locations: vec![london.to_string()],
        tags: vec![],
    };
    let (rows, _) = export_all(&t, &by_location, NumberFilter::default(), 3);
    assert_eq!(rows.len(), 10);
    assert!(
        rows.iter()
            .all(|r| r.location.as_deref() == Some("London HQ"))
    );

    let by_tag = Scope {
        locations: vec![],
        tags: vec!["vip".into()],
    };
    let us = NumberFilter {
        country: Some("us".into()),
        ..Default::default()
    };
    let (rows, _) = export_all(&t, &by_tag, us, 3);
    assert_eq!(
        numbers(rows),
        ["+14255550100"],
        "the extension carries no tag"
    );
}
