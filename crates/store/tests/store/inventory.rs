//! The inventory: migrations, ranges, numbers, locations, tags, scope and the audit trail.

use super::*;

#[test]
fn both_backends_have_the_same_migrations() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
    let names = |b: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!("{dir}/{b}"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
    assert!(!names("sqlite").is_empty());
}

#[test]
fn a_range_materialises_every_number_with_its_location_and_tags() {
    let t = TestDb::new();
    let loc = location(&t, "London");
    let r = range(
        &t,
        "+442070000000",
        "+442070009999",
        Some(loc),
        &["Sales", "London"],
    )
    .unwrap();
    assert_eq!(r.size, 10_000);
    assert_eq!(r.utilisation.available, 10_000);
    assert_eq!(r.utilisation.total, 10_000);
    let filter = NumberFilter {
        tags: vec!["sales".into()],
        location_id: Some(loc),
        ..Default::default()
    };
    let page =
        t.db.read(|c| store::numbers::list(c, &Scope::unrestricted(), &filter, None, Some(3)))
            .unwrap();
    let got: Vec<_> = page.items.iter().map(|x| x.number.as_str()).collect();
    assert_eq!(got, ["+442070000000", "+442070000001", "+442070000002"]);
    assert_eq!(page.items[0].tags, ["London", "Sales"]);
    assert_eq!(page.items[0].range_id, Some(r.id));
    assert_eq!(audit_count(&t, "range.create"), 1);
}

#[test]
fn overlapping_ranges_and_ranges_over_existing_numbers_are_refused() {
    let t = TestDb::new();
    let first = range(&t, "+442070000000", "+442070000999", None, &[]).unwrap();
    match range(&t, "+442070000500", "+442070001499", None, &[]) {
        Err(StoreError::Conflict {
            code: "range_overlap",
            details,
            ..
        }) => assert_eq!(details["ranges"][0]["id"], first.id.to_string()),
        other => panic!("expected range_overlap, got {other:?}"),
    }
    t.db.write(|c| store::numbers::create(c, &owner(), new_number("+442070005000")))
        .unwrap();
    match range(&t, "+442070004000", "+442070005999", None, &[]) {
        Err(StoreError::Conflict {
            code: "numbers_exist",
            details,
            ..
        }) => assert_eq!(details["numbers"][0], "+442070005000"),
        other => panic!("expected numbers_exist, got {other:?}"),
    }
    // Nothing of the refused ranges was left behind.
    let all =
        t.db.read(|c| {
            store::numbers::list(
                c,
                &Scope::unrestricted(),
                &NumberFilter::default(),
                None,
                Some(1000),
            )
        })
        .unwrap();
    assert_eq!(all.items.len(), 1000);
    assert!(all.next_cursor.is_some());
    // An extension of a number is inside the block of its base.
    t.db.write(|c| store::numbers::create(c, &owner(), new_number("+442070007000;ext=12")))
        .unwrap();
    let err = range(&t, "+442070007000", "+442070007999", None, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                code: "numbers_exist",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_batch_with_one_bad_number_creates_nothing_and_audits_nothing() {
    let t = TestDb::new();
    t.db.write(|c| store::numbers::create(c, &owner(), new_number("+14255550100")))
        .unwrap();
    let batch = vec![new_number("+14255550101"), new_number("+14255550100")];
    let err =
        t.db.write(|c| store::numbers::create_many(c, &owner(), batch))
            .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                code: "number_exists",
                ..
            }
        ),
        "{err:?}"
    );
    let err =
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+14255550101"))
            .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert_eq!(audit_count(&t, "number.create"), 1);
}

#[test]
fn a_failure_after_the_audit_record_rolls_back_the_change_and_its_record() {
    let t = TestDb::new();
    let result: store::StoreResult<()> = t.db.write(|c| {
        store::numbers::create(c, &owner(), new_number("+14255550100"))?;
        Err(StoreError::conflict("injected", "crash after the write"))
    });
    assert!(result.is_err());
    assert!(
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+14255550100"))
            .is_err()
    );
    assert_eq!(audit_count(&t, "number.create"), 0);
}

#[test]
fn audit_records_cannot_be_changed_or_deleted() {
    let t = TestDb::new();
    t.db.write(|c| store::numbers::create(c, &owner(), new_number("+14255550100")))
        .unwrap();
    let upd =
        t.db.write(|c| Ok(diesel::sql_query("UPDATE audit_log SET action = 'x'").execute(c)?));
    assert!(upd.is_err(), "update of an audit record succeeded");
    let del =
        t.db.write(|c| Ok(diesel::sql_query("DELETE FROM audit_log").execute(c)?));
    assert!(del.is_err(), "delete of an audit record succeeded");
    assert_eq!(audit_count(&t, "number.create"), 1);
}

