use graph::{GraphError, GroupChange, UserChange};
use serde_json::json;

use crate::stub::{Reply, Stub};

#[actix_web::test]
async fn users_delta_follows_next_links_verbatim_to_the_delta_link() {
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

    let delta = stub.client().users_delta(None).await.expect("delta");

    assert_eq!(delta.changes.len(), 3);
    let UserChange::Upsert(user) = &delta.changes[0] else {
        panic!("not an upsert")
    };
    assert_eq!(user.id, "ffff7b1a-13b6-477b-8c0c-380905cd99f7");
    assert_eq!(user.display_name.as_deref(), Some("Cameron White"));
    assert_eq!(user.department.as_deref(), Some("Sales"));
    assert_eq!(user.account_enabled, Some(true));
    assert_eq!(user.mail, None);
    assert_eq!(
        delta.changes[1],
        UserChange::Removed {
            id: "86462606-fde0-4fc4-9e0c-a20eb73e54c6".into(),
            permanent: true
        }
    );
    assert_eq!(
        delta.changes[2],
        UserChange::Removed {
            id: "9c3bd5c8-0000-0000-0000-000000000001".into(),
            permanent: false
        }
    );
    assert!(delta.delta_link.ends_with("/v1.0/users/delta?$deltatoken=oEcOySpF_hWYmTIUZBOIfPzcwisr_rPe8o9M54L45qEXQGmvQC6T2dbL-9O7nSU-njKhFiGlAZqewNAThmCVnNxqPu5gOBegrm1CaVZ-ZtFZ2tPOAO98OD9y0ao460"));

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

    let delta = stub
        .client()
        .users_delta(Some(&stored))
        .await
        .expect("delta");

    assert!(delta.changes.is_empty());
    assert_eq!(stub.graph_requests()[0].query, "$deltatoken=abc%3D%3D");
    stub.stop().await;
}

#[actix_web::test]
async fn groups_delta_merges_a_groups_member_chunks_across_pages_and_sees_removals_later() {
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

    let first = client.groups_delta(None).await.expect("first round");

    assert!(
        stub.graph_requests()[0]
            .query
            .starts_with("$select=displayName,description,members")
    );
    assert_eq!(first.changes.len(), 2, "one change per group");
    let GroupChange::Upsert {
        group,
        members_added,
        members_removed,
    } = &first.changes[0]
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
            "11111111-0000-0000-0000-000000000003"
        ]
    );
    assert!(members_removed.is_empty());

    let second = client
        .groups_delta(Some(&first.delta_link))
        .await
        .expect("second round");

    let GroupChange::Upsert {
        members_added,
        members_removed,
        ..
    } = &second.changes[0]
    else {
        panic!("not an upsert");
    };
    assert!(members_added.is_empty());
    assert_eq!(members_removed, &["49320844-be99-4164-8167-87ff5d047ace"]);
    assert_eq!(
        second.changes[1],
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
        let error = client.users_delta(Some(&link)).await.expect_err("expired");
        assert!(
            matches!(error, GraphError::DeltaExpired),
            "{token}: {error:?}"
        );
    }
    let link = format!("{}/v1.0/groups/delta?$deltatoken=gone", stub.base);
    assert!(matches!(
        client.groups_delta(Some(&link)).await,
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

    let error = stub.client().users_delta(None).await.expect_err("refused");

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
        .await
        .expect_err("refused");

    assert!(matches!(error, GraphError::Decode(_)), "{error:?}");
    assert!(stub.graph_requests().is_empty());
    stub.stop().await;
}
