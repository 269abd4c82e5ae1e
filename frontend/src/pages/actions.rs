//! The lifecycle dialogs shared by the numbers table and a number's page: assign (with
//! type-ahead over directory users and services), reserve, quarantine, release and
//! unassign, for one number or a selection. A refusal shows the server's sentence (for
//! whom it is reserved, until when it is quarantined) and offers the override only to
//! roles that may use it.

use api_types::{
    AllocationRequest, AssignRequest, DirectoryUser, Number, PoolBody, QuarantineRequest,
    ReleaseRequest, ReserveRequest, Role, Service, ServiceList, TargetRef, UnassignRequest,
    UserList,
};
use chrono::{DateTime, NaiveDate, Utc};
use leptos::prelude::*;

use crate::api::{self, ApiError, segment};
use crate::app::{auth, needs};
use crate::ui::{Alert, Modal, focus_on_mount, toasts};

/// A lifecycle action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Give the number to a user or service.
    Assign,
    /// Hold it for someone.
    Reserve,
    /// Rest it.
    Quarantine,
    /// Back to available.
    Release,
    /// Take it from its holder.
    Unassign,
}

impl Act {
    fn title(self) -> &'static str {
        match self {
            Act::Assign => "Assign",
            Act::Reserve => "Reserve",
            Act::Quarantine => "Quarantine",
            Act::Release => "Release",
            Act::Unassign => "Unassign",
        }
    }
    fn done(self) -> &'static str {
        match self {
            Act::Assign => "Assigned",
            Act::Reserve => "Reserved",
            Act::Quarantine => "Quarantined",
            Act::Release => "Released",
            Act::Unassign => "Unassigned",
        }
    }
    fn verb(self) -> &'static str {
        match self {
            Act::Assign => "assign",
            Act::Reserve => "reserve",
            Act::Quarantine => "quarantine",
            Act::Release => "release",
            Act::Unassign => "unassign",
        }
    }
}

/// What a dialog is open for: the action and its numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    /// The action.
    pub act: Act,
    /// The numbers (E.164).
    pub numbers: Vec<String>,
    /// Assign by taking the number from its current holder (it is assigned).
    pub reassign: bool,
}

/// An assignee picked in the type-ahead.
#[derive(Clone, Debug, PartialEq)]
struct Pick {
    kind: &'static str,
    id: String,
    label: String,
}

/// The end of a `YYYY-MM-DD` day (what a date input gives), in UTC.
fn end_of_day(date: &str) -> Option<DateTime<Utc>> {
    // Not `NaiveDate::parse_from_str`: that links chrono's format-string parser.
    let mut parts = date.trim().splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    NaiveDate::from_ymd_opt(y as i32, m, d)?
        .and_hms_opt(23, 59, 59)
        .map(|d| d.and_utc())
}

/// One action on each number in turn; the first refusal of a single number stops there
/// so the dialog can offer what would allow it.
async fn run(act: Act, number: &str, body: serde_json::Value) -> Result<Number, ApiError> {
    api::send(
        "POST",
        &format!("/api/v1/numbers/{}/{}", segment(number), act.verb()),
        Some(&body),
    )
    .await
}

