//! The estate's other lists: ranges with utilisation (admins create and edit them),
//! locations, services, directory users with their numbers, and groups. Each reads one
//! paged list endpoint.

use api_types::{
    GroupList, LocationList, NewRange, NumberType, Range, RangeList, RangePatch, ServiceList,
    UserList,
};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use serde::de::DeserializeOwned;

use crate::api::ApiError;
use crate::api::{self, segment};
use crate::app::{auth, lookups, needs};
use crate::pages::actions::TextField;
use crate::ui::{ErrorBox, Load, Tags, field_message, fmt_int, focus_id, load, tag_list};
use api_types::Role;

/// A searchable, keyset-paged list: `fetch_url(q, cursor)` → page; `rows` renders one page.
#[component]
fn Paged<T, R, V>(
    #[prop(into)] title: String,
    base: &'static str,
    #[prop(optional)] search: bool,
    head: Vec<&'static str>,
    items: fn(&T) -> (usize, Option<String>),
    rows: R,
    /// Buttons for the page head (e.g. "New location").
    #[prop(optional)]
    toolbar: Option<ViewFn>,
    /// Bumped to reload the list (after a create).
    #[prop(optional)]
    refresh: Option<RwSignal<u32>>,
) -> impl IntoView
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
    R: Fn(T) -> V + Copy + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let initial = use_query_map().get_untracked().get("q").unwrap_or_default();
    let q = RwSignal::new(initial);
    let cursors = RwSignal::new(vec![None::<String>]);
    let page = load(move || {
        if let Some(r) = refresh {
            r.track();
        }
        let mut url = format!(
            "{base}{}limit=50",
            if base.contains('?') { "&" } else { "?" }
        );
        let text = q.get();
        if !text.trim().is_empty() {
            url.push_str(&format!("&q={}", segment(text.trim())));
        }
        if let Some(c) = cursors.with(|c| c.last().cloned().flatten()) {
            url.push_str(&format!("&cursor={}", segment(&c)));
        }
        async move { api::get::<T>(&url).await }
    });
    let next = move || match page.get() {
        Load::Ready(p) => items(&p).1,
        _ => None,
    };
    let cols = head.len();
    view! {
        <div class="page-head"><h1>{title}</h1><span class="spacer"></span>{toolbar.map(|t| t.run())}</div>
        {search.then(|| view! {
            <div class="panel"><div class="field">
                <label for="list-q">"Search"</label>
                <input id="list-q" type="search" prop:value=move || q.get()
                    on:change=move |ev| { cursors.set(vec![None]); q.set(event_target_value(&ev)) }/>
            </div></div>
        })}
        <div class="table-wrap">
            <table class="data cards">
                <thead><tr>{head.into_iter().map(|h| view! { <th>{h}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {move || match page.get() {
                        Load::Loading => (0..6).map(|_| view! { <tr>{(0..cols).map(|_| view! { <td><span class="skeleton"></span></td> }).collect_view()}</tr> }).collect_view().into_any(),
                        Load::Failed(e) => view! { <tr><td colspan=cols.to_string()><ErrorBox error=e/></td></tr> }.into_any(),
                        Load::Ready(p) if items(&p).0 == 0 => view! { <tr><td colspan=cols.to_string()><crate::ui::Empty text="Nothing here yet."/></td></tr> }.into_any(),
                        Load::Ready(p) => rows(p).into_any(),
                    }}
                </tbody>
            </table>
        </div>
        <div class="pager">
            <button class="btn btn-sm" disabled=move || cursors.with(|c| c.len() <= 1) on:click=move |_| cursors.update(|c| { c.pop(); })>"Previous"</button>
            <button class="btn btn-sm" disabled=move || next().is_none() on:click=move |_| if let Some(n) = next() { cursors.update(|c| c.push(Some(n))) }>"Next"</button>
        </div>
    }
}

fn pct(used: i64, total: i64) -> String {
    if total == 0 {
        "—".into()
    } else {
        format!(
            "{}%",
            crate::ui::fixed(used as f64 * 100.0 / total as f64, 0)
        )
    }
}

/// Ranges with their utilisation; admins create and edit them.
#[component]
pub fn Ranges() -> impl IntoView {
    let lookups = lookups();
    let allowed = auth().can(Role::Admin);
    let refresh = RwSignal::new(0u32);
    // The open form: `Some(None)` a new range, `Some(Some(r))` editing `r`.
    let dialog = RwSignal::new(None::<Option<Range>>);
    view! {
        {move || dialog.get().map(|r| view! { <RangeDialog range=r dialog=dialog refresh=refresh/> })}
        <Paged title="Ranges" base="/api/v1/ranges" search=true refresh=refresh
            toolbar=ViewFn::from(move || view! {
                <button class="btn btn-primary" data-testid="new-range" disabled=!allowed
                    title=if allowed { String::new() } else { needs(Role::Admin) }
                    on:click=move |_| dialog.set(Some(None))>"New range"</button>
            })
            head=vec!["Name", "Start", "End", "Location", "Tags", "Assigned", "Available", "In use", ""]
            items=|l: &RangeList| (l.items.len(), l.next_cursor.clone())
            rows=move |l: RangeList| l.items.into_iter().map(|r| {
                let u = r.utilisation.clone();
                let href = format!("/numbers?range={}", segment(&r.id));
                let name = r.name.clone().unwrap_or_else(|| "(unnamed)".into());
                let edit_label = format!("Edit range {name}");
                let row = r.clone();
                view! { <tr data-range=r.id.clone()>
                    <td data-label="Name"><A href=href>{name}</A></td>
                    <td data-label="Start" class="e164">{r.start.clone()}</td>
                    <td data-label="End" class="e164">{r.end.clone()}</td>
                    <td data-label="Location">{let id = r.location_id.clone(); move || lookups.location(&id)}</td>
                    <td data-label="Tags"><Tags tags=r.tags.clone()/></td>
                    <td data-label="Assigned" class="num">{fmt_int(u.assigned)}</td>
                    <td data-label="Available" class="num">{fmt_int(u.available)}</td>
                    <td data-label="In use" class="num">{pct(u.total - u.available, u.total)}</td>
                    <td class="actions">
                        <button class="btn btn-sm" aria-label=edit_label disabled=!allowed
                            title=if allowed { String::new() } else { needs(Role::Admin) }
                            on:click=move |_| dialog.set(Some(Some(row.clone())))>"Edit"</button>
                    </td>
                </tr> }
            }).collect_view()/>
    }
}

/// The range form's fields, by the name the server gives them in `details.field`.
const RANGE_FIELDS: &[&str] = &[
    "name",
    "start",
    "end",
    "location_id",
    "platform_id",
    "number_type",
    "tags",
    "description",
];

/// The form field a refusal names (`tags[3]` is the tags field), if it is one of ours.
fn field_of(e: &ApiError) -> Option<&'static str> {
    let f = e.details.get("field")?.as_str()?;
    let base = f.split(['[', '.']).next().unwrap_or(f);
    RANGE_FIELDS.iter().copied().find(|k| *k == base)
}

/// The refusal under a field, when it names that field.
#[component]
fn FieldError(field: &'static str, error: RwSignal<Option<ApiError>>) -> impl IntoView {
    move || {
        error.get().filter(|e| field_of(e) == Some(field)).map(|e| {
            view! { <div class="field-error" id=format!("range-{field}-error") data-testid=format!("error-{field}")>{field_message(&e, field)}</div> }
        })
    }
}

/// Creates a range (`POST /ranges`) or edits one (`PATCH /ranges/{id}` with `If-Match`,
/// sending only what changed). A 400 naming a field shows under it and focuses it;
/// anything else (an overlap, a change made meanwhile) shows above the form.
#[component]
fn RangeDialog(
    range: Option<Range>,
    dialog: RwSignal<Option<Option<Range>>>,
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let lookups = lookups();
    let toasts = crate::ui::toasts();
    let editing = range.is_some();
    let orig = range.clone();
    let r = range.as_ref();
    let text = |v: Option<String>| RwSignal::new(v.unwrap_or_default());
    let name = text(r.and_then(|r| r.name.clone()));
    let start = text(r.map(|r| r.start.clone()));
    let end = text(r.map(|r| r.end.clone()));
    let location = text(r.and_then(|r| r.location_id.clone()));
    let platform = text(r.and_then(|r| r.platform_id.clone()));
    let number_type = text(r.and_then(|r| r.number_type.map(|t| t.as_str().to_string())));
    let tags = text(r.map(|r| r.tags.join(", ")));
    let description = text(r.map(|r| r.description.clone()));
    let apply = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let close = Callback::new(move |()| dialog.set(None));
    let opt = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        let orig = orig.clone();
        leptos::task::spawn_local(async move {
            let result = match &orig {
                None => {
                    let body = NewRange {
                        name: opt(name.get_untracked()),
                        start: start.get_untracked().trim().to_string(),
                        end: end.get_untracked().trim().to_string(),
                        location_id: opt(location.get_untracked()),
                        tags: tag_list(&tags.get_untracked()),
                        description: opt(description.get_untracked()),
                        platform_id: opt(platform.get_untracked()),
                        number_type: opt(number_type.get_untracked()),
                    };
                    api::send::<_, Range>("POST", "/api/v1/ranges", Some(&body)).await
                }
                Some(o) => {
                    // Only what changed: an unchanged site or platform is not asked again.
                    let changed =
                        |new: Option<String>, old: Option<String>| (new != old).then_some(new);
                    let new_tags = tag_list(&tags.get_untracked());
                    let new_desc = description.get_untracked();
                    let body = RangePatch {
                        name: changed(opt(name.get_untracked()), o.name.clone()),
                        description: (new_desc != o.description).then_some(new_desc),
                        tags: (new_tags != o.tags).then_some(new_tags),
                        location_id: changed(opt(location.get_untracked()), o.location_id.clone()),
                        platform_id: changed(opt(platform.get_untracked()), o.platform_id.clone()),
                        number_type: changed(
                            opt(number_type.get_untracked()),
                            o.number_type.map(|t| t.as_str().to_string()),
                        ),
                        apply_to_numbers: apply.get_untracked(),
                    };
                    let path = format!("/api/v1/ranges/{}", segment(&o.id));
                    api::send_if_match::<_, Range>("PATCH", &path, Some(&body), o.version).await
                }
            };
            busy.set(false);
            match result {
                Ok(r) => {
                    let label = r
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("{} – {}", r.start, r.end));
                    toasts.ok(if editing {
                        format!("Saved range {label}")
                    } else {
                        format!("Created range {label} with {} numbers", fmt_int(r.size))
                    });
                    refresh.update(|n| *n += 1);
                    lookups.refresh();
                    dialog.set(None);
                }
                Err(e) => {
                    // Take the keyboard to the field the server named.
                    if let Some(f) = field_of(&e) {
                        focus_id(format!("range-{}", f.replace('_', "-")));
                    }
                    error.set(Some(e));
                }
            }
        });
    };
    let invalid = move |field: &'static str| {
        move || {
            error
                .with(|e| e.as_ref().and_then(field_of) == Some(field))
                .to_string()
        }
    };
    let described = |field: &'static str| format!("range-{field}-error");
    let first = NodeRef::<leptos::html::Input>::new();
    crate::ui::focus_on_mount(first);
    let cur_loc = location.get_untracked();
    let cur_platform = platform.get_untracked();
    let cur_type = number_type.get_untracked();
    let title = match &range {
        Some(r) => format!(
            "Edit range {}",
            r.name
                .clone()
                .unwrap_or_else(|| format!("{} – {}", r.start, r.end))
        ),
        None => "New range".to_string(),
    };
    view! {
        <crate::ui::Modal title=title on_close=close>
            {move || error.get().filter(|e| field_of(e).is_none()).map(|e| view! { <crate::ui::Alert error=e/> })}
            <form on:submit=submit novalidate=true data-testid="range-form">
                <div class="field">
                    <label for="range-name">"Name"</label>
                    <input id="range-name" type="text" node_ref=first prop:value=move || name.get()
                        aria-invalid=invalid("name") aria-describedby=described("name")
                        on:input=move |ev| name.set(event_target_value(&ev))/>
                    <FieldError field="name" error=error/>
                </div>
                <div class="grid grid-2">
                    <div class="field">
                        <label for="range-start">"First number"</label>
                        <input id="range-start" type="text" inputmode="tel" autocomplete="off" class="mono" required=!editing
                            readonly=editing prop:value=move || start.get()
                            aria-invalid=invalid("start") aria-describedby=described("start")
                            on:input=move |ev| start.set(event_target_value(&ev))/>
                        <FieldError field="start" error=error/>
                    </div>
                    <div class="field">
                        <label for="range-end">"Last number"</label>
                        <input id="range-end" type="text" inputmode="tel" autocomplete="off" class="mono" required=!editing
                            readonly=editing prop:value=move || end.get()
                            aria-invalid=invalid("end") aria-describedby=described("end")
                            on:input=move |ev| end.set(event_target_value(&ev))/>
                        <FieldError field="end" error=error/>
                    </div>
                </div>
                {(!editing).then(|| view! { <p class="help subtle">"Every number from the first to the last is added as available, e.g. +44 20 7946 0000 to +44 20 7946 0999."</p> })}
                {editing.then(|| view! { <p class="help subtle">"A range's numbers are fixed; to change them, create another range."</p> })}
                <div class="grid grid-2">
                    <div class="field">
                        <label for="range-location-id">"Location"</label>
                        <select id="range-location-id" aria-invalid=invalid("location_id") aria-describedby=described("location_id")
                            on:change=move |ev| location.set(event_target_value(&ev))>
                            <option value="">"None"</option>
                            {lookups.locations.get_untracked().into_iter().map(|l| { let sel = l.id == cur_loc; view! { <option value=l.id.clone() selected=sel>{l.name}</option> } }).collect_view()}
                        </select>
                        <FieldError field="location_id" error=error/>
                    </div>
                    <div class="field">
                        <label for="range-platform-id">"Platform"</label>
                        <select id="range-platform-id" aria-invalid=invalid("platform_id") aria-describedby=described("platform_id")
                            on:change=move |ev| platform.set(event_target_value(&ev))>
                            <option value="">"None"</option>
                            {lookups.platforms.get_untracked().into_iter().map(|p| { let sel = p.id == cur_platform; view! { <option value=p.id.clone() selected=sel>{p.name}</option> } }).collect_view()}
                        </select>
                        <FieldError field="platform_id" error=error/>
                    </div>
                </div>
                <div class="grid grid-2">
                    <div class="field">
                        <label for="range-number-type">"Number type"</label>
                        <select id="range-number-type" aria-invalid=invalid("number_type") aria-describedby=described("number_type")
                            on:change=move |ev| number_type.set(event_target_value(&ev))>
                            <option value="">"None"</option>
                            {NumberType::ALL.iter().map(|t| { let w = t.as_str(); let sel = w == cur_type; view! { <option value=w selected=sel>{w.replace('_', " ")}</option> } }).collect_view()}
                        </select>
                        <FieldError field="number_type" error=error/>
                    </div>
                    <div class="field">
                        <label for="range-tags">"Tags"</label>
                        <input id="range-tags" type="text" prop:value=move || tags.get()
                            aria-invalid=invalid("tags") aria-describedby=described("tags")
                            on:input=move |ev| tags.set(event_target_value(&ev))/>
                        <div class="help">"Comma-separated; given to its numbers"</div>
                        <FieldError field="tags" error=error/>
                    </div>
                </div>
                <div class="field">
                    <label for="range-description">"Description"</label>
                    <textarea id="range-description" prop:value=move || description.get()
                        aria-invalid=invalid("description") aria-describedby=described("description")
                        on:input=move |ev| description.set(event_target_value(&ev))></textarea>
                    <FieldError field="description" error=error/>
                </div>
                {editing.then(|| view! {
                    <div class="field">
                        <label class="check-label"><input type="checkbox" prop:checked=move || apply.get()
                            on:change=move |ev| apply.set(event_target_checked(&ev))/>
                            " Also give its numbers the new location, platform, type and tags"</label>
                    </div>
                })}
                <div class="foot">
                    <button type="button" class="btn" on:click=move |_| dialog.set(None)>"Cancel"</button>
                    <button type="submit" class="btn btn-primary" data-testid="range-save" disabled=move || busy.get()>
                        {move || match (busy.get(), editing) { (true, false) => "Creating…", (true, true) => "Saving…", (false, false) => "Create", (false, true) => "Save" }}
                    </button>
                </div>
            </form>
        </crate::ui::Modal>
    }
}

