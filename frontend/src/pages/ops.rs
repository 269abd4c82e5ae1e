//! Platforms (with sync and drift), provisioning jobs (with retry) and rules.

use api_types::{DriftList, JobList, Platform, PlatformList, ProvisioningJob, Role, RuleList};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{self, segment};
use crate::app::{auth, needs};
use crate::ui::{ErrorBox, Load, fmt_time, load, toasts};

/// Platforms, each with its last sync, a Sync button and its drift.
#[component]
pub fn Platforms() -> impl IntoView {
    let auth = auth();
    let toasts = toasts();
    let admin = auth.can(Role::Admin);
    let refresh = RwSignal::new(0u32);
    let list = load(move || {
        refresh.track();
        async { api::get::<PlatformList>("/api/v1/platforms?limit=100").await }
    });
    let drift_of = RwSignal::new(None::<(String, Load<DriftList>)>);
    let sync = move |id: String| {
        leptos::task::spawn_local(async move {
            match api::send::<(), Platform>(
                "POST",
                &format!("/api/v1/platforms/{}/sync", segment(&id)),
                None,
            )
            .await
            {
                Ok(_) => {
                    toasts.ok("Sync requested");
                    refresh.update(|r| *r += 1)
                }
                Err(e) => toasts.err(e.message),
            }
        });
    };
    let show_drift = move |id: String| {
        drift_of.set(Some((id.clone(), Load::Loading)));
        leptos::task::spawn_local(async move {
            let r = api::get::<DriftList>(&format!(
                "/api/v1/platforms/{}/drift?limit=200",
                segment(&id)
            ))
            .await;
            drift_of.set(Some((
                id,
                match r {
                    Ok(d) => Load::Ready(d),
                    Err(e) => Load::Failed(e),
                },
            )));
        });
    };
    view! {
        <div class="page-head"><h1>"Platforms"</h1></div>
        <div class="table-wrap"><table class="data cards">
            <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Last sync"</th><th>"Result"</th><th class="actions"><span class="sr-only">"Actions"</span></th></tr></thead>
            <tbody>{move || match list.get() {
                Load::Loading => view! { <tr><td colspan="5"><crate::ui::Loading/></td></tr> }.into_any(),
                Load::Failed(e) => view! { <tr><td colspan="5"><ErrorBox error=e/></td></tr> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <tr><td colspan="5"><crate::ui::Empty text="No platform configured."/></td></tr> }.into_any(),
                Load::Ready(l) => l.items.into_iter().map(|p| {
                    let teams = p.kind.as_str() == "teams";
                    let (id1, id2) = (p.id.clone(), p.id.clone());
                    let last = p.sync.as_ref().and_then(|s| s.finished_at.as_ref().map(fmt_time)).unwrap_or_else(|| "never".into());
                    let result = p.sync.as_ref().map(|s| match &s.error {
                        Some(e) => format!("failed: {e}"),
                        None => format!("{} users changed, {} groups", s.users_changed, s.groups_changed),
                    }).unwrap_or_default();
                    view! { <tr>
                        <td data-label="Name">{p.name.clone()}</td>
                        <td data-label="Kind">{p.kind.as_str()}</td>
                        <td data-label="Last sync">{last}</td>
                        <td data-label="Result" class="muted">{result}</td>
                        <td class="actions"><span class="btn-row">
                            {teams.then(|| view! {
                                <button class="btn btn-sm" disabled=!admin title=if admin { String::new() } else { needs(Role::Admin) } on:click=move |_| sync(id1.clone())>"Sync now"</button>
                                <button class="btn btn-sm" on:click=move |_| show_drift(id2.clone())>"Drift"</button>
                            })}
                        </span></td>
                    </tr> }
                }).collect_view().into_any(),
            }}</tbody>
        </table></div>
        {move || drift_of.get().map(|(_, d)| view! {
            <div class="panel">
                <h2>"Drift between the inventory and Teams"</h2>
                {match d {
                    Load::Loading => view! { <crate::ui::Loading/> }.into_any(),
                    Load::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Load::Ready(l) if l.items.is_empty() => view! { <crate::ui::Empty text="No drift: Teams matches the inventory."/> }.into_any(),
                    Load::Ready(l) => view! { <div class="table-wrap"><table class="data cards">
                        <thead><tr><th>"Number"</th><th>"Kind"</th><th>"Inventory"</th><th>"Teams"</th></tr></thead>
                        <tbody>{l.items.into_iter().map(|i| { let h = format!("/numbers/{}", segment(&i.number)); view! { <tr>
                            <td data-label="Number"><A href=h attr:class="e164">{i.number.clone()}</A></td>
                            <td data-label="Kind"><span class="badge b-reserved">{i.kind.replace('_', " ")}</span></td>
                            <td data-label="Inventory">{i.inventory_status.clone()}" "{i.inventory_target.as_ref().map(|t| t.name.clone())}</td>
                            <td data-label="Teams">{i.teams_status.clone()}" "{i.teams_target_id.clone()}</td>
                        </tr> } }).collect_view()}</tbody>
                    </table></div> }.into_any(),
                }}
            </div>
        })}
    }
}

