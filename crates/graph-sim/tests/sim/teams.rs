use std::time::Duration;

use graph_sim::{SimConfig, SimNumber, SimUser};
use serde_json::{Value, json};

use crate::common::{Harness, NA, enc, start};

fn number(n: u64) -> SimNumber {
    SimNumber {
        telephone_number: format!("+1206555{n:04}"),
        ..SimNumber::default()
    }
}

fn add_user(h: &Harness) -> String {
    h.sim.tenant().add_user(SimUser {
        user_principal_name: "alice@contoso.example".to_owned(),
        display_name: "Alice".to_owned(),
        ..SimUser::default()
    })
}

/// Polls an operation Location until it is no longer running.
async fn wait_operation(h: &Harness, location: &str) -> Value {
    for _ in 0..200 {
        let r = h.get(location).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body["status"] != "running" && r.body["status"] != "notStarted" {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("operation never finished");
}

#[tokio::test]
async fn number_assignments_page_by_top_and_skip_in_number_order_without_next_link() {
    let h = start(SimConfig::default()).await;
    // Added in reverse so the order must come from sorting.
    h.sim.tenant().add_numbers((0..2500).rev().map(number));
    let mut all = Vec::new();
    for skip in [0, 1000, 2000] {
        let r = h.get(&format!("{NA}?$top=1000&$skip={skip}")).await;
        assert_eq!(r.status, 200);
        assert!(r.body.get("@odata.nextLink").is_none());
        assert!(
            r.body["@odata.context"]
                .as_str()
                .unwrap()
                .ends_with("$metadata#admin/teams/telephoneNumberManagement/numberAssignments")
        );
        all.extend(
            r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["telephoneNumber"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(all.len(), 2500);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        h.get(NA).await.body["value"].as_array().unwrap().len(),
        500,
        "default $top"
    );
    assert_eq!(h.get(&format!("{NA}?$top=1001")).await.status, 400);
    h.sim.stop().await;
}

#[tokio::test]
async fn a_number_assignment_has_every_documented_field() {
    let h = start(SimConfig::default()).await;
    h.sim.tenant().add_number(number(1));
    let r = h.get(NA).await;
    let n = &r.body["value"][0];
    for field in [
        "id",
        "telephoneNumber",
        "operatorId",
        "numberType",
        "activationState",
        "capabilities",
        "locationId",
        "civicAddressId",
        "networkSiteId",
        "assignmentTargetId",
        "assignmentCategory",
        "portInStatus",
        "assignmentStatus",
        "isoCountryCode",
        "city",
        "numberSource",
        "supportedCustomerActions",
        "reverseNumberLookupOptions",
    ] {
        assert!(n.get(field).is_some(), "missing {field}");
    }
    assert_eq!(n["assignmentStatus"], "unassigned");
    assert!(n["assignmentTargetId"].is_null());
    let id = n["id"].as_str().unwrap();
    let got = h.get(&format!("{NA}/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["telephoneNumber"], "+12065550001");
    assert_eq!(h.get(&format!("{NA}/bm9wZXxub3Bl")).await.status, 404);
    h.sim.stop().await;
}

#[tokio::test]
async fn number_assignments_filter_by_number_status_type_and_capability() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    let alice = add_user(&h);
    t.add_numbers((0..10).map(number));
    t.add_number(SimNumber {
        telephone_number: "+441234567890".to_owned(),
        number_type: "callingPlan".to_owned(),
        capabilities: vec!["userAssignment".to_owned()],
        ..SimNumber::default()
    });
    t.set_assignment("+12065550003", Some(&alice));
    let count = |r: &crate::common::Resp| r.body["value"].as_array().map_or(0, Vec::len);

    let r = h
        .get(&format!(
            "{NA}?$filter={}",
            enc("telephoneNumber eq '+12065550004'")
        ))
        .await;
    assert_eq!(count(&r), 1);
    assert_eq!(r.body["value"][0]["telephoneNumber"], "+12065550004");
    let r = h
        .get(&format!(
            "{NA}?$filter={}",
            enc("assignmentStatus eq 'userAssigned'")
        ))
        .await;
    assert_eq!(count(&r), 1);
    let r = h
        .get(&format!(
            "{NA}?$filter={}",
            enc("numberType eq 'CallingPlan'")
        ))
        .await;
    assert_eq!(count(&r), 1, "enum values match case-insensitively");
    let filter = "assignmentStatus eq 'unassigned' and capabilities/any(c:c eq 'voiceApplicationAssignment')";
    let r = h.get(&format!("{NA}?$filter={}", enc(filter))).await;
    assert_eq!(count(&r), 9);
    // An unencoded '+' is a space on the wire and matches nothing.
    let r = h
        .get(&format!(
            "{NA}?$filter=telephoneNumber%20eq%20'+12065550004'"
        ))
        .await;
    assert_eq!(count(&r), 0);
    assert_eq!(
        h.get(&format!("{NA}?$filter={}", enc("city eq 'Seattle'")))
            .await
            .status,
        400
    );
    h.sim.stop().await;
}

#[tokio::test]
// 200 ms notStarted, then 600 ms running: wide margins for a loaded machine.
async fn assign_number_on_both_paths_answers_202_and_the_operation_runs_then_succeeds() {
    let config = SimConfig {
        operation_delay: Duration::from_millis(800),
        ..SimConfig::default()
    };
    let h = start(config).await;
    let t = h.sim.tenant();
    let alice = add_user(&h);
    let queue = t.add_resource_account("Main queue", "cq@contoso.example");
    t.add_numbers([number(1), number(2)]);

    let r = h
        .post(&format!("{NA}/assignNumber"), &json!({"telephoneNumber": "12065550001", "assignmentTargetId": alice, "numberType": "directRouting"}))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.body.is_null(), "no body");
    let location = r.header("location").unwrap();
    assert!(
        location.contains("/v1.0/admin/teams/telephoneNumberManagement/operations('"),
        "{location}"
    );
    let op = h.get(&location).await;
    assert_eq!(
        op.body["status"], "notStarted",
        "first quarter of the delay"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.get(&location).await.body["status"], "running");
    assert_eq!(
        t.number("+12065550001").unwrap().assignment_target_id,
        None,
        "not before the operation ends"
    );
    let done = wait_operation(&h, &location).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["numbers"][0]["status"], "succeeded");
    assert!(done["numbers"][0]["statusDetail"].is_null());
    let resource = done["numbers"][0]["resourceLocation"].as_str().unwrap();
    let n = h.get(resource).await;
    assert_eq!(n.body["assignmentTargetId"].as_str(), Some(alice.as_str()));
    assert_eq!(n.body["assignmentStatus"], "userAssigned");
    assert_eq!(n.body["activationState"], "activated");
    assert_eq!(n.body["assignmentCategory"], "primary");

    let r = h
        .post(
            &format!("{NA}/microsoft.graph.teamsAdministration.assignNumber"),
            &json!({"telephoneNumber": "+12065550002", "assignmentTargetId": queue, "numberType": "directRouting"}),
        )
        .await;
    assert_eq!(r.status, 202);
    // The plain operations/{id} form works too.
    let location = r.header("location").unwrap();
    let id = location.rsplit("('").next().unwrap().trim_end_matches("')");
    let done = wait_operation(
        &h,
        &format!("/admin/teams/telephoneNumberManagement/operations/{id}"),
    )
    .await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(
        t.number("12065550002")
            .unwrap()
            .assignment_target_id
            .as_deref(),
        Some(queue.as_str())
    );
    let n = h
        .get(&format!(
            "{NA}?$filter={}",
            enc("telephoneNumber eq '+12065550002'")
        ))
        .await;
    assert_eq!(
        n.body["value"][0]["assignmentStatus"],
        "voiceApplicationAssigned"
    );
    let stats = t.stats();
    assert_eq!((stats.assign_calls, stats.operations_started), (2, 2));
    h.sim.stop().await;
}

#[tokio::test]
async fn assign_number_with_a_bad_number_type_or_unknown_field_is_400() {
    let h = start(SimConfig::default()).await;
    let alice = add_user(&h);
    h.sim.tenant().add_number(number(1));
    let r = h
        .post(&format!("{NA}/assignNumber"), &json!({"telephoneNumber": "+12065550001", "assignmentTargetId": alice, "numberType": "DirectRouting"}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["message"].is_string());
    let r = h
        .post(&format!("{NA}/assignNumber"), &json!({"phoneNumber": "+12065550001", "assignmentTargetId": alice, "numberType": "directRouting"}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        h.post(&format!("{NA}/frobnicateNumber"), &json!({}))
            .await
            .status,
        400
    );
    h.sim.stop().await;
}

#[tokio::test]
async fn assigning_to_an_unknown_target_ends_in_a_failed_operation_with_a_status_detail() {
    let h = start(SimConfig::default()).await;
    h.sim.tenant().add_number(number(1));
    let r = h
        .post(&format!("{NA}/assignNumber"), &json!({"telephoneNumber": "+12065550001", "assignmentTargetId": "00000000-dead-beef-0000-000000000000", "numberType": "directRouting"}))
        .await;
    assert_eq!(r.status, 202);
    let done = wait_operation(&h, &r.header("location").unwrap()).await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["numbers"][0]["statusDetail"]
            .as_str()
            .unwrap()
            .contains("is not found")
    );
    let r = h
        .post(&format!("{NA}/assignNumber"), &json!({"telephoneNumber": "+19999999999", "assignmentTargetId": add_user(&h), "numberType": "directRouting"}))
        .await;
    let done = wait_operation(&h, &r.header("location").unwrap()).await;
    assert_eq!(
        done["numbers"][0]["statusDetail"],
        format!(
            "Telephone Number '+19999999999' is not found from tenant '{}'",
            SimConfig::default().tenant_id
        )
    );
    h.sim.stop().await;
}

#[tokio::test]
async fn business_errors_can_be_answered_synchronously_and_reassign_can_be_refused() {
    let config = SimConfig {
        business_errors_in_operation: false,
        allow_reassign: false,
        ..SimConfig::default()
    };
    let h = start(config).await;
    let t = h.sim.tenant();
    let alice = add_user(&h);
    let bob = t.add_user(SimUser {
        user_principal_name: "bob@contoso.example".into(),
        ..SimUser::default()
    });
    t.add_number(SimNumber {
        assignment_target_id: Some(alice.clone()),
        ..number(1)
    });
    let r = h
        .post(&format!("{NA}/assignNumber"), &json!({"telephoneNumber": "+12065550001", "assignmentTargetId": bob, "numberType": "directRouting"}))
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has already been assigned to another user")
    );
    h.sim.stop().await;
}

#[tokio::test]
async fn reassigning_a_held_number_moves_it_by_default() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    let alice = add_user(&h);
    let bob = t.add_user(SimUser {
        user_principal_name: "bob@contoso.example".into(),
        ..SimUser::default()
    });
    t.add_number(SimNumber {
        assignment_target_id: Some(alice),
        ..number(1)
    });
    let r = h
        .post(&format!("{NA}/assignNumber"), &json!({"telephoneNumber": "+12065550001", "assignmentTargetId": bob, "numberType": "directRouting"}))
        .await;
    assert_eq!(
        wait_operation(&h, &r.header("location").unwrap()).await["status"],
        "succeeded"
    );
    assert_eq!(
        t.number("+12065550001").unwrap().assignment_target_id,
        Some(bob)
    );
    h.sim.stop().await;
}

#[tokio::test]
async fn unassign_number_frees_the_number_through_an_operation() {
    let h = start(SimConfig {
        wrap_entities_in_value: true,
        ..SimConfig::default()
    })
    .await;
    let t = h.sim.tenant();
    let alice = add_user(&h);
    t.add_number(SimNumber {
        assignment_target_id: Some(alice),
        ..number(1)
    });
    let r = h
        .post(
            &format!("{NA}/unassignNumber"),
            &json!({"telephoneNumber": "+12065550001"}),
        )
        .await;
    assert_eq!(r.status, 400, "numberType is required");
    let r = h
        .post(
            &format!("{NA}/microsoft.graph.teamsAdministration.unassignNumber"),
            &json!({"telephoneNumber": "+12065550001", "numberType": "directRouting"}),
        )
        .await;
    assert_eq!(r.status, 202);
    let location = r.header("location").unwrap();
    let op = h.get(&location).await;
    assert_eq!(
        op.body["value"]["status"], "succeeded",
        "wrapped in value: {}",
        op.body
    );
    let n = t.number("+12065550001").unwrap();
    assert_eq!(
        (n.assignment_target_id, n.assignment_category),
        (None, None)
    );
    assert_eq!(t.stats().unassign_calls, 2);
    h.sim.stop().await;
}

#[tokio::test]
async fn update_number_clears_with_empty_string_and_keeps_with_null() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    t.add_number(SimNumber {
        location_id: Some("loc-1".into()),
        network_site_id: Some("site-1".into()),
        ..number(1)
    });
    let r = h
        .post(
            &format!("{NA}/updateNumber"),
            &json!({"telephoneNumber": "+12065550001", "locationId": null, "networkSiteId": ""}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_null());
    let n = t.number("+12065550001").unwrap();
    assert_eq!(n.location_id.as_deref(), Some("loc-1"));
    assert_eq!(n.network_site_id, None);
    let r = h.post(&format!("{NA}/updateNumber"), &json!({"telephoneNumber": "12065550001", "locationId": "", "reverseNumberLookupOptions": ["skipInternalVoip"]})).await;
    assert_eq!(r.status, 200);
    let n = t.number("+12065550001").unwrap();
    assert_eq!(n.location_id, None);
    assert_eq!(
        n.reverse_number_lookup_options,
        vec!["skipInternalVoip".to_owned()]
    );
    let r = h
        .post_raw(
            &format!("{NA}/updateNumber"),
            br#"{"telephoneNumber": "+12065550001", "locationId": "x",}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 400, "trailing comma is invalid JSON");
    h.sim.stop().await;
}

#[tokio::test]
async fn location_ids_are_checked_when_a_valid_set_is_configured() {
    let config = SimConfig {
        valid_location_ids: Some(vec!["loc-ok".into()]),
        ..SimConfig::default()
    };
    let h = start(config).await;
    let alice = add_user(&h);
    h.sim.tenant().add_number(number(1));
    let body = |loc: &str| json!({"telephoneNumber": "+12065550001", "assignmentTargetId": alice, "numberType": "directRouting", "locationId": loc});
    assert_eq!(
        h.post(&format!("{NA}/assignNumber"), &body("loc-bad"))
            .await
            .status,
        400
    );
    assert_eq!(
        h.post(&format!("{NA}/assignNumber"), &body("loc-ok"))
            .await
            .status,
        202
    );
    h.sim.stop().await;
}

#[tokio::test]
async fn the_next_link_switch_makes_the_number_list_link_its_pages() {
    let h = start(SimConfig {
        number_assignments_next_link: true,
        ..SimConfig::default()
    })
    .await;
    h.sim.tenant().add_numbers((0..25).map(number));
    let mut url = format!(
        "{NA}?$top=10&$filter={}",
        enc("numberType eq 'directRouting'")
    );
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let r = h.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        seen += r.body["value"].as_array().unwrap().len();
        match r.body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.contains("$skip="), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!((seen, pages), (25, 3));
    h.sim.stop().await;
}

#[tokio::test]
async fn user_configurations_show_the_numbers_teams_holds_and_page() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    let alice = add_user(&h);
    for n in 0..4 {
        t.add_user(SimUser {
            user_principal_name: format!("u{n}@contoso.example"),
            ..SimUser::default()
        });
    }
    t.add_number(SimNumber {
        assignment_target_id: Some(alice.clone()),
        ..number(1)
    });
    let r = h.get("/admin/teams/userConfigurations?$top=3").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = &r.body["value"][0];
    assert_eq!(first["id"].as_str(), Some(alice.as_str()));
    assert_eq!(first["isEnterpriseVoiceEnabled"], true);
    assert_eq!(
        first["telephoneNumbers"][0]["telephoneNumber"],
        "+12065550001"
    );
    let next = r.body["@odata.nextLink"].as_str().unwrap();
    let r = h.get(next).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    assert!(r.body.get("@odata.nextLink").is_none());
    h.sim.stop().await;
}

#[tokio::test]
async fn odd_bytes_in_paths_and_filters_are_errors_not_crashes() {
    let h = start(SimConfig::default()).await;
    let r = h
        .get(&format!(
            "{NA}?$filter={}",
            enc("telephoneNumber eq 'x' é and")
        ))
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .get(&format!(
            "{NA}?$filter={}",
            enc("numberType eq 'ab' éand x")
        ))
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .get("/admin/teams/telephoneNumberManagement/operations('%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9')")
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .post(
            &format!("{NA}/microsoft.graph.teamsAdministrationé.assignNumber"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 400);
    h.sim.stop().await;
}
