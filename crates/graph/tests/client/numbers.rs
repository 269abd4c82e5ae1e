use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use graph::{
    ActionPath, AssignNumber, Client, GraphError, NumberType, OperationLocation, OperationStatus,
    UpdateNumber,
};
use serde_json::{Value, json};

use crate::stub::{Reply, Seen, Stub};

const NUMBERS: &str = "/v1.0/admin/teams/telephoneNumberManagement/numberAssignments";
const OPERATIONS: &str = "/v1.0/admin/teams/telephoneNumberManagement/operations";

fn number(i: usize) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.teamsAdministration.numberAssignment",
        "id": format!("id-{i}"),
        "telephoneNumber": format!("+1202{i:07}"),
        "operatorId": "7a205197-8e59-487d-b9fa-3fc1b108f1e5",
        "numberType": "directRouting",
        "activationState": "activated",
        "capabilities": ["userAssignment"],
        "locationId": null,
        "assignmentTargetId": null,
        "assignmentCategory": null,
        "assignmentStatus": "unassigned",
        "isoCountryCode": "US",
        "city": null,
        "numberSource": "online",
        "supportedCustomerActions": ["locationUpdate"],
        "reverseNumberLookupOptions": []
    })
}

fn query_param(seen: &Seen, name: &str) -> Option<usize> {
    seen.query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// A number list of `total` numbers that serves at most `cap` per page, whatever `$top` says.
fn paged_list(total: usize, cap: usize) -> impl Fn(&Seen) -> Option<Reply> {
    move |seen| {
        (!seen.is_token()).then(|| {
            let top = query_param(seen, "$top").unwrap_or(500).min(cap);
            let skip = query_param(seen, "$skip").unwrap_or(0);
            let value: Vec<Value> = (skip..total.min(skip + top)).map(number).collect();
            Reply::json(200, json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#admin/teams/telephoneNumberManagement/numberAssignments",
                "value": value
            }))
        })
    }
}

#[actix_web::test]
async fn the_number_list_pages_by_top_and_skip_until_a_short_page() {
    let stub = Stub::start(paged_list(2_500, 1_000)).await;

    let numbers = stub.client().number_assignments().await.expect("list");

    assert_eq!(numbers.len(), 2_500);
    assert!(numbers.iter().all(|n| n.telephone_number.starts_with('+')));
    assert_eq!(numbers[2_499].id, "id-2499");
    let calls = stub.graph_requests();
    assert!(calls.iter().all(|c| c.path == NUMBERS));
    let skips: Vec<_> = calls.iter().map(|c| query_param(c, "$skip")).collect();
    assert_eq!(skips, [Some(0), Some(1_000), Some(2_000)]);
    assert!(calls.iter().all(|c| query_param(c, "$top") == Some(1_000)));
    stub.stop().await;
}

#[actix_web::test]
async fn a_server_that_caps_pages_at_500_is_read_to_the_end() {
    let stub = Stub::start(paged_list(1_200, 500)).await;

    let numbers = stub.client().number_assignments().await.expect("list");

    assert_eq!(numbers.len(), 1_200);
    let skips: Vec<_> = stub
        .graph_requests()
        .iter()
        .map(|c| query_param(c, "$skip"))
        .collect();
    assert_eq!(skips, [Some(0), Some(500), Some(1_000)]);
    stub.stop().await;
}

#[actix_web::test]
async fn exactly_a_thousand_numbers_take_one_more_request_that_comes_back_empty() {
    let stub = Stub::start(paged_list(1_000, 1_000)).await;

    let numbers = stub.client().number_assignments().await.expect("list");

    assert_eq!(numbers.len(), 1_000);
    assert_eq!(stub.graph_requests().len(), 2);
    stub.stop().await;
}

#[actix_web::test]
async fn the_doc_examples_single_object_value_is_one_number() {
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| Reply::json(200, json!({"value": number(7)})))
    })
    .await;

    let numbers = stub.client().number_assignments().await.expect("list");

    assert_eq!(numbers.len(), 1);
    assert_eq!(numbers[0].telephone_number, "+12020000007");
    assert_eq!(numbers[0].number_type, Some(NumberType::DirectRouting));
    stub.stop().await;
}

