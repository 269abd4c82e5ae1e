use std::collections::{HashMap, HashSet};

use graph_sim::{SimConfig, SimUser};
use serde_json::Value;

use crate::common::start;

fn user(n: usize) -> SimUser {
    SimUser {
        user_principal_name: format!("user{n}@contoso.example"),
        display_name: format!("User {n}"),
        department: Some("Sales".to_owned()),
        ..SimUser::default()
    }
}

fn by_id(items: &[Value]) -> HashMap<String, Value> {
    items
        .iter()
        .map(|v| (v["id"].as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

#[tokio::test]
async fn users_delta_pages_then_reports_creates_updates_and_both_kinds_of_delete() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    let ids: Vec<String> = (0..250).map(|n| t.add_user(user(n))).collect();

    let first = h
        .get("/users/delta?$select=displayName,department,accountEnabled")
        .await;
    assert_eq!(first.status, 200);
    assert!(
        first.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#users(displayName,department,accountEnabled)")
    );
    assert!(
        first.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken=")
    );
    let (items, delta, pages) = h
        .delta_round("/users/delta?$select=displayName,department,accountEnabled")
        .await;
    assert_eq!(pages, 3);
    assert_eq!(by_id(&items).len(), 250);
    assert!(delta.contains("$deltatoken="));
    assert!(delta.starts_with("http://127.0.0.1:"));
    assert_eq!(items[0]["department"], "Sales");
    assert!(
        items[0].get("jobTitle").is_none(),
        "only selected properties"
    );

    let created = t.add_user(user(999));
    t.update_user(&ids[1], |u| u.department = Some("Support".to_owned()));
    t.delete_user(&ids[2], false);
    t.delete_user(&ids[3], true);
    t.disable_user(&ids[4]);

    let (items, _, _) = h.delta_round(&delta).await;
    let got = by_id(&items);
    assert_eq!(got.len(), 5, "{items:?}");
    assert_eq!(got[&created]["displayName"], "User 999");
    assert_eq!(got[&ids[1]]["department"], "Support");
    assert_eq!(got[&ids[2]]["@removed"]["reason"], "changed");
    assert_eq!(got[&ids[3]]["@removed"]["reason"], "deleted");
    assert_eq!(got[&ids[4]]["accountEnabled"], false);
    h.sim.stop().await;
}

#[tokio::test]
async fn a_change_to_an_untracked_property_does_not_appear_in_delta() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    let a = t.add_user(user(1));
    let (_, delta, _) = h.delta_round("/users/delta?$select=displayName").await;
    t.update_user(&a, |u| u.job_title = Some("Boss".to_owned()));
    let (items, delta, _) = h.delta_round(&delta).await;
    assert!(items.is_empty(), "{items:?}");
    t.update_user(&a, |u| u.display_name = "Renamed".to_owned());
    let (items, _, _) = h.delta_round(&delta).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["displayName"], "Renamed");
    h.sim.stop().await;
}

#[tokio::test]
async fn the_qualified_delta_path_and_deltatoken_latest_work() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    t.add_user(user(1));
    let r = h
        .get("/users/microsoft.graph.delta?$select=displayName&$deltatoken=latest")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 0);
    let delta = r.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    let b = t.add_user(user(2));
    let (items, _, _) = h.delta_round(&delta).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"].as_str(), Some(b.as_str()));
    h.sim.stop().await;
}

#[tokio::test]
async fn delta_refuses_top_and_extra_options_on_follow_up_links() {
    let h = start(SimConfig::default()).await;
    assert_eq!(h.get("/users/delta?$top=10").await.status, 400);
    assert_eq!(h.get("/users/delta?$orderby=displayName").await.status, 400);
    let r = h.get("/users/delta?$select=displayName").await;
    let delta = r.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    assert_eq!(h.get(&format!("{delta}&$select=mail")).await.status, 400);
    assert_eq!(
        h.get("/users/delta?$select=noSuchProperty").await.status,
        400
    );
    h.sim.stop().await;
}

#[tokio::test]
async fn an_expired_delta_token_is_410_gone_with_a_location_for_a_fresh_sync() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    t.add_user(user(1));
    let (_, delta, _) = h.delta_round("/users/delta?$select=displayName").await;
    t.expire_delta_tokens();
    let r = h.get(&delta).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.body["error"]["code"], "syncStateNotFound");
    let location = r.header("location").expect("Location");
    let (items, fresh, _) = h.delta_round(&location).await;
    assert_eq!(items.len(), 1);
    assert_eq!(h.get(&fresh).await.status, 200);

    t.advance_clock(std::time::Duration::from_secs(8 * 24 * 3600));
    assert_eq!(h.get(&fresh).await.status, 410, "older than 7 days");
    h.sim.stop().await;
}

