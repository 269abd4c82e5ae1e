//! Platforms (added, edited and deleted by unscoped admins, their secrets by owners;
//! with sync and drift) and provisioning jobs (with retry).

use api_types::{
    DriftList, JobList, NewPlatform, Platform, PlatformList, PlatformPatch, ProvisioningJob, Role,
};
use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::{self, segment};
use crate::app::{admin_refusal, auth, lookups, needs};
use crate::pages::rules::pairs;
use crate::ui::{
    Alert, ErrorBox, Form, Load, Modal, field, fields, fmt_time, load, local_error, plain_key,
    toasts,
};
use api_types::{SettleDrift, SettledDrift};

/// The Platforms page's open dialog.
#[derive(Clone)]
enum PlatformDialog {
    /// A new platform.
    New,
    /// Editing this platform.
    Edit(Box<Platform>),
    /// Asking before deleting this platform.
    Delete(Box<Platform>),
}

/// Platforms, each with its last sync, a Sync button and its drift; unscoped admins add,
/// edit and delete them.
#[component]
pub fn Platforms() -> impl IntoView {
    let auth = auth();
    let toasts = toasts();
    let lookups = lookups();
    let admin = auth.can(Role::Admin);
    let write = admin_refusal(Some("a platform serves the whole estate"));
    let (no_write, why) = (write.is_some(), write.unwrap_or_default());
    let refresh = RwSignal::new(0u32);
    let list = load(move || {
        refresh.track();
        async { api::get::<PlatformList>("/api/v1/platforms?limit=100").await }
    });
    // The platform whose drift is open: (id, name).
    let drift_of = RwSignal::new(None::<(String, String)>);
    let dialog = RwSignal::new(None::<PlatformDialog>);
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
    let close = Callback::new(move |()| dialog.set(None));
    let deleted = Callback::new(move |()| {
        refresh.update(|r| *r += 1);
        lookups.refresh();
    });
    let why2 = why.clone();
    view! {
        <div class="page-head"><h1>"Platforms"</h1><span class="spacer"></span>
            <button class="btn btn-primary" data-testid="new-platform" disabled=no_write title=why2
                on:click=move |_| dialog.set(Some(PlatformDialog::New))>"New platform"</button></div>
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
                    let (e, d) = (p.clone(), p.clone());
                    let why = why.clone();
                    view! { <tr data-platform=p.id.clone()>
                        <td data-label="Name">{p.name.clone()}</td>
                        <td data-label="Kind">{p.kind.as_str()}" "<span class="muted">{p.tenant_id.clone().or(p.url.clone())}</span></td>
                        <td data-label="Last sync">{last}</td>
                        <td data-label="Result" class="muted">{result}</td>
                        <td class="actions"><span class="btn-row">
                            {teams.then(|| view! {
                                <button class="btn btn-sm" disabled=!admin title=if admin { String::new() } else { needs(Role::Admin) } on:click=move |_| sync(id1.clone())>"Sync now"</button>
                                <button class="btn btn-sm" on:click=move |_| drift_of.set(Some((id2.clone(), name.clone())))>"Drift"</button>
                            })}
                            <button class="btn btn-sm" aria-label=format!("Edit platform {}", p.name) disabled=no_write title=why.clone()
                                on:click=move |_| dialog.set(Some(PlatformDialog::Edit(Box::new(e.clone()))))>"Edit"</button>
                            <button class="btn btn-sm" aria-label=format!("Delete platform {}", p.name) disabled=no_write title=why
                                on:click=move |_| dialog.set(Some(PlatformDialog::Delete(Box::new(d.clone()))))>"Delete…"</button>
                        </span></td>
                    </tr> }
                }).collect_view().into_any(),
            }}</tbody>
        </table></div>
        {move || drift_of.get().map(|(id, name)| view! { <DriftPanel id=id name=name/> })}
        {move || dialog.get().map(|d| match d {
            PlatformDialog::New => view! { <PlatformForm platform=None dialog=dialog refresh=refresh/> }.into_any(),
            PlatformDialog::Edit(p) => view! { <PlatformForm platform=Some(*p) dialog=dialog refresh=refresh/> }.into_any(),
            PlatformDialog::Delete(p) => crate::ui::delete_dialog(
                format!("Delete platform {}?", p.name),
                "Only a platform no number, range or service uses can be deleted; its stored secrets go with it.".into(),
                "Delete platform", format!("/api/v1/platforms/{}", segment(&p.id)), Some(p.version),
                format!("Deleted platform {}", p.name), close, deleted,
            ),
        })}
    }
}

/// The platform form's fields, by the key a refusal names.
const PLATFORM_FIELDS: &[&str] = &[
    "name",
    "kind",
    "tenant_id",
    "client_id",
    "client_secret",
    "client_secret_env",
    "graph_base_url",
    "login_base_url",
    "sync_interval_seconds",
    "url",
    "signing_secret",
];

