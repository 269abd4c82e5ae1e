//! Webhook platforms: a receiver in the test checks every delivery's signature.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use domain::{NumberType, PhoneNumber};
use store::{jobs::JobState, numbers::NewNumber, testing::owner};

use super::{run_until_done, secret_key, worker};

const SECRET: &str = "a-webhook-signing-secret";

#[derive(Default)]
struct Received {
    deliveries: Vec<(String, serde_json::Value)>,
    /// Answer 503 to the first this-many requests.
    fail_first: usize,
    seen: usize,
}

/// Checks `t=<ts>,v1=<hex>` against HMAC-SHA256(secret, "<ts>.<body>").
fn verify(header: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
    else {
        return false;
    };
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    let mac = store::secrets::hmac_sha256(SECRET.as_bytes(), &message);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    hex == v1
}

async fn receive(
    state: web::Data<Arc<Mutex<Received>>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let mut r = state.lock().unwrap();
    r.seen += 1;
    if r.seen <= r.fail_first {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let header = req
        .headers()
        .get("X-Telestate-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify(header, &body) {
        return HttpResponse::Unauthorized().finish();
    }
    let event = req
        .headers()
        .get("X-Telestate-Event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    r.deliveries
        .push((event, serde_json::from_slice(&body).unwrap()));
    HttpResponse::NoContent().finish()
}

#[actix_web::test]
async fn every_change_on_a_webhook_platform_is_delivered_signed_and_retried() {
    let received = Arc::new(Mutex::new(Received {
        fail_first: 1,
        ..Default::default()
    }));
    let data = web::Data::new(received.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/hook", web::post().to(receive))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());

    let t = store::testing::TestDb::new();
    let key = secret_key();
    let platform =
        t.db.write(|c| {
            let sealer = store::settings::sealer(c, &key)?;
            let input = store::platforms::NewPlatform {
                name: "ITSM".into(),
                kind: "webhook".into(),
                url: Some(format!("http://{addr}/hook")),
                signing_secret: Some(SECRET.into()),
                ..Default::default()
            };
            store::platforms::create(c, &owner(), &sealer, input)
        })
        .unwrap()
        .id;
    let service =
        t.db.write(|c| {
            store::services::create(
                c,
                &owner(),
                store::services::ServiceInput {
                    name: "Main Reception".into(),
                    kind: "auto_attendant".into(),
                    platform_id: None,
                    external_id: None,
                    description: String::new(),
                },
            )
        })
        .unwrap();
    let new = NewNumber {
        number: PhoneNumber::parse("+442071230001").unwrap(),
        location_id: None,
        tags: vec![],
        description: String::new(),
        platform_id: Some(platform),
        number_type: Some(NumberType::DirectRouting),
    };
    t.db.write(|c| store::numbers::create(c, &owner(), new))
        .unwrap();
    let target =
        t.db.read(|c| store::directory::resolve_target(c, "service", &service.id.to_string()))
            .unwrap();
    let assign = store::lifecycle::Request::Assign {
        target,
        override_reservation: false,
        override_quarantine: false,
        reassign: false,
    };
    t.db.write(|c| store::lifecycle::apply(c, &owner(), "+442071230001", assign, None))
        .unwrap();
    let w = worker(&t, "w1");
    let jobs = run_until_done(&t, std::slice::from_ref(&w), Duration::from_secs(30)).await;
    assert_eq!(jobs[0].state, JobState::Succeeded);
    assert_eq!(jobs[0].attempts, 2, "the 503 was retried");
    let unassign = store::lifecycle::Request::Unassign {
        quarantine_days: None,
        reason: None,
    };
    t.db.write(|c| store::lifecycle::apply(c, &owner(), "+442071230001", unassign, None))
        .unwrap();
    run_until_done(&t, &[w], Duration::from_secs(30)).await;
    let r = received.lock().unwrap();
    let events: Vec<&str> = r.deliveries.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(events, vec!["number.assigned", "number.unassigned"]);
    let first = &r.deliveries[0].1;
    assert_eq!(first["number"], "+442071230001");
    assert_eq!(first["target"]["kind"], "service");
    assert_eq!(first["target"]["name"], "Main Reception");
    assert_eq!(first["platform"], "ITSM");
}