/// Provisioning jobs, newest first, with retry for failed ones.
#[component]
pub fn Jobs() -> impl IntoView {
    let auth = auth();
    let toasts = toasts();
    let can_retry = auth.can(Role::Admin);
    let refresh = RwSignal::new(0u32);
    let list = load(move || {
        refresh.track();
        async { api::get::<JobList>("/api/v1/provisioning/jobs?limit=100").await }
    });
    let retry = move |id: String| {
        leptos::task::spawn_local(async move {
            match api::send::<(), ProvisioningJob>(
                "POST",
                &format!("/api/v1/provisioning/jobs/{}/retry", segment(&id)),
                None,
            )
            .await
            {
                Ok(_) => {
                    toasts.ok("Retry queued");
                    refresh.update(|r| *r += 1)
                }
                Err(e) => toasts.err(e.message),
            }
        });
    };
    view! {
        <div class="page-head"><h1>"Provisioning jobs"</h1><span class="spacer"></span>
            <button class="btn" on:click=move |_| refresh.update(|r| *r += 1)>"Refresh"</button></div>
        <div class="table-wrap"><table class="data cards">
            <thead><tr><th>"Number"</th><th>"Action"</th><th>"Target"</th><th>"State"</th><th>"Attempts"</th><th>"Created"</th><th>"Error"</th><th></th></tr></thead>
            <tbody>{move || match list.get() {
                Load::Loading => view! { <tr><td colspan="8"><crate::ui::Loading/></td></tr> }.into_any(),
                Load::Failed(e) => view! { <tr><td colspan="8"><ErrorBox error=e/></td></tr> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <tr><td colspan="8"><crate::ui::Empty text="No provisioning jobs."/></td></tr> }.into_any(),
                Load::Ready(l) => l.items.into_iter().map(|j| {
                    let failed = j.state == "failed";
                    let cls = match j.state.as_str() { "failed" => "badge b-failed", "done" | "succeeded" => "badge b-available", _ => "badge b-neutral" };
                    let id = j.id.clone();
                    let h = format!("/numbers/{}", segment(&j.number));
                    view! { <tr>
                        <td data-label="Number"><A href=h attr:class="e164">{j.number.clone()}</A></td>
                        <td data-label="Action">{j.action.clone()}</td>
                        <td data-label="Target">{j.target.as_ref().map(|t| t.name.clone())}</td>
                        <td data-label="State"><span class=cls>{j.state.clone()}</span></td>
                        <td data-label="Attempts" class="num">{j.attempts}</td>
                        <td data-label="Created">{fmt_time(&j.created_at)}</td>
                        <td data-label="Error" class="muted">{j.last_error.clone()}</td>
                        <td class="actions">{failed.then(|| view! {
                            <button class="btn btn-sm" disabled=!can_retry title=if can_retry { String::new() } else { needs(Role::Admin) } on:click=move |_| retry(id.clone())>"Retry"</button>
                        })}</td>
                    </tr> }
                }).collect_view().into_any(),
            }}</tbody>
        </table></div>
    }
}

/// Assignment rules, in the order they are evaluated.
#[component]
pub fn Rules() -> impl IntoView {
    let list = load(|| async { api::get::<RuleList>("/api/v1/rules?limit=100").await });
    view! {
        <div class="page-head"><h1>"Rules"</h1></div>
        <p class="subtle">"Rules assign numbers automatically from Entra ID attributes after each directory sync; the first enabled rule that matches wins."</p>
        <div class="table-wrap"><table class="data cards">
            <thead><tr><th>"Priority"</th><th>"Name"</th><th>"Enabled"</th><th>"Condition"</th><th>"Leavers"</th></tr></thead>
            <tbody>{move || match list.get() {
                Load::Loading => view! { <tr><td colspan="5"><crate::ui::Loading/></td></tr> }.into_any(),
                Load::Failed(e) => view! { <tr><td colspan="5"><ErrorBox error=e/></td></tr> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <tr><td colspan="5"><crate::ui::Empty text="No rules yet."/></td></tr> }.into_any(),
                Load::Ready(l) => l.items.into_iter().map(|r| view! { <tr>
                    <td data-label="Priority" class="num">{r.priority}</td>
                    <td data-label="Name">{r.name.clone()}</td>
                    <td data-label="Enabled">{if r.enabled { view! { <span class="badge b-available">"enabled"</span> } } else { view! { <span class="badge b-neutral">"disabled"</span> } }}</td>
                    <td data-label="Condition" class="mono muted">{serde_json::to_string(&r.condition).unwrap_or_default()}</td>
                    <td data-label="Leavers">{serde_json::to_value(r.leaver_policy).ok().and_then(|v| v.as_str().map(String::from))}</td>
                </tr> }).collect_view().into_any(),
            }}</tbody>
        </table></div>
    }
}
