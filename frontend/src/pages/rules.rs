//! Assignment rules: the list (in the order they are tried, with "Evaluate everyone
//! now"), the editor with its live preview and the rule's run history (`/rules/:id`,
//! `/rules/new`), and a run's report (`/rule-runs/:id`).
//!
//! Written small on purpose (the bundle has a budget): every editor field is made by the
//! one [`field`] function from a table, the conditions re-render as a whole when one is added or removed
//! (their values live in signals, so nothing typed is lost), and the draft is built by
//! one closure that both the preview and Save use.
//!
//! The preview is the server's (`POST /rules/preview`, with `?rule_id=` for a saved
//! rule, so that its edit is previewed in its place): 400 ms after the last edit, numbered so that an answer
//! to an older draft never replaces a newer one, retried once after a 429 (the server
//! runs two previews at a time). A 400 naming a field shows at that field, so the form
//! is checked while typing by the same code that checks a save.

use api_types::{
    ActionDraft, ConditionDraft, NumberType, PoolDraft, PredicateDraft, PredicateValue, Rule,
    RuleDraft, RuleList, RulePatch, RulePreview, RuleRun, RuleRunDetail, RuleRunList, RunStatus,
};
use domain::rules::{AssignmentCategory, Attribute, Op};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{self, ApiError, segment};
use crate::app::{admin_refusal, lookups};
use crate::pages::actions::gloo_sleep;
use crate::ui::{
    ErrorBox, Form, Load, Loading, field, fields, fmt_int, fmt_time, focus_id, load, local_error,
    tag_list, toasts,
};

fn run_href(id: &str) -> String {
    format!("/rule-runs/{}", segment(id))
}

fn words(w: &str) -> String {
    w.replace('_', " ")
}

/// `department equals "Sales" and job title contains "Lead"`.
fn condition_text(c: &ConditionDraft) -> String {
    let (join, preds) = match (&c.all, &c.any) {
        (Some(p), _) => (" and ", p),
        (_, Some(p)) => (" or ", p),
        _ => return String::new(),
    };
    preds
        .iter()
        .map(|p| {
            let v = match &p.value {
                PredicateValue::One(v) => format!("“{v}”"),
                PredicateValue::List(l) => format!("“{}”", l.join("”, “")),
            };
            format!("{} {} {v}", words(&p.attribute), words(&p.op))
        })
        .collect::<Vec<_>>()
        .join(join)
}

/// `tags Sales · London · Contoso Teams · direct routing`.
fn pool_text(p: &PoolDraft) -> String {
    let l = lookups();
    let mut parts = Vec::new();
    if !p.tags.is_empty() {
        parts.push(format!("tags {}", p.tags.join(", ")));
    }
    for s in [
        l.location(&p.location_id),
        l.range(&p.range_id),
        l.platform(&p.platform_id),
        p.number_type.as_deref().map(words).unwrap_or_default(),
        p.country.clone().unwrap_or_default(),
    ] {
        if !s.is_empty() {
            parts.push(s);
        }
    }
    parts.join(" · ")
}

fn status_badge(s: RunStatus) -> impl IntoView {
    let cls = match s {
        RunStatus::Finished => "badge b-available",
        RunStatus::Failed => "badge b-failed",
        _ => "badge b-reserved",
    };
    view! { <span class=cls data-testid="run-status">{s.as_str()}</span> }
}