/// The dialog for `pending`; `on_done` gets the numbers as they are now.
#[component]
pub fn ActionDialog(
    pending: Pending,
    on_close: Callback<()>,
    on_done: Callback<Vec<Number>>,
) -> impl IntoView {
    let auth = auth();
    let toasts = toasts();
    let act = pending.act;
    let reassigning = pending.reassign;
    let numbers = pending.numbers.clone();
    let verb = if reassigning { "Reassign" } else { act.title() };
    let title = if numbers.len() == 1 {
        format!("{verb} {}", numbers[0])
    } else {
        format!("{} {} numbers", act.title(), numbers.len())
    };
    let reason = RwSignal::new(String::new());
    let reserved_for = RwSignal::new(String::new());
    let date = RwSignal::new(String::new());
    let days = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let failures = RwSignal::new(Vec::<(String, String)>::new());
    let busy = RwSignal::new(false);
    let picked = RwSignal::new(None::<Pick>);
    let is_admin = auth.can(Role::Admin);

    // Builds the body for one attempt; `force` carries the override / reassign flags.
    let body = move |force: Option<&str>| -> Result<serde_json::Value, String> {
        let v = match act {
            Act::Assign => {
                let p = picked.get_untracked().ok_or("Pick a user or service")?;
                serde_json::to_value(AssignRequest {
                    target: TargetRef {
                        kind: p.kind.into(),
                        id: p.id,
                    },
                    override_reservation: force == Some("number_reserved"),
                    override_quarantine: force == Some("number_quarantined"),
                    reassign: reassigning || force == Some("number_assigned"),
                })
            }
            Act::Reserve => {
                if reason.get_untracked().trim().is_empty() {
                    return Err("A reason is required".into());
                }
                let rf = reserved_for.get_untracked();
                serde_json::to_value(ReserveRequest {
                    reason: reason.get_untracked(),
                    reserved_for: (!rf.trim().is_empty()).then_some(rf),
                    expires_at: end_of_day(&date.get_untracked()),
                })
            }
            Act::Quarantine => {
                if reason.get_untracked().trim().is_empty() {
                    return Err("A reason is required".into());
                }
                serde_json::to_value(QuarantineRequest {
                    reason: reason.get_untracked(),
                    until: end_of_day(&date.get_untracked()),
                })
            }
            Act::Release => {
                let r = reason.get_untracked();
                serde_json::to_value(ReleaseRequest {
                    reason: (!r.trim().is_empty()).then_some(r),
                })
            }
            Act::Unassign => {
                let r = reason.get_untracked();
                let d = days.get_untracked();
                let quarantine_days = if d.trim().is_empty() {
                    None
                } else {
                    Some(
                        d.trim()
                            .parse::<i64>()
                            .map_err(|_| "Days must be a whole number")?,
                    )
                };
                serde_json::to_value(UnassignRequest {
                    quarantine_days,
                    reason: (!r.trim().is_empty()).then_some(r),
                })
            }
        };
        v.map_err(|e| e.to_string())
    };

    let nums = StoredValue::new(numbers.clone());
    let submit = move |force: Option<String>| {
        let b = match body(force.as_deref()) {
            Ok(b) => b,
            Err(msg) => {
                error.set(Some(ApiError {
                    status: 0,
                    code: "invalid".into(),
                    message: msg,
                    details: serde_json::Value::Null,
                }));
                return;
            }
        };
        busy.set(true);
        error.set(None);
        failures.set(Vec::new());
        let list = nums.get_value();
        leptos::task::spawn_local(async move {
            let mut done = Vec::new();
            let mut failed = Vec::new();
            for n in &list {
                match run(act, n, b.clone()).await {
                    Ok(num) => done.push(num),
                    Err(e) if list.len() == 1 => {
                        error.set(Some(e));
                        busy.set(false);
                        return;
                    }
                    Err(e) => failed.push((n.clone(), e.message)),
                }
            }
            busy.set(false);
            let ok = done.len();
            if !done.is_empty() {
                on_done.run(done);
            }
            if failed.is_empty() {
                let what = if ok == 1 {
                    "1 number".to_string()
                } else {
                    format!("{ok} numbers")
                };
                toasts.ok(format!("{} {what}", act.done()));
                on_close.run(());
            } else {
                failures.set(failed);
            }
        });
    };

    let fields = match act {
        Act::Assign => view! { <AssignPicker picked=picked on_pick=Callback::new(move |()| submit(None))/> }.into_any(),
        Act::Reserve => view! {
            <TextField id="act-reason" label="Reason" value=reason required=true focus=true/>
            <TextField id="act-for" label="Reserved for" value=reserved_for help="A person, team or project (optional)"/>
            <DateField id="act-date" label="Expires" value=date help="Released automatically at the end of that day (optional)"/>
        }.into_any(),
        Act::Quarantine => view! {
            <TextField id="act-reason" label="Reason" value=reason required=true focus=true/>
            <DateField id="act-date" label="Until" value=date help="Default: the quarantine period from settings"/>
        }.into_any(),
        Act::Release => view! {
            <p>"The number becomes available for anyone to assign."</p>
            <TextField id="act-reason" label="Reason" value=reason help="For the audit log (optional)" focus=true/>
        }.into_any(),
        Act::Unassign => view! {
            <p>"The number goes into quarantine for the site's period unless you set days."</p>
            <TextField id="act-reason" label="Reason" value=reason help="For the audit log (optional)" focus=true/>
            <TextField id="act-days" label="Quarantine days" value=days
                help=if is_admin { "0 frees it at once" } else { "0 (free at once) needs the admin role" }/>
        }.into_any(),
    };

    // What the refusal allows: the override for admins, reassign for everyone who may assign.
    let remedy = move || {
        let e = error.get()?;
        let code = e.code.clone();
        match code.as_str() {
            "number_reserved" | "number_quarantined" if act == Act::Assign => Some(if is_admin {
                let c = code.clone();
                view! {
                    <div class="btn-row">
                        <button class="btn btn-danger" data-testid="override" on:click=move |_| submit(Some(c.clone()))>{move || match picked.get() { Some(p) => format!("Assign to {} anyway (override)", p.label.split('\u{1f}').next().unwrap_or_default()), None => "Assign anyway (override)".into() }}</button>
                    </div>
                }.into_any()
            } else {
                view! { <p class="subtle" data-testid="no-override">"Only an admin may override this."</p> }.into_any()
            }),
            "number_assigned" if act == Act::Assign => {
                let c = code.clone();
                Some(view! {
                    <div class="btn-row">
                        <button class="btn btn-danger" on:click=move |_| submit(Some(c.clone()))>"Reassign to the new target"</button>
                    </div>
                }.into_any())
            }
            _ => None,
        }
    };

    view! {
        <Modal title=title on_close=on_close>
            {move || error.get().map(|e| view! { <div data-testid="refusal"><Alert error=e/></div> })}
            {remedy}
            {move || {
                let f = failures.get();
                (!f.is_empty()).then(|| view! {
                    <div class="alert alert-error" role="alert">
                        <strong>{format!("{} could not be changed:", f.len())}</strong>
                        <ul>{f.into_iter().map(|(n, m)| view! { <li><span class="e164">{n}</span>" — "{m}</li> }).collect_view()}</ul>
                    </div>
                })
            }}
            <form on:submit=move |ev| { ev.prevent_default(); submit(None) }>
                {fields}
                <div class="foot">
                    <button type="button" class="btn" on:click=move |_| on_close.run(())>"Cancel"</button>
                    {(act != Act::Assign).then(|| view! {
                        <button type="submit" class="btn btn-primary" disabled=move || busy.get()>{act.title()}</button>
                    })}
                </div>
            </form>
        </Modal>
    }
}

