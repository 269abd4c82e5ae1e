//! Directory data a hostile (or merely odd) tenant sends back through the sync.

use domain::{Permit, Scope, Source};
use store::{
    directory::DirectoryUserInput,
    sync::TeamsNumber,
    testing::{TestDb, owner},
};

fn person(id: &str) -> DirectoryUserInput {
    DirectoryUserInput {
        id: id.into(),
        upn: format!("{id}@example.com"),
        display_name: id.into(),
        mail: None,
        department: None,
        job_title: None,
        office_location: None,
        usage_location: None,
        city: None,
        country: None,
        account_enabled: true,
    }
}

/// Review finding: one user with a 10 KB display name or a NUL byte in a field failed
/// the whole batch, and so every sync run from then on: nobody else joined or left the
/// directory any more. Descriptive fields are kept clipped and without control
/// characters; a user whose key (id, UPN) is unusable is left out; the rest is stored.
#[test]
fn one_odd_user_does_not_stop_the_sync_of_the_others() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    let permit = Permit::system("platform:Teams", Source::Sync);
    let mut long_name = person("long");
    long_name.display_name = "x".repeat(10_000);
    let mut nul = person("nul");
    nul.department = Some("Sales\0Ops".into());
    nul.job_title = Some("Boss\u{7}".into());
    let mut bad_upn = person("badupn");
    bad_upn.upn = format!("{}@example.com", "u".repeat(2000));
    let mut nul_id = person("nul\0id");
    nul_id.upn = "nulid@example.com".into();
    let users = vec![
        person("alice"),
        long_name,
        nul,
        bad_upn,
        nul_id,
        person("bob"),
    ];
    let changed =
        t.db.write(|c| store::sync::upsert_users(c, &permit, p, users))
            .unwrap();
    assert_eq!(changed, 4);
    let get = |id: &str| {
        t.db.read(|c| store::directory::get_user(c, &Scope::unrestricted(), id))
    };
    assert!(get("alice").is_ok() && get("bob").is_ok());
    assert_eq!(get("long").unwrap().display_name.chars().count(), 1024);
    let nul = get("nul").unwrap();
    assert_eq!(nul.department.as_deref(), Some("SalesOps"));
    assert_eq!(nul.job_title.as_deref(), Some("Boss"));
    assert!(get("badupn").is_err());
    let _ = owner();
}

/// Review finding: Teams' number listing was stored verbatim: a NUL byte (PostgreSQL
/// refuses it) or the same number twice (the snapshot's key) failed every sync run.
#[test]
fn an_odd_teams_listing_does_not_stop_the_snapshot() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    let number = |e164: &str, target: Option<&str>| TeamsNumber {
        e164: e164.into(),
        number_type: Some("direct_routing".into()),
        assignment_target_id: target.map(str::to_string),
        assignment_status: None,
        activation_state: None,
        location_id: None,
        iso_country_code: None,
    };
    let listing = vec![
        number("+442071230001", Some("alice")),
        number("+442071230001", Some("bob")),
        number("+4420712\u{0}30002", None),
        number(&"9".repeat(5000), None),
        number("+442071230003", Some(&"t".repeat(5000))),
        number("+442071230004", None),
    ];
    t.db.write(|c| store::sync::replace_teams_numbers(c, p, &listing))
        .unwrap();
    let drift = t.db.read(|c| store::drift::list(c, p, None, None)).unwrap();
    let listed: Vec<&str> = drift.items.iter().map(|d| d.number.as_str()).collect();
    assert!(listed.contains(&"+442071230001"), "{listed:?}");
    assert!(listed.iter().all(|n| n.len() <= 64), "{listed:?}");
}

/// Review finding: the same for groups (all groups are written in one transaction).
#[test]
fn one_odd_group_does_not_stop_the_sync_of_the_others() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    let permit = Permit::system("platform:Teams", Source::Sync);
    let group =
        |id: &str, name: String, description: Option<String>| store::directory::GroupInput {
            id: id.into(),
            display_name: name,
            mail: None,
            description,
        };
    let changed =
        t.db.write(|c| {
            store::sync::upsert_groups(
                c,
                &permit,
                p,
                vec![
                    group("g1", "y".repeat(10_000), Some("a\0b".into())),
                    group("g\0", "bad".into(), None),
                    group("g2", "Sales".into(), None),
                ],
            )
        })
        .unwrap();
    assert_eq!(changed, 2);
}

/// A member chunk may name a group whose id was unusable (so it was left out) or one the
/// directory does not hold: writing its members would break the foreign key and fail the
/// page's transaction, and so every run after it from the same delta link.
#[test]
fn members_of_a_group_left_out_change_nothing_rather_than_fail_the_write() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    let permit = Permit::system("platform:Teams", Source::Sync);
    t.db.write(|c| store::sync::upsert_users(c, &permit, p, vec![person("alice")]))
        .unwrap();
    let alice = vec!["alice".to_string()];

    let changed =
        t.db.write(|c| {
            Ok([
                store::sync::touch_group(c, &permit, p, "g\0")?,
                store::sync::change_members(c, &permit, "g\0", &alice, &[])?,
                store::sync::change_members(c, &permit, "never-stored", &alice, &[])?,
                store::sync::change_members(c, &permit, "never-stored", &[], &alice)?,
            ])
        })
        .unwrap();

    assert_eq!(changed, [0, 0, 0, 0]);
}

/// A large group repeated on a later delta page with only a member chunk: its fields are
/// unknown, not cleared, so a stored group keeps its name; a group first met that way is
/// stored under its id until a sighting with fields names it.
#[test]
fn a_group_sighted_without_fields_keeps_its_name_or_is_stored_under_its_id() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    let permit = Permit::system("platform:Teams", Source::Sync);
    t.db.write(|c| {
        store::sync::upsert_groups(
            c,
            &permit,
            p,
            vec![store::directory::GroupInput {
                id: "sales".into(),
                display_name: "Sales".into(),
                mail: None,
                description: Some("everyone in sales".into()),
            }],
        )
    })
    .unwrap();

    let changed =
        t.db.write(|c| {
            Ok([
                store::sync::touch_group(c, &permit, p, "sales")?,
                store::sync::touch_group(c, &permit, p, "support")?,
            ])
        })
        .unwrap();

    assert_eq!(changed, [0, 1]);
    let groups =
        t.db.read(|c| store::directory::list_groups(c, None, None, None))
            .unwrap();
    let name = |id: &str| {
        groups
            .items
            .iter()
            .find(|g| g.group.id == id)
            .map(|g| (g.group.display_name.clone(), g.group.description.clone()))
    };
    assert_eq!(
        name("sales"),
        Some(("Sales".into(), Some("everyone in sales".into())))
    );
    assert_eq!(name("support"), Some(("support".into(), None)));
}