/// The rules, in the order they are tried; admins add them and start a full evaluation.
#[component]
pub fn Rules() -> impl IntoView {
    let toasts = toasts();
    let write = admin_refusal(None);
    let eval = admin_refusal(Some("a full evaluation covers every rule"));
    let list = load(|| api::get::<RuleList>("/api/v1/rules?limit=1000"));
    let busy = RwSignal::new(false);
    let queued = RwSignal::new(None::<RuleRun>);
    let evaluate = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::send::<(), RuleRun>("POST", "/api/v1/rules/evaluate", None).await {
                Ok(r) => {
                    toasts.ok_link(
                        "Evaluation of every user queued",
                        run_href(&r.id),
                        format!("Run {}", r.id),
                    );
                    queued.set(Some(r));
                }
                Err(e) => toasts.err(e.message),
            }
            busy.set(false);
        });
    };
    let new_title = write.clone().unwrap_or_default();
    let eval_title = eval.clone().unwrap_or_default();
    let (no_write, no_eval) = (write.is_some(), eval.is_some());
    view! {
        <div class="page-head"><h1>"Rules"</h1><span class="spacer"></span>
            <span class="btn-row">
                <button class="btn" data-testid="evaluate" disabled=move || no_eval || busy.get() title=eval_title
                    on:click=evaluate>"Evaluate everyone now"</button>
                {if no_write {
                    view! { <button class="btn btn-primary" disabled=true title=new_title>"New rule"</button> }.into_any()
                } else {
                    view! { <A href="/rules/new" attr:class="btn btn-primary" attr:data-testid="new-rule">"New rule"</A> }.into_any()
                }}
            </span>
        </div>
        <p class="subtle">"After each directory sync, the first enabled rule (lowest priority first) whose condition a user matches gives them a number from its pool, unless they hold one already."</p>
        {move || queued.get().map(|r| view! {
            <p class="alert alert-ok" data-testid="evaluated">"Evaluation queued as "<A href=run_href(&r.id)>{format!("run {}", r.id)}</A>"."</p>
        })}
        <div class="table-wrap"><table class="data cards">
            <thead><tr><th>"Priority"</th><th>"Name"</th><th>"State"</th><th>"Condition"</th><th>"Pool"</th><th>"Last run"</th></tr></thead>
            <tbody>{move || match list.get() {
                Load::Loading => view! { <tr><td colspan="6"><Loading/></td></tr> }.into_any(),
                Load::Failed(e) => view! { <tr><td colspan="6"><ErrorBox error=e/></td></tr> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <tr><td colspan="6"><crate::ui::Empty text="No rules yet: numbers are assigned by hand until one is added."/></td></tr> }.into_any(),
                Load::Ready(l) => l.items.into_iter().map(|r| {
                    let pool = r.action.pool.clone();
                    let id = r.id.clone();
                    view! { <tr data-rule=r.id.clone()>
                        <td data-label="Priority" class="num">{r.priority}</td>
                        <td data-label="Name"><A href=format!("/rules/{}", segment(&r.id))>{r.name.clone()}</A></td>
                        <td data-label="State"><span class=if r.enabled { "badge b-available" } else { "badge b-neutral" }>{if r.enabled { "enabled" } else { "paused" }}</span></td>
                        <td data-label="Condition">{condition_text(&r.condition)}</td>
                        <td data-label="Pool">{move || pool_text(&pool)}</td>
                        <td data-label="Last run"><LastRun id=id/></td>
                    </tr> }
                }).collect_view().into_any(),
            }}</tbody>
        </table></div>
    }
}

/// A rule's latest run, linked (the list has no run column of its own).
#[component]
fn LastRun(id: String) -> impl IntoView {
    let url = format!("/api/v1/rules/{}/runs?limit=1", segment(&id));
    let runs = load(move || {
        let url = url.clone();
        async move { api::get::<RuleRunList>(&url).await }
    });
    move || {
        match runs.get() {
        Load::Ready(l) => match l.items.into_iter().next() {
            Some(r) => view! { <A href=run_href(&r.run.id)>{fmt_time(&r.run.created_at)}</A>" "{status_badge(r.run.status)} }.into_any(),
            None => view! { <span class="muted">"never"</span> }.into_any(),
        },
        Load::Failed(_) => view! { <span class="muted">"—"</span> }.into_any(),
        Load::Loading => view! { <span class="skeleton"></span> }.into_any(),
    }
    }
}

/// A rule (`/rules/:id`) with its run history, or a new one (`/rules/new`).
#[component]
pub fn RulePage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let rule = load(move || {
        let id = id.get();
        async move {
            if id == "new" {
                return Ok(None);
            }
            api::get::<Rule>(&format!("/api/v1/rules/{}", segment(&id)))
                .await
                .map(Some)
        }
    });
    view! {
        <div class="crumbs"><A href="/rules">"Rules"</A>" / "</div>
        {move || match rule.get() {
            Load::Loading => view! { <Loading/> }.into_any(),
            Load::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
            Load::Ready(r) => {
                let runs = r.as_ref().map(|r| view! { <History id=r.id.clone()/> });
                view! { <Editor rule=r/>{runs} }.into_any()
            }
        }}
    }
}

/// One condition's controls; the values live here, so re-rendering the list keeps them.
#[derive(Clone, Copy)]
struct Cond {
    attribute: RwSignal<String>,
    op: RwSignal<String>,
    value: RwSignal<String>,
    /// A stored `in` list as shown and as stored: while its text is untouched the list is
    /// sent back as it was, so a value with a comma in it (a job title such as "VP,
    /// Sales") survives saving the rule for another change.
    stored: StoredValue<Option<(String, Vec<String>)>>,
}

