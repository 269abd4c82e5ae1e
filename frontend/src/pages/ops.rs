//! Platforms (with sync and drift) and provisioning jobs (with retry).

use api_types::{DriftList, JobList, Platform, PlatformList, ProvisioningJob, Role};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{self, segment};
use crate::app::{admin_refusal, auth, needs};
use crate::ui::{ErrorBox, Load, fmt_time, load, toasts};
use api_types::{SettleDrift, SettledDrift};

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
    // The platform whose drift is open: (id, name).
    let drift_of = RwSignal::new(None::<(String, String)>);
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
                    let name = p.name.clone();
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
                                <button class="btn btn-sm" on:click=move |_| drift_of.set(Some((id2.clone(), name.clone())))>"Drift"</button>
                            })}
                        </span></td>
                    </tr> }
                }).collect_view().into_any(),
            }}</tbody>
        </table></div>
        {move || drift_of.get().map(|(id, name)| view! { <DriftPanel id=id name=name/> })}
    }
}

/// Drifted numbers shown at once; adopt and push without a selection take them all.
const DRIFT_PAGE: usize = 200;

/// Which way drift is settled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Settle {
    /// Teams' state into the inventory.
    Adopt,
    /// The inventory's state to Teams, as provisioning jobs.
    Push,
}

impl Settle {
    fn path(self) -> &'static str {
        match self {
            Settle::Adopt => "adopt",
            Settle::Push => "push",
        }
    }
    fn button(self) -> &'static str {
        match self {
            Settle::Adopt => "Adopt Teams' state",
            Settle::Push => "Push ours",
        }
    }
    fn explain(self) -> &'static str {
        match self {
            Settle::Adopt => {
                "The inventory takes what Teams has: missing numbers are created, assignments made, changed or ended as in Teams. No job is sent to Teams. It is one change set, which can be reverted."
            }
            Settle::Push => {
                "Teams is told the inventory's state: one provisioning job per number, which the worker carries out. It is one change set."
            }
        }
    }
    fn done(self, n: usize) -> String {
        let s = if n == 1 { "" } else { "s" };
        match self {
            Settle::Adopt => format!("Adopted Teams' state for {n} number{s}"),
            Settle::Push => format!("Queued {n} provisioning job{s} to push the inventory's state"),
        }
    }
}