/// A labelled text input bound to `value`.
#[component]
pub fn TextField(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: RwSignal<String>,
    #[prop(optional, into)] help: String,
    #[prop(optional)] required: bool,
    #[prop(optional)] focus: bool,
) -> impl IntoView {
    let node = NodeRef::<leptos::html::Input>::new();
    if focus {
        focus_on_mount(node);
    }
    let for_id = id.clone();
    view! {
        <div class="field">
            <label for=for_id>{label}</label>
            <input id=id type="text" node_ref=node required=required prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))/>
            {(!help.is_empty()).then(|| view! { <div class="help">{help}</div> })}
        </div>
    }
}

/// A labelled date input (`YYYY-MM-DD`) bound to `value`.
#[component]
pub fn DateField(
    #[prop(into)] id: String,
    #[prop(into)] label: String,
    value: RwSignal<String>,
    #[prop(optional, into)] help: String,
) -> impl IntoView {
    let for_id = id.clone();
    view! {
        <div class="field">
            <label for=for_id>{label}</label>
            <input id=id type="date" prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
            {(!help.is_empty()).then(|| view! { <div class="help">{help}</div> })}
        </div>
    }
}

/// Type-ahead over directory users (name, UPN, department) and services; picking one
/// submits at once, so assigning takes the click that opened the dialog and this one.
#[component]
fn AssignPicker(
    picked: RwSignal<Option<Pick>>,
    on_pick: Callback<()>,
    /// Take the keyboard on opening (not where other fields come first).
    #[prop(default = true)]
    focus: bool,
) -> impl IntoView {
    let q = RwSignal::new(String::new());
    let input = NodeRef::<leptos::html::Input>::new();
    if focus {
        focus_on_mount(input);
    }
    let results = RwSignal::new(None::<Result<Vec<Pick>, ApiError>>);
    let generation = StoredValue::new(0u64);
    Effect::new(move |_| {
        let text = q.get();
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        leptos::task::spawn_local(async move {
            // A short pause so typing a name costs one request, not one per key.
            if !text.is_empty() {
                gloo_sleep(180).await;
            }
            // `try_`: the dialog may have closed meanwhile.
            if generation.try_get_value() != Some(mine) {
                return;
            }
            let enc = String::from(js_sys::encode_uri_component(text.trim()));
            let (users_url, services_url) = (
                format!("/api/v1/users?limit=8&q={enc}"),
                format!("/api/v1/services?limit=5&q={enc}"),
            );
            let users = api::get::<UserList>(&users_url);
            let services = api::get::<ServiceList>(&services_url);
            let (users, services) = (users.await, services.await);
            if generation.try_get_value() != Some(mine) {
                return;
            }
            let r = match (users, services) {
                (Ok(u), Ok(s)) => Ok(u
                    .items
                    .into_iter()
                    .map(user_pick)
                    .chain(s.items.into_iter().map(service_pick))
                    .collect()),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            results.set(Some(r));
        });
    });
    view! {
        <div class="field">
            <label for="assign-q">"User or service"</label>
            <input id="assign-q" type="search" node_ref=input autocomplete="off" placeholder="Name, UPN or service"
                prop:value=move || q.get() on:input=move |ev| q.set(event_target_value(&ev))
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    // Enter picks the first suggestion; Down moves into the list.
                    if ev.key() == "Enter" {
                        ev.prevent_default();
                        if let Some(Ok(list)) = results.get_untracked()
                            && let Some(first) = list.first() {
                                picked.set(Some(first.clone()));
                                on_pick.run(());
                            }
                    } else if ev.key() == "ArrowDown" {
                        ev.prevent_default();
                        if let Some(doc) = web_sys::window().and_then(|w| w.document())
                            && let Ok(Some(el)) = doc.query_selector(".typeahead button") {
                                use wasm_bindgen::JsCast;
                                if let Some(h) = el.dyn_ref::<web_sys::HtmlElement>() { let _ = h.focus(); }
                            }
                    }
                }/>
        </div>
        <ul class="typeahead" role="listbox" aria-label="Suggestions" data-testid="suggestions">
            {move || match results.get() {
                None => view! { <li class="none">"Searching…"</li> }.into_any(),
                Some(Err(e)) => view! { <li class="none">{e.message}</li> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <li class="none">"No user or service matches."</li> }.into_any(),
                Some(Ok(list)) => list.into_iter().map(|p| {
                    let p2 = p.clone();
                    let (main, sub) = p.label.split_once('\u{1f}').map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or((p.label.clone(), String::new()));
                    view! {
                        <li role="option">
                            <button type="button"
                                on:click=move |_| { picked.set(Some(p2.clone())); on_pick.run(()) }
                                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                                    use wasm_bindgen::JsCast;
                                    let Some(li) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).and_then(|b| b.parent_element()) else { return };
                                    let next = match ev.key().as_str() {
                                        "ArrowDown" => li.next_element_sibling(),
                                        "ArrowUp" => li.previous_element_sibling(),
                                        _ => return,
                                    };
                                    ev.prevent_default();
                                    if let Some(b) = next.and_then(|n| n.first_element_child())
                                        && let Some(h) = b.dyn_ref::<web_sys::HtmlElement>() { let _ = h.focus(); }
                                }>
                                <span class="kind">{p.kind}</span>
                                <span class="main">{main}</span>
                                <span class="sub">{sub}</span>
                            </button>
                        </li>
                    }
                }).collect_view().into_any(),
            }}
        </ul>
    }
}

