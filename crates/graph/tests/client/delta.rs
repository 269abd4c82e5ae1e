use graph::{GraphError, GroupChange, UserChange};
use serde_json::json;

use crate::stub::{Reply, Stub, read_round};

#[actix_web::test]
async fn users_delta_follows_next_links_verbatim_a_page_at_a_time_to_the_delta_link() {
    let stub = Stub::start(|seen| {
        if seen.is_token() {
            return None;
        }
        let base = &seen.base;
        Some(match seen.query.as_str() {
            q if q.starts_with("$select=") => Reply::json(200, json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(displayName,givenName,surname)",
                "@odata.nextLink": format!("{base}/v1.0/users/delta?$skiptoken=oEBwdSP6uehIAxQOWq_3Ksh_TLol6KIm3stvdc6hGhZRi1hQ7Spe__dpvm3U4zReE4CYXC2zOtaKdi7KHlUtC2CbRiBIUwOxPKLa"),
                "value": [
                    { "displayName": "Cameron White", "givenName": "Cameron", "surname": "White", "id": "ffff7b1a-13b6-477b-8c0c-380905cd99f7",
                      "department": "Sales", "usageLocation": "US", "accountEnabled": true },
                    { "id": "86462606-fde0-4fc4-9e0c-a20eb73e54c6", "@removed": { "reason": "deleted" } }
                ]
            })),
            q if q.starts_with("$skiptoken=oEBw") => Reply::json(200, json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
                "@odata.nextLink": format!("{base}/v1.0/users/delta?$skiptoken=second"),
                "value": []
            })),
            "$skiptoken=second" => Reply::json(200, json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
                "@odata.deltaLink": format!("{base}/v1.0/users/delta?$deltatoken=oEcOySpF_hWYmTIUZBOIfPzcwisr_rPe8o9M54L45qEXQGmvQC6T2dbL-9O7nSU-njKhFiGlAZqewNAThmCVnNxqPu5gOBegrm1CaVZ-ZtFZ2tPOAO98OD9y0ao460"),
                "value": [ { "id": "9c3bd5c8-0000-0000-0000-000000000001", "@removed": { "reason": "changed" } } ]
            })),
            _ => Reply::error(400, "Request_BadRequest", "unexpected query"),
        })
    })
    .await;

    let mut round = stub.client().users_delta(None).expect("round");
    let first = round.next_page().await.expect("first page");

    assert_eq!(
        stub.graph_requests().len(),
        1,
        "a page is fetched only when the caller asks for it"
    );
    assert_eq!(first.delta_link, None, "only the last page has the link");
    let (rest, delta_link) = read_round(round).await.expect("the rest");
    assert_eq!(rest.len(), 2);
    assert!(
        rest[0].is_empty(),
        "an empty page with a nextLink is a page"
    );
    let changes: Vec<UserChange> = first.changes.into_iter().chain(rest.concat()).collect();
    assert_eq!(changes.len(), 3);
    let UserChange::Upsert(user) = &changes[0] else {
        panic!("not an upsert")
    };
    assert_eq!(user.id, "ffff7b1a-13b6-477b-8c0c-380905cd99f7");
    assert_eq!(user.display_name.as_deref(), Some("Cameron White"));
    assert_eq!(user.department.as_deref(), Some("Sales"));
    assert_eq!(user.account_enabled, Some(true));
    assert_eq!(user.mail, None);
    assert_eq!(
        changes[1],
        UserChange::Removed {
            id: "86462606-fde0-4fc4-9e0c-a20eb73e54c6".into(),
            permanent: true
        }
    );
    assert_eq!(
        changes[2],
        UserChange::Removed {
            id: "9c3bd5c8-0000-0000-0000-000000000001".into(),
            permanent: false
        }
    );
    assert!(delta_link.ends_with("/v1.0/users/delta?$deltatoken=oEcOySpF_hWYmTIUZBOIfPzcwisr_rPe8o9M54L45qEXQGmvQC6T2dbL-9O7nSU-njKhFiGlAZqewNAThmCVnNxqPu5gOBegrm1CaVZ-ZtFZ2tPOAO98OD9y0ao460"));

    let calls = stub.graph_requests();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].path, "/v1.0/users/delta");
    for field in [
        "displayName",
        "userPrincipalName",
        "mail",
        "department",
        "jobTitle",
        "officeLocation",
        "usageLocation",
        "city",
        "country",
        "accountEnabled",
    ] {
        assert!(
            calls[0].query.contains(field),
            "$select lacks {field}: {}",
            calls[0].query
        );
    }
    assert_eq!(
        calls[1].query,
        "$skiptoken=oEBwdSP6uehIAxQOWq_3Ksh_TLol6KIm3stvdc6hGhZRi1hQ7Spe__dpvm3U4zReE4CYXC2zOtaKdi7KHlUtC2CbRiBIUwOxPKLa"
    );
    assert_eq!(calls[2].query, "$skiptoken=second");
    stub.stop().await;
}