fn plural(n: usize, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// One platform's drift: the differences as of the last listing, and for unscoped admins
/// a selection with "Adopt Teams' state" and "Push ours" (the selected numbers, or all),
/// each confirmed first; the outcome stays in the panel with its change set and the
/// numbers skipped, with why.
#[component]
fn DriftPanel(id: String, name: String) -> impl IntoView {
    let toasts = toasts();
    let refusal = admin_refusal(Some("drift spans the whole platform"));
    let allowed = refusal.is_none();
    let refresh = RwSignal::new(0u32);
    let path = format!("/api/v1/platforms/{}/drift", segment(&id));
    let list = {
        let path = path.clone();
        load(move || {
            refresh.track();
            let url = api::with_query(
                &path,
                &api_types::DriftQuery {
                    cursor: None,
                    limit: Some(DRIFT_PAGE as i64),
                },
            );
            async move { api::get::<DriftList>(&url).await }
        })
    };
    let selected = RwSignal::new(Vec::<String>::new());
    let confirm = RwSignal::new(None::<Settle>);
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<(Settle, SettledDrift)>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let on_page = move || match list.get() {
        Load::Ready(l) => l.items.iter().map(|i| i.number.clone()).collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    // How many a settle without a selection covers, as far as the page tells.
    let all_count = move || match list.get() {
        Load::Ready(l) if l.next_cursor.is_some() => {
            format!("every drifted number ({} or more)", l.items.len())
        }
        Load::Ready(l) => format!("all {}", plural(l.items.len(), "drifted number")),
        _ => "every drifted number".into(),
    };
    let target = move || {
        let n = selected.with(Vec::len);
        if n == 0 {
            all_count()
        } else {
            format!("the {}", plural(n, "selected number"))
        }
    };
    let settle = {
        let path = path.clone();
        move |how: Settle| {
            let numbers = selected.get_untracked();
            let body = SettleDrift {
                numbers: (!numbers.is_empty()).then_some(numbers),
            };
            let url = format!("{path}/{}", how.path());
            busy.set(true);
            failure.set(None);
            leptos::task::spawn_local(async move {
                match api::send::<_, SettledDrift>("POST", &url, Some(&body)).await {
                    Ok(done) => {
                        let skipped = done.skipped.len();
                        let mut text = how.done(done.done);
                        if skipped > 0 {
                            text.push_str(&format!("; {} skipped", plural(skipped, "number")));
                        }
                        text.push('.');
                        toasts.ok_link(
                            text,
                            format!("/change-sets/{}", segment(&done.change_set_id)),
                            format!("Change set {}", done.change_set_id),
                        );
                        outcome.set(Some((how, done)));
                        selected.set(Vec::new());
                        confirm.set(None);
                        refresh.update(|r| *r += 1);
                    }
                    Err(e) => failure.set(Some(e)),
                }
                busy.set(false);
            });
        }
    };
    let count_text = move || match list.get() {
        Load::Ready(l) => {
            let n = l.items.len();
            let more = if l.next_cursor.is_some() {
                " or more"
            } else {
                ""
            };
            let when = l
                .listed_at
                .as_ref()
                .map(|t| format!(", as of Teams' listing at {}", fmt_time(t)))
                .unwrap_or_else(|| {
                    ": Teams' numbers were never listed; sync the platform first".into()
                });
            Some(format!("{}{more}{when}.", plural(n, "drifted number")))
        }
        _ => None,
    };
    let title = refusal.clone().unwrap_or_default();
    let buttons = move || {
        let nothing = matches!(list.get(), Load::Ready(ref l) if l.items.is_empty());
        [Settle::Adopt, Settle::Push].map(|how| {
            let title = title.clone();
            view! {
                <button class=if how == Settle::Adopt { "btn btn-primary" } else { "btn" }
                    data-testid=format!("drift-{}", how.path())
                    disabled=move || !allowed || nothing || busy.get()
                    title=title
                    on:click=move |_| { failure.set(None); confirm.set(Some(how)) }>
                    {how.button()}
                    {move || { let n = selected.with(Vec::len); (n > 0).then(|| format!(" ({n})")) }}
                </button>
            }
        }).collect_view()
    };
    view! {
        <div class="panel" data-testid="drift">
            <div class="page-head">
                <h2>{format!("Drift between the inventory and {name}")}</h2>
                <span class="spacer"></span>
                <span class="btn-row">{buttons}</span>
            </div>
            <p class="subtle" data-testid="drift-count">{count_text}</p>
            {refusal.clone().map(|r| view! { <p class="alert alert-info" data-testid="drift-readonly">{format!("Read-only: {r}.")}</p> })}
            {move || outcome.get().map(|(how, done)| {
                let href = format!("/change-sets/{}", segment(&done.change_set_id));
                view! {
                    <div class="alert alert-ok" data-testid="drift-outcome">
                        <p>{how.done(done.done)}" in "<A href=href>{format!("change set {}", done.change_set_id)}</A>"."</p>
                        {(!done.skipped.is_empty()).then(|| view! {
                            <p>{format!("Skipped {}:", plural(done.skipped.len(), "number"))}</p>
                            <ul class="skipped" data-testid="drift-skipped">
                                {done.skipped.iter().map(|k| view! {
                                    <li><span class="e164">{k.number.clone()}</span>" — "{k.reason.clone()}</li>
                                }).collect_view()}
                            </ul>
                        })}
                    </div>
                }
            })}
            {move || failure.get().map(|e| view! { <crate::ui::Alert error=e/> })}
            {move || match list.get() {
                Load::Loading => view! { <crate::ui::Loading/> }.into_any(),
                Load::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <crate::ui::Empty text="No drift: Teams matches the inventory."/> }.into_any(),
                Load::Ready(l) => view! { <div class="table-wrap"><table class="data cards">
                    <thead><tr>
                        {allowed.then(|| view! {
                            <th class="check"><input type="checkbox" aria-label="Select all drifted numbers shown"
                                prop:checked=move || { let all = on_page(); !all.is_empty() && selected.with(|s| all.iter().all(|n| s.contains(n))) }
                                on:change=move |ev| selected.set(if event_target_checked(&ev) { on_page() } else { Vec::new() })/></th>
                        })}
                        <th>"Number"</th><th>"Kind"</th><th>"Inventory"</th><th>"Teams"</th>
                    </tr></thead>
                    <tbody>{l.items.into_iter().map(|i| {
                        let h = format!("/numbers/{}", segment(&i.number));
                        let (n1, n2, n3) = (i.number.clone(), i.number.clone(), i.number.clone());
                        let is_sel = { let n = i.number.clone(); move || selected.with(|s| s.contains(&n)) };
                        let is_sel2 = is_sel.clone();
                        let kind = i.kind.replace('_', " ");
                        let inventory = format!("{} {}", i.inventory_status.clone().unwrap_or_default(), i.inventory_target.as_ref().map(|t| t.name.clone()).unwrap_or_default());
                        let teams = format!("{} {}", i.teams_status.clone().unwrap_or_default(), i.teams_target_id.clone().unwrap_or_default());
                        view! { <tr class=move || if is_sel() { "selected" } else { "" } data-drift=n3>
                            {allowed.then(|| view! {
                                <td class="check"><input type="checkbox" aria-label=format!("Select {n2}")
                                    prop:checked=is_sel2
                                    on:change={ let n = n2.clone(); move |ev| { let on = event_target_checked(&ev); selected.update(|s| { s.retain(|x| x != &n); if on { s.push(n.clone()) } }) } }/></td>
                            })}
                            <td data-label="Number"><A href=h attr:class="e164">{n1}</A></td>
                            <td data-label="Kind"><span class="badge b-reserved">{kind}</span></td>
                            <td data-label="Inventory">{inventory}</td>
                            <td data-label="Teams">{teams}</td>
                        </tr> }
                    }).collect_view()}</tbody>
                </table></div> }.into_any(),
            }}
        </div>
        {move || confirm.get().map(|how| {
            let settle = settle.clone();
            let name = name.clone();
            let what = target();
            let go = NodeRef::<leptos::html::Button>::new();
            Effect::new(move |_| if let Some(b) = go.get() { let _ = b.focus(); });
            view! {
                <crate::ui::Modal title=format!("{}?", how.button()) on_close=Callback::new(move |()| confirm.set(None))>
                    <p data-testid="drift-confirm">{format!("{} for {what} on {name}.", how.button())}</p>
                    <p class="subtle">{how.explain()}</p>
                    {move || failure.get().map(|e| view! { <crate::ui::Alert error=e/> })}
                    <div class="foot">
                        <button type="button" class="btn" on:click=move |_| confirm.set(None)>"Cancel"</button>
                        <button type="button" class="btn btn-primary" data-testid="drift-confirm-go" node_ref=go
                            disabled=move || busy.get() on:click=move |_| settle(how)>{how.button()}</button>
                    </div>
                </crate::ui::Modal>
            }
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
