//! Admin accounts: logins, lock-out, and the JWT signing secret.

use super::*;

#[test]
fn repeated_failed_logins_lock_the_account_and_are_audited() {
    let t = TestDb::new();
    let hash = store::secrets::hash_password("right-password").unwrap();
    let new = NewAdmin {
        username: "Ops".into(),
        password_hash: hash,
        role: Role::Admin,
        scope_locations: vec![],
        scope_tags: vec![],
    };
    t.db.write(|c| store::admins::create(c, &owner(), new))
        .unwrap();
    for _ in 0..4 {
        assert!(matches!(
            store::admins::login(&t.db, "ops", "wrong", None).unwrap(),
            Login::Failed
        ));
    }
    assert!(matches!(
        store::admins::login(&t.db, "ops", "wrong", None).unwrap(),
        Login::Locked(_)
    ));
    assert!(matches!(
        store::admins::login(&t.db, "OPS", "right-password", None).unwrap(),
        Login::Locked(_)
    ));
    assert_eq!(audit_count(&t, "auth.login_failed"), 5);
    assert_eq!(audit_count(&t, "auth.login_refused"), 1);
    assert!(matches!(
        store::admins::login(&t.db, "nobody", "x", None).unwrap(),
        Login::Failed
    ));
}

#[test]
fn a_correct_login_resets_the_failure_count() {
    let t = TestDb::new();
    let hash = store::secrets::hash_password("right-password").unwrap();
    let new = NewAdmin {
        username: "ops".into(),
        password_hash: hash,
        role: Role::Viewer,
        scope_locations: vec![],
        scope_tags: vec![],
    };
    t.db.write(|c| store::admins::create(c, &owner(), new))
        .unwrap();
    for _ in 0..4 {
        store::admins::login(&t.db, "ops", "wrong", None).unwrap();
    }
    assert!(matches!(
        store::admins::login(&t.db, "ops", "right-password", None).unwrap(),
        Login::Ok(_)
    ));
    assert!(matches!(
        store::admins::login(&t.db, "ops", "wrong", None).unwrap(),
        Login::Failed
    ));
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
