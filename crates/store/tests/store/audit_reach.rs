//! Who reads which audit records: owner-only kinds stay with owners in lists and change
//! sets alike, and the filter is part of the query, so pages stay full and in order.

use super::*;
use domain::{Action, Permit, Source};
use store::audit::{Change, OWNER_ONLY_KINDS};

fn reader(role: Role, scope: Scope) -> Permit {
    Permit::authorize(&principal(role, scope), Action::Read, Source::Api, None).unwrap()
}

/// One change set holding a record of every owner-only kind between number records.
fn mixed_change_set(t: &TestDb) {
    let permit = owner().with_change_set("cs_mixed");
    t.db.write(|c| {
        for (i, kind) in OWNER_ONLY_KINDS.iter().enumerate() {
            let action = format!("{kind}.update");
            store::audit::record(
                c,
                &permit,
                Change {
                    action: "number.update",
                    entity_kind: "number",
                    entity_id: &format!("+44207123400{i}"),
                    before: None,
                    after: None,
                },
            )?;
            store::audit::record(
                c,
                &permit,
                Change {
                    action: &action,
                    entity_kind: kind,
                    entity_id: "7",
                    before: None,
                    after: Some(serde_json::json!({"username": "ann", "role": "owner"})),
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn only_owners_read_owner_only_records_in_lists_and_change_sets() {
    let t = TestDb::new();
    mixed_change_set(&t);
    let every = OWNER_ONLY_KINDS.len();
    for role in [Role::Viewer, Role::Operator, Role::Admin] {
        let permit = reader(role, Scope::unrestricted());
        // Pages of one: the filter is in the query, so no page comes back empty.
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let page =
                t.db.read(|c| {
                    store::audit::change_set(c, &permit, "cs_mixed", cursor.as_deref(), Some(1))
                })
                .unwrap();
            assert!(page.items.len() == 1 || page.next_cursor.is_none());
            seen.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), every, "{role}");
        assert!(seen.iter().all(|r| r.entity_kind == "number"), "{role}");
        for kind in OWNER_ONLY_KINDS {
            let filter = AuditFilter {
                entity_kind: Some(kind.to_string()),
                ..Default::default()
            };
            let page =
                t.db.read(|c| store::audit::list(c, &permit, &filter, None, None))
                    .unwrap();
            assert!(page.items.is_empty(), "{role} read {kind}");
        }
    }
    let all =
        t.db.read(|c| store::audit::change_set(c, &owner(), "cs_mixed", None, None))
            .unwrap();
    assert_eq!(all.items.len(), 2 * every);
}

#[test]
fn a_change_set_of_owner_only_records_is_not_found_by_other_roles() {
    let t = TestDb::new();
    let permit = owner().with_change_set("cs_accounts");
    t.db.write(|c| {
        store::audit::record(
            c,
            &permit,
            Change {
                action: "admin.update",
                entity_kind: "admin",
                entity_id: "7",
                before: None,
                after: None,
            },
        )
    })
    .unwrap();
    let admin = reader(Role::Admin, Scope::unrestricted());
    assert!(matches!(
        t.db.read(|c| store::audit::change_set(c, &admin, "cs_accounts", None, None)),
        Err(StoreError::NotFound { .. })
    ));
}
