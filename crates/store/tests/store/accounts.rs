//! Admin accounts: logins, lock-out, versioned edits, and the JWT signing secret.

use super::*;
use store::admins::{AdminPatch, Begin, LoginAttempt};

fn account(t: &TestDb, username: &str, role: Role) -> i64 {
    let hash = store::secrets::hash_password("right-password").unwrap();
    let new = NewAdmin {
        username: username.into(),
        password_hash: hash,
        role,
        scope_locations: vec![],
        scope_tags: vec![],
    };
    t.db.write(|c| store::admins::create(c, &owner(), new))
        .unwrap()
        .id
}

fn from<'a>(username: &'a str, client: &'a str) -> LoginAttempt<'a> {
    LoginAttempt {
        username,
        client,
        request_id: None,
        max_failures: 5,
    }
}

fn login(t: &TestDb, username: &str, client: &str, password: &str) -> Login {
    store::admins::login(&t.db, &from(username, client), password).unwrap()
}

#[test]
fn repeated_failed_logins_lock_the_username_for_that_client_only() {
    let t = TestDb::new();
    account(&t, "Ops", Role::Admin);
    for _ in 0..4 {
        assert!(matches!(
            login(&t, "ops", "10.0.0.1", "wrong"),
            Login::Failed
        ));
    }
    assert!(matches!(
        login(&t, "ops", "10.0.0.1", "wrong"),
        Login::Locked(_)
    ));
    assert!(matches!(
        login(&t, "OPS", "10.0.0.1", "right-password"),
        Login::Locked(_)
    ));
    // Another address is not locked out: the owner of the account keeps a way in.
    assert!(matches!(
        login(&t, "ops", "10.0.0.2", "right-password"),
        Login::Ok(_)
    ));
    // Aggregated: the first failure and the lock, not one record per attempt.
    assert_eq!(audit_count(&t, "auth.login_failed"), 2);
    assert_eq!(audit_count(&t, "auth.login_refused"), 0);
}

#[test]
fn unknown_usernames_fail_and_lock_like_known_ones() {
    let t = TestDb::new();
    account(&t, "ops", Role::Viewer);
    let known: Vec<bool> = (0..7)
        .map(|_| matches!(login(&t, "ops", "c", "wrong"), Login::Locked(_)))
        .collect();
    let unknown: Vec<bool> = (0..7)
        .map(|_| matches!(login(&t, "nobody", "c", "wrong"), Login::Locked(_)))
        .collect();
    assert_eq!(known, unknown);
    assert_eq!(known, [false, false, false, false, true, true, true]);
}

#[test]
fn a_correct_login_resets_the_failure_count() {
    let t = TestDb::new();
    account(&t, "ops", Role::Viewer);
    for _ in 0..4 {
        login(&t, "ops", "c", "wrong");
    }
    assert!(matches!(
        login(&t, "ops", "c", "right-password"),
        Login::Ok(_)
    ));
    assert!(matches!(login(&t, "ops", "c", "wrong"), Login::Failed));
}

#[test]
fn parallel_guesses_check_at_most_the_limit_of_passwords() {
    let t = TestDb::new();
    account(&t, "ops", Role::Viewer);
    let threads = 24;
    let barrier = std::sync::Barrier::new(threads);
    let checked = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                if let Begin::Check(pending) =
                    store::admins::begin_login(&t.db, &from("ops", "c")).unwrap()
                {
                    checked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    store::admins::finish_login(&t.db, *pending, false).unwrap();
                }
            });
        }
    });
    assert_eq!(checked.into_inner(), 5);
}

#[test]
fn a_right_password_cannot_clear_a_lock_another_guess_set() {
    let t = TestDb::new();
    account(&t, "ops", Role::Viewer);
    // The right guess is claimed first, then four wrong ones; the last of them locks.
    let right = match store::admins::begin_login(&t.db, &from("ops", "c")).unwrap() {
        Begin::Check(p) => p,
        Begin::Refused(_) => panic!("the first guess is checked"),
    };
    for _ in 0..4 {
        match store::admins::begin_login(&t.db, &from("ops", "c")).unwrap() {
            Begin::Check(p) => {
                store::admins::finish_login(&t.db, *p, false).unwrap();
            }
            Begin::Refused(_) => panic!("within the limit"),
        }
    }
    // It was claimed within the limit, so it gets in; the lock stands for the others.
    assert!(matches!(
        store::admins::finish_login(&t.db, *right, true).unwrap(),
        Login::Ok(_)
    ));
    assert!(matches!(
        login(&t, "ops", "c", "right-password"),
        Login::Locked(_)
    ));
}