fn user_pick(u: DirectoryUser) -> Pick {
    let sub = [Some(u.upn.clone()), u.department.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    let held = match u.numbers.len() {
        0 => String::new(),
        1 => " · has 1 number".to_string(),
        n => format!(" · has {n} numbers"),
    };
    Pick {
        kind: "user",
        id: u.id,
        label: format!("{}\u{1f}{sub}{held}", u.display_name),
    }
}

fn service_pick(s: Service) -> Pick {
    Pick {
        kind: "service",
        id: s.id,
        label: format!("{}\u{1f}{}", s.name, s.kind.as_str().replace('_', " ")),
    }
}

/// Resolves after `ms` milliseconds.
pub async fn gloo_sleep(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
}

/// The actions a number's status allows, with the reason when the caller's role does not.
pub fn actions_for(status: api_types::NumberStatus) -> &'static [Act] {
    use api_types::NumberStatus::*;
    match status {
        Available => &[Act::Assign, Act::Reserve, Act::Quarantine],
        Reserved => &[Act::Assign, Act::Release],
        Assigned => &[Act::Unassign, Act::Assign],
        Quarantined => &[Act::Release, Act::Assign],
    }
}

/// A button that opens `act` for `number`, disabled with the reason for roles below operator.
#[component]
pub fn ActButton(
    act: Act,
    number: String,
    open: WriteSignal<Option<Pending>>,
    #[prop(optional)] small: bool,
    /// The number is assigned: Assign moves it to a new holder.
    #[prop(optional)]
    reassign: bool,
) -> impl IntoView {
    let auth = auth();
    let allowed = auth.can(Role::Operator);
    let reassign = reassign && act == Act::Assign;
    let label = if reassign { "Reassign" } else { act.title() };
    let cls = if small { "btn btn-sm" } else { "btn" };
    let aria = format!("{label} {number}");
    view! {
        <button class=cls disabled=!allowed title=if allowed { String::new() } else { needs(Role::Operator) }
            aria-label=aria data-act=act.verb()
            on:click=move |_| open.set(Some(Pending { act, numbers: vec![number.clone()], reassign }))>{label}</button>
    }
}