#[actix_web::test]
async fn the_number_list_follows_a_next_link_when_the_server_sends_one() {
    let stub = Stub::start(|seen| {
        if seen.is_token() {
            return None;
        }
        Some(if seen.query.contains("$skiptoken=p2") {
            Reply::json(200, json!({"value": [number(3)]}))
        } else {
            Reply::json(
                200,
                json!({
                    "@odata.nextLink": format!("{}{NUMBERS}?$top=1000&$skiptoken=p2", seen.base),
                    "value": [number(1), number(2)]
                }),
            )
        })
    })
    .await;

    let numbers = stub.client().number_assignments().await.expect("list");

    assert_eq!(numbers.len(), 3);
    let calls = stub.graph_requests();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].query, "$top=1000&$skiptoken=p2");
    stub.stop().await;
}

#[actix_web::test]
async fn one_number_is_read_bare_or_wrapped_in_value() {
    let stub = Stub::start(|seen| {
        if seen.is_token() {
            return None;
        }
        Some(match seen.path.rsplit('/').next() {
            Some("id-1") => Reply::json(200, number(1)),
            Some("id-2") => Reply::json(200, json!({"value": number(2)})),
            _ => Reply::error(404, "NotFound", "Number not found"),
        })
    })
    .await;
    let client = stub.client();

    assert_eq!(
        client.number_assignment("id-1").await.expect("bare").id,
        "id-1"
    );
    assert_eq!(
        client.number_assignment("id-2").await.expect("wrapped").id,
        "id-2"
    );
    let missing = client.number_assignment("id-3").await.expect_err("missing");
    assert_eq!(missing.status(), Some(404));
    assert_eq!(stub.graph_requests()[0].path, format!("{NUMBERS}/id-1"));
    stub.stop().await;
}

fn accept_actions(seen: &Seen) -> Option<Reply> {
    if seen.is_token() {
        return None;
    }
    let id = if seen.path.ends_with("assignNumber") && !seen.path.ends_with("unassignNumber") {
        "QXNzaWdubWVudHw2Y2E4Yjc0Ni00YzgxLTRhY2EtOTUyNi1jZmNjNGRiYWYyMmI"
    } else {
        "VW5hc3NpZ25tZW50fDNmNmJmMWZkLTlhMzgtNDJkNi04ZDY0LTg0ZmNmZjlmYzdmNA"
    };
    Some(Reply::empty(202).header("location", &format!("{}{OPERATIONS}('{id}')", seen.base)))
}

fn assign_request() -> AssignNumber {
    AssignNumber {
        telephone_number: "12061234567".into(),
        assignment_target_id: "94ec379d-30a2-4cdb-a377-75e42f7a61e5".into(),
        number_type: NumberType::DirectRouting,
        assignment_category: Some("primary".into()),
        location_id: None,
    }
}

async fn client_with(stub: &Stub, action_path: ActionPath) -> Client {
    let mut config = stub.config();
    config.action_path = action_path;
    Client::new(config).expect("client")
}

#[actix_web::test]
async fn assign_and_unassign_use_either_documented_action_path_and_return_the_location() {
    let stub = Stub::start(accept_actions).await;

    for (form, assign_path, unassign_path) in [
        (ActionPath::Short, "assignNumber", "unassignNumber"),
        (
            ActionPath::Qualified,
            "microsoft.graph.teamsAdministration.assignNumber",
            "microsoft.graph.teamsAdministration.unassignNumber",
        ),
    ] {
        let client = client_with(&stub, form).await;
        let before = stub.graph_requests().len();

        let assigned = client
            .assign_number(&assign_request())
            .await
            .expect("assign");
        let unassigned = client
            .unassign_number("12061234567", NumberType::DirectRouting)
            .await
            .expect("unassign");

        assert_eq!(
            assigned,
            OperationLocation(format!(
                "{}{OPERATIONS}('QXNzaWdubWVudHw2Y2E4Yjc0Ni00YzgxLTRhY2EtOTUyNi1jZmNjNGRiYWYyMmI')",
                stub.base
            ))
        );
        assert_eq!(
            assigned.id().as_deref(),
            Some("QXNzaWdubWVudHw2Y2E4Yjc0Ni00YzgxLTRhY2EtOTUyNi1jZmNjNGRiYWYyMmI")
        );
        assert!(
            unassigned.0.ends_with(
                "('VW5hc3NpZ25tZW50fDNmNmJmMWZkLTlhMzgtNDJkNi04ZDY0LTg0ZmNmZjlmYzdmNA')"
            )
        );
        let calls = &stub.graph_requests()[before..];
        assert_eq!(calls[0].method, "POST");
        assert_eq!(calls[0].path, format!("{NUMBERS}/{assign_path}"));
        assert_eq!(calls[0].header("content-type"), Some("application/json"));
        assert_eq!(
            calls[0].json(),
            json!({"telephoneNumber": "12061234567", "assignmentTargetId": "94ec379d-30a2-4cdb-a377-75e42f7a61e5",
                   "numberType": "directRouting", "assignmentCategory": "primary"})
        );
        assert_eq!(calls[1].path, format!("{NUMBERS}/{unassign_path}"));
        assert_eq!(
            calls[1].json(),
            json!({"telephoneNumber": "12061234567", "numberType": "directRouting"})
        );
    }
    stub.stop().await;
}

