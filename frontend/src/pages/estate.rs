//! The estate's other lists: ranges with utilisation, locations and services (admins
//! create, edit and delete them), directory users with their numbers, and groups. Each
//! reads one paged list endpoint through [`Paged`], which is compiled once: a screen
//! turns the answer's text into rows itself.

use api_types::{
    GroupList, Location, LocationList, LocationPatch, NewLocation, NewRange, NewService,
    NumberType, Range, RangeList, RangePatch, Role, Service, ServiceKind, ServiceList,
    ServicePatch, UserList,
};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::{self, ApiError, segment};
use crate::app::{auth, lookups, needs};
use crate::pages::actions::TakeDialog;
use crate::ui::{
    ErrorBox, Form, Load, Sending, Spec, Submit, Tags, delete_dialog, fields, fmt_int, focus_id,
    form_dialog, load, plain_key, tag_list,
};

/// A page of a list as table rows, decoded by the screen from the answer's text; `Err`
/// when the answer was not understood.
type Rows = Callback<String, Result<Vec<AnyView>, ApiError>>;

/// The cursor of a list answer's next page, read without decoding its items.
fn next_cursor(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Tail {
        next_cursor: Option<String>,
    }
    serde_json::from_str::<Tail>(text).ok()?.next_cursor
}

/// A searchable, keyset-paged list of `base`; `rows` renders one page. Not generic over
/// the list's type: one copy serves every list (it was five generic copies).
#[component]
fn Paged(
    #[prop(into)] title: String,
    base: &'static str,
    head: Vec<&'static str>,
    rows: Rows,
    /// Buttons for the page head (e.g. "New location").
    #[prop(optional)]
    toolbar: Option<ViewFn>,
    /// Bumped to reload the list (after a change).
    #[prop(optional)]
    refresh: Option<RwSignal<u32>>,
) -> impl IntoView {
    let initial = use_query_map().get_untracked().get("q").unwrap_or_default();
    let q = RwSignal::new(initial);
    let cursors = RwSignal::new(vec![None::<String>]);
    let page = load(move || {
        if let Some(r) = refresh {
            r.track();
        }
        let mut url = format!("{base}?limit=50");
        let text = q.get();
        if !text.trim().is_empty() {
            url.push_str(&format!("&q={}", segment(text.trim())));
        }
        if let Some(c) = cursors.with(|c| c.last().cloned().flatten()) {
            url.push_str(&format!("&cursor={}", segment(&c)));
        }
        async move { api::get_text(&url).await }
    });
    let next = move || match page.get() {
        Load::Ready(t) => next_cursor(&t),
        _ => None,
    };
    let cols = head.len();
    let wide =
        move |v: AnyView| view! { <tr><td colspan=cols.to_string()>{v}</td></tr> }.into_any();
    view! {
        <div class="page-head"><h1>{title}</h1><span class="spacer"></span>{toolbar.map(|t| t.run())}</div>
        <div class="panel"><div class="field">
            <label for="list-q">"Search"</label>
            <input id="list-q" type="search" prop:value=move || q.get()
                on:change=move |ev| { cursors.set(vec![None]); q.set(event_target_value(&ev)) }/>
        </div></div>
        <div class="table-wrap">
            <table class="data cards">
                <thead><tr>{head.into_iter().map(|h| view! { <th>{h}</th> }).collect_view()}</tr></thead>
                <tbody>
                    {move || match page.get() {
                        Load::Loading => (0..6).map(|_| view! { <tr>{(0..cols).map(|_| view! { <td><span class="skeleton"></span></td> }).collect_view()}</tr> }).collect_view().into_any(),
                        Load::Failed(e) => wide(view! { <ErrorBox error=e/> }.into_any()),
                        Load::Ready(t) => match rows.run(t) {
                            Err(e) => wide(view! { <ErrorBox error=e/> }.into_any()),
                            Ok(r) if r.is_empty() => wide(view! { <crate::ui::Empty text="Nothing here yet."/> }.into_any()),
                            Ok(r) => r.collect_view().into_any(),
                        },
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

/// A row's small button; disabled with the reason when the caller may not use it.
pub fn row_btn(
    label: &'static str,
    aria: String,
    why: Option<String>,
    go: Callback<()>,
) -> AnyView {
    view! {
        <button class="btn btn-sm" aria-label=aria disabled=why.is_some() title=why.unwrap_or_default()
            on:click=move |_| go.run(())>{label}</button>
    }
    .into_any()
}

/// A page head's button (`primary`: its main one); disabled with the reason when the
/// caller may not use it.
pub fn head_btn(
    primary: bool,
    label: &'static str,
    testid: &'static str,
    why: Option<String>,
    go: Callback<()>,
) -> AnyView {
    view! {
        <button class=if primary { "btn btn-primary" } else { "btn" } data-testid=testid disabled=why.is_some() title=why.unwrap_or_default()
            on:click=move |_| go.run(())>{label}</button>
    }
    .into_any()
}

/// What a list's dialog is open for.
#[derive(Clone)]
enum Open<T> {
    /// A new one (`None`) or editing this one.
    Form(Option<T>),
    /// Asking before deleting this one.
    Delete(T),
    /// Taking the next free number of this (a range).
    Take(T),
}

/// Why the caller may not change the estate, or `None`.
fn manage_refusal() -> Option<String> {
    (!auth().can(Role::Admin)).then(|| needs(Role::Admin))
}

/// `Some(new)` when it differs from `old` (a patch sends only what changed).
fn changed<T: PartialEq>(new: T, old: T) -> Option<T> {
    (new != old).then_some(new)
}

/// The trimmed text, or `None` when empty.
pub fn opt(s: RwSignal<String>) -> Option<String> {
    Some(s.get_untracked().trim().to_string()).filter(|s| !s.is_empty())
}

/// `(id, name)` choices with a first "None" (or "Any") for none.
pub fn choices(none: &str, items: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    std::iter::once((String::new(), none.to_string()))
        .chain(items)
        .collect()
}

/// The number types as choices.
pub fn type_choices(none: &str) -> Vec<(String, String)> {
    choices(
        none,
        NumberType::ALL
            .iter()
            .map(|t| (t.as_str().to_string(), t.as_str().replace('_', " "))),
    )
}

/// Ranges with their utilisation; admins create, edit and delete them, operators take
/// the next free number of one.
#[component]
pub fn Ranges() -> impl IntoView {
    let lookups = lookups();
    let why = manage_refusal();
    let take_why = (!auth().can(Role::Operator)).then(|| needs(Role::Operator));
    let refresh = RwSignal::new(0u32);
    let dialog = RwSignal::new(None::<Open<Range>>);
    let close = Callback::new(move |()| dialog.set(None));
    let done = Callback::new(move |()| {
        refresh.update(|n| *n += 1);
        lookups.refresh();
    });
    let w = why.clone();
    view! {
        {move || dialog.get().map(|d| match d {
            Open::Form(r) => range_dialog(r, close, done),
            Open::Delete(r) => delete_dialog(
                format!("Delete range {}?", range_name(&r)),
                format!("Its {} numbers leave the inventory; their history stays in the audit log. A range with numbers that are not available cannot be deleted.", fmt_int(r.size)),
                "Delete range", format!("/api/v1/ranges/{}", segment(&r.id)), Some(r.version),
                format!("Deleted range {}", range_name(&r)), close, done),
            Open::Take(r) => view! { <TakeDialog range=(r.id.clone(), range_name(&r)) close=close/> }.into_any(),
        })}
        <Paged title="Ranges" base="/api/v1/ranges" refresh=refresh
            toolbar=ViewFn::from(move || head_btn(true, "New range", "new-range", w.clone(), Callback::new(move |()| dialog.set(Some(Open::Form(None))))))
            head=vec!["Name", "Numbers", "Location", "Tags", "Assigned", "Available", "In use", ""]
            rows=Callback::new(move |t: String| api::parse::<RangeList>(&t).map(|l| l.items.into_iter().map(|r| {
                let u = r.utilisation.clone();
                let href = format!("/numbers?range={}", segment(&r.id));
                let name = range_name(&r);
                let labels = [format!("Take the next free number of {name}"), format!("Edit range {name}"), format!("Delete range {name}")];
                let [l1, l2, l3] = labels;
                let (a, b, c) = (r.clone(), r.clone(), r.clone());
                view! { <tr data-range=r.id.clone()>
                    <td data-label="Name"><A href=href>{name}</A></td>
                    <td data-label="Numbers"><span class="stack e164">{r.start.clone()}" –"<br/>{r.end.clone()}</span></td>
                    <td data-label="Location">{let id = r.location_id.clone(); move || lookups.location(&id)}</td>
                    <td data-label="Tags"><Tags tags=r.tags.clone()/></td>
                    <td data-label="Assigned" class="num">{fmt_int(u.assigned)}</td>
                    <td data-label="Available" class="num">{fmt_int(u.available)}</td>
                    <td data-label="In use" class="num">{pct(u.total - u.available, u.total)}</td>
                    <td class="actions"><span class="btn-row">
                        {row_btn("Next free…", l1, take_why.clone(), Callback::new(move |()| dialog.set(Some(Open::Take(a.clone())))))}
                        {row_btn("Edit", l2, why.clone(), Callback::new(move |()| dialog.set(Some(Open::Form(Some(b.clone()))))))}
                        {row_btn("Delete…", l3, why.clone(), Callback::new(move |()| dialog.set(Some(Open::Delete(c.clone())))))}
                    </span></td>
                </tr> }.into_any()
            }).collect()))/>
    }
}

/// A range's name, or its bounds when it has none.
fn range_name(r: &Range) -> String {
    r.name
        .clone()
        .unwrap_or_else(|| format!("{} – {}", r.start, r.end))
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

/// A field's spec: its key, label, value, choices (none: a text input) and help.
pub fn spec(
    key: &str,
    label: &'static str,
    value: RwSignal<String>,
    options: Vec<(String, String)>,
    help: &'static str,
) -> Spec {
    (key.to_string(), label, value, options, help)
}

/// Creates a range (`POST /ranges`) or edits one (`PATCH /ranges/{id}` with `If-Match`,
/// sending only what changed). A 400 naming a field shows under it and focuses it;
/// anything else (an overlap, a change made meanwhile) shows above the form.
fn range_dialog(range: Option<Range>, close: Callback<()>, done: Callback<()>) -> AnyView {
    let lookups = lookups();
    let editing = range.is_some();
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
    let form = Form {
        prefix: "range",
        key: plain_key,
        error: RwSignal::new(None),
    };
    let title = match &range {
        Some(r) => format!("Edit range {}", range_name(r)),
        None => "New range".to_string(),
    };
    let submit: Submit = std::sync::Arc::new(move || {
        let orig = range.clone();
        Some(Box::pin(async move {
            let r = match &orig {
                None => {
                    let body = NewRange {
                        name: opt(name),
                        start: start.get_untracked().trim().to_string(),
                        end: end.get_untracked().trim().to_string(),
                        location_id: opt(location),
                        tags: tag_list(&tags.get_untracked()),
                        description: opt(description),
                        platform_id: opt(platform),
                        number_type: opt(number_type),
                    };
                    api::send::<_, Range>("POST", "/api/v1/ranges", Some(&body)).await?
                }
                Some(o) => {
                    // Only what changed: an unchanged site or platform is not asked again.
                    let body = RangePatch {
                        name: changed(opt(name), o.name.clone()),
                        description: changed(description.get_untracked(), o.description.clone()),
                        tags: changed(tag_list(&tags.get_untracked()), o.tags.clone()),
                        location_id: changed(opt(location), o.location_id.clone()),
                        platform_id: changed(opt(platform), o.platform_id.clone()),
                        number_type: changed(
                            opt(number_type),
                            o.number_type.map(|t| t.as_str().to_string()),
                        ),
                        apply_to_numbers: apply.get_untracked(),
                    };
                    let path = format!("/api/v1/ranges/{}", segment(&o.id));
                    api::send_if_match::<_, Range>("PATCH", &path, Some(&body), o.version).await?
                }
            };
            done.run(());
            Ok(if editing {
                format!("Saved range {}", range_name(&r))
            } else {
                format!(
                    "Created range {} with {} numbers",
                    range_name(&r),
                    fmt_int(r.size)
                )
            })
        }) as Sending)
    });
    let sites = lookups.site_choices("None");
    let platforms = lookups.platform_choices("None");
    let body = view! {
        {fields(vec![spec("name", "Name", name, Vec::new(), "")], form, false)}
        <div class="grid grid-2">{fields(vec![
            spec("start", "First number", start, Vec::new(), ""),
            spec("end", "Last number", end, Vec::new(), ""),
        ], form, editing)}</div>
        <p class="help subtle">{if editing { "A range's numbers are fixed; to change them, create another range." }
            else { "Every number from the first to the last is added as available, e.g. +44 20 7946 0000 to +44 20 7946 0999." }}</p>
        <div class="grid grid-2">{fields(vec![
            spec("location_id", "Location", location, sites, ""),
            spec("platform_id", "Platform", platform, platforms, ""),
            spec("number_type", "Number type", number_type, type_choices("None"), ""),
            spec("tags", "Tags", tags, Vec::new(), "Comma-separated; given to its numbers"),
        ], form, false)}</div>
        {fields(vec![spec("description", "Description", description, Vec::new(), "")], form, false)}
        {editing.then(|| view! {
            <div class="field">
                <label class="check-label"><input type="checkbox" prop:checked=move || apply.get()
                    on:change=move |ev| apply.set(event_target_checked(&ev))/>
                    " Also give its numbers the new location, platform, type and tags"</label>
            </div>
        })}
    }
    .into_any();
    focus_id(form.id("name"));
    form_dialog(
        title,
        form,
        RANGE_FIELDS,
        body,
        if editing { "Save" } else { "Create" },
        close,
        submit,
    )
}

/// The location form's fields.
const LOCATION_FIELDS: &[&str] = &[
    "name",
    "country",
    "region",
    "city",
    "address",
    "emergency_location_id",
];

/// Sites; admins create, edit and delete them (a site still used by numbers or ranges
/// is refused with the server's sentence).
#[component]
pub fn Locations() -> impl IntoView {
    let lookups = lookups();
    let why = manage_refusal();
    let refresh = RwSignal::new(0u32);
    let dialog = RwSignal::new(None::<Open<Location>>);
    let close = Callback::new(move |()| dialog.set(None));
    let done = Callback::new(move |()| {
        refresh.update(|n| *n += 1);
        lookups.refresh();
    });
    let w = why.clone();
    view! {
        {move || dialog.get().map(|d| match d {
            Open::Form(l) => location_form(l, close, done),
            Open::Delete(l) | Open::Take(l) => delete_dialog(
                format!("Delete location {}?", l.name),
                format!("{} is removed. A location that numbers or ranges still use cannot be deleted: move them first.", l.name),
                "Delete location", format!("/api/v1/locations/{}", segment(&l.id)), Some(l.version),
                format!("Deleted location {}", l.name), close, done),
        })}
        <Paged title="Locations" base="/api/v1/locations" refresh=refresh
            toolbar=ViewFn::from(move || head_btn(true, "New location", "new-location", w.clone(), Callback::new(move |()| dialog.set(Some(Open::Form(None))))))
            head=vec!["Name", "Country", "Region", "City", "Address", "Emergency location", ""]
            rows=Callback::new(move |t: String| api::parse::<LocationList>(&t).map(|l| l.items.into_iter().map(|x| {
                let href = format!("/numbers?location={}", segment(&x.id));
                let (a, b) = (x.clone(), x.clone());
                let (l1, l2) = (format!("Edit location {}", x.name), format!("Delete location {}", x.name));
                view! { <tr data-location=x.id.clone()>
                    <td data-label="Name"><A href=href>{x.name.clone()}</A></td>
                    <td data-label="Country">{x.country.clone()}</td>
                    <td data-label="Region">{x.region.clone()}</td>
                    <td data-label="City">{x.city.clone()}</td>
                    <td data-label="Address">{x.address.clone()}</td>
                    <td data-label="Emergency" class="muted">{x.emergency_location_id.clone()}</td>
                    <td class="actions"><span class="btn-row">
                        {row_btn("Edit", l1, why.clone(), Callback::new(move |()| dialog.set(Some(Open::Form(Some(a.clone()))))))}
                        {row_btn("Delete…", l2, why.clone(), Callback::new(move |()| dialog.set(Some(Open::Delete(b.clone())))))}
                    </span></td>
                </tr> }.into_any()
            }).collect()))/>
    }
}

/// Creates a site (`POST /locations`) or edits one (`PATCH` with `If-Match`, only what
/// changed; an emptied optional field is cleared).
fn location_form(l: Option<Location>, close: Callback<()>, done: Callback<()>) -> AnyView {
    let editing = l.is_some();
    let v = |f: fn(&Location) -> Option<String>| {
        RwSignal::new(l.as_ref().and_then(f).unwrap_or_default())
    };
    let name = v(|l| Some(l.name.clone()));
    let country = v(|l| Some(l.country.clone()));
    let region = v(|l| l.region.clone());
    let city = v(|l| l.city.clone());
    let address = v(|l| l.address.clone());
    let emergency = v(|l| l.emergency_location_id.clone());
    let form = Form {
        prefix: "loc",
        key: plain_key,
        error: RwSignal::new(None),
    };
    let title = l.as_ref().map_or("New location".to_string(), |l| {
        format!("Edit location {}", l.name)
    });
    let submit: Submit = std::sync::Arc::new(move || {
        let orig = l.clone();
        let name_now = name.get_untracked().trim().to_string();
        let country_now = country.get_untracked().trim().to_uppercase();
        Some(Box::pin(async move {
            let out = match &orig {
                None => {
                    let body = NewLocation {
                        name: name_now,
                        country: country_now,
                        region: opt(region),
                        city: opt(city),
                        address: opt(address),
                        emergency_location_id: opt(emergency),
                    };
                    api::send::<_, Location>("POST", "/api/v1/locations", Some(&body)).await?
                }
                Some(o) => {
                    let body = LocationPatch {
                        name: changed(name_now, o.name.clone()),
                        country: changed(country_now, o.country.clone()),
                        region: changed(opt(region), o.region.clone()),
                        city: changed(opt(city), o.city.clone()),
                        address: changed(opt(address), o.address.clone()),
                        emergency_location_id: changed(
                            opt(emergency),
                            o.emergency_location_id.clone(),
                        ),
                    };
                    let path = format!("/api/v1/locations/{}", segment(&o.id));
                    api::send_if_match::<_, Location>("PATCH", &path, Some(&body), o.version)
                        .await?
                }
            };
            done.run(());
            Ok(format!(
                "{} location {}",
                if editing { "Saved" } else { "Created" },
                out.name
            ))
        }) as Sending)
    });
    let body = fields(
        vec![
            spec("name", "Name", name, Vec::new(), ""),
            spec(
                "country",
                "Country",
                country,
                Vec::new(),
                "ISO 3166-1 alpha-2, e.g. GB",
            ),
            spec("region", "Region", region, Vec::new(), ""),
            spec("city", "City", city, Vec::new(), ""),
            spec("address", "Address", address, Vec::new(), ""),
            spec(
                "emergency_location_id",
                "Emergency location id",
                emergency,
                Vec::new(),
                "The platform's id for emergency calls from this site",
            ),
        ],
        form,
        false,
    );
    focus_id(form.id("name"));
    form_dialog(
        title,
        form,
        LOCATION_FIELDS,
        body,
        if editing { "Save" } else { "Create" },
        close,
        submit,
    )
}

/// The service form's fields.
const SERVICE_FIELDS: &[&str] = &["name", "kind", "external_id", "description"];

/// Services (auto attendants, call queues, …) with their numbers; admins create, edit
/// and delete them (one with numbers assigned is refused with the server's sentence).
#[component]
pub fn Services() -> impl IntoView {
    let why = manage_refusal();
    let refresh = RwSignal::new(0u32);
    let dialog = RwSignal::new(None::<Open<Service>>);
    let close = Callback::new(move |()| dialog.set(None));
    let done = Callback::new(move |()| refresh.update(|n| *n += 1));
    let w = why.clone();
    view! {
        {move || dialog.get().map(|d| match d {
            Open::Form(s) => service_form(s, close, done),
            Open::Delete(s) | Open::Take(s) => delete_dialog(
                format!("Delete service {}?", s.name),
                format!("{} is removed. A service that still has numbers cannot be deleted: unassign or reassign them first.", s.name),
                "Delete service", format!("/api/v1/services/{}", segment(&s.id)), Some(s.version),
                format!("Deleted service {}", s.name), close, done),
        })}
        <Paged title="Services" base="/api/v1/services" refresh=refresh
            toolbar=ViewFn::from(move || head_btn(true, "New service", "new-service", w.clone(), Callback::new(move |()| dialog.set(Some(Open::Form(None))))))
            head=vec!["Name", "Kind", "Numbers", "Description", ""]
            rows=Callback::new(move |t: String| api::parse::<ServiceList>(&t).map(|l| l.items.into_iter().map(|s| {
                let (a, b) = (s.clone(), s.clone());
                let (l1, l2) = (format!("Edit service {}", s.name), format!("Delete service {}", s.name));
                view! { <tr data-service=s.id.clone()>
                    <td data-label="Name">{s.name.clone()}</td>
                    <td data-label="Kind">{s.kind.as_str().replace('_', " ")}</td>
                    <td data-label="Numbers">{numbers(s.numbers.clone())}</td>
                    <td data-label="Description" class="muted">{s.description.clone()}</td>
                    <td class="actions"><span class="btn-row">
                        {row_btn("Edit", l1, why.clone(), Callback::new(move |()| dialog.set(Some(Open::Form(Some(a.clone()))))))}
                        {row_btn("Delete…", l2, why.clone(), Callback::new(move |()| dialog.set(Some(Open::Delete(b.clone())))))}
                    </span></td>
                </tr> }.into_any()
            }).collect()))/>
    }
}

/// Creates a service (`POST /services`) or edits one (`PATCH` with `If-Match`, only
/// what changed).
fn service_form(s: Option<Service>, close: Callback<()>, done: Callback<()>) -> AnyView {
    let editing = s.is_some();
    let v = |f: fn(&Service) -> Option<String>| {
        RwSignal::new(s.as_ref().and_then(f).unwrap_or_default())
    };
    let name = v(|s| Some(s.name.clone()));
    let kind = RwSignal::new(
        s.as_ref()
            .map_or("call_queue", |s| s.kind.as_str())
            .to_string(),
    );
    let external = v(|s| s.external_id.clone());
    let description = v(|s| Some(s.description.clone()));
    let form = Form {
        prefix: "svc",
        key: plain_key,
        error: RwSignal::new(None),
    };
    let title = s.as_ref().map_or("New service".to_string(), |s| {
        format!("Edit service {}", s.name)
    });
    let submit: Submit = std::sync::Arc::new(move || {
        let orig = s.clone();
        let name_now = name.get_untracked().trim().to_string();
        Some(Box::pin(async move {
            let out = match &orig {
                None => {
                    let body = NewService {
                        name: name_now,
                        kind: kind.get_untracked(),
                        platform_id: None,
                        external_id: opt(external),
                        description: opt(description),
                    };
                    api::send::<_, Service>("POST", "/api/v1/services", Some(&body)).await?
                }
                Some(o) => {
                    let body = ServicePatch {
                        name: changed(name_now, o.name.clone()),
                        kind: changed(kind.get_untracked(), o.kind.as_str().to_string()),
                        platform_id: None,
                        external_id: changed(opt(external), o.external_id.clone()),
                        description: changed(description.get_untracked(), o.description.clone()),
                    };
                    let path = format!("/api/v1/services/{}", segment(&o.id));
                    api::send_if_match::<_, Service>("PATCH", &path, Some(&body), o.version).await?
                }
            };
            done.run(());
            Ok(format!(
                "{} service {}",
                if editing { "Saved" } else { "Created" },
                out.name
            ))
        }) as Sending)
    });
    let kinds = ServiceKind::ALL
        .iter()
        .map(|k| (k.as_str().to_string(), k.as_str().replace('_', " ")))
        .collect();
    let body = fields(
        vec![
            spec("name", "Name", name, Vec::new(), ""),
            spec("kind", "Kind", kind, kinds, ""),
            spec(
                "external_id",
                "Id on its platform",
                external,
                Vec::new(),
                "e.g. a Teams resource account's object id",
            ),
            spec("description", "Description", description, Vec::new(), ""),
        ],
        form,
        false,
    );
    focus_id(form.id("name"));
    form_dialog(
        title,
        form,
        SERVICE_FIELDS,
        body,
        if editing { "Save" } else { "Create" },
        close,
        submit,
    )
}

fn numbers(list: Vec<String>) -> impl IntoView {
    view! { <span class="tags">{list.into_iter().map(|n| { let h = format!("/numbers/{}", segment(&n)); view! { <A href=h attr:class="e164">{n}</A> } }).collect_view()}</span> }
}

/// The synced directory, with each person's numbers.
#[component]
pub fn Users() -> impl IntoView {
    view! {
        <Paged title="Directory users" base="/api/v1/users"
            head=vec!["Name", "UPN", "Department", "Office", "Numbers", "Account"]
            rows=Callback::new(|t: String| api::parse::<UserList>(&t).map(|l| l.items.into_iter().map(|u| view! { <tr>
                <td data-label="Name">{u.display_name.clone()}</td>
                <td data-label="UPN" class="muted">{u.upn.clone()}</td>
                <td data-label="Department">{u.department.clone()}</td>
                <td data-label="Office">{u.office_location.clone()}</td>
                <td data-label="Numbers">{numbers(u.numbers.clone())}</td>
                <td data-label="Account">{let (c, t) = if u.deleted { ("badge b-failed", "deleted") }
                    else if !u.account_enabled { ("badge b-neutral", "disabled") }
                    else { ("badge b-available", "enabled") };
                    view! { <span class=c>{t}</span> }}</td>
            </tr> }.into_any()).collect()))/>
    }
}

/// Synced groups.
#[component]
pub fn Groups() -> impl IntoView {
    view! {
        <Paged title="Groups" base="/api/v1/groups"
            head=vec!["Name", "Mail", "Members", "Description"]
            rows=Callback::new(|t: String| api::parse::<GroupList>(&t).map(|l| l.items.into_iter().map(|g| view! { <tr>
                <td data-label="Name">{g.display_name.clone()}</td>
                <td data-label="Mail" class="muted">{g.mail.clone()}</td>
                <td data-label="Members" class="num">{fmt_int(g.member_count)}</td>
                <td data-label="Description" class="muted">{g.description.clone()}</td>
            </tr> }.into_any()).collect()))/>
    }
}