/// Sites; admins may add one.
#[component]
pub fn Locations() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let open = RwSignal::new(false);
    let name = RwSignal::new(String::new());
    let country = RwSignal::new(String::new());
    let city = RwSignal::new(String::new());
    let submit = Callback::new(move |()| {
        let body = api_types::NewLocation {
            name: name.get_untracked(),
            country: country.get_untracked().trim().to_uppercase(),
            region: None,
            city: Some(city.get_untracked()).filter(|c| !c.trim().is_empty()),
            address: None,
            emergency_location_id: None,
        };
        async move {
            api::send::<_, api_types::Location>("POST", "/api/v1/locations", Some(&body))
                .await
                .map(|l| l.name)
        }
    });
    view! {
        {move || open.get().then(|| view! {
            <CreateDialog title="New location" open=open refresh=refresh submit=submit>
                <TextField id="loc-name" label="Name" value=name required=true focus=true/>
                <TextField id="loc-country" label="Country" value=country required=true help="ISO 3166-1 alpha-2, e.g. GB"/>
                <TextField id="loc-city" label="City" value=city/>
            </CreateDialog>
        })}
        <Paged title="Locations" base="/api/v1/locations" search=true refresh=refresh
            toolbar=ViewFn::from(move || view! { <NewButton label="New location" open=open/> })
            head=vec!["Name", "Country", "Region", "City", "Address", "Emergency location"]
            items=|l: &LocationList| (l.items.len(), l.next_cursor.clone())
            rows=|l: LocationList| l.items.into_iter().map(|x| {
                let href = format!("/numbers?location={}", segment(&x.id));
                view! { <tr>
                    <td data-label="Name"><A href=href>{x.name.clone()}</A></td>
                    <td data-label="Country">{x.country.clone()}</td>
                    <td data-label="Region">{x.region.clone()}</td>
                    <td data-label="City">{x.city.clone()}</td>
                    <td data-label="Address">{x.address.clone()}</td>
                    <td data-label="Emergency" class="muted">{x.emergency_location_id.clone()}</td>
                </tr> }
            }).collect_view()/>
    }
}