#[actix_web::test]
async fn a_stored_delta_link_is_called_as_given() {
    let stub =
        Stub::start(|seen| {
            (!seen.is_token()).then(|| {
            Reply::json(200, json!({
                "@odata.deltaLink": format!("{}/v1.0/users/delta?$deltatoken=next", seen.base),
                "value": []
            }))
        })
        })
        .await;
    let stored = format!("{}/v1.0/users/delta?$deltatoken=abc%3D%3D", stub.base);

    let mut round = stub.client().users_delta(Some(&stored)).expect("round");
    let page = round.next_page().await.expect("page");

    assert!(page.changes.is_empty());
    assert!(page.delta_link.is_some());
    let again = round.next_page().await.expect("after the end");
    assert_eq!(again.delta_link, page.delta_link, "the round stays ended");
    assert_eq!(stub.graph_requests().len(), 1);
    assert_eq!(stub.graph_requests()[0].query, "$deltatoken=abc%3D%3D");
    stub.stop().await;
}

#[actix_web::test]
async fn groups_delta_gives_a_large_groups_later_member_chunks_as_membership_changes() {
    let stub = Stub::start(|seen| {
        if seen.is_token() {
            return None;
        }
        let base = &seen.base;
        Some(match seen.query.as_str() {
            q if q.starts_with("$select=") => Reply::json(200, json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups(displayName,description)",
                "@odata.nextLink": format!("{base}/v1.0/groups/delta?$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1LecfkkfLPtnIjvB7XnF_yllFsCrZJ"),
                "value": [
                    { "displayName": "TestGroup1", "description": "Employees in test group 1", "id": "c2f798fd-f95d-4623-8824-63aec21fffff",
                      "members@delta": [
                        { "@odata.type": "#microsoft.graph.user", "id": "693acd06-2877-4339-8ade-b704261fe7a0" },
                        { "@odata.type": "#microsoft.graph.user", "id": "49320844-be99-4164-8167-87ff5d047ace" }
                      ] },
                    { "displayName": "TestGroup2", "description": "Employees in test group 2", "id": "ec22655c-8eb2-432a-b4ea-8b8a254bffff" }
                ]
            })),
            q if q.starts_with("$skiptoken=pqw") => Reply::json(200, json!({
                "@odata.deltaLink": format!("{base}/v1.0/groups/delta?$deltatoken=round2"),
                "value": [
                    { "id": "c2f798fd-f95d-4623-8824-63aec21fffff",
                      "members@delta": [
                        { "@odata.type": "#microsoft.graph.user", "id": "11111111-0000-0000-0000-000000000003" },
                        { "@odata.type": "#microsoft.graph.device", "id": "22222222-0000-0000-0000-000000000004" }
                      ] }
                ]
            })),
            "$deltatoken=round2" => Reply::json(200, json!({
                "@odata.deltaLink": format!("{base}/v1.0/groups/delta?$deltatoken=round3"),
                "value": [
                    { "id": "c2f798fd-f95d-4623-8824-63aec21fffff",
                      "members@delta": [
                        { "@odata.type": "#microsoft.graph.user", "id": "49320844-be99-4164-8167-87ff5d047ace", "@removed": { "reason": "deleted" } }
                      ] },
                    { "id": "ec22655c-8eb2-432a-b4ea-8b8a254bffff", "@removed": { "reason": "changed" } }
                ]
            })),
            _ => Reply::error(400, "Request_BadRequest", "unexpected query"),
        })
    })
    .await;
    let client = stub.client();

    let (first, delta_link) = read_round(client.groups_delta(None).expect("round"))
        .await
        .expect("first round");

    assert!(
        stub.graph_requests()[0]
            .query
            .starts_with("$select=displayName,description,members")
    );
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].len(), 2, "one change per group");
    let GroupChange::Upsert {
        group,
        members_added,
        members_removed,
    } = &first[0][0]
    else {
        panic!("not an upsert");
    };
    assert_eq!(group.display_name.as_deref(), Some("TestGroup1"));
    assert_eq!(
        group.description.as_deref(),
        Some("Employees in test group 1")
    );
    assert_eq!(
        members_added,
        &[
            "693acd06-2877-4339-8ade-b704261fe7a0",
            "49320844-be99-4164-8167-87ff5d047ace",
        ]
    );
    assert!(members_removed.is_empty());
    // The group again with only a member chunk (devices skipped): not a nameless upsert.
    assert_eq!(
        first[1],
        [GroupChange::Members {
            id: "c2f798fd-f95d-4623-8824-63aec21fffff".into(),
            members_added: vec!["11111111-0000-0000-0000-000000000003".into()],
            members_removed: vec![],
        }]
    );

    let (second, _) = read_round(client.groups_delta(Some(&delta_link)).expect("round"))
        .await
        .expect("second round");

    assert_eq!(
        second[0][0],
        GroupChange::Members {
            id: "c2f798fd-f95d-4623-8824-63aec21fffff".into(),
            members_added: vec![],
            members_removed: vec!["49320844-be99-4164-8167-87ff5d047ace".into()],
        }
    );
    assert_eq!(
        second[0][1],
        GroupChange::Removed {
            id: "ec22655c-8eb2-432a-b4ea-8b8a254bffff".into(),
            permanent: false
        }
    );
    stub.stop().await;
}

