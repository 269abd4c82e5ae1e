//! The live feed: one `EventSource` on `GET /api/v1/events` for the whole session (the
//! cookie authenticates it). Screens read [`Live`]'s signals: `tick` changes on every
//! event (the dashboard reloads its counts), `numbers` carries each changed number's new
//! state (tables patch their rows in place), `recent` is the activity feed.

use api_types::{ChangeEvent, Number};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

/// SSE event names are audit actions; an `EventSource` only delivers names it listens
/// for, so these are every action the server emits (crates/store and crates/worker).
const EVENTS: &[&str] = &[
    "number.create",
    "number.update",
    "number.delete",
    "number.assign",
    "number.reassign",
    "number.unassign",
    "number.reserve",
    "number.release",
    "number.quarantine",
    "number.assigned",
    "number.reassigned",
    "number.unassigned",
    "number.provisioned",
    "number.provisioning_failed",
    "number.provisioning_retry",
    "range.create",
    "range.update",
    "range.delete",
    "location.create",
    "location.update",
    "location.delete",
    "service.create",
    "service.update",
    "service.delete",
    "platform.create",
    "platform.update",
    "platform.delete",
    "platform.sync_requested",
    "rule.create",
    "rule.update",
    "rule.delete",
    "settings.update",
    "admin.create",
    "admin.update",
    "admin.delete",
    "api_token.create",
    "api_token.revoke",
];

/// The session's live feed.
#[derive(Clone, Copy)]
pub struct Live {
    /// Whether the stream is open.
    pub connected: RwSignal<bool>,
    /// Changes on every event (and on `reset`): reload what you show.
    pub tick: RwSignal<u64>,
    /// The latest changed number, as `GET /numbers/{number}` would show it.
    pub number: RwSignal<Option<Number>>,
    /// The latest events, newest first (at most 30).
    pub recent: RwSignal<Vec<ChangeEvent>>,
    source: StoredValue<Option<EventSource>, LocalStorage>,
}

impl Live {
    /// Opens the stream.
    pub fn start() -> Live {
        let live = Live {
            connected: RwSignal::new(false),
            tick: RwSignal::new(0),
            number: RwSignal::new(None),
            recent: RwSignal::new(Vec::new()),
            source: StoredValue::new_local(None),
        };
        let Ok(es) = EventSource::new("/api/v1/events") else {
            return live;
        };
        let on_open = Closure::<dyn FnMut()>::new(move || live.connected.set(true));
        es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();
        let on_error = Closure::<dyn FnMut()>::new(move || live.connected.set(false));
        es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        let on_change = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(text) = ev.data().as_string() else {
                return;
            };
            let Ok(change) = serde_json::from_str::<ChangeEvent>(&text) else {
                return;
            };
            if change.entity == "number"
                && let Some(n) = change
                    .data
                    .clone()
                    // Through text, not `from_value`: `Number` is decoded from text
                    // everywhere else, and a second decoder for it (and the types in
                    // it) would be compiled just for this.
                    .and_then(|d| serde_json::from_str::<Number>(&d.to_string()).ok())
            {
                live.number.set(Some(n));
            }
            live.recent.update(|r| {
                r.insert(0, change);
                r.truncate(30);
            });
            live.tick.update(|t| *t += 1);
        });
        for name in EVENTS {
            let _ = es.add_event_listener_with_callback(name, on_change.as_ref().unchecked_ref());
        }
        on_change.forget();
        let on_mark = Closure::<dyn FnMut(MessageEvent)>::new(move |_| {
            live.connected.set(true);
            live.tick.update(|t| *t += 1);
        });
        let _ = es.add_event_listener_with_callback("ready", on_mark.as_ref().unchecked_ref());
        let _ = es.add_event_listener_with_callback("reset", on_mark.as_ref().unchecked_ref());
        on_mark.forget();
        live.source.set_value(Some(es));
        live
    }

    /// Closes the stream (on logout).
    pub fn stop(&self) {
        if let Some(es) = self.source.try_get_value().flatten() {
            es.close();
        }
    }
}

/// The live feed context.
pub fn live() -> Live {
    expect_context::<Live>()
}