#[test]
fn a_new_password_lifts_the_locks_and_ends_the_sessions() {
    let t = TestDb::new();
    let id = account(&t, "ops", Role::Admin);
    let before = t.db.read(|c| store::admins::get(c, id)).unwrap();
    for _ in 0..5 {
        login(&t, "ops", "c", "wrong");
    }
    assert!(matches!(
        login(&t, "ops", "c", "right-password"),
        Login::Locked(_)
    ));
    let hash = store::secrets::hash_password("another-password").unwrap();
    let change = AdminPatch {
        password_hash: Some(hash),
        ..AdminPatch::default()
    };
    let after =
        t.db.write(|c| store::admins::update(c, &owner(), id, change))
            .unwrap();
    assert_eq!(after.credential_version, before.credential_version + 1);
    let holds = |v| {
        t.db.read(|c| store::admins::session_holds(c, id, v))
            .unwrap()
    };
    assert!(!holds(before.credential_version));
    assert!(holds(after.credential_version));
    assert!(matches!(
        login(&t, "ops", "c", "another-password"),
        Login::Ok(_)
    ));
}

#[test]
fn an_edit_against_an_old_version_is_refused_and_never_overwrites() {
    let t = TestDb::new();
    let id = account(&t, "ops", Role::Admin);
    let v = t.db.read(|c| store::admins::get(c, id)).unwrap().version;
    let to = |role, expected| AdminPatch {
        role: Some(role),
        expected_version: expected,
        ..AdminPatch::default()
    };
    t.db.write(|c| store::admins::update(c, &owner(), id, to(Role::Viewer, Some(v))))
        .unwrap();
    let stale =
        t.db.write(|c| store::admins::update(c, &owner(), id, to(Role::Operator, Some(v))));
    assert!(
        matches!(stale, Err(StoreError::Stale { expected, current }) if expected == v && current == v + 1),
        "{stale:?}"
    );
    let now = t.db.read(|c| store::admins::get(c, id)).unwrap();
    assert_eq!(now.role, Role::Viewer);
    // Without a version the edit applies to the latest one.
    t.db.write(|c| store::admins::update(c, &owner(), id, to(Role::Operator, None)))
        .unwrap();
}

#[test]
fn concurrent_edits_of_one_account_each_apply_once() {
    let t = TestDb::new();
    let id = account(&t, "ops", Role::Admin);
    let v = t.db.read(|c| store::admins::get(c, id)).unwrap().version;
    let threads = 8;
    let barrier = std::sync::Barrier::new(threads);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let barrier = &barrier;
                let t = &t;
                s.spawn(move || {
                    let role = if i % 2 == 0 {
                        Role::Viewer
                    } else {
                        Role::Operator
                    };
                    let change = AdminPatch {
                        role: Some(role),
                        expected_version: Some(v),
                        ..AdminPatch::default()
                    };
                    barrier.wait();
                    t.db.write(|c| store::admins::update(c, &owner(), id, change))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let applied = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(applied, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(e, StoreError::Stale { .. }))
    );
    let now = t.db.read(|c| store::admins::get(c, id)).unwrap();
    assert_eq!(now.version, v + 1);
}

#[test]
fn the_jwt_signing_key_is_derived_from_the_secret_and_one_shared_salt() {
    let t = TestDb::new();
    let secret = store::secrets::SecretKey::from_text(&"s".repeat(40)).unwrap();
    let other = store::secrets::SecretKey::from_text(&"o".repeat(40)).unwrap();
    let key = |s: &store::secrets::SecretKey| {
        t.db.write(|c| store::settings::jwt_signing_key(c, s))
            .unwrap()
    };
    assert_eq!(key(&secret), key(&secret));
    assert_ne!(key(&secret), key(&other));
}

#[test]
fn the_jwt_secret_is_created_once_and_shared() {
    let t = TestDb::new();
    let a =
        t.db.write(|c| store::settings::get_or_init(c, "k", || "first".into()))
            .unwrap();
    let b =
        t.db.write(|c| store::settings::get_or_init(c, "k", || "second".into()))
            .unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("first", "first"));
}