#[actix_web::test]
async fn an_accepted_assign_without_a_location_is_a_decode_error() {
    let stub = Stub::start(|seen| (!seen.is_token()).then(|| Reply::empty(202))).await;

    let error = stub
        .client()
        .assign_number(&assign_request())
        .await
        .expect_err("no location");

    assert!(
        matches!(&error, GraphError::Decode(m) if m.contains("Location")),
        "{error:?}"
    );
    stub.stop().await;
}

#[actix_web::test]
async fn an_already_assigned_number_is_an_api_error_with_code_and_message() {
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| {
            Reply::error(
                400,
                "BadRequest",
                "Telephone Number '+12061234567' has already been assigned to another user",
            )
        })
    })
    .await;

    let error = stub
        .client()
        .assign_number(&assign_request())
        .await
        .expect_err("refused");

    let GraphError::Api {
        status,
        code,
        message,
        request_id,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!((*status, code.as_str()), (400, "BadRequest"));
    assert!(message.contains("has already been assigned"));
    assert_eq!(
        request_id.as_deref(),
        Some("f58cc4de-b427-41de-b37c-46ee4925a26d")
    );
    assert!(!error.is_transient());
    assert_eq!(
        stub.graph_requests().len(),
        1,
        "a business error is not retried"
    );
    stub.stop().await;
}

#[actix_web::test]
async fn update_number_sends_an_empty_location_to_clear_and_skips_kept_fields() {
    let stub = Stub::start(|seen| (!seen.is_token()).then(|| Reply::empty(200))).await;

    stub.client()
        .update_number(&UpdateNumber {
            telephone_number: "+12061234567".into(),
            location_id: Some(String::new()),
            network_site_id: None,
            reverse_number_lookup_options: Some(vec!["skipInternalVoip".into()]),
        })
        .await
        .expect("updated");

    let call = &stub.graph_requests()[0];
    assert_eq!(call.path, format!("{NUMBERS}/updateNumber"));
    assert_eq!(
        call.json(),
        json!({"telephoneNumber": "+12061234567", "locationId": "", "reverseNumberLookupOptions": ["skipInternalVoip"]})
    );
    stub.stop().await;
}

fn operation(status: &str, number_status: &str, detail: Option<&str>) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.teamsAdministration.telephoneNumberLongRunningOperation",
        "id": "QXNzaWdubWVudHw2Y2E4Yjc0Ni00YzgxLTRhY2EtOTUyNi1jZmNjNGRiYWYyMmI",
        "createdDateTime": "2025-02-03T22:03:26Z",
        "status": status,
        "numbers": [{
            "resourceLocation": "https://graph.microsoft.com/v1.0/admin/teams/telephoneNumberManagement/numberAssignments/N2EyMDUxOTctOGU1OS00ODdkLWI5ZmEtM2ZjMWIxMDhmMWU1fCsxMjA2MTIzNDU2Nw",
            "status": number_status,
            "statusDetail": detail
        }]
    })
}