impl Cond {
    fn new(p: Option<&PredicateDraft>) -> Self {
        let (value, stored) = match p.map(|p| &p.value) {
            Some(PredicateValue::One(v)) => (v.clone(), None),
            Some(PredicateValue::List(l)) => {
                let text = l.join(", ");
                (text.clone(), Some((text, l.clone())))
            }
            None => (String::new(), None),
        };
        Cond {
            attribute: RwSignal::new(p.map_or("department".into(), |p| p.attribute.clone())),
            op: RwSignal::new(p.map_or("equals".into(), |p| p.op.clone())),
            value: RwSignal::new(value),
            stored: StoredValue::new(stored),
        }
    }
    fn draft(&self) -> PredicateDraft {
        let (op, value) = (self.op.get(), self.value.get());
        PredicateDraft {
            attribute: self.attribute.get(),
            value: if op == "in" {
                let kept = self.stored.with_value(|s| {
                    s.as_ref()
                        .filter(|(t, _)| *t == value)
                        .map(|(_, l)| l.clone())
                });
                // Typed lists split on commas only: a semicolon is part of a value.
                PredicateValue::List(kept.unwrap_or_else(|| {
                    value
                        .split(',')
                        .map(|v| v.trim().to_string())
                        .filter(|v| !v.is_empty())
                        .collect()
                }))
            } else {
                PredicateValue::One(value)
            },
            op,
        }
    }
}

/// Where a refusal belongs in the editor: `condition.all[2].value[1]` → `c2.value`,
/// `action.pool.tags[0]` → `pool.tags`, `action.pool` → `pool.tags` (the pool as a whole).
fn field_key(e: &ApiError) -> Option<String> {
    let f = e.details.get("field")?.as_str()?;
    let mut k = f
        .replace("condition.all", "c")
        .replace("condition.any", "c")
        .replace("action.pool", "pool");
    if k.ends_with(']')
        && let Some(i) = k.rfind('[')
    {
        k.truncate(i);
    }
    let k = k.replace(['[', ']'], "");
    Some(match k.as_str() {
        "c" => "condition".into(),
        "pool" => "pool.tags".into(),
        _ => k,
    })
}

/// Whether the editor has a field for `key` (else its refusal shows above the form).
fn placed(key: &str) -> bool {
    [
        "name",
        "priority",
        "enabled",
        "leaver_policy",
        "condition",
        "action.assignment_category",
    ]
    .contains(&key)
        || key.starts_with("pool.")
        || (key.starts_with('c') && key.as_bytes().get(1).is_some_and(u8::is_ascii_digit))
}

fn field_id(key: &str) -> String {
    format!("rule-{}", key.replace('.', "-"))
}

/// `(value, label)` pairs from literals.
pub(crate) fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(v, l)| (v.to_string(), l.to_string()))
        .collect()
}