/// The pool fields a refusal of an allocation can name.
const POOL_FIELDS: &[&str] = &[
    "pool.range_id",
    "pool.location_id",
    "pool.tags",
    "pool.number_type",
];

/// "Take the next free number": narrow the pool (range, site, tags, type), then pick a
/// user or service in the type-ahead; `POST /allocations` assigns the pool's lowest
/// available number to them. A pool with nothing left (409) says so above the form.
#[component]
pub fn TakeDialog(
    /// The range to take from, preselected (from a range's row): id and name.
    #[prop(optional)]
    range: Option<(String, String)>,
    close: Callback<()>,
) -> impl IntoView {
    use crate::pages::estate::{choices, type_choices};
    let lookups = crate::app::lookups();
    let toasts = toasts();
    let preset = range;
    let range = RwSignal::new(preset.as_ref().map(|r| r.0.clone()).unwrap_or_default());
    let location = RwSignal::new(String::new());
    let tags = RwSignal::new(String::new());
    let number_type = RwSignal::new(String::new());
    let form = crate::ui::Form {
        prefix: "take",
        key: crate::ui::plain_key,
        error: RwSignal::new(None),
    };
    let other = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let picked = RwSignal::new(None::<Pick>);
    let opt = |s: RwSignal<String>| Some(s.get_untracked()).filter(|v| !v.is_empty());
    let take = Callback::new(move |()| {
        let Some(p) = picked.get_untracked() else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        form.error.set(None);
        other.set(None);
        let body = AllocationRequest {
            pool: PoolBody {
                tags: crate::ui::tag_list(&tags.get_untracked()),
                location_id: opt(location),
                range_id: opt(range),
                number_type: opt(number_type),
                ..Default::default()
            },
            target: TargetRef {
                kind: p.kind.to_string(),
                id: p.id.clone(),
            },
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let r = api::send::<_, Number>("POST", "/api/v1/allocations", Some(&body)).await;
            busy.set(false);
            match r {
                Ok(n) => {
                    let who = p
                        .label
                        .split('\u{1f}')
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    toasts.ok_link(
                        format!("Assigned {} to {who}", n.number),
                        format!("/numbers/{}", segment(&n.number)),
                        "Open",
                    );
                    close.run(());
                }
                Err(e) => {
                    if !form.place(e.clone(), POOL_FIELDS) {
                        other.set(Some(e))
                    }
                }
            }
        });
    });
    let mut ranges = choices(
        "Any",
        lookups.ranges.get_untracked().into_iter().map(|r| {
            let n = r
                .name
                .clone()
                .unwrap_or_else(|| format!("{} – {}", r.start, r.end));
            (r.id, n)
        }),
    );
    // A range made since the lookups loaded (elsewhere, or through the API) is still offered.
    if let Some(p) = preset.filter(|p| !ranges.iter().any(|(id, _)| *id == p.0)) {
        ranges.push(p);
    }
    let sites = lookups.site_choices("Any");
    let specs = vec![
        ("pool.range_id".to_string(), "Range", range, ranges, ""),
        (
            "pool.location_id".to_string(),
            "Location",
            location,
            sites,
            "",
        ),
        (
            "pool.number_type".to_string(),
            "Number type",
            number_type,
            type_choices("Any"),
            "",
        ),
        (
            "pool.tags".to_string(),
            "Tags",
            tags,
            Vec::new(),
            "Comma-separated; the number must carry all of them",
        ),
    ];
    crate::ui::focus_id(form.id("pool.range_id"));
    view! {
        <Modal title="Take the next free number" on_close=close>
            {move || other.get().map(|e| view! { <Alert error=e/> })}
            <p class="help subtle">"The pool's lowest available number is assigned to whom you pick."</p>
            <div class="grid grid-2" data-testid="take-form">{crate::ui::fields(specs, form, false)}</div>
            <AssignPicker picked=picked on_pick=take focus=false/>
            <div class="foot">
                <button type="button" class="btn" on:click=move |_| close.run(())>"Cancel"</button>
            </div>
        </Modal>
    }
}
