//! A number's page: its details, an edit form for tags, description and site (guarded by
//! `If-Match`), the lifecycle actions its status allows, and its history as a timeline.

use api_types::{AuditList, AuditRecord, Number, NumberPatch, Role};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use crate::api::{self, segment};
use crate::app::{auth, lookups, needs};
use crate::live::live;
use crate::pages::actions::{ActButton, ActionDialog, Pending, actions_for};
use crate::pages::estate::spec;
use crate::pages::numbers::holder;
use crate::ui::{
    ErrorBox, Form, Load, Loading, Sending, StatusBadge, Submit, Tags, fields, fmt_time,
    form_dialog, load, plain_key, tag_list,
};

/// The number page (`/numbers/:number`).
#[component]
pub fn NumberPage() -> impl IntoView {
    let params = use_params_map();
    let e164 = Memo::new(move |_| params.with(|p| p.get("number").unwrap_or_default()));
    let live = live();
    let number = load(move || {
        let n = e164.get();
        async move { api::get::<Number>(&format!("/api/v1/numbers/{}", segment(&n))).await }
    });
    let history = load(move || {
        let n = e164.get();
        live.tick.track();
        async move {
            api::get::<AuditList>(&format!(
                "/api/v1/numbers/{}/history?limit=100",
                segment(&n)
            ))
            .await
        }
    });
    Effect::new(move |_| {
        if let Some(n) = live.number.get()
            && n.number == e164.get_untracked()
        {
            number.set(Load::Ready(n));
        }
    });
    let pending = RwSignal::new(None::<Pending>);
    let on_done = Callback::new(move |changed: Vec<Number>| {
        if let Some(n) = changed.into_iter().next() {
            number.set(Load::Ready(n));
        }
    });
    // The number a delete confirmation is open for, at the version shown: held here, not
    // in `Details`, which a live update of the number renders anew.
    let deleting = RwSignal::new(None::<(String, i64)>);
    // Likewise the number an edit form is open for, as it was when opened.
    let editing = RwSignal::new(None::<Number>);
    let navigate = leptos_router::hooks::use_navigate();
    let gone = Callback::new(move |()| navigate("/numbers", Default::default()));
    view! {
        <div class="crumbs"><A href="/numbers">"Numbers"</A>" / "</div>
        {move || match number.get() {
            Load::Loading => view! { <Loading/> }.into_any(),
            Load::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
            Load::Ready(n) => view! { <Details n=n open=pending.write_only() deleting=deleting editing=editing/> }.into_any(),
        }}
        <div class="panel">
            <h2>"History"</h2>
            {move || match history.get() {
                Load::Loading => view! { <Loading/> }.into_any(),
                Load::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <crate::ui::Empty text="No changes recorded yet."/> }.into_any(),
                Load::Ready(l) => view! { <ol class="timeline" data-testid="history">{l.items.into_iter().map(timeline_item).collect_view()}</ol> }.into_any(),
            }}
        </div>
        {move || pending.get().map(|p| view! {
            <ActionDialog pending=p on_close=Callback::new(move |()| pending.set(None)) on_done=on_done/>
        })}
        {move || deleting.get().map(|(e164, version)| crate::ui::delete_dialog(
            format!("Delete {e164}?"),
            "It leaves the inventory; its history stays in the audit log.".into(),
            "Delete number", format!("/api/v1/numbers/{}", segment(&e164)), Some(version),
            format!("Deleted {e164}"), Callback::new(move |()| deleting.set(None)), gone))}
        {move || editing.get().map(|n| edit_dialog(n, editing, number))}
    }
}

