//! The audit log: every change with who, when and from where, filtered and paged, and
//! exported as CSV with the same filters.

use api_types::{AuditList, AuditQuery};
use leptos::prelude::*;

use crate::api::{self, segment};
use crate::pages::number::record_item;
use crate::ui::{ErrorBox, Load, load};

/// The audit log (`/audit`).
#[component]
pub fn Audit() -> impl IntoView {
    let action = RwSignal::new(String::new());
    let actor = RwSignal::new(String::new());
    let source = RwSignal::new(String::new());
    let number = RwSignal::new(String::new());
    let cursors = RwSignal::new(vec![None::<String>]);
    let query = Memo::new(move |_| {
        let opt = |s: RwSignal<String>| Some(s.get()).filter(|v| !v.trim().is_empty());
        api::with_query(
            "",
            &AuditQuery {
                action: opt(action),
                actor: opt(actor),
                source: opt(source),
                number: opt(number),
                ..Default::default()
            },
        )
    });
    Effect::new(move |_| {
        query.track();
        cursors.set(vec![None]);
    });
    let page = load(move || {
        let qs = query.get();
        let sep = if qs.is_empty() { "?" } else { "&" };
        let mut url = format!("/api/v1/audit{qs}{sep}limit=50");
        if let Some(c) = cursors.with(|c| c.last().cloned().flatten()) {
            url.push_str(&format!("&cursor={}", segment(&c)));
        }
        async move { api::get::<AuditList>(&url).await }
    });
    let next = move || match page.get() {
        Load::Ready(p) => p.next_cursor,
        _ => None,
    };
    let input = |id: &'static str, label: &'static str, sig: RwSignal<String>, ph: &'static str| {
        view! {
            <div>
                <label for=id>{label}</label>
                <input id=id type="text" placeholder=ph prop:value=move || sig.get() on:change=move |ev| sig.set(event_target_value(&ev))/>
            </div>
        }
    };
    view! {
        <div class="page-head">
            <h1>"Audit log"</h1>
            <span class="spacer"></span>
            <a class="btn" href=move || format!("/api/v1/export/audit.csv{}", query.get()) download="audit.csv">"Export CSV"</a>
        </div>
        <div class="panel">
            <div class="filters more">
                {input("a-action", "Action", action, "number.assign")}
                {input("a-actor", "Actor", actor, "Name or id")}
                <div>
                    <label for="a-source">"Source"</label>
                    <select id="a-source" on:change=move |ev| source.set(event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {["ui", "api", "import", "rule", "sync", "scheduler", "cli"].map(|s| view! { <option value=s>{s}</option> }).collect_view()}
                    </select>
                </div>
                {input("a-number", "Number", number, "+44…")}
            </div>
        </div>
        <div class="panel">
            {move || match page.get() {
                Load::Loading => view! { <crate::ui::Loading/> }.into_any(),
                Load::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <crate::ui::Empty text="No record matches these filters."/> }.into_any(),
                Load::Ready(l) => view! { <ol class="timeline">{l.items.into_iter().map(|r| record_item(r, true)).collect_view()}</ol> }.into_any(),
            }}
        </div>
        <div class="pager">
            <button class="btn btn-sm" disabled=move || cursors.with(|c| c.len() <= 1) on:click=move |_| cursors.update(|c| { c.pop(); })>"Newer"</button>
            <button class="btn btn-sm" disabled=move || next().is_none() on:click=move |_| if let Some(n) = next() { cursors.update(|c| c.push(Some(n))) }>"Older"</button>
        </div>
    }
}
