//! The numbers table: free-text search and filters kept in the URL (a reload or a shared
//! link shows the same view), keyset paging (Next follows `next_cursor`, so the last page
//! of a million numbers costs what the first does), selection for bulk actions, export of
//! exactly what is filtered, and rows patched in place from the live feed.

use api_types::{NewNumber, Number, NumberList, NumberQuery, Role, TagList};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::{self, segment};
use crate::app::{auth, lookups, needs};
use crate::live::live;
use crate::pages::actions::{
    Act, ActButton, ActionDialog, Pending, TakeDialog, actions_for, gloo_sleep,
};
use crate::pages::estate::{head_btn, opt, spec, type_choices};
use crate::ui::{
    Form, Load, Sending, StatusBadge, Submit, Tags, fields, fmt_date, form_dialog, load, plain_key,
    tag_list,
};

const PAGE: i64 = 50;

/// The filter fields, in URL order.
const KEYS: &[&str] = &[
    "q",
    "status",
    "tag",
    "location",
    "range",
    "platform",
    "number_type",
    "assigned_to",
];

/// Whether `q` has the three letters or digits in a row the server needs.
fn searchable(q: &str) -> bool {
    let mut run = 0;
    for c in q.chars() {
        if c.is_alphanumeric() {
            run += 1;
            if run >= 3 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// One line of a number's holder: assignee, or for whom it is reserved, or until when it rests.
pub fn holder(n: &Number) -> (String, String) {
    if let Some(a) = &n.assignment {
        return (a.target.name.clone(), a.target.kind.as_str().to_string());
    }
    if let Some(r) = &n.reservation {
        let who = r.reserved_for.clone().unwrap_or_else(|| r.reason.clone());
        return (
            format!("for {who}"),
            r.expires_at
                .as_ref()
                .map(|e| format!("until {}", fmt_date(e)))
                .unwrap_or_default(),
        );
    }
    if let Some(q) = &n.quarantine {
        return (
            format!("until {}", fmt_date(&q.until)),
            q.reason.clone().unwrap_or_default(),
        );
    }
    (String::new(), String::new())
}

/// The numbers screen.
#[component]
pub fn Numbers() -> impl IntoView {
    let auth = auth();
    let lookups = lookups();
    let live = live();
    let can_act = auth.can(Role::Operator);
    let initial = use_query_map().get_untracked();
    let filters: Vec<(&'static str, RwSignal<String>)> = KEYS
        .iter()
        .map(|k| (*k, RwSignal::new(initial.get(k).unwrap_or_default())))
        .collect();
    let all_filters = filters.clone();
    let f = move |key: &str| {
        filters
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, s)| *s)
            .expect("known filter")
    };
    let (q, status, tag, location, range, platform, number_type, assigned_to) = (
        f("q"),
        f("status"),
        f("tag"),
        f("location"),
        f("range"),
        f("platform"),
        f("number_type"),
        f("assigned_to"),
    );
    // Typing updates `q_input` at once and `q` after a pause.
    let q_input = RwSignal::new(q.get_untracked());
    let typing = StoredValue::new(0u64);
    Effect::new(move |_| {
        let text = q_input.get();
        typing.update_value(|g| *g += 1);
        let mine = typing.get_value();
        leptos::task::spawn_local(async move {
            gloo_sleep(250).await;
            // The screen may be gone by now (a value read then would panic).
            if typing.try_get_value() == Some(mine) && q.get_untracked() != text {
                q.set(text);
            }
        });
    });
    let assigned_input = RwSignal::new(assigned_to.get_untracked());

    let query = Memo::new(move |_| {
        let opt = |s: RwSignal<String>| Some(s.get()).filter(|v| !v.trim().is_empty());
        let qv = opt(q).filter(|v| searchable(v));
        NumberQuery {
            q: qv,
            status: opt(status),
            tag: opt(tag),
            location: opt(location),
            range: opt(range),
            platform: opt(platform),
            number_type: opt(number_type),
            assigned_to: opt(assigned_to),
            ..Default::default()
        }
        .pipe(|nq| api::with_query("", &nq))
    });
    let selected = RwSignal::new(Vec::<String>::new());
    // The page's cursor stack: back pops, next pushes; a filter change starts over.
    let cursors = RwSignal::new(vec![None::<String>]);
    Effect::new(move |prev: Option<String>| {
        let qs = query.get();
        if prev.is_some_and(|p| p != qs) {
            cursors.set(vec![None]);
            selected.set(Vec::new());
        }
        // Mirror the filters into the address bar (replace, not push: typing is not history).
        if let Some(w) = web_sys::window() {
            let url = if qs.is_empty() {
                "/numbers".to_string()
            } else {
                format!("/numbers{qs}")
            };
            if let Ok(h) = w.history() {
                let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
        }
        qs
    });
    let page = load(move || {
        let qs = query.get();
        let cursor = cursors.with(|c| c.last().cloned().flatten());
        let sep = if qs.is_empty() { "?" } else { "&" };
        let mut url = format!("/api/v1/numbers{qs}{sep}limit={PAGE}");
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={}", segment(&c)));
        }
        async move { api::get::<NumberList>(&url).await }
    });
    // Live: a changed number on this page shows its new state at once.
    Effect::new(move |_| {
        if let Some(n) = live.number.get() {
            page.update(|p| {
                if let Load::Ready(list) = p
                    && let Some(row) = list.items.iter_mut().find(|r| r.number == n.number)
                {
                    *row = n;
                }
            });
        }
    });
    let tags = crate::ui::load(|| async { api::get::<TagList>("/api/v1/tags").await });

    let pending = RwSignal::new(None::<Pending>);
    let on_done = Callback::new(move |changed: Vec<Number>| {
        page.update(|p| {
            if let Load::Ready(list) = p {
                for n in changed {
                    if let Some(row) = list.items.iter_mut().find(|r| r.number == n.number) {
                        *row = n;
                    }
                }
            }
        });
        selected.set(Vec::new());
    });
    let export_href = move || {
        let qs = query.get();
        format!("/api/v1/export/numbers.csv{qs}")
    };
    let loading = move || matches!(page.get(), Load::Loading);
    let rows = move || match page.get() {
        Load::Ready(l) => Some(l),
        _ => None,
    };
    let all_on_page = move || {
        rows()
            .map(|l| l.items.iter().map(|n| n.number.clone()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let select_opts = move |items: Vec<(String, String)>, sig: RwSignal<String>| {
        items
            .into_iter()
            .map(|(id, name)| {
                let sel = sig.get_untracked() == id;
                view! { <option value=id selected=sel>{name}</option> }
            })
            .collect_view()
    };

    // The open dialog of the page head: `Some(true)` adding a number, `Some(false)`
    // taking the next free one.
    let adding = RwSignal::new(None::<bool>);
    let close = Callback::new(move |()| adding.set(None));
    let add_why = (!auth.can(Role::Admin)).then(|| needs(Role::Admin));
    view! {
        <div class="page-head">
            <h1>"Numbers"</h1>
            <span class="spacer"></span>
            {can_act.then(|| view! {
                {head_btn(true, "Take next free…", "take-next", None, Callback::new(move |()| adding.set(Some(false))))}
                {head_btn(false, "Add number", "add-number", add_why, Callback::new(move |()| adding.set(Some(true))))}
            })}
            <a class="btn" href=export_href download="numbers.csv" data-testid="export">"Export CSV"</a>
        </div>
        {move || adding.get().map(|add| if add { add_number(close) } else { view! { <TakeDialog close=close/> }.into_any() })}
        <div class="panel">
            <div class="filters">
                <div class="q">
                    <label for="f-q">"Search"</label>
                    <input id="f-q" type="search" placeholder="Digits, description or assignee" data-testid="search"
                        prop:value=move || q_input.get() on:input=move |ev| q_input.set(event_target_value(&ev))/>
                </div>
                <div>
                    <label for="f-status">"Status"</label>
                    <select id="f-status" on:change=move |ev| status.set(event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {["available", "assigned", "reserved", "quarantined"].map(|s| {
                            let sel = status.get_untracked() == s;
                            view! { <option value=s selected=sel>{s}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div>
                    <label for="f-tag">"Tag"</label>
                    <input id="f-tag" type="text" list="tag-list" placeholder="Any" data-testid="tag-filter"
                        prop:value=move || tag.get() on:change=move |ev| tag.set(event_target_value(&ev))/>
                    <datalist id="tag-list">
                        {move || match tags.get() {
                            Load::Ready(t) => t.items.into_iter().map(|t| view! { <option value=t.name.clone()>{format!("{} ({})", t.name, t.numbers)}</option> }).collect_view().into_any(),
                            _ => ().into_any(),
                        }}
                    </datalist>
                </div>
                <div>
                    <label for="f-location">"Location"</label>
                    <select id="f-location" on:change=move |ev| location.set(event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {move || select_opts(lookups.locations.get().into_iter().map(|l| (l.id, l.name)).collect(), location)}
                    </select>
                </div>
                <div>
                    <label for="f-assigned">"Assigned to"</label>
                    <input id="f-assigned" type="text" placeholder="UPN or service"
                        prop:value=move || assigned_input.get() on:input=move |ev| assigned_input.set(event_target_value(&ev))
                        on:change=move |ev| assigned_to.set(event_target_value(&ev))/>
                </div>
            </div>
            <div class="filters more">
                <div>
                    <label for="f-range">"Range"</label>
                    <select id="f-range" on:change=move |ev| range.set(event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {move || select_opts(lookups.ranges.get().into_iter().map(|r| { let n = r.name.clone().unwrap_or_else(|| format!("{}–{}", r.start, r.end)); (r.id, n) }).collect(), range)}
                    </select>
                </div>
                <div>
                    <label for="f-platform">"Platform"</label>
                    <select id="f-platform" on:change=move |ev| platform.set(event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {move || select_opts(lookups.platforms.get().into_iter().map(|p| (p.id, p.name)).collect(), platform)}
                    </select>
                </div>
                <div>
                    <label for="f-type">"Type"</label>
                    <select id="f-type" on:change=move |ev| number_type.set(event_target_value(&ev))>
                        <option value="">"Any"</option>
                        {[("direct_routing", "Direct Routing"), ("operator_connect", "Operator Connect"), ("calling_plan", "Calling Plan")].map(|(v, l)| {
                            let sel = number_type.get_untracked() == v;
                            view! { <option value=v selected=sel>{l}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="btn-row">
                    <label class="sr-only" for="f-clear">"Clear"</label>
                    <button id="f-clear" class="btn btn-ghost" on:click=move |_| {
                        for (_, s) in all_filters.iter() { s.set(String::new()); }
                        q_input.set(String::new());
                        assigned_input.set(String::new());
                    }>"Clear filters"</button>
                </div>
            </div>
            {move || {
                let t = q_input.get();
                (!t.trim().is_empty() && !searchable(&t)).then(|| view! { <p class="subtle">"Type at least three letters or digits in a row to search."</p> })
            }}
        </div>
        {can_act.then(|| view! {
            <div class=move || if selected.with(|s| s.is_empty()) { "bulkbar idle" } else { "bulkbar" } data-testid="bulkbar">
                {move || {
                    let n = selected.with(|s| s.len());
                    if n == 0 { "Select numbers for bulk actions.".to_string() } else { format!("{n} selected") }
                }}
                <span class="spacer"></span>
                {[Act::Reserve, Act::Quarantine, Act::Release].map(|act| view! {
                    <button class="btn btn-sm" disabled=move || selected.with(|s| s.is_empty())
                        on:click=move |_| pending.set(Some(Pending { act, numbers: selected.get(), reassign: false }))>
                        {format!("{act:?}…")}
                    </button>
                }).collect_view()}
            </div>
        })}
        {(!can_act).then(|| view! { <div class="alert alert-info" data-testid="read-only">"You have read-only access: your role can view numbers but not change them."</div> })}
        <div class="table-wrap" aria-busy=move || loading().to_string()>
            <table class="data cards">
                <thead><tr>
                    {can_act.then(|| view! {
                        <th class="check"><input type="checkbox" aria-label="Select all on this page"
                            prop:checked=move || { let all = all_on_page(); !all.is_empty() && selected.with(|s| all.iter().all(|n| s.contains(n))) }
                            on:change=move |ev| { if event_target_checked(&ev) { selected.set(all_on_page()) } else { selected.set(Vec::new()) } }/></th>
                    })}
                    <th>"Number"</th><th>"Status"</th><th>"Holder"</th><th>"Location"</th><th>"Tags"</th><th>"Type"</th>
                    {can_act.then(|| view! { <th class="actions"><span class="sr-only">"Actions"</span></th> })}
                </tr></thead>
                <tbody>
                    {move || match page.get() {
                        Load::Loading => (0..10).map(|_| view! {
                            <tr>{(0..if can_act { 8 } else { 6 }).map(|_| view! { <td><span class="skeleton"></span></td> }).collect_view()}</tr>
                        }).collect_view().into_any(),
                        Load::Failed(e) => view! { <tr><td colspan="8"><crate::ui::ErrorBox error=e/></td></tr> }.into_any(),
                        Load::Ready(l) if l.items.is_empty() => view! { <tr><td colspan="8"><crate::ui::Empty text="No number matches these filters."/></td></tr> }.into_any(),
                        Load::Ready(l) => l.items.into_iter().map(|n| row(n, can_act, selected, pending.write_only(), lookups)).collect_view().into_any(),
                    }}
                </tbody>
            </table>
        </div>
        <div class="pager">
            <span>{move || {
                let p = cursors.with(|c| c.len());
                let count = rows().map(|l| l.items.len()).unwrap_or(0);
                let from = (p as i64 - 1) * PAGE;
                if count == 0 { String::new() } else { format!("{}–{}", from + 1, from + count as i64) }
            }}</span>
            <button class="btn btn-sm" disabled=move || cursors.with(|c| c.len() <= 1) on:click=move |_| cursors.update(|c| { c.truncate(1) })>"First"</button>
            <button class="btn btn-sm" disabled=move || cursors.with(|c| c.len() <= 1) on:click=move |_| cursors.update(|c| { c.pop(); })>"Previous"</button>
            <button class="btn btn-sm" data-testid="next" disabled=move || rows().and_then(|l| l.next_cursor).is_none()
                on:click=move |_| if let Some(nc) = rows().and_then(|l| l.next_cursor) { cursors.update(|c| c.push(Some(nc))) }>"Next"</button>
        </div>
        {move || pending.get().map(|p| view! {
            <ActionDialog pending=p on_close=Callback::new(move |()| pending.set(None)) on_done=on_done/>
        })}
    }
}

/// The add-number form's fields, by the key a refusal names.
const NUMBER_FIELDS: &[&str] = &[
    "number",
    "location_id",
    "platform_id",
    "number_type",
    "tags",
    "description",
];

/// Adds one number (`POST /numbers`, admins) and opens its page; a refusal (not a
/// number, already in the inventory) shows at its field.
fn add_number(close: Callback<()>) -> AnyView {
    let lookups = lookups();
    let navigate = leptos_router::hooks::use_navigate();
    let text = || RwSignal::new(String::new());
    let (number, location, platform, number_type, tags, description) =
        (text(), text(), text(), text(), text(), text());
    let form = Form {
        prefix: "num",
        key: plain_key,
        error: RwSignal::new(None),
    };
    let submit: Submit = std::sync::Arc::new(move || {
        let body = NewNumber {
            number: number.get_untracked().trim().to_string(),
            location_id: opt(location),
            tags: tag_list(&tags.get_untracked()),
            description: opt(description),
            platform_id: opt(platform),
            number_type: opt(number_type),
        };
        let navigate = navigate.clone();
        Some(Box::pin(async move {
            let n = api::send::<_, Number>("POST", "/api/v1/numbers", Some(&body)).await?;
            let href = format!("/numbers/{}", segment(&n.number));
            // After the dialog has closed: the page it belongs to goes.
            set_timeout(
                move || navigate(&href, Default::default()),
                std::time::Duration::ZERO,
            );
            Ok(format!("Added {}", n.number))
        }) as Sending)
    });
    let sites = lookups.site_choices("None");
    let platforms = lookups.platform_choices("None");
    let body = fields(
        vec![
            spec(
                "number",
                "Number",
                number,
                Vec::new(),
                "Any common notation, e.g. +44 20 7946 0123; it starts available",
            ),
            spec("location_id", "Location", location, sites, ""),
            spec("platform_id", "Platform", platform, platforms, ""),
            spec(
                "number_type",
                "Number type",
                number_type,
                type_choices("None"),
                "",
            ),
            spec("tags", "Tags", tags, Vec::new(), "Comma-separated"),
            spec("description", "Description", description, Vec::new(), ""),
        ],
        form,
        false,
    );
    crate::ui::focus_id(form.id("number"));
    form_dialog(
        "Add a number".into(),
        form,
        NUMBER_FIELDS,
        body,
        "Add",
        close,
        submit,
    )
}

fn row(
    n: Number,
    can_act: bool,
    selected: RwSignal<Vec<String>>,
    open: WriteSignal<Option<Pending>>,
    lookups: crate::app::Lookups,
) -> impl IntoView {
    let id = n.number.clone();
    let id2 = id.clone();
    let href = format!("/numbers/{}", segment(&n.number));
    let e164 = n.number.clone();
    let (who, sub) = holder(&n);
    let acts = actions_for(n.status);
    let assigned = n.status == api_types::NumberStatus::Assigned;
    let loc_id = n.location_id.clone();
    let loc = move || lookups.location(&loc_id);
    let ty = n
        .number_type
        .map(|t| t.as_str().replace('_', " "))
        .unwrap_or_default();
    let is_sel = {
        let id = id.clone();
        move || selected.with(|s| s.contains(&id))
    };
    let is_sel2 = is_sel.clone();
    view! {
        <tr class=move || if is_sel() { "selected" } else { "" } data-number=id.clone()>
            {can_act.then(|| view! {
                <td class="check"><input type="checkbox" aria-label=format!("Select {id2}")
                    prop:checked=is_sel2.clone()
                    on:change={ let id = id2.clone(); move |ev| { let on = event_target_checked(&ev); selected.update(|s| { s.retain(|x| x != &id); if on { s.push(id.clone()) } }) } }/></td>
            })}
            <td data-label="Number"><A href=href attr:class="e164">{e164}</A></td>
            <td data-label="Status"><StatusBadge status=n.status/></td>
            <td data-label="Holder">{who}{(!sub.is_empty()).then(|| view! { " " <span class="muted">{sub}</span> })}</td>
            <td data-label="Location">{loc}</td>
            <td data-label="Tags"><Tags tags=n.tags.clone()/></td>
            <td data-label="Type" class="muted">{ty}</td>
            {can_act.then(|| view! {
                <td class="actions"><span class="btn-row">
                    {acts.iter().take(2).map(|a| view! { <ActButton act=*a number=n.number.clone() open=open small=true reassign=assigned/> }).collect_view()}
                </span></td>
            })}
        </tr>
    }
}

/// `x.pipe(f)` = `f(x)`, for building a value and its string in one expression.
trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}