#[actix_web::test]
async fn an_operation_is_read_from_either_location_form_bare_or_wrapped() {
    let stub = Stub::start(|seen| {
        if seen.is_token() {
            return None;
        }
        Some(if seen.path.ends_with(')') {
            Reply::json(
                200,
                json!({"value": operation("succeeded", "succeeded", None)}),
            )
        } else {
            Reply::json(200, operation("succeeded", "succeeded", None))
        })
    })
    .await;
    let client = stub.client();
    let keyed = OperationLocation(format!("{}{OPERATIONS}('QXNz')", stub.base));
    let slashed = OperationLocation(format!("{}{OPERATIONS}/QXNz", stub.base));

    let wrapped = client.operation(&keyed).await.expect("keyed and wrapped");
    let bare = client.operation(&slashed).await.expect("slashed and bare");

    assert_eq!(wrapped, bare);
    assert_eq!(wrapped.status, OperationStatus::Succeeded);
    assert_eq!(wrapped.numbers.len(), 1);
    let calls = stub.graph_requests();
    assert_eq!(calls[0].path, format!("{OPERATIONS}('QXNz')"));
    assert_eq!(calls[1].path, format!("{OPERATIONS}/QXNz"));
    stub.stop().await;
}

#[actix_web::test]
async fn waiting_polls_a_running_operation_until_it_succeeds() {
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = polls.clone();
    let stub = Stub::start(move |seen| {
        (!seen.is_token()).then(|| match counter.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::json(200, operation("notStarted", "notStarted", None)),
            1 => Reply::json(200, operation("running", "running", None)),
            _ => Reply::json(200, operation("succeeded", "succeeded", None)),
        })
    })
    .await;
    let location = OperationLocation(format!("{}{OPERATIONS}('QXNz')", stub.base));

    let done = stub.client().wait_for(&location).await.expect("finished");

    assert_eq!(done.status, OperationStatus::Succeeded);
    assert_eq!(done.failure_detail(), None);
    assert_eq!(polls.load(Ordering::SeqCst), 3);
    stub.stop().await;
}

#[actix_web::test]
async fn a_failed_operation_ends_the_wait_with_its_status_detail() {
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| {
            Reply::json(200, operation("failed", "failed", Some("User '94ec379d' lacks appropriate licenses to assign a 'CallingPlan' number")))
        })
    })
    .await;
    let location = OperationLocation(format!("{}{OPERATIONS}('QXNz')", stub.base));

    let done = stub.client().wait_for(&location).await.expect("finished");

    assert_eq!(done.status, OperationStatus::Failed);
    assert_eq!(
        done.failure_detail().as_deref(),
        Some("User '94ec379d' lacks appropriate licenses to assign a 'CallingPlan' number")
    );
    stub.stop().await;
}

#[actix_web::test]
async fn an_operation_that_never_finishes_times_out() {
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| Reply::json(200, operation("running", "running", None)))
    })
    .await;
    let mut config = stub.config();
    config.poll.give_up_after = std::time::Duration::from_millis(150);
    let location = OperationLocation(format!("{}{OPERATIONS}('QXNz')", stub.base));

    let error = Client::new(config)
        .expect("client")
        .wait_for(&location)
        .await
        .expect_err("timed out");

    assert!(
        matches!(&error, GraphError::OperationTimedOut { location: l } if *l == location.0),
        "{error:?}"
    );
    assert!(stub.graph_requests().len() >= 2);
    stub.stop().await;
}

#[actix_web::test]
async fn a_location_on_another_host_is_refused() {
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| {
            Reply::empty(202).header("location", "https://elsewhere.example/v1.0/admin/teams/telephoneNumberManagement/operations('x')")
        })
    })
    .await;
    let client = stub.client();

    let error = client
        .assign_number(&assign_request())
        .await
        .expect_err("refused");
    assert!(matches!(error, GraphError::Decode(_)), "{error:?}");
    let foreign = OperationLocation(
        "https://elsewhere.example/v1.0/admin/teams/telephoneNumberManagement/operations('x')"
            .into(),
    );
    assert!(matches!(
        client.operation(&foreign).await,
        Err(GraphError::Decode(_))
    ));
    assert_eq!(stub.graph_requests().len(), 1);
    stub.stop().await;
}