#[test]
fn patch_checks_the_version_and_records_before_and_after() {
    let t = TestDb::new();
    let created =
        t.db.write(|c| store::numbers::create(c, &owner(), new_number("+14255550100")))
            .unwrap();
    let change = NumberPatch {
        description: Some("reception".into()),
        tags: Some(Tag::parse_set(&["VIP"]).unwrap()),
        ..Default::default()
    };
    let stale = t.db.write(|c| {
        store::numbers::patch(
            c,
            &owner(),
            "+14255550100",
            change.clone(),
            Some(created.version + 1),
        )
    });
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    let after =
        t.db.write(|c| {
            store::numbers::patch(c, &owner(), "+14255550100", change, Some(created.version))
        })
        .unwrap();
    assert_eq!(after.version, created.version + 1);
    assert_eq!(after.tags, ["VIP"]);
    let history =
        t.db.read(|c| store::audit::number_history(c, "+14255550100", None, None, None))
            .unwrap();
    assert_eq!(history.items.len(), 2);
    let update = &history.items[0];
    assert_eq!(update.action, "number.update");
    assert!(
        update
            .before_json
            .as_deref()
            .unwrap()
            .contains("\"description\":\"\"")
    );
    assert!(update.after_json.as_deref().unwrap().contains("reception"));
}

#[test]
fn scoped_callers_see_only_their_numbers() {
    let t = TestDb::new();
    let london = location(&t, "London");
    let paris = location(&t, "Paris");
    range(
        &t,
        "+442070000000",
        "+442070000099",
        Some(london),
        &["sales"],
    )
    .unwrap();
    range(
        &t,
        "+442070000100",
        "+442070000199",
        Some(paris),
        &["support"],
    )
    .unwrap();
    let by_location = Scope {
        locations: vec![london.to_string()],
        tags: vec![],
    };
    let by_tag = Scope {
        locations: vec![],
        tags: vec!["support".into()],
    };
    let both = Scope {
        locations: vec![london.to_string()],
        tags: vec!["support".into()],
    };
    let count = |s: &Scope| {
        t.db.read(|c| store::numbers::list(c, s, &NumberFilter::default(), None, Some(1000)))
            .unwrap()
            .items
            .len()
    };
    assert_eq!(count(&by_location), 100);
    assert_eq!(count(&by_tag), 100);
    assert_eq!(count(&both), 0);
    assert!(matches!(
        t.db.read(|c| store::numbers::get(c, &by_location, "+442070000150")),
        Err(StoreError::NotFound { .. })
    ));
    let stats =
        t.db.read(|c| store::stats::compute(c, &by_tag, None))
            .unwrap();
    assert_eq!(stats.totals.total, 100);
    let tags = t.db.read(|c| store::stats::tag_usage(c, &by_tag)).unwrap();
    assert_eq!(
        tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["support"]
    );
}