#[tokio::test]
async fn users_list_pages_with_skiptoken_and_returns_default_properties() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    for n in 0..30 {
        t.add_user(user(n));
    }
    let r = h.get("/users?$top=20").await;
    assert_eq!(r.status, 200);
    let first = &r.body["value"][0];
    assert!(
        first.get("department").is_none(),
        "department only with $select"
    );
    assert!(first.get("businessPhones").is_some_and(Value::is_array));
    assert!(first.get("jobTitle").is_some_and(Value::is_null));
    let next = r.body["@odata.nextLink"].as_str().unwrap().to_owned();
    assert!(next.contains("$skiptoken=") && next.contains("top=20"));
    let r2 = h.get(&next).await;
    assert_eq!(r2.body["value"].as_array().unwrap().len(), 10);
    assert!(r2.body.get("@odata.nextLink").is_none());
    assert_eq!(h.get("/users?$top=1000").await.status, 400);
    assert_eq!(h.get("/users?$skip=10").await.status, 400);
    let r = h.get("/users?$select=id,department&$top=999").await;
    assert_eq!(r.body["value"][0]["department"], "Sales");
    h.sim.stop().await;
}

#[tokio::test]
async fn groups_delta_splits_big_groups_across_pages_and_later_reports_removed_members() {
    let config = SimConfig {
        users_page_size: 3,
        group_members_chunk: 20,
        ..SimConfig::default()
    };
    let h = start(config).await;
    let t = h.sim.tenant();
    let users: Vec<String> = (0..45).map(|n| t.add_user(user(n))).collect();
    let big = t.add_group("Big", Some("forty-five members"));
    let small = t.add_group("Small", None);
    let empty = t.add_group("Empty", None);
    for u in &users {
        assert!(t.add_member(&big, u));
    }
    t.add_member(&small, &users[0]);

    let mut members: HashMap<String, HashSet<String>> = HashMap::new();
    let mut url = "/groups/delta?$select=displayName,description,members".to_owned();
    let mut pages = 0;
    let delta = loop {
        let r = h.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        let mut seen_on_page = HashSet::new();
        for g in r.body["value"].as_array().unwrap() {
            let id = g["id"].as_str().unwrap().to_owned();
            assert!(
                seen_on_page.insert(id.clone()),
                "a group appears once per page"
            );
            let entry = members.entry(id).or_default();
            for m in g["members@delta"].as_array().into_iter().flatten() {
                assert_eq!(m["@odata.type"], "#microsoft.graph.user");
                entry.insert(m["id"].as_str().unwrap().to_owned());
            }
            if g["id"] == empty.as_str() {
                assert!(g.get("members@delta").is_none());
            }
        }
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break r.body["@odata.deltaLink"].as_str().unwrap().to_owned(),
        }
    };
    assert!(
        pages >= 3,
        "45 members at 20 per object need three pages, got {pages}"
    );
    assert_eq!(members[&big].len(), 45);
    assert_eq!(members[&small].len(), 1);

    assert!(t.remove_member(&big, &users[7]));
    let newcomer = t.add_user(user(100));
    t.add_member(&big, &newcomer);
    t.delete_user(&users[8], true);
    let (items, _, _) = h.delta_round(&delta).await;
    let groups: Vec<&Value> = items.iter().filter(|g| g["id"] == big.as_str()).collect();
    let changes: Vec<&Value> = groups
        .iter()
        .flat_map(|g| g["members@delta"].as_array().unwrap())
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    let find = |id: &str| changes.iter().find(|m| m["id"] == id).copied().unwrap();
    assert_eq!(find(&users[7])["@removed"]["reason"], "deleted");
    assert_eq!(find(&users[8])["@removed"]["reason"], "deleted");
    assert!(find(&newcomer).get("@removed").is_none());
    assert!(
        items.iter().all(|g| g["id"] != small.as_str()),
        "unchanged group not reported"
    );
    h.sim.stop().await;
}

#[tokio::test]
async fn a_deleted_group_is_reported_removed() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    let g = t.add_group("Doomed", None);
    let (_, delta, _) = h.delta_round("/groups/microsoft.graph.delta").await;
    t.delete_group(&g, true);
    let (items, _, _) = h.delta_round(&delta).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["@removed"]["reason"], "deleted");
    h.sim.stop().await;
}

#[tokio::test]
async fn prefer_return_minimal_sends_only_the_changed_properties() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    let a = t.add_user(user(1));
    let (_, delta, _) = h
        .delta_round("/users/delta?$select=displayName,department")
        .await;
    t.update_user(&a, |u| u.department = Some("Legal".to_owned()));
    let r = h.get(&delta).await;
    assert_eq!(
        r.body["value"][0]["displayName"], "User 1",
        "full by default"
    );
    let resp = h
        .client
        .get(&delta)
        .bearer_auth(&h.token)
        .header("Prefer", "return=minimal")
        .send()
        .await
        .unwrap();
    let r = crate::common::read(resp).await;
    let u = &r.body["value"][0];
    assert_eq!(u["department"], "Legal");
    assert!(u.get("displayName").is_none(), "{u}");
    h.sim.stop().await;
}

#[tokio::test]
async fn groups_delta_takes_the_older_expand_members_form() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    let u = t.add_user(user(1));
    let g = t.add_group("G", None);
    t.add_member(&g, &u);
    let (items, _, _) = h
        .delta_round("/groups/delta?$select=displayName&$expand=members")
        .await;
    assert_eq!(
        items[0]["members@delta"][0]["id"].as_str(),
        Some(u.as_str())
    );
    assert!(items[0].get("description").is_none());
    assert_eq!(h.get("/users/delta?$expand=manager").await.status, 400);
    h.sim.stop().await;
}