#[component]
fn Details(
    n: Number,
    open: WriteSignal<Option<Pending>>,
    deleting: RwSignal<Option<(String, i64)>>,
    editing: RwSignal<Option<Number>>,
) -> impl IntoView {
    let auth = auth();
    let lookups = lookups();
    let can_act = auth.can(Role::Operator);
    let (who, sub) = holder(&n);
    // Only an available number leaves the inventory (the server answers 409 otherwise).
    let delete_why = if !auth.can(Role::Admin) {
        Some(needs(Role::Admin))
    } else if n.status != api_types::NumberStatus::Available {
        Some("Only an available number can be deleted: release or unassign it first".to_string())
    } else {
        None
    };
    let del = (n.number.clone(), n.version);
    let acts = actions_for(n.status);
    let assigned = n.status == api_types::NumberStatus::Assigned;
    let nn = n.clone();
    view! {
        <div class="page-head">
            <h1 class="e164">{n.number.clone()}</h1>
            <StatusBadge status=n.status/>
            <span class="spacer"></span>
            {if can_act {
                view! {
                    <span class="btn-row">
                        {acts.iter().map(|a| view! { <ActButton act=*a number=n.number.clone() open=open reassign=assigned/> }).collect_view()}
                        <button class="btn" on:click=move |_| editing.set(Some(nn.clone()))>"Edit"</button>
                        <button class="btn" disabled=delete_why.is_some() title=delete_why.unwrap_or_default()
                            on:click=move |_| deleting.set(Some(del.clone()))>"Delete…"</button>
                    </span>
                }.into_any()
            } else {
                view! { <span class="subtle" title=needs(Role::Operator)>"Read-only"</span> }.into_any()
            }}
        </div>
        <div class="grid grid-3-1">
            <div class="panel">
                <h2>"Details"</h2>
                <dl class="props">
                    <dt>"Holder"</dt><dd>{if who.is_empty() { "—".to_string() } else { who }}" "<span class="muted">{sub}</span></dd>
                    {n.assignment.as_ref().map(|a| view! {
                        <dt>"Assigned"</dt><dd>{fmt_time(&a.assigned_at)}" by "{a.assigned_by.clone()}</dd>
                        <dt>"Provisioning"</dt><dd>
                            <span class=format!("badge {}", if a.provisioning.state.as_str() == "failed" { "b-failed" } else { "b-neutral" })>{a.provisioning.state.as_str()}</span>
                            " "{a.provisioning.error.clone().unwrap_or_default()}
                        </dd>
                    })}
                    {n.reservation.as_ref().map(|r| view! {
                        <dt>"Reserved"</dt><dd>{r.reason.clone()}" — by "{r.reserved_by.clone()}
                            {r.reserved_for.clone().map(|f| format!(", for {f}"))}
                            {r.expires_at.as_ref().map(|e| format!(", until {}", fmt_time(e)))}</dd>
                    })}
                    {n.quarantine.as_ref().map(|q| view! {
                        <dt>"Quarantined"</dt><dd>"until "{fmt_time(&q.until)}{q.reason.clone().map(|r| format!(" — {r}"))}
                            {q.previous_assignee.as_ref().map(|p| format!(" (was {})", p.name))}</dd>
                    })}
                    <dt>"Location"</dt><dd>{let id = n.location_id.clone(); move || lookups.location(&id)}</dd>
                    <dt>"Range"</dt><dd>{let id = n.range_id.clone(); move || lookups.range(&id)}</dd>
                    <dt>"Country"</dt><dd>{n.country.clone()}</dd>
                    <dt>"Platform"</dt><dd>{let id = n.platform_id.clone(); move || lookups.platform(&id)}" "<span class="muted">{n.number_type.map(|t| t.as_str().replace('_', " "))}</span></dd>
                    <dt>"Tags"</dt><dd><Tags tags=n.tags.clone()/></dd>
                    <dt>"Description"</dt><dd>{if n.description.is_empty() { "—".to_string() } else { n.description.clone() }}</dd>
                    <dt>"Version"</dt><dd>{n.version}" · changed "{fmt_time(&n.updated_at)}</dd>
                </dl>
            </div>
            <div class="panel">
                <h2>"Where it is used"</h2>
                {match n.assignment.clone() {
                    Some(a) if a.target.kind.as_str() == "user" => view! { <p>"Assigned to directory user "<A href=format!("/users?q={}", segment(&a.target.name))>{a.target.name.clone()}</A></p> }.into_any(),
                    Some(a) => view! { <p>"Assigned to service "<A href="/services">{a.target.name.clone()}</A></p> }.into_any(),
                    None => view! { <p class="subtle">"Not assigned."</p> }.into_any(),
                }}
                <p><a href=format!("/api/v1/export/numbers.csv?q={}", segment(n.number.trim_start_matches('+'))) download="number.csv">"Export as CSV"</a></p>
            </div>
        </div>
    }
}