/// Services (auto attendants, call queues, …) with their numbers; admins may add one.
#[component]
pub fn Services() -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let open = RwSignal::new(false);
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new("call_queue".to_string());
    let description = RwSignal::new(String::new());
    let submit = Callback::new(move |()| {
        let body = api_types::NewService {
            name: name.get_untracked(),
            kind: kind.get_untracked(),
            platform_id: None,
            external_id: None,
            description: Some(description.get_untracked()).filter(|d| !d.trim().is_empty()),
        };
        async move {
            api::send::<_, api_types::Service>("POST", "/api/v1/services", Some(&body))
                .await
                .map(|s| s.name)
        }
    });
    view! {
        {move || open.get().then(|| view! {
            <CreateDialog title="New service" open=open refresh=refresh submit=submit>
                <TextField id="svc-name" label="Name" value=name required=true focus=true/>
                <div class="field">
                    <label for="svc-kind">"Kind"</label>
                    <select id="svc-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                        {["auto_attendant", "call_queue", "resource_account", "sip_trunk", "contact_centre", "fax", "conference_bridge", "other"]
                            .map(|k| view! { <option value=k selected=move || kind.get() == k>{k.replace('_', " ")}</option> }).collect_view()}
                    </select>
                </div>
                <TextField id="svc-desc" label="Description" value=description/>
            </CreateDialog>
        })}
        <Paged title="Services" base="/api/v1/services" search=true refresh=refresh
            toolbar=ViewFn::from(move || view! { <NewButton label="New service" open=open/> })
            head=vec!["Name", "Kind", "Numbers", "Description"]
            items=|l: &ServiceList| (l.items.len(), l.next_cursor.clone())
            rows=|l: ServiceList| l.items.into_iter().map(|s| view! { <tr>
                <td data-label="Name">{s.name.clone()}</td>
                <td data-label="Kind">{s.kind.as_str().replace('_', " ")}</td>
                <td data-label="Numbers">{numbers(s.numbers.clone())}</td>
                <td data-label="Description" class="muted">{s.description.clone()}</td>
            </tr> }).collect_view()/>
    }
}

