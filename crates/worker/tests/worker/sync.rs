//! Directory sync: paging, delta rounds, `@removed`, an expired delta link.

use domain::Scope;
use graph_sim::SimConfig;
use store::directory::UserFilter;

use super::{sim, sim_user, teams_platform, worker};

fn users(t: &store::testing::TestDb) -> Vec<store::directory::DirectoryUser> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            t.db.read(|c| {
                store::directory::list_users(
                    c,
                    &Scope::unrestricted(),
                    &UserFilter {
                        include_deleted: true,
                        ..Default::default()
                    },
                    cursor.as_deref(),
                    Some(1000),
                )
            })
            .unwrap();
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return all,
        }
    }
}

#[actix_web::test]
async fn a_first_sync_reads_every_page_and_later_ones_only_the_changes() {
    let t = store::testing::TestDb::new();
    let sim = sim(SimConfig {
        users_page_size: 40,
        group_members_chunk: 7,
        ..SimConfig::default()
    })
    .await;
    let ids: Vec<String> = (0..130)
        .map(|i| {
            sim_user(
                &sim,
                &format!("user{i:03}"),
                if i % 2 == 0 { "Sales" } else { "Support" },
            )
        })
        .collect();
    let sales = sim
        .tenant()
        .add_group("Sales Team", Some("everyone in sales"));
    for id in ids.iter().step_by(2) {
        sim.tenant().add_member(&sales, id);
    }
    let p = teams_platform(&t, &sim, "Contoso");
    let w = worker(&t, "w1");

    let first = worker::sync::sync_platform(&w, p, "Contoso").await.unwrap();
    assert_eq!(first.error, None);
    assert!(first.full);
    assert_eq!(first.users_changed, 130);
    let stored = users(&t);
    assert_eq!(stored.len(), 130);
    let sales_members = stored
        .iter()
        .filter(|u| u.groups.iter().any(|g| g.id == sales))
        .count();
    // 65 members in chunks of 7 across pages, merged.
    assert_eq!(sales_members, 65);

    // A round of changes: one renamed, one disabled, one soft-deleted, one purged, one
    // membership removed, one added.
    sim.tenant()
        .update_user(&ids[0], |u| u.job_title = Some("Head of Sales".into()));
    sim.tenant().disable_user(&ids[1]);
    sim.tenant().delete_user(&ids[2], false);
    sim.tenant().delete_user(&ids[3], true);
    sim.tenant().remove_member(&sales, &ids[4]);
    sim.tenant().add_member(&sales, &ids[5]);
    let second = worker::sync::sync_platform(&w, p, "Contoso").await.unwrap();
    assert_eq!(second.error, None);
    assert!(!second.full, "a delta round");
    let stored = users(&t);
    let by_id = |id: &str| stored.iter().find(|u| u.id == id).unwrap().clone();
    assert_eq!(by_id(&ids[0]).job_title.as_deref(), Some("Head of Sales"));
    assert!(!by_id(&ids[1]).account_enabled);
    assert!(by_id(&ids[2]).deleted, "soft-deleted users are flagged");
    assert!(
        by_id(&ids[3]).deleted,
        "purged users are flagged, never erased"
    );
    assert!(!by_id(&ids[4]).groups.iter().any(|g| g.id == sales));
    assert!(by_id(&ids[5]).groups.iter().any(|g| g.id == sales));
    assert_eq!(stored.len(), 130);

    // An expired delta link is a full sync, not a stuck worker. The full round lists
    // every member again, chunk by chunk over pages: a member it no longer lists goes,
    // the others stay without being removed and added back on the way.
    let in_sales = |stored: &[store::directory::DirectoryUser]| {
        stored
            .iter()
            .filter(|u| u.groups.iter().any(|g| g.id == sales))
            .map(|u| u.id.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let before = in_sales(&users(&t));
    sim.tenant().remove_member(&sales, &ids[6]);
    sim.tenant().expire_delta_tokens();
    let third = worker::sync::sync_platform(&w, p, "Contoso").await.unwrap();
    assert_eq!(third.error, None);
    assert!(third.full);
    let stored = users(&t);
    assert_eq!(stored.iter().filter(|u| !u.deleted).count(), 128);
    let mut expected = before;
    expected.remove(&ids[6]);
    assert_eq!(in_sales(&stored), expected);
    assert_eq!(third.memberships, 1, "one membership changed, no churn");
}

/// The users and groups delta links a platform continues from.
fn delta_links(t: &store::testing::TestDb, p: i64) -> (Option<String>, Option<String>) {
    use diesel::prelude::*;
    use store::testing::schema::platform_sync as s;
    t.db.read(|c| {
        Ok(s::table
            .find(p)
            .select((s::users_delta_link, s::groups_delta_link))
            .first(c)?)
    })
    .unwrap()
}

#[actix_web::test]
async fn a_round_that_pages_in_a_circle_fails_with_its_error_and_keeps_the_old_delta_links() {
    let t = store::testing::TestDb::new();
    let sim = sim(SimConfig {
        users_page_size: 10,
        ..SimConfig::default()
    })
    .await;
    let ids: Vec<String> = (0..25)
        .map(|i| sim_user(&sim, &format!("user{i:02}"), "Sales"))
        .collect();
    let p = teams_platform(&t, &sim, "Contoso");
    let w = worker(&t, "w1");
    let first = worker::sync::sync_platform(&w, p, "Contoso").await.unwrap();
    assert_eq!(first.error, None);
    let links = delta_links(&t, p);
    assert!(links.0.is_some() && links.1.is_some());

    // The endpoint turns hostile: every page links back to itself.
    sim.tenant()
        .update_user(&ids[0], |u| u.job_title = Some("Head of Sales".into()));
    sim.tenant().set_faults(graph_sim::Faults {
        paging_loop: true,
        ..Default::default()
    });
    let failed = worker::sync::sync_platform(&w, p, "Contoso").await.unwrap();

    let error = failed.error.expect("the run failed");
    assert!(error.contains("reading users"), "{error}");
    assert!(error.contains("went round in a circle"), "{error}");
    let platform = t.db.read(|c| store::platforms::get(c, p)).unwrap();
    let recorded = platform.sync.expect("sync status").error;
    assert_eq!(recorded.as_deref(), Some(error.as_str()));
    assert_eq!(delta_links(&t, p), links, "the links it started from stay");

    // Back to normal: the next run reads the round again from the same link.
    sim.tenant().set_faults(graph_sim::Faults::default());
    let healed = worker::sync::sync_platform(&w, p, "Contoso").await.unwrap();
    assert_eq!(healed.error, None);
    assert!(!healed.full);
    assert_eq!(healed.users_changed, 1);
    let stored = users(&t);
    let changed = stored.iter().find(|u| u.id == ids[0]).unwrap();
    assert_eq!(changed.job_title.as_deref(), Some("Head of Sales"));
    assert_eq!(stored.len(), 25);
    assert_ne!(delta_links(&t, p), links);
    let platform = t.db.read(|c| store::platforms::get(c, p)).unwrap();
    assert_eq!(platform.sync.expect("sync status").error, None);
}

#[actix_web::test]
async fn a_sync_lists_every_teams_number_past_a_thousand() {
    let t = store::testing::TestDb::new();
    let sim = sim(SimConfig::default()).await;
    for i in 0..2300 {
        sim.tenant().add_number(graph_sim::SimNumber {
            telephone_number: format!("+4420712{i:05}"),
            number_type: "directRouting".into(),
            ..Default::default()
        });
    }
    let p = teams_platform(&t, &sim, "Contoso");
    let w = worker(&t, "w1");
    let outcome = worker::sync::sync_platform(&w, p, "Contoso").await.unwrap();
    assert_eq!(outcome.error, None);
    let drift =
        t.db.read(|c| store::drift::list(c, p, None, Some(1000)))
            .unwrap();
    // Every Teams number is missing from the (empty) inventory: 2,300 of them.
    assert_eq!(drift.items.len(), 1000);
    assert_eq!(drift.items[0].kind, store::drift::DriftKind::NotInInventory);
    let listed = t.db.read(|c| store::sync::teams_platform(c, p)).unwrap();
    assert!(listed.is_some());
    let mut count = 0;
    let mut cursor = None;
    loop {
        let page =
            t.db.read(|c| store::drift::list(c, p, cursor.as_deref(), Some(1000)))
                .unwrap();
        count += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(count, 2300);
}