/// The edit form's fields a refusal can name.
const EDIT_FIELDS: &[&str] = &["tags", "description", "location_id"];

/// Edits a number's tags, description and site (`PATCH` with `If-Match` on the version
/// it was opened at); a refusal naming a field shows there.
fn edit_dialog(
    n: Number,
    editing: RwSignal<Option<Number>>,
    number: RwSignal<Load<Number>>,
) -> AnyView {
    let lookups = lookups();
    let tags = RwSignal::new(n.tags.join(", "));
    let description = RwSignal::new(n.description.clone());
    let location = RwSignal::new(n.location_id.clone().unwrap_or_default());
    let form = Form {
        prefix: "edit",
        key: plain_key,
        error: RwSignal::new(None),
    };
    let (version, e164) = (n.version, n.number.clone());
    let submit: Submit = std::sync::Arc::new(move || {
        let loc = location.get_untracked();
        let patch = NumberPatch {
            description: Some(description.get_untracked()),
            tags: Some(tag_list(&tags.get_untracked())),
            location_id: Some((!loc.is_empty()).then_some(loc)),
            ..Default::default()
        };
        let path = format!("/api/v1/numbers/{}", segment(&e164));
        Some(Box::pin(async move {
            let updated =
                api::send_if_match::<_, Number>("PATCH", &path, Some(&patch), version).await?;
            let text = format!("Saved {}", updated.number);
            // After the dialog has closed, so the details it sits beside re-render alone.
            set_timeout(
                move || number.set(Load::Ready(updated)),
                std::time::Duration::ZERO,
            );
            Ok(text)
        }) as Sending)
    });
    let sites = lookups.site_choices("None");
    let body = fields(
        vec![
            spec("tags", "Tags", tags, Vec::new(), "Comma-separated"),
            spec("description", "Description", description, Vec::new(), ""),
            spec("location_id", "Location", location, sites, ""),
        ],
        form,
        false,
    );
    crate::ui::focus_id(form.id("tags"));
    form_dialog(
        format!("Edit {}", n.number),
        form,
        EDIT_FIELDS,
        body,
        "Save",
        Callback::new(move |()| editing.set(None)),
        submit,
    )
}

/// One audit record as a timeline entry: what, who, when, from where, and what changed.
pub fn timeline_item(r: AuditRecord) -> impl IntoView {
    record_item(r, false)
}

/// A timeline entry that also names the thing changed (for the audit log).
pub fn record_item(r: AuditRecord, subject: bool) -> impl IntoView {
    let changed = diff(&r);
    let what = r.action.clone();
    let subject = subject.then(|| {
        if r.entity == "number" {
            view! { " " <A href=format!("/numbers/{}", segment(&r.entity_id)) attr:class="e164">{r.entity_id.clone()}</A> }.into_any()
        } else {
            view! { " " <span class="muted">{format!("{} {}", r.entity, r.entity_id)}</span> }.into_any()
        }
    });
    view! {
        <li>
            <div class="what">{what}{subject}</div>
            <div class="meta">{fmt_time(&r.at)}" · "{r.actor.name.clone()}" · "{r.source.as_str()}
                {r.change_set_id.clone().map(|c| view! { " · " <A href=format!("/change-sets/{}", segment(&c))>"change set"</A> })}</div>
            {(!changed.is_empty()).then(|| view! { <div class="diff">{changed}</div> })}
        </li>
    }
}

/// `status: available → assigned; tags: … → …` from a record's before and after.
fn diff(r: &AuditRecord) -> String {
    let (Some(b), Some(a)) = (
        r.before.as_ref().and_then(|v| v.as_object()),
        r.after.as_ref().and_then(|v| v.as_object()),
    ) else {
        return String::new();
    };
    let short = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "—".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("name")
            .or_else(|| o.get("reason"))
            .map(|x| x.to_string().trim_matches('"').to_string())
            .unwrap_or_else(|| "…".into()),
        Some(other) => other.to_string(),
    };
    let mut parts = Vec::new();
    for (k, av) in a {
        if ["version", "updated_at", "format"].contains(&k.as_str()) {
            continue;
        }
        let bv = b.get(k);
        if bv != Some(av) {
            parts.push(format!("{k}: {} → {}", short(bv), short(Some(av))));
        }
    }
    parts.join("; ")
}