fn numbers(list: Vec<String>) -> impl IntoView {
    view! { <span class="tags">{list.into_iter().map(|n| { let h = format!("/numbers/{}", segment(&n)); view! { <A href=h attr:class="e164">{n}</A> } }).collect_view()}</span> }
}

/// The synced directory, with each person's numbers.
#[component]
pub fn Users() -> impl IntoView {
    view! {
        <Paged title="Directory users" base="/api/v1/users" search=true
            head=vec!["Name", "UPN", "Department", "Office", "Numbers", "Account"]
            items=|l: &UserList| (l.items.len(), l.next_cursor.clone())
            rows=|l: UserList| l.items.into_iter().map(|u| view! { <tr>
                <td data-label="Name">{u.display_name.clone()}</td>
                <td data-label="UPN" class="muted">{u.upn.clone()}</td>
                <td data-label="Department">{u.department.clone()}</td>
                <td data-label="Office">{u.office_location.clone()}</td>
                <td data-label="Numbers">{numbers(u.numbers.clone())}</td>
                <td data-label="Account">{if u.deleted { view! { <span class="badge b-failed">"deleted"</span> }.into_any() }
                    else if !u.account_enabled { view! { <span class="badge b-neutral">"disabled"</span> }.into_any() }
                    else { view! { <span class="badge b-available">"enabled"</span> }.into_any() }}</td>
            </tr> }).collect_view()/>
    }
}