/// What the platform form sends: a new platform, or the changes to one at its path and
/// version.
enum Write {
    Create(NewPlatform),
    Update(PlatformPatch, String, i64),
}

/// Creates a platform (`POST /platforms`) or edits one (`PATCH /platforms/{id}` with
/// `If-Match`, sending only what changed). Secrets are write-only: the form never holds
/// a stored one, and an empty secret field keeps it. The fields only an owner may set are
/// read-only for admins, with the reason above them.
#[component]
fn PlatformForm(
    platform: Option<Platform>,
    dialog: RwSignal<Option<PlatformDialog>>,
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let toasts = toasts();
    let lookups = lookups();
    let owner = auth().can(Role::Owner);
    let p = platform.as_ref();
    let editing = p.is_some();
    let text = |v: Option<String>| RwSignal::new(v.unwrap_or_default());
    let name = text(p.map(|p| p.name.clone()));
    let kind = text(Some(
        p.map_or(if owner { "teams" } else { "none" }, |p| p.kind.as_str())
            .into(),
    ));
    let tenant = text(p.and_then(|p| p.tenant_id.clone()));
    let client = text(p.and_then(|p| p.client_id.clone()));
    let secret = text(None);
    let env = text(p.and_then(|p| p.client_secret_env.clone()));
    let graph = text(p.and_then(|p| p.graph_base_url.clone()));
    let login = text(p.and_then(|p| p.login_base_url.clone()));
    let interval = text(p.and_then(|p| p.sync_interval_seconds.map(|s| s.to_string())));
    let url = text(p.and_then(|p| p.url.clone()));
    let signing = text(None);
    let form = Form {
        prefix: "plat",
        key: plain_key,
        error: RwSignal::new(None),
    };
    let other = RwSignal::new(None::<api::ApiError>);
    let busy = RwSignal::new(false);
    let title = p.map_or("New platform".to_string(), |p| {
        format!("Edit platform {}", p.name)
    });
    let (has_secret, has_signing) = p.map_or((false, false), |p| {
        (p.has_client_secret, p.has_signing_secret)
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.error.set(None);
        other.set(None);
        let opt = |s: RwSignal<String>| {
            Some(s.get_untracked().trim().to_string()).filter(|s| !s.is_empty())
        };
        // Secrets as typed: spaces may be part of one.
        let raw = |s: RwSignal<String>| Some(s.get_untracked()).filter(|s| !s.is_empty());
        let seconds = match opt(interval).map(|s| s.parse::<i64>()) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                form.place(
                    local_error(
                        "sync_interval_seconds",
                        "enter whole seconds, from 5 to 86400",
                    ),
                    PLATFORM_FIELDS,
                );
                return;
            }
        };
        let body = match &platform {
            None => {
                let k = kind.get_untracked();
                let (t, w) = (k == "teams", k == "webhook");
                let only = |on: bool, v: Option<String>| v.filter(|_| on);
                Write::Create(NewPlatform {
                    name: name.get_untracked().trim().to_string(),
                    tenant_id: only(t, opt(tenant)),
                    client_id: only(t, opt(client)),
                    client_secret_env: only(t, opt(env)),
                    client_secret: only(t, raw(secret)),
                    graph_base_url: only(t, opt(graph)),
                    login_base_url: only(t, opt(login)),
                    sync_interval_seconds: seconds.filter(|_| t),
                    url: only(w, opt(url)),
                    signing_secret: only(w, raw(signing)),
                    kind: k,
                })
            }
            Some(p) => {
                // `Some(new)` when it differs from what the platform has.
                let changed = |s: RwSignal<String>, old: &Option<String>| {
                    let new = opt(s);
                    (new != *old).then_some(new)
                };
                let new_secret = raw(secret);
                // An emptied variable name is dropped only by storing a secret instead.
                let env = match changed(env, &p.client_secret_env) {
                    Some(None) if new_secret.is_none() => {
                        form.place(
                            local_error(
                                "client_secret_env",
                                "to stop using the variable, store a client secret instead",
                            ),
                            PLATFORM_FIELDS,
                        );
                        return;
                    }
                    c => c.flatten(),
                };
                Write::Update(
                    PlatformPatch {
                        name: changed(name, &Some(p.name.clone())).map(Option::unwrap_or_default),
                        kind: None,
                        tenant_id: changed(tenant, &p.tenant_id).map(Option::unwrap_or_default),
                        client_id: changed(client, &p.client_id).map(Option::unwrap_or_default),
                        client_secret_env: env,
                        client_secret: new_secret,
                        graph_base_url: changed(graph, &p.graph_base_url),
                        login_base_url: changed(login, &p.login_base_url),
                        sync_interval_seconds: (seconds != p.sync_interval_seconds)
                            .then_some(seconds),
                        url: changed(url, &p.url).map(Option::unwrap_or_default),
                        signing_secret: raw(signing),
                    },
                    format!("/api/v1/platforms/{}", segment(&p.id)),
                    p.version,
                )
            }
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = match body {
                Write::Create(b) => {
                    api::send::<_, Platform>("POST", "/api/v1/platforms", Some(&b)).await
                }
                Write::Update(b, path, version) => {
                    api::send_if_match("PATCH", &path, Some(&b), version).await
                }
            };
            busy.set(false);
            match result {
                Ok(p) => {
                    toasts.ok(format!(
                        "{} platform {}",
                        if editing { "Saved" } else { "Created" },
                        p.name
                    ));
                    dialog.set(None);
                    refresh.update(|r| *r += 1);
                    lookups.refresh();
                }
                Err(e) => {
                    if !form.place(e.clone(), PLATFORM_FIELDS) {
                        other.set(Some(e))
                    }
                }
            }
        });
    };
    let kinds = if owner || editing {
        pairs(&[
            ("teams", "Microsoft Teams"),
            ("webhook", "Webhook"),
            ("none", "None: inventory only"),
        ])
    } else {
        pairs(&[("none", "None: inventory only")])
    };
    let kind_help = match (editing, owner) {
        (true, _) => "Fixed: to change it, add a platform and move the numbers",
        (false, true) => "",
        (false, false) => "Teams and webhook platforms carry secrets: an owner adds them",
    };
    let ro = !owner;
    let secret_help = match (editing, has_secret) {
        (false, _) => {
            "Write-only: stored encrypted, never shown again. Or give a variable below instead."
        }
        (true, true) => {
            "A secret is stored; it is never shown. Empty keeps it; typing one replaces it (and the variable)."
        }
        (true, false) => "None stored. Typing one stores it in place of the variable below.",
    };
    let signing_help = match (editing, has_signing) {
        (false, _) => {
            "Write-only, 16 characters or more: stored encrypted, never shown again. Events are signed with it."
        }
        (true, true) => {
            "A secret is stored; it is never shown. Empty keeps it; typing one replaces it."
        }
        (true, false) => "None stored: 16 characters or more.",
    };
    crate::ui::focus_id(form.id("name"));
    view! {
        <Modal title=title on_close=Callback::new(move |()| dialog.set(None))>
            {ro.then(|| view! { <p class="alert alert-info" data-testid="owner-fields">"Secrets, tenants, client ids and URLs need the owner role: you may change the name and the sync interval."</p> })}
            {move || other.get().map(|e| view! { <Alert error=e/> })}
            <form on:submit=submit novalidate=true data-testid="platform-form">
                {fields(vec![
                    ("name".into(), "Name", name, Vec::new(), "Unique"),
                    ("kind".into(), "Kind", kind, kinds, kind_help),
                ], form, false)}
                {move || match kind.get().as_str() {
                    "teams" => view! {
                        {fields(vec![
                            ("tenant_id".into(), "Tenant", tenant, Vec::new(), "GUID or domain, e.g. contoso.onmicrosoft.com"),
                            ("client_id".into(), "Client id", client, Vec::new(), "The app registration's GUID"),
                            ("client_secret".into(), "Client secret", secret, Vec::new(), secret_help),
                            ("client_secret_env".into(), "Or: secret from the worker's environment variable", env, Vec::new(), "Its name, e.g. TEAMS_CLIENT_SECRET"),
                            ("graph_base_url".into(), "Graph base URL", graph, Vec::new(), "Empty: https://graph.microsoft.com/v1.0"),
                            ("login_base_url".into(), "Login base URL", login, Vec::new(), "Empty: https://login.microsoftonline.com"),
                        ], form, ro)}
                        {field(("sync_interval_seconds".into(), "Sync every (seconds)", interval, Vec::new(), "5 to 86400; empty: 900"), form, false)}
                    }.into_any(),
                    "webhook" => fields(vec![
                        ("url".into(), "URL", url, Vec::new(), "Where signed events are POSTed: https (http only to localhost)"),
                        ("signing_secret".into(), "Signing secret", signing, Vec::new(), signing_help),
                    ], form, ro),
                    _ => view! { <p class="help subtle">"Numbers on it are kept in the inventory only; nothing is provisioned."</p> }.into_any(),
                }}
                <div class="foot"><button type="button" class="btn" on:click=move |_| dialog.set(None)>"Cancel"</button>
                    <button type="submit" class="btn btn-primary" data-testid="platform-save" disabled=move || busy.get()>
                        {move || if busy.get() { "Saving…" } else if editing { "Save" } else { "Create" }}</button></div>
            </form>
        </Modal>
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