/// `(value, label)` pairs of a vocabulary, after a "none" choice when `none` is given.
fn choices(none: Option<&str>, all: &[&'static str]) -> Vec<(String, String)> {
    none.map(|n| (String::new(), n.to_string()))
        .into_iter()
        .chain(all.iter().map(|w| (w.to_string(), words(w))))
        .collect()
}

/// The rule form (new or existing), its preview beside it, Save and Delete.
#[component]
fn Editor(rule: Option<Rule>) -> impl IntoView {
    let toasts = toasts();
    let lookups = lookups();
    let navigate = use_navigate();
    let refusal = admin_refusal(None);
    let writable = refusal.is_none();
    let r = rule.as_ref();
    let text = |v: Option<String>| RwSignal::new(v.unwrap_or_default());
    let name = text(r.map(|r| r.name.clone()));
    let priority = text(r.map(|r| r.priority.to_string()));
    let enabled = text(Some(
        if r.is_none_or(|r| r.enabled) {
            "true"
        } else {
            "false"
        }
        .into(),
    ));
    let leaver = text(Some(
        r.map_or("keep", |r| r.leaver_policy.as_str()).to_string(),
    ));
    let cond = r.map(|r| r.condition.clone()).unwrap_or_default();
    let mode = text(Some(if cond.any.is_some() { "any" } else { "all" }.into()));
    let preds = cond.all.or(cond.any).unwrap_or_default();
    let conds = RwSignal::new(if preds.is_empty() {
        vec![Cond::new(None)]
    } else {
        preds.iter().map(|p| Cond::new(Some(p))).collect()
    });
    let pool = r.map(|r| r.action.pool.clone()).unwrap_or_default();
    let tags = text(Some(pool.tags.join(", ")));
    let location = text(pool.location_id);
    let range = text(pool.range_id);
    let platform = text(pool.platform_id);
    let number_type = text(pool.number_type);
    let country = text(pool.country);
    let category = text(r.and_then(|r| r.action.assignment_category.clone()));
    // The rule as last saved: its id for the preview, its version for If-Match.
    let saved = StoredValue::new(rule.clone());
    let field_err = RwSignal::new(None::<ApiError>);
    let form = Form {
        prefix: "rule",
        key: field_key,
        error: field_err,
    };
    let form_err = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let confirm = RwSignal::new(false);

    // A new rule goes after the others unless a priority was typed meanwhile.
    if rule.is_none() {
        leptos::task::spawn_local(async move {
            if let Ok(l) = api::get::<RuleList>("/api/v1/rules?limit=1000").await {
                let next = l.items.iter().map(|r| r.priority + 10).max().unwrap_or(10);
                priority.try_update(|p| {
                    if p.is_empty() {
                        *p = next.to_string()
                    }
                });
            }
        });
    }

    let opt = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let draft = move || -> Result<RuleDraft, ApiError> {
        let priority = priority.with(|p| p.trim().parse::<i64>()).map_err(|_| {
            local_error(
                "priority",
                "enter a whole number from 0 (tried first) to 1000000",
            )
        })?;
        let preds: Vec<PredicateDraft> = conds.get().iter().map(Cond::draft).collect();
        let any = mode.get() == "any";
        Ok(RuleDraft {
            name: name.get(),
            priority,
            enabled: enabled.get() == "true",
            condition: ConditionDraft {
                all: (!any).then(|| preds.clone()),
                any: any.then_some(preds),
            },
            action: ActionDraft {
                pool: PoolDraft {
                    tags: tag_list(&tags.get()),
                    location_id: opt(location.get()),
                    range_id: opt(range.get()),
                    platform_id: opt(platform.get()),
                    number_type: opt(number_type.get()),
                    country: opt(country.get()),
                },
                assignment_category: opt(category.get()),
            },
            leaver_policy: leaver.get(),
        })
    };

    // ---- the live preview ----
    let preview = RwSignal::new(None::<Result<RulePreview, ApiError>>);
    let waiting = RwSignal::new(false);
    let generation = StoredValue::new(0u32);
    Effect::new(move |_| {
        let d = draft();
        let Some(mine) = generation.try_update_value(|g| {
            *g += 1;
            *g
        }) else {
            return;
        };
        if !writable {
            return;
        }
        let d = match d {
            Ok(d) => d,
            Err(e) => {
                field_err.set(Some(e));
                waiting.set(false);
                return;
            }
        };
        // A saved rule's draft is previewed in the saved rule's place.
        let path = saved.with_value(|s| match s {
            Some(s) => format!("/api/v1/rules/preview?rule_id={}", segment(&s.id)),
            None => "/api/v1/rules/preview".to_string(),
        });
        // A new rule not yet named: the form is empty, not wrong; no field is marked.
        let quiet = saved.with_value(Option::is_none) && d.name.trim().is_empty();
        waiting.set(true);
        let current = move || generation.try_get_value() == Some(mine);
        leptos::task::spawn_local(async move {
            gloo_sleep(400).await;
            let mut retried = false;
            let answer = loop {
                if !current() {
                    return;
                }
                match api::send::<_, RulePreview>("POST", &path, Some(&d)).await {
                    // Two previews run at once per server; wait as it asks, then once more.
                    Err(e) if e.status == 429 && !retried => {
                        retried = true;
                        let secs = e.details["retry_after_seconds"].as_i64().unwrap_or(1);
                        gloo_sleep(secs.clamp(1, 10) as i32 * 1000).await;
                    }
                    r => break r,
                }
            };
            if !current() {
                return;
            }
            match &answer {
                Ok(_) => field_err.set(None),
                Err(e) if field_key(e).is_some() && !quiet => field_err.set(Some(e.clone())),
                Err(_) => {}
            }
            preview.set(Some(answer));
            waiting.set(false);
        });
    });

    // ---- save and delete ----
    let save = {
        let navigate = navigate.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            form_err.set(None);
            let d = match draft() {
                Ok(d) => d,
                Err(e) => {
                    focus_id(field_id("priority"));
                    field_err.set(Some(e));
                    return;
                }
            };
            busy.set(true);
            let navigate = navigate.clone();
            leptos::task::spawn_local(async move {
                let old = saved.get_value();
                let result = match &old {
                    None => api::send::<_, Rule>("POST", "/api/v1/rules", Some(&d)).await,
                    Some(s) => {
                        let patch = RulePatch {
                            name: Some(d.name),
                            priority: Some(d.priority),
                            enabled: Some(d.enabled),
                            condition: Some(d.condition),
                            action: Some(d.action),
                            leaver_policy: Some(d.leaver_policy),
                        };
                        let path = format!("/api/v1/rules/{}", segment(&s.id));
                        api::send_if_match("PATCH", &path, Some(&patch), s.version).await
                    }
                };
                busy.set(false);
                match result {
                    Ok(r) => {
                        if old.is_none() {
                            toasts.ok(format!("Created rule {}", r.name));
                            navigate(&format!("/rules/{}", segment(&r.id)), Default::default());
                        } else {
                            toasts.ok(format!("Saved rule {}", r.name));
                            saved.set_value(Some(r));
                        }
                    }
                    Err(e) => {
                        if let Some(k) = field_key(&e) {
                            focus_id(field_id(&k));
                            field_err.set(Some(e));
                        } else {
                            form_err.set(Some(e));
                        }
                    }
                }
            });
        }
    };
    let delete = move |_| {
        let Some(s) = saved.get_value() else { return };
        busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let path = format!("/api/v1/rules/{}", segment(&s.id));
            match api::send_if_match::<(), ()>("DELETE", &path, None, s.version).await {
                Ok(()) => {
                    toasts.ok(format!("Deleted rule {}", s.name));
                    navigate("/rules", Default::default());
                }
                Err(e) => {
                    confirm.set(false);
                    form_err.set(Some(e));
                }
            }
            busy.set(false);
        });
    };

    let add = move |_| {
        conds.update(|c| c.push(Cond::new(None)));
        focus_id(field_id(&format!(
            "c{}.attribute",
            conds.with(Vec::len) - 1
        )));
    };
    let attributes: Vec<&str> = Attribute::ALL.iter().map(|a| a.as_str()).collect();
    let ops: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
    let rows = move || {
        let n = conds.with(Vec::len);
        conds
            .get()
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let is_in = move || c.op.get() == "in";
                view! {
                    <div class="cond" data-testid="condition">
                        {fields(vec![
                            (format!("c{i}.attribute"), "Attribute", c.attribute, choices(None, &attributes), ""),
                            (format!("c{i}.op"), "Test", c.op, choices(None, &ops), ""),
                            (format!("c{i}.value"), "Value", c.value, Vec::new(), ""),
                        ], form, !writable)}
                        <button type="button" class="btn btn-sm btn-ghost" aria-label=format!("Remove condition {}", i + 1)
                            disabled=!writable || n == 1
                            on:click=move |_| { conds.update(|v| { v.remove(i); }); focus_id("rule-add-condition".into()); }>"Remove"</button>
                    </div>
                    {move || is_in().then(|| view! { <p class="help subtle">"“in”: separate the values with commas (a value that itself holds a comma can be set through the API, and is kept while its list is left as it is)."</p> })}
                }
            })
            .collect_view()
    };
    let title = rule
        .as_ref()
        .map_or("New rule".to_string(), |r| format!("Rule {}", r.name));
    let none = Some("Any");
    let place =
        |l: Vec<(String, String)>| choices(none, &[]).into_iter().chain(l).collect::<Vec<_>>();
    let sites = place(
        lookups
            .locations
            .get_untracked()
            .into_iter()
            .map(|l| (l.id, l.name))
            .collect(),
    );
    let ranges = place(
        lookups
            .ranges
            .get_untracked()
            .into_iter()
            .map(|r| {
                let label = r.name.unwrap_or_else(|| format!("{} – {}", r.start, r.end));
                (r.id, label)
            })
            .collect(),
    );
    let platforms = place(
        lookups
            .platforms
            .get_untracked()
            .into_iter()
            .filter(|p| p.kind.as_str() == "teams")
            .map(|p| (p.id, p.name))
            .collect(),
    );
    let types: Vec<&str> = NumberType::ALL.iter().map(|t| t.as_str()).collect();
    let categories: Vec<&str> = AssignmentCategory::ALL.iter().map(|c| c.as_str()).collect();
    let editing = rule.is_some();
    let ro = !writable;
    let why = refusal.clone().unwrap_or_default();
    view! {
        <div class="page-head">
            <h1>{title}</h1><span class="spacer"></span>
            {editing.then(|| view! {
                <button type="button" class="btn btn-danger" disabled=ro title=why.clone() on:click=move |_| confirm.set(true)>"Delete…"</button>
            })}
        </div>
        {refusal.clone().map(|r| view! { <p class="alert alert-info">{format!("Read-only: {r}.")}</p> })}
        {move || form_err.get().map(|e| {
            let stale = e.status == 412;
            view! { <div class="alert alert-error" role="alert" data-testid="form-error">
                {if stale { "Someone else changed this rule since you opened it, so it was not saved. Your edits are still here: reload the page to see their version, then make your changes again.".to_string() } else { e.message }}
            </div> }
        })}
        {move || field_err.get().filter(|e| !field_key(e).is_some_and(|k| placed(&k))).map(|e| view! { <crate::ui::Alert error=e/> })}
        <div class="grid grid-3-1">
            <form class="panel" on:submit=save novalidate=true data-testid="rule-form">
                <div class="grid grid-2 tight">{fields(vec![
                    ("name".into(), "Name", name, Vec::new(), ""),
                    ("priority".into(), "Priority", priority, Vec::new(), "Lower is tried first; unique"),
                    ("enabled".into(), "State", enabled, pairs(&[("true", "Enabled"), ("false", "Paused")]), ""),
                    ("leaver_policy".into(), "When a holder stops matching", leaver, pairs(&[("keep", "They keep the number"), ("unassign", "Unassign it into quarantine")]), ""),
                ], form, ro)}</div>
                <h2>"Who"</h2>
                {field(("condition".into(), "Match users for whom", mode, pairs(&[("all", "all of these hold"), ("any", "any of these holds")]), ""), form, ro)}
                {rows}
                <div class="field"><button type="button" id="rule-add-condition" class="btn btn-sm" disabled=ro on:click=add>"Add condition"</button></div>
                <h2>"Numbers from"</h2>
                <div class="grid grid-2 tight">{fields(vec![
                    ("pool.tags".into(), "Tags", tags, Vec::new(), "Comma-separated; a number must carry all"),
                    ("pool.location_id".into(), "Location", location, sites, ""),
                    ("pool.range_id".into(), "Range", range, ranges, ""),
                    ("pool.platform_id".into(), "Platform", platform, platforms, ""),
                    ("pool.number_type".into(), "Number type", number_type, choices(none, &types), ""),
                    ("pool.country".into(), "Country", country, Vec::new(), "ISO code, e.g. GB"),
                    ("action.assignment_category".into(), "Teams category", category, choices(Some("Teams' default"), &categories), ""),
                ], form, ro)}</div>
                <div class="foot btn-row">
                    <button type="submit" class="btn btn-primary" data-testid="rule-save" disabled=move || ro || busy.get() title=why>
                        {move || match (busy.get(), editing) { (true, _) => "Saving…", (false, false) => "Create rule", (false, true) => "Save" }}
                    </button>
                    <A href="/rules" attr:class="btn">"Cancel"</A>
                </div>
            </form>
            <PreviewPanel preview=preview waiting=waiting writable=writable/>
        </div>
        {move || confirm.get().then(|| {
            let go = NodeRef::<leptos::html::Button>::new();
            Effect::new(move |_| if let Some(b) = go.get() { let _ = b.focus(); });
            let delete = delete.clone();
            view! {
                <crate::ui::Modal title="Delete this rule?" on_close=Callback::new(move |()| confirm.set(false))>
                    <p>"It stops assigning at once. The numbers it gave stay assigned, and no rule takes them back later."</p>
                    <div class="foot">
                        <button type="button" class="btn" on:click=move |_| confirm.set(false)>"Cancel"</button>
                        <button type="button" class="btn btn-danger" data-testid="rule-delete" node_ref=go disabled=move || busy.get() on:click=delete>"Delete rule"</button>
                    </div>
                </crate::ui::Modal>
            }
        })}
    }
}