/// Synced groups.
#[component]
pub fn Groups() -> impl IntoView {
    view! {
        <Paged title="Groups" base="/api/v1/groups" search=true
            head=vec!["Name", "Mail", "Members", "Description"]
            items=|l: &GroupList| (l.items.len(), l.next_cursor.clone())
            rows=|l: GroupList| l.items.into_iter().map(|g| view! { <tr>
                <td data-label="Name">{g.display_name.clone()}</td>
                <td data-label="Mail" class="muted">{g.mail.clone()}</td>
                <td data-label="Members" class="num">{fmt_int(g.member_count)}</td>
                <td data-label="Description" class="muted">{g.description.clone()}</td>
            </tr> }).collect_view()/>
    }
}

/// "New …" for admins; disabled with the reason for other roles.
#[component]
fn NewButton(label: &'static str, open: RwSignal<bool>) -> impl IntoView {
    let allowed = auth().can(Role::Admin);
    view! {
        <button class="btn btn-primary" disabled=!allowed title=if allowed { String::new() } else { needs(Role::Admin) }
            on:click=move |_| open.set(true)>{label}</button>
    }
}

/// A create form in a dialog: `submit` posts it and answers the new thing's name.
#[component]
fn CreateDialog<Fut>(
    title: &'static str,
    open: RwSignal<bool>,
    refresh: RwSignal<u32>,
    submit: Callback<(), Fut>,
    children: Children,
) -> impl IntoView
where
    Fut: std::future::Future<Output = Result<String, ApiError>> + 'static,
{
    let toasts = crate::ui::toasts();
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        let fut = submit.run(());
        leptos::task::spawn_local(async move {
            match fut.await {
                Ok(name) => {
                    toasts.ok(format!("Created {name}"));
                    refresh.update(|r| *r += 1);
                    open.set(false);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <crate::ui::Modal title=title on_close=Callback::new(move |()| open.set(false))>
            {move || error.get().map(|e| view! { <crate::ui::Alert error=e/> })}
            <form on:submit=send>
                {children()}
                <div class="foot">
                    <button type="button" class="btn" on:click=move |_| open.set(false)>"Cancel"</button>
                    <button type="submit" class="btn btn-primary" disabled=move || busy.get()>"Create"</button>
                </div>
            </form>
        </crate::ui::Modal>
    }
}