#[test]
fn a_scoped_operator_cannot_move_a_number_out_of_scope() {
    let t = TestDb::new();
    let london = location(&t, "London");
    let paris = location(&t, "Paris");
    range(&t, "+442070000000", "+442070000009", Some(london), &[]).unwrap();
    let p = principal(
        Role::Operator,
        Scope {
            locations: vec![london.to_string()],
            tags: vec![],
        },
    );
    let permit =
        domain::Permit::authorize(&p, domain::Action::Operate, domain::Source::Api, None).unwrap();
    let change = NumberPatch {
        location_id: Some(Some(paris)),
        ..Default::default()
    };
    let err =
        t.db.write(|c| store::numbers::patch(c, &permit, "+442070000001", change, None))
            .unwrap_err();
    // A site the grant does not list is as absent to it as one that does not exist.
    assert!(
        matches!(
            err,
            StoreError::Invalid {
                code: "unknown_location",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn patching_a_range_can_carry_its_numbers_along() {
    let t = TestDb::new();
    let london = location(&t, "London");
    let paris = location(&t, "Paris");
    let r = range(&t, "+442070000000", "+442070000099", Some(london), &["old"]).unwrap();
    let change = RangePatch {
        location_id: Some(Some(paris)),
        tags: Some(Tag::parse_set(&["new"]).unwrap()),
        apply_to_numbers: true,
        ..Default::default()
    };
    let after =
        t.db.write(|c| store::ranges::patch(c, &owner(), r.id, change, None))
            .unwrap();
    assert_eq!(after.location_id, Some(paris));
    let num =
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+442070000050"))
            .unwrap();
    assert_eq!(num.location_id, Some(paris));
    assert_eq!(num.tags, ["new"]);
}

#[test]
fn deleting_a_range_removes_its_numbers() {
    let t = TestDb::new();
    let r = range(&t, "+442070000000", "+442070000099", None, &["x"]).unwrap();
    t.db.write(|c| store::ranges::delete(c, &owner(), r.id, None))
        .unwrap();
    let all =
        t.db.read(|c| {
            store::numbers::list(
                c,
                &Scope::unrestricted(),
                &NumberFilter::default(),
                None,
                None,
            )
        })
        .unwrap();
    assert!(all.items.is_empty());
    // The block is free again.
    range(&t, "+442070000000", "+442070000099", None, &[]).unwrap();
}

#[test]
fn a_location_in_use_cannot_be_deleted() {
    let t = TestDb::new();
    let loc = location(&t, "London");
    range(&t, "+442070000000", "+442070000009", Some(loc), &[]).unwrap();
    let err =
        t.db.write(|c| store::locations::delete(c, &owner(), loc, None))
            .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                code: "location_in_use",
                ..
            }
        ),
        "{err:?}"
    );
    let input = LocationInput {
        name: "LONDON".into(),
        country: "GB".into(),
        region: None,
        city: None,
        address: None,
        emergency_location_id: None,
    };
    let err =
        t.db.write(|c| store::locations::create(c, &owner(), input))
            .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                code: "location_exists",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn concurrent_overlapping_ranges_never_both_commit() {
    let t = TestDb::new();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let db = t.db.clone();
            std::thread::spawn(move || {
                let start = format!("+4420700{:05}", i * 10);
                let end = format!("+4420700{:05}", i * 10 + 999);
                let block = NumberBlock::new(n(&start), n(&end), 1_000_000).unwrap();
                let new = NewRange {
                    name: None,
                    block,
                    location_id: None,
                    tags: vec![],
                    description: String::new(),
                    platform_id: None,
                    number_type: None,
                };
                db.write(|c| store::ranges::create(c, &owner(), new))
                    .is_ok()
            })
        })
        .collect();
    let won = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(won, 1);
    let ranges = t
        .db
        .read(|c| store::ranges::list(c, &Scope::unrestricted(), &Default::default(), None, None))
        .unwrap();
    assert_eq!(ranges.items.len(), 1);
    assert_eq!(ranges.items[0].utilisation.total, 1000);
}

#[test]
fn search_matches_digits_anywhere_and_words_in_the_description() {
    let t = TestDb::new();
    let mut a = new_number("+14255550100");
    a.description = "Reception 100% desk_1".into();
    t.db.write(|c| store::numbers::create_many(c, &owner(), vec![a, new_number("+14255550199")]))
        .unwrap();
    let q = |text: &str| {
        let f = NumberFilter {
            q: Some(text.into()),
            ..Default::default()
        };
        t.db.read(|c| store::numbers::list(c, &Scope::unrestricted(), &f, None, None))
            .unwrap()
            .items
            .into_iter()
            .map(|n| n.number)
            .collect::<Vec<_>>()
    };
    assert_eq!(q("555 0199"), ["+14255550199"]);
    assert_eq!(q("reception"), ["+14255550100"]);
    assert_eq!(q("100%"), ["+14255550100"]);
    assert_eq!(q("desk_1"), ["+14255550100"]);
    assert!(q("desk%1").is_empty());
}

/// Tag look-ups pad their id list to a few fixed lengths on SQLite (one prepared statement
/// per length); whatever the count, every number gets exactly its own tags.
#[test]
fn tags_of_numbers_are_exact_whatever_the_number_of_ids() {
    let t = TestDb::new();
    let mut items = Vec::new();
    for i in 0..20 {
        let mut n = new_number(&format!("+4420712350{i:02}"));
        n.tags = Tag::parse_set(&[format!("T{i}"), "All".to_string()]).unwrap();
        items.push(n);
    }
    let created =
        t.db.write(|c| store::numbers::create_many(c, &owner(), items))
            .unwrap();
    let ids: Vec<i64> = created.iter().map(|n| n.id).collect();
    for len in [0, 1, 7, 8, 9, 17, 20] {
        let got =
            t.db.read(|c| store::testing::tags_of_numbers(c, &ids[..len]))
                .unwrap();
        assert_eq!(got.len(), len, "{len} ids");
        for (i, id) in ids[..len].iter().enumerate() {
            assert_eq!(
                got[id],
                ["All".to_string(), format!("T{i}")],
                "number {i} of {len}"
            );
        }
    }
}