/// Lines of each preview list shown; the rest are counted.
const PREVIEW_LINES: usize = 100;

/// What the rule would do if it ran now: counts, who gets which number, who loses one,
/// who matches but gets nothing. The last answer stays while a newer one is on its way.
#[component]
fn PreviewPanel(
    preview: RwSignal<Option<Result<RulePreview, ApiError>>>,
    waiting: RwSignal<bool>,
    writable: bool,
) -> impl IntoView {
    let body = move || {
        match preview.get() {
        _ if !writable => view! { <p class="subtle">"The preview needs the admin role."</p> }.into_any(),
        None => view! { <Loading/> }.into_any(),
        Some(Err(e)) if field_key(&e).is_some() => view! {
            <p class="alert alert-warn" data-testid="preview-invalid">"The preview needs a complete rule: "{e.message}</p>
        }.into_any(),
        Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
        Some(Ok(p)) => {
            let lines = |n: usize, more: i64| (n.saturating_sub(PREVIEW_LINES) as i64 + more).max(0);
            let (an, am) = (p.assign.items.len(), lines(p.assign.items.len(), p.assign.more));
            let (un, um) = (p.unassign.items.len(), lines(p.unassign.items.len(), p.unassign.more));
            let (sn, sm) = (p.skipped.items.len(), lines(p.skipped.items.len(), p.skipped.more));
            let rows = p.assign.items.into_iter().take(PREVIEW_LINES).map(|a| (a.upn, a.number, "gets".to_string()))
                .chain(p.unassign.items.into_iter().take(PREVIEW_LINES).map(|u| (u.upn, u.number, format!("loses ({})", words(u.reason.as_str())))))
                .chain(p.skipped.items.into_iter().take(PREVIEW_LINES).map(|s| (s.upn, String::new(), format!("nothing: {}", words(&s.reason)))))
                .collect::<Vec<_>>();
            let more = am + um + sm;
            view! {
                <p data-testid="preview-summary">
                    {format!("Of {} users, {} match: {} would get a number, {} would lose one, {} would get nothing.",
                        fmt_int(p.users_evaluated), fmt_int(p.matched), fmt_int(an as i64 + p.assign.more), fmt_int(un as i64 + p.unassign.more), fmt_int(sn as i64 + p.skipped.more))}
                </p>
                {(p.short > 0).then(|| view! { <p class="alert alert-warn" data-testid="preview-short">{format!("The pool is {} numbers short of serving everyone it matches.", fmt_int(p.short))}</p> })}
                {if rows.is_empty() {
                    view! { <crate::ui::Empty text="Nothing would change."/> }.into_any()
                } else {
                    view! { <ul class="skipped" data-testid="preview-lines">{rows.into_iter().map(|(upn, n, what)| view! {
                        <li>{upn}" — "{what}" "<span class="e164">{n}</span></li>
                    }).collect_view()}</ul> }.into_any()
                }}
                {(more > 0).then(|| view! { <p class="subtle">{format!("and {} more lines", fmt_int(more))}</p> })}
            }.into_any()
        }
    }
    };
    view! {
        <section class="panel" aria-labelledby="preview-h" data-testid="preview">
            <div class="page-head"><h2 id="preview-h">"Preview"</h2><span class="spacer"></span>
                <span class="subtle" role="status" data-testid="preview-state">{move || if waiting.get() && writable { "Updating…" } else { "" }}</span></div>
            <p class="subtle">"What this rule would do if it ran now (as if enabled). Nothing changes."</p>
            {body}
        </section>
    }
}