#[actix_web::test]
async fn a_410_gone_or_an_expired_token_code_means_the_delta_has_expired() {
    let stub = Stub::start(|seen| {
        if seen.is_token() {
            return None;
        }
        Some(match seen.query.as_str() {
            "$deltatoken=gone" => Reply::error(410, "resyncRequired", "Resync required.").header(
                "location",
                &format!("{}/v1.0/users/delta?$deltatoken=", seen.base),
            ),
            "$deltatoken=bare" => Reply::empty(410),
            _ => Reply::error(
                400,
                "syncStateNotFound",
                "The sync state generation is not found.",
            ),
        })
    })
    .await;
    let client = stub.client();

    for token in ["gone", "bare", "unknown"] {
        let link = format!("{}/v1.0/users/delta?$deltatoken={token}", stub.base);
        let error = client
            .users_delta(Some(&link))
            .expect("round")
            .next_page()
            .await
            .expect_err("expired");
        assert!(
            matches!(error, GraphError::DeltaExpired),
            "{token}: {error:?}"
        );
    }
    let link = format!("{}/v1.0/groups/delta?$deltatoken=gone", stub.base);
    assert!(matches!(
        client
            .groups_delta(Some(&link))
            .expect("round")
            .next_page()
            .await,
        Err(GraphError::DeltaExpired)
    ));
    stub.stop().await;
}

#[actix_web::test]
async fn a_next_link_to_another_host_is_refused_before_the_token_is_sent_there() {
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| {
            Reply::json(200, json!({
                "@odata.nextLink": "https://graph.evil.example/v1.0/users/delta?$skiptoken=steal",
                "value": [ { "id": "a" } ]
            }))
        })
    })
    .await;

    let error = read_round(stub.client().users_delta(None).expect("round"))
        .await
        .expect_err("refused");

    let GraphError::Decode(message) = &error else {
        panic!("expected Decode, got {error:?}")
    };
    assert!(message.contains("graph.evil.example"), "{message}");
    assert_eq!(stub.graph_requests().len(), 1);
    stub.stop().await;
}

#[actix_web::test]
async fn a_stored_delta_link_to_another_host_is_refused() {
    let stub = Stub::start(|_| None).await;

    let error = stub
        .client()
        .users_delta(Some("http://127.0.0.1:1/v1.0/users/delta?$deltatoken=x"))
        .expect_err("refused");

    assert!(matches!(error, GraphError::Decode(_)), "{error:?}");
    assert!(stub.graph_requests().is_empty());
    stub.stop().await;
}
