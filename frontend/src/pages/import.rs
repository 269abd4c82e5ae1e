//! The import wizard: choose a CSV (its text stays editable here, so a bad line can be
//! fixed in place), plan it (`POST /imports`, nothing changes), read the plan with every
//! error at its line and column, then apply it in one transaction.

use api_types::{ImportApplied, ImportPlan, Role};
use leptos::prelude::*;
use leptos_router::components::A;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError};
use crate::app::{auth, needs};
use crate::pages::actions::gloo_sleep;
use crate::ui::{Alert, fmt_int, toasts};

/// The import wizard (`/import`).
#[component]
pub fn Import() -> impl IntoView {
    let auth = auth();
    let toasts = toasts();
    let allowed = auth.can(Role::Admin);
    let text = RwSignal::new(String::new());
    let file_name = RwSignal::new(String::new());
    let plan = RwSignal::new(None::<ImportPlan>);
    let applied = RwSignal::new(None::<ImportApplied>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);

    let on_file = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        file_name.set(file.name());
        plan.set(None);
        applied.set(None);
        leptos::task::spawn_local(async move {
            if let Ok(t) = wasm_bindgen_futures::JsFuture::from(file.text()).await {
                text.set(t.as_string().unwrap_or_default());
            }
        });
    };
    let make_plan = move |_| {
        busy.set(true);
        error.set(None);
        applied.set(None);
        let body = text.get_untracked();
        leptos::task::spawn_local(async move {
            let r = api::send_raw::<ImportPlan>("POST", "/api/v1/imports", body.into(), "text/csv")
                .await;
            match planned(r).await {
                Ok(p) => plan.set(Some(p)),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let apply = move |()| {
        let Some(p) = plan.get_untracked() else {
            return;
        };
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::send::<(), ImportApplied>(
                "POST",
                &format!("/api/v1/imports/{}/apply", p.id),
                None,
            )
            .await
            {
                Ok(a) => {
                    toasts.ok("Import applied");
                    applied.set(Some(a));
                    plan.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <div class="page-head"><h1>"Import"</h1><span class="spacer"></span>
            <a class="btn" href="/api/v1/export/numbers.csv" download="numbers.csv">"Export the inventory to edit"</a></div>
        {(!allowed).then(|| view! { <div class="alert alert-info">{needs(Role::Admin)}" to import."</div> })}
        <div class="panel">
            <h2>"1. Choose a CSV file"</h2>
            <p class="subtle">"The columns of an export: number, status, location, tags, description, assigned_to, … Nothing changes until you apply the plan."</p>
            <div class="dropzone">
                <label for="import-file">"CSV file"</label>
                <input id="import-file" type="file" accept=".csv,text/csv" on:change=on_file disabled=!allowed data-testid="import-file"/>
                <p class="subtle">{move || file_name.get()}</p>
            </div>
            <div class="field">
                <label for="import-text">"Contents (edit to fix a line, then plan again)"</label>
                <textarea id="import-text" rows="8" class="mono" prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            </div>
            <button class="btn btn-primary" data-testid="plan" disabled=move || !allowed || busy.get() || text.with(|t| t.trim().is_empty()) on:click=make_plan>
                {move || if busy.get() { "Working…" } else { "2. Plan the import" }}
            </button>
        </div>
        {move || error.get().map(|e| view! { <Alert error=e/> })}
        {move || applied.get().map(|a| view! {
            <div class="alert alert-ok" data-testid="applied">
                {format!("Applied: {} rows ({} created, {} updated, {} assigned). Change set {}.",
                    fmt_int(a.applied.rows as i64), a.applied.creates, a.applied.updates, a.applied.assigns, a.change_set_id)}
                " "<A href=format!("/change-sets/{}", a.change_set_id)>"See the change set (and revert it)"</A>
            </div>
        })}
        {move || plan.get().map(|p| view! { <PlanView plan=p busy=busy on_apply=Callback::new(move |()| apply(()))/> })}
    }
}

/// The plan once it is ready: a big file (or change set) is planned in the background,
/// so a `planning` answer is polled every half second until it is not.
async fn planned(mut r: Result<ImportPlan, ApiError>) -> Result<ImportPlan, ApiError> {
    while let Ok(p) = &r {
        if p.status.as_str() != "planning" {
            break;
        }
        gloo_sleep(500).await;
        r = api::get::<ImportPlan>(&format!("/api/v1/imports/{}", p.id)).await;
    }
    r
}

/// A plan (an import's or a revert's): the summary, every error at its line and column,
/// the rows that change, and Apply — disabled while anything is wrong.
#[component]
pub fn PlanView(plan: ImportPlan, busy: RwSignal<bool>, on_apply: Callback<()>) -> impl IntoView {
    let p = plan;
    let s = p.summary.clone();
    let has_errors = s.errors > 0 || !p.errors.is_empty();
    view! {
        <div class="panel" data-testid="plan-result">
            <h2>"Review the plan"</h2>
            <p>{format!("{} rows: {} unchanged, {} new, {} updated, {} assigned, {} reassigned, {} unassigned, {} reserved, {} released, {} quarantined.",
                s.rows, s.unchanged, s.creates, s.updates, s.assigns, s.reassigns, s.unassigns, s.reserves, s.releases, s.quarantines)}</p>
            {has_errors.then(|| view! {
                <div class="alert alert-error" role="alert" data-testid="plan-errors">
                    {let n = s.errors + p.errors.len() as u64; format!("{n} {}: fix the file and plan again.", if n == 1 { "error" } else { "errors" })}
                </div>
            })}
            {(!p.errors.is_empty()).then(|| view! {
                <ul>{p.errors.iter().map(|e| view! { <li class="plan-err">{format!("Line {}{}: {}", e.line, e.column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default(), e.reason)}</li> }).collect_view()}</ul>
            })}
            <div class="table-wrap">
                <table class="data">
                    <thead><tr><th>"Line"</th><th>"Number"</th><th>"Changes"</th><th>"Errors"</th></tr></thead>
                    <tbody>
                        {p.rows.iter().filter(|r| !r.changes.is_empty() || !r.errors.is_empty()).take(500).map(|r| {
                            let bad = !r.errors.is_empty();
                            let changes = r.changes.iter().map(|c| match &c.field {
                                Some(f) => format!("{} {f}", c.op.as_str()),
                                None => c.op.as_str().to_string(),
                            }).collect::<Vec<_>>().join(", ");
                            view! {
                                <tr class=if bad { "plan-err" } else { "" } data-line=r.line.to_string()>
                                    <td class="num">{r.line}</td>
                                    <td class="e164">{r.number.clone()}</td>
                                    <td>{changes}</td>
                                    <td class="err">{r.errors.iter().map(|e| format!("line {}, column {}: {}", e.line, e.column.clone().unwrap_or_else(|| "—".into()), e.reason)).collect::<Vec<_>>().join("; ")}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {p.rows_truncated.then(|| view! { <p class="subtle">"Only the first rows are shown."</p> })}
            <div class="foot btn-row">
                <button class="btn btn-primary" data-testid="apply" disabled=move || has_errors || busy.get() on:click=move |_| on_apply.run(())
                    title=if has_errors { "Fix the errors first" } else { "" }>"Apply"</button>
            </div>
        </div>
    }
}

/// A change set (`/change-sets/:id`): its records, and Revert — a plan of the inverse,
/// reviewed and applied like an import.
#[component]
pub fn ChangeSet() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let auth = auth();
    let toasts = toasts();
    let allowed = auth.can(Role::Admin);
    let records = crate::ui::load(move || {
        let id = id.get();
        async move {
            api::get::<api_types::AuditList>(&format!(
                "/api/v1/change-sets/{}?limit=200",
                api::segment(&id)
            ))
            .await
        }
    });
    let plan = RwSignal::new(None::<ImportPlan>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let revert = move |_| {
        busy.set(true);
        error.set(None);
        let id = id.get_untracked();
        leptos::task::spawn_local(async move {
            let r = api::send::<(), ImportPlan>(
                "POST",
                &format!("/api/v1/change-sets/{}/revert", api::segment(&id)),
                None,
            )
            .await;
            match planned(r).await {
                Ok(p) => plan.set(Some(p)),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let apply = Callback::new(move |()| {
        let Some(p) = plan.get_untracked() else {
            return;
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::send::<(), ImportApplied>(
                "POST",
                &format!("/api/v1/imports/{}/apply", p.id),
                None,
            )
            .await
            {
                Ok(a) => {
                    toasts.ok(format!(
                        "Reverted; the revert is change set {}",
                        a.change_set_id
                    ));
                    plan.set(None);
                    let nav = format!("/change-sets/{}", a.change_set_id);
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href(&nav);
                    }
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    });
    view! {
        <div class="crumbs"><A href="/audit">"Audit log"</A>" / "</div>
        <div class="page-head">
            <h1>"Change set"</h1><span class="mono subtle">{move || id.get()}</span>
            <span class="spacer"></span>
            <button class="btn" disabled=move || !allowed || busy.get() title=if allowed { String::new() } else { needs(Role::Admin) } on:click=revert>"Revert…"</button>
        </div>
        {move || error.get().map(|e| view! { <Alert error=e/> })}
        {move || plan.get().map(|p| view! { <PlanView plan=p busy=busy on_apply=apply/> })}
        <div class="panel">
            {move || match records.get() {
                crate::ui::Load::Loading => view! { <crate::ui::Loading/> }.into_any(),
                crate::ui::Load::Failed(e) => view! { <crate::ui::ErrorBox error=e/> }.into_any(),
                crate::ui::Load::Ready(l) => view! {
                    <p class="subtle">{format!("{} changes{}", l.items.len(), if l.next_cursor.is_some() { " (first page)" } else { "" })}</p>
                    <ol class="timeline">{l.items.into_iter().map(|r| crate::pages::number::record_item(r, true)).collect_view()}</ol>
                }.into_any(),
            }}
        </div>
    }
}