/// A rule's runs, newest first, with what each did for the rule.
#[component]
fn History(id: String) -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let url = format!("/api/v1/rules/{}/runs?limit=50", segment(&id));
    let runs = load(move || {
        refresh.track();
        let url = url.clone();
        async move { api::get::<RuleRunList>(&url).await }
    });
    view! {
        <div class="panel" data-testid="history">
            <div class="page-head"><h2>"Runs"</h2><span class="spacer"></span>
                <button class="btn btn-sm" on:click=move |_| refresh.update(|r| *r += 1)>"Refresh"</button></div>
            <div class="table-wrap"><table class="data cards">
                <thead><tr><th>"Run"</th><th>"Started by"</th><th>"State"</th><th>"Matched"</th><th>"Assigned"</th><th>"Unassigned"</th><th>"Skipped"</th><th>"Errors"</th></tr></thead>
                <tbody>{move || match runs.get() {
                    Load::Loading => view! { <tr><td colspan="8"><Loading/></td></tr> }.into_any(),
                    Load::Failed(e) => view! { <tr><td colspan="8"><ErrorBox error=e/></td></tr> }.into_any(),
                    Load::Ready(l) if l.items.is_empty() => view! { <tr><td colspan="8"><crate::ui::Empty text="This rule has not run yet."/></td></tr> }.into_any(),
                    Load::Ready(l) => l.items.into_iter().map(|x| { let (r, c) = (x.run, x.rule); view! { <tr>
                        <td data-label="Run"><A href=run_href(&r.id)>{fmt_time(&r.created_at)}</A></td>
                        <td data-label="Started by">{format!("{} ({})", r.requested_by, r.trigger.as_str())}</td>
                        <td data-label="State">{status_badge(r.status)}</td>
                        <td data-label="Matched" class="num">{fmt_int(c.matched)}</td>
                        <td data-label="Assigned" class="num">{fmt_int(c.assigned)}</td>
                        <td data-label="Unassigned" class="num">{fmt_int(c.unassigned)}</td>
                        <td data-label="Skipped" class="num">{fmt_int(c.skipped)}</td>
                        <td data-label="Errors" class="num">{fmt_int(c.errors)}</td>
                    </tr> } }).collect_view().into_any(),
                }}</tbody>
            </table></div>
        </div>
    }
}

