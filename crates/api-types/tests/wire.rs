//! What clients (the web app among them) send: an optional field they leave empty is left
//! out, never sent as `null`, which the server refuses on these bodies on purpose.

use api_types::{PlatformPatch, RulePatch, SettleDrift};
use serde_json::{Value, json};

fn sent<T: serde::Serialize>(body: &T) -> Value {
    serde_json::to_value(body).expect("serialises")
}

#[test]
fn settling_all_drift_sends_an_empty_object_and_a_selection_sends_its_numbers() {
    assert_eq!(sent(&SettleDrift::default()), json!({}));
    let some = SettleDrift {
        numbers: Some(vec!["+442071230000".into()]),
    };
    assert_eq!(sent(&some), json!({"numbers": ["+442071230000"]}));
    // And the server's reading: `{}` is all, `null` is refused.
    let all: SettleDrift = serde_json::from_value(json!({})).unwrap();
    assert!(all.numbers.is_none());
    assert!(serde_json::from_value::<SettleDrift>(json!({"numbers": null})).is_err());
}

#[test]
fn empty_patches_send_nothing() {
    assert_eq!(sent(&PlatformPatch::default()), json!({}));
    assert_eq!(sent(&RulePatch::default()), json!({}));
}
