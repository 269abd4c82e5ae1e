use std::time::{Duration, Instant};

use graph_sim::{SimConfig, SimNumber, SimUser};

use crate::common::{NA, start};

/// The product benchmark's estate: 100,000 users in 500 groups and 100,000 numbers. A full
/// users and groups delta and a full number listing must each take seconds, not minutes,
/// even in a debug build, or the benchmark would measure the simulator.
#[tokio::test]
async fn a_hundred_thousand_users_and_numbers_sync_and_list_quickly() {
    let h = start(SimConfig {
        users_page_size: 999,
        group_members_chunk: 100,
        ..SimConfig::default()
    })
    .await;
    let t = h.sim.tenant();
    let started = Instant::now();
    let groups: Vec<String> = (0..500)
        .map(|g| t.add_group(&format!("Group {g}"), None))
        .collect();
    for n in 0..100_000u32 {
        let id = t.add_user(SimUser {
            user_principal_name: format!("user{n}@contoso.example"),
            display_name: format!("User {n}"),
            department: Some(format!("Dept {}", n % 40)),
            ..SimUser::default()
        });
        t.add_member(&groups[(n % 500) as usize], &id);
    }
    t.add_numbers((0..100_000u64).map(|n| SimNumber {
        telephone_number: format!("+1425{n:07}"),
        ..SimNumber::default()
    }));
    let seeded = started.elapsed();

    let started = Instant::now();
    let (users, _, pages) = h
        .delta_round("/users/delta?$select=displayName,userPrincipalName,department,accountEnabled")
        .await;
    assert_eq!(users.len(), 100_000);
    assert_eq!(pages, 101);
    let users_delta = started.elapsed();

    let started = Instant::now();
    let (groups_items, _, _) = h
        .delta_round("/groups/delta?$select=displayName,members")
        .await;
    let members: usize = groups_items
        .iter()
        .filter_map(|g| g["members@delta"].as_array())
        .map(Vec::len)
        .sum();
    assert_eq!(members, 100_000);
    let groups_delta = started.elapsed();

    let started = Instant::now();
    let mut listed = 0;
    for skip in (0..100_000).step_by(1000) {
        let r = h.get(&format!("{NA}?$top=1000&$skip={skip}")).await;
        listed += r.body["value"].as_array().unwrap().len();
    }
    assert_eq!(listed, 100_000);
    let numbers = started.elapsed();
    eprintln!(
        "seed {seeded:?}, users delta {users_delta:?}, groups delta {groups_delta:?}, numbers {numbers:?}"
    );
    for d in [users_delta, groups_delta, numbers] {
        assert!(d < Duration::from_secs(20), "{d:?}");
    }
    h.sim.stop().await;
}