/// A rule run (`/rule-runs/:id`): when and why, its totals, what it did per rule and its
/// lines. Reloads every 1.5 s while the run is queued or running.
#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let tick = RwSignal::new(0u32);
    let run = load(move || {
        tick.track();
        let path = format!("/api/v1/rule-runs/{}", segment(&id.get()));
        async move { api::get::<RuleRunDetail>(&path).await }
    });
    Effect::new(move |_| {
        let live = run.with(|r| {
            matches!(r, Load::Ready(d) if matches!(d.run.status, RunStatus::Queued | RunStatus::Running))
        });
        if live {
            set_timeout(
                move || {
                    tick.try_update(|t| *t += 1);
                },
                std::time::Duration::from_millis(1500),
            );
        }
    });
    let stat = |label: &'static str, n: i64| {
        view! { <div class="panel stat"><div class="label">{label}</div><div class="value">{fmt_int(n)}</div></div> }
    };
    view! {
        <div class="crumbs"><A href="/rules">"Rules"</A>" / "</div>
        {move || match run.get() {
            Load::Loading => view! { <Loading/> }.into_any(),
            Load::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
            Load::Ready(d) => {
                let r = d.run;
                view! {
                    <div class="page-head"><h1>{format!("Rule run {}", r.id)}</h1>{status_badge(r.status)}</div>
                    {r.error.clone().map(|e| view! { <p class="alert alert-error">{e}</p> })}
                    <div class="grid grid-4" data-testid="run-totals">
                        {stat("Users evaluated", r.users_evaluated)}{stat("Assigned", r.assigned)}
                        {stat("Unassigned", r.unassigned)}{stat("Skipped", r.skipped)}
                    </div>
                    <div class="panel"><dl class="props">
                        <dt>"Started by"</dt><dd>{format!("{} ({})", r.requested_by, r.trigger.as_str())}</dd>
                        <dt>"Asked for"</dt><dd>{fmt_time(&r.created_at)}</dd>
                        <dt>"Ran"</dt><dd>{r.started_at.as_ref().map(fmt_time).unwrap_or_else(|| "not yet".into())}" – "{r.finished_at.as_ref().map(fmt_time)}</dd>
                        <dt>"Errors"</dt><dd>{fmt_int(r.errors)}</dd>
                        <dt>"Change set"</dt><dd><A href=format!("/change-sets/{}", segment(&r.change_set_id))>{r.change_set_id.clone()}</A></dd>
                    </dl></div>
                    <div class="panel"><h2>"Per rule"</h2><div class="table-wrap"><table class="data cards">
                        <thead><tr><th>"Rule"</th><th>"Matched"</th><th>"Assigned"</th><th>"Unassigned"</th><th>"Skipped"</th><th>"Errors"</th></tr></thead>
                        <tbody>{if d.rules.is_empty() { view! { <tr><td colspan="6"><crate::ui::Empty text="No rule took part."/></td></tr> }.into_any() } else {
                            d.rules.into_iter().map(|c| view! { <tr>
                                <td data-label="Rule"><A href=format!("/rules/{}", segment(&c.rule_id))>{c.rule_name}</A></td>
                                <td data-label="Matched" class="num">{fmt_int(c.matched)}</td>
                                <td data-label="Assigned" class="num">{fmt_int(c.assigned)}</td>
                                <td data-label="Unassigned" class="num">{fmt_int(c.unassigned)}</td>
                                <td data-label="Skipped" class="num">{fmt_int(c.skipped)}</td>
                                <td data-label="Errors" class="num">{fmt_int(c.errors)}</td>
                            </tr> }).collect_view().into_any() }}</tbody>
                    </table></div></div>
                    <div class="panel"><h2>"Lines"</h2>
                        {if d.items.is_empty() { view! { <crate::ui::Empty text="Nothing was assigned, unassigned or skipped."/> }.into_any() } else {
                            view! { <div class="table-wrap"><table class="data cards" data-testid="run-items">
                                <thead><tr><th>"User"</th><th>"What"</th><th>"Number"</th><th>"Why"</th></tr></thead>
                                <tbody>{d.items.into_iter().map(|i| view! { <tr>
                                    <td data-label="User">{i.upn}</td>
                                    <td data-label="What">{i.kind.as_str()}</td>
                                    <td data-label="Number">{i.number.map(|n| view! { <A href=format!("/numbers/{}", segment(&n)) attr:class="e164">{n.clone()}</A> })}</td>
                                    <td data-label="Why" class="muted">{i.reason.map(|r| words(&r))}</td>
                                </tr> }).collect_view()}</tbody>
                            </table></div> }.into_any()
                        }}
                        {(d.items_not_shown > 0).then(|| view! { <p class="subtle">{format!("{} more lines were counted but not kept.", fmt_int(d.items_not_shown))}</p> })}
                    </div>
                }.into_any()
            }
        }}
    }
}
