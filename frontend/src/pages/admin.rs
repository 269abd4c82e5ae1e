//! Owners' screens: admin accounts (with role, scope and password; deleted only after a
//! confirmation) and API tokens (a new token's secret is shown once,
//! with a copy button), and the lifecycle settings.

use api_types::{
    Admin, AdminList, AdminPatch, ApiTokenList, CallerKind, CreatedApiToken, NewAdmin, NewApiToken,
    Role, ScopeBody, Settings, SettingsPatch,
};
use leptos::prelude::*;

use crate::api::{self, ApiError, segment};
use crate::app::{AuthState, auth, lookups, needs};
use crate::pages::actions::TextField;
use crate::ui::{
    Alert, ErrorBox, Form, Load, Modal, field, fields, fmt_time, load, plain_key, same, tag_list,
    toasts,
};

fn owner_only() -> Option<AnyView> {
    (!auth().can(Role::Owner)).then(|| {
        view! { <div class="alert alert-info">{needs(Role::Owner)}" to see this page."</div> }
            .into_any()
    })
}

/// The help under a grant's tags: the server keeps scope tags in lower case (they match
/// in any case), so what was typed may come back lowered.
const TAGS_HELP: &str = "Comma-separated, saved in lower case (they match in any case); empty: every tag. With locations too, both must hold.";

/// A grant's reach in words: its sites' names and its tags, or "everything".
fn scope_text(scope: &ScopeBody) -> String {
    let sites = lookups();
    let locs = scope
        .locations
        .iter()
        .map(|l| sites.location(&Some(l.clone())))
        .collect::<Vec<_>>()
        .join(", ");
    let text = [locs, scope.tags.join(", ")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    if text.is_empty() {
        "everything".into()
    } else {
        text
    }
}

/// The roles, weakest first.
const ROLES: &[&str] = &["viewer", "operator", "admin", "owner"];

/// The Admins page's open dialog.
#[derive(Clone)]
enum AdminDialog {
    /// A new account.
    New,
    /// Editing this account, as read at this version (its `ETag`).
    Edit(Box<Admin>, Option<i64>),
    /// Asking before deleting this account.
    Delete(Box<Admin>),
}

/// `role` for a refusal that names the scope as a whole (an owner given one), else the
/// field it names.
fn admin_key(e: &ApiError) -> Option<String> {
    plain_key(e).map(|k| if k == "scope" { "role".into() } else { k })
}

/// The admin form's fields, by the key a refusal names.
const ADMIN_FIELDS: &[&str] = &[
    "username",
    "password",
    "role",
    "scope.locations",
    "scope.tags",
];

/// Admin accounts (owners only): create with a role and scope, edit role, scope and
/// password, delete after a confirmation.
#[component]
pub fn Admins() -> impl IntoView {
    if let Some(v) = owner_only() {
        return v;
    }
    let toasts = toasts();
    let refresh = RwSignal::new(0u32);
    let list = load(move || {
        refresh.track();
        async { api::get::<AdminList>("/api/v1/admins?limit=200").await }
    });
    let dialog = RwSignal::new(None::<AdminDialog>);
    let opening = RwSignal::new(false);
    let me = match auth().0.get_untracked() {
        AuthState::LoggedIn(m) if m.kind == CallerKind::Admin => m.id,
        _ => String::new(),
    };
    // Read afresh, for the version its ETag carries (the list's records have none).
    let edit = move |id: String| {
        opening.set(true);
        leptos::task::spawn_local(async move {
            let path = format!("/api/v1/admins/{}", segment(&id));
            match api::get_versioned::<Admin>(&path).await {
                Ok((a, v)) => dialog.set(Some(AdminDialog::Edit(Box::new(a), v))),
                Err(e) => toasts.err(e.message),
            }
            opening.set(false);
        });
    };
    let close = Callback::new(move |()| dialog.set(None));
    let deleted = Callback::new(move |()| refresh.update(|r| *r += 1));
    view! {
        <div class="page-head"><h1>"Admins"</h1><span class="spacer"></span>
            <button class="btn btn-primary" data-testid="new-admin" on:click=move |_| dialog.set(Some(AdminDialog::New))>"New admin"</button></div>
        <div class="table-wrap"><table class="data cards">
            <thead><tr><th>"Username"</th><th>"Role"</th><th>"Scope"</th><th>"Last login"</th><th class="actions"><span class="sr-only">"Actions"</span></th></tr></thead>
            <tbody>{move || match list.get() {
                Load::Loading => view! { <tr><td colspan="5"><crate::ui::Loading/></td></tr> }.into_any(),
                Load::Failed(e) => view! { <tr><td colspan="5"><ErrorBox error=e/></td></tr> }.into_any(),
                Load::Ready(l) => l.items.into_iter().map(|a| {
                    let id = a.id.clone();
                    let scope = scope_text(&a.scope);
                    let own = a.id == me;
                    let name = a.username.clone();
                    let row = a.clone();
                    view! { <tr data-admin=a.id.clone()>
                        <td data-label="Username">{a.username.clone()}</td>
                        <td data-label="Role"><span class="badge b-neutral" data-testid="admin-role">{a.role.as_str()}</span></td>
                        <td data-label="Scope" class="muted">{scope}</td>
                        <td data-label="Last login">{a.last_login_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())}</td>
                        <td class="actions"><span class="btn-row">
                            <button class="btn btn-sm" aria-label=format!("Edit {name}") disabled=move || opening.get() on:click=move |_| edit(id.clone())>"Edit"</button>
                            <button class="btn btn-sm" aria-label=format!("Delete {name}") disabled=own
                                title=if own { "You cannot delete your own account" } else { "" }
                                on:click=move |_| dialog.set(Some(AdminDialog::Delete(Box::new(row.clone()))))>"Delete…"</button>
                        </span></td>
                    </tr> }
                }).collect_view().into_any(),
            }}</tbody>
        </table></div>
        {move || dialog.get().map(|d| match d {
            AdminDialog::New => view! { <AdminForm admin=None dialog=dialog refresh=refresh/> }.into_any(),
            AdminDialog::Edit(a, v) => view! { <AdminForm admin=Some((*a, v)) dialog=dialog refresh=refresh/> }.into_any(),
            AdminDialog::Delete(a) => crate::ui::delete_dialog(
                format!("Delete {}?", a.username),
                format!("{} can no longer log in, and their sessions end now. What they did stays in the audit log.", a.username),
                "Delete account", format!("/api/v1/admins/{}", segment(&a.id)), None,
                format!("Deleted {}", a.username), close, deleted,
            ),
        })}
    }
    .into_any()
}

/// The sites a grant may be limited to, as checkboxes (none ticked: every site).
fn site_checks(form: Form, chosen: RwSignal<Vec<String>>) -> impl IntoView {
    let sites = lookups().locations;
    let first = form.id("scope.locations");
    let message = form.message("scope.locations".into());
    view! {
        <fieldset class="field plain">
            <legend>"Locations"</legend>
            <div class="checks">{move || {
                let l = sites.get();
                if l.is_empty() {
                    return view! { <span class="muted">"No locations yet."</span> }.into_any();
                }
                l.into_iter().enumerate().map(|(i, s)| {
                    let (a, b) = (s.id.clone(), s.id);
                    view! { <label><input type="checkbox" id=(i == 0).then(|| first.clone())
                        prop:checked=move || chosen.with(|c| c.contains(&a))
                        on:change=move |ev| { let on = event_target_checked(&ev); chosen.update(|c| { c.retain(|x| x != &b); if on { c.push(b.clone()) } }) }/>
                        " "{s.name}</label> }
                }).collect_view().into_any()
            }}</div>
            <div class="help">"None ticked: every location."</div>
            {move || message().map(|m| view! { <div class="field-error" data-testid="field-error">{m}</div> })}
        </fieldset>
    }
}

/// Creates an account (`POST /admins`) or edits one (`PATCH /admins/{id}` with
/// `If-Match`, sending only what changed). A refusal naming a field shows there and
/// takes the keyboard there; any other (the last owner, a change made meanwhile) shows
/// above the form.
#[component]
fn AdminForm(
    admin: Option<(Admin, Option<i64>)>,
    dialog: RwSignal<Option<AdminDialog>>,
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let toasts = toasts();
    let a = admin.as_ref().map(|(a, _)| a);
    let editing = a.is_some();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(a.map_or("viewer", |a| a.role.as_str()).to_string());
    let tags = RwSignal::new(a.map(|a| a.scope.tags.join(", ")).unwrap_or_default());
    let locations = RwSignal::new(a.map(|a| a.scope.locations.clone()).unwrap_or_default());
    let form = Form {
        prefix: "adm",
        key: admin_key,
        error: RwSignal::new(None),
    };
    let other = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let title = a.map_or("New admin".to_string(), |a| format!("Edit {}", a.username));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.error.set(None);
        other.set(None);
        let scope = ScopeBody {
            locations: locations.get_untracked(),
            tags: tag_list(&tags.get_untracked()),
        };
        let pw = password.get_untracked();
        let r = role.get_untracked();
        let admin = admin.clone();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = match &admin {
                None => {
                    let body = NewAdmin {
                        username: username.get_untracked().trim().to_string(),
                        password: pw,
                        role: r,
                        scope: (scope != ScopeBody::default()).then_some(scope),
                    };
                    api::send::<_, Admin>("POST", "/api/v1/admins", Some(&body)).await
                }
                Some((a, version)) => {
                    let body = AdminPatch {
                        password: (!pw.is_empty()).then_some(pw),
                        role: (r != a.role.as_str()).then_some(r),
                        scope: (scope != a.scope).then_some(scope),
                    };
                    let path = format!("/api/v1/admins/{}", segment(&a.id));
                    match version {
                        Some(v) => api::send_if_match("PATCH", &path, Some(&body), *v).await,
                        None => api::send("PATCH", &path, Some(&body)).await,
                    }
                }
            };
            busy.set(false);
            match result {
                Ok(a) => {
                    toasts.ok(if editing {
                        format!("Saved {}", a.username)
                    } else {
                        format!("Created {}", a.username)
                    });
                    dialog.set(None);
                    refresh.update(|r| *r += 1)
                }
                Err(e) => {
                    if !form.place(e.clone(), ADMIN_FIELDS) {
                        other.set(Some(e))
                    }
                }
            }
        });
    };
    let specs = if editing {
        vec![(
            "password".into(),
            "New password",
            password,
            Vec::new(),
            "Empty: the password stays. A new one ends their sessions.",
        )]
    } else {
        vec![
            ("username".into(), "Username", username, Vec::new(), ""),
            (
                "password".into(),
                "Password",
                password,
                Vec::new(),
                "At least 8 characters",
            ),
        ]
    };
    crate::ui::focus_id(form.id(if editing { "role" } else { "username" }));
    view! {
        <Modal title=title on_close=Callback::new(move |()| dialog.set(None))>
            {move || other.get().map(|e| view! { <Alert error=e/> })}
            <form on:submit=submit novalidate=true data-testid="admin-form">
                {fields(specs, form, false)}
                {field(("role".into(), "Role", role, same(ROLES), "Owners reach everything: leave the scope empty"), form, false)}
                {site_checks(form, locations)}
                {field(("scope.tags".into(), "Tags", tags, Vec::new(), TAGS_HELP), form, false)}
                <div class="foot"><button type="button" class="btn" on:click=move |_| dialog.set(None)>"Cancel"</button>
                    <button type="submit" class="btn btn-primary" data-testid="admin-save" disabled=move || busy.get()>
                        {move || if busy.get() { "Saving…" } else if editing { "Save" } else { "Create" }}</button></div>
            </form>
        </Modal>
    }
}

/// The token form's fields a refusal can name.
const TOKEN_FIELDS: &[&str] = &["role", "scope.locations", "scope.tags", "expires_at"];

/// API tokens (owners only), created with a role, a scope and a lifetime; the secret of
/// a new one is shown once.
#[component]
pub fn Tokens() -> impl IntoView {
    if let Some(v) = owner_only() {
        return v;
    }
    let toasts = toasts();
    let refresh = RwSignal::new(0u32);
    let list = load(move || {
        refresh.track();
        async { api::get::<ApiTokenList>("/api/v1/api-tokens?limit=200").await }
    });
    let creating = RwSignal::new(false);
    let name = RwSignal::new(String::new());
    let role = RwSignal::new("viewer".to_string());
    let tags = RwSignal::new(String::new());
    let locations = RwSignal::new(Vec::<String>::new());
    let days = RwSignal::new(String::new());
    let form = Form {
        prefix: "tok",
        key: plain_key,
        error: RwSignal::new(None),
    };
    let error = RwSignal::new(None::<ApiError>);
    let secret = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.error.set(None);
        error.set(None);
        // A lifetime in days from now; the server refuses a time in the past.
        let expires_at = match days.get_untracked().trim() {
            "" => None,
            d => match d.parse::<i64>().ok().filter(|n| (1..=3650).contains(n)) {
                Some(n) => chrono::DateTime::from_timestamp_millis(
                    js_sys::Date::now() as i64 + n * 86_400_000,
                ),
                None => {
                    form.place(
                        crate::ui::local_error(
                            "expires_at",
                            "enter a whole number of days from 1 to 3650, or leave it empty",
                        ),
                        TOKEN_FIELDS,
                    );
                    return;
                }
            },
        };
        let scope = ScopeBody {
            locations: locations.get_untracked(),
            tags: tag_list(&tags.get_untracked()),
        };
        let body = NewApiToken {
            name: name.get_untracked(),
            role: role.get_untracked(),
            scope: (scope != ScopeBody::default()).then_some(scope),
            expires_at,
        };
        leptos::task::spawn_local(async move {
            match api::send::<_, CreatedApiToken>("POST", "/api/v1/api-tokens", Some(&body)).await {
                Ok(t) => {
                    secret.set(Some(t.token));
                    refresh.update(|r| *r += 1)
                }
                Err(e) => {
                    if !form.place(e.clone(), TOKEN_FIELDS) {
                        error.set(Some(e))
                    }
                }
            }
        });
    };
    // The token a confirmation is open for: (id, name).
    let revoking = RwSignal::new(None::<(String, String)>);
    let stop = Callback::new(move |()| revoking.set(None));
    let revoked = Callback::new(move |()| refresh.update(|r| *r += 1));
    let copy = move |_| {
        if let (Some(s), Some(w)) = (secret.get_untracked(), web_sys::window()) {
            let _ = w.navigator().clipboard().write_text(&s);
            toasts.ok("Copied");
        }
    };
    let close = Callback::new(move |()| {
        creating.set(false);
        secret.set(None);
        name.set(String::new());
        tags.set(String::new());
        locations.set(Vec::new());
        days.set(String::new());
        form.error.set(None)
    });
    view! {
        <div class="page-head"><h1>"API tokens"</h1><span class="spacer"></span>
            <button class="btn btn-primary" on:click=move |_| { error.set(None); creating.set(true) }>"New token"</button></div>
        <div class="table-wrap"><table class="data cards">
            <thead><tr><th>"Name"</th><th>"Prefix"</th><th>"Role"</th><th>"Scope"</th><th>"Expires"</th><th>"Last used"</th><th>"State"</th><th class="actions"><span class="sr-only">"Actions"</span></th></tr></thead>
            <tbody>{move || match list.get() {
                Load::Loading => view! { <tr><td colspan="8"><crate::ui::Loading/></td></tr> }.into_any(),
                Load::Failed(e) => view! { <tr><td colspan="8"><ErrorBox error=e/></td></tr> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <tr><td colspan="8"><crate::ui::Empty text="No API tokens yet."/></td></tr> }.into_any(),
                Load::Ready(l) => l.items.into_iter().map(|t| {
                    let target = (t.id.clone(), t.name.clone());
                    let revoked = t.revoked_at.is_some();
                    view! { <tr data-token=t.id.clone()>
                        <td data-label="Name">{t.name.clone()}</td>
                        <td data-label="Prefix" class="mono">{t.prefix.clone()}"…"</td>
                        <td data-label="Role"><span class="badge b-neutral">{t.role.as_str()}</span></td>
                        <td data-label="Scope" class="muted" data-testid="token-scope">{scope_text(&t.scope)}</td>
                        <td data-label="Expires">{t.expires_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())}</td>
                        <td data-label="Last used">{t.last_used_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())}</td>
                        <td data-label="State">{if revoked { view! { <span class="badge b-failed">"revoked"</span> } } else { view! { <span class="badge b-available">"active"</span> } }}</td>
                        <td class="actions">{(!revoked).then(|| view! { <button class="btn btn-sm" aria-label=format!("Revoke {}", target.1)
                            on:click=move |_| revoking.set(Some(target.clone()))>"Revoke…"</button> })}</td>
                    </tr> }
                }).collect_view().into_any(),
            }}</tbody>
        </table></div>
        {move || revoking.get().map(|(id, name)| crate::ui::delete_dialog(
            format!("Revoke {name}?"),
            format!("Integrations using {name} are refused from now on. A revoked token cannot be restored."),
            "Revoke token", format!("/api/v1/api-tokens/{}", segment(&id)), None,
            format!("Revoked {name}"), stop, revoked))}
        {move || creating.get().then(|| view! {
            <Modal title="New API token" on_close=close>
                {move || match secret.get() {
                    Some(s) => view! {
                        <div class="alert alert-warn">"Copy the secret now: it is shown only this once."</div>
                        <div class="copy-row"><code data-testid="token-secret">{s}</code><button class="btn" on:click=copy>"Copy"</button></div>
                        <div class="foot"><button class="btn btn-primary" on:click=move |_| close.run(())>"Done"</button></div>
                    }.into_any(),
                    None => view! {
                        {move || error.get().map(|e| view! { <Alert error=e/> })}
                        <form on:submit=create>
                            <TextField id="tok-name" label="What it is for" value=name required=true focus=true/>
                            {field(("role".into(), "Role", role, same(ROLES), ""), form, false)}
                            {site_checks(form, locations)}
                            {field(("scope.tags".into(), "Tags", tags, Vec::new(), TAGS_HELP), form, false)}
                            {field(("expires_at".into(), "Expires after (days)", days, Vec::new(), "Empty: never expires; revoke it when done"), form, false)}
                            <div class="foot"><button type="button" class="btn" on:click=move |_| close.run(())>"Cancel"</button>
                                <button type="submit" class="btn btn-primary">"Create"</button></div>
                        </form>
                    }.into_any(),
                }}
            </Modal>
        })}
    }
    .into_any()
}

/// The lifecycle settings; owners may change them.
#[component]
pub fn SettingsPage() -> impl IntoView {
    let auth = auth();
    let toasts = toasts();
    let owner = auth.can(Role::Owner);
    let settings = load(|| async { api::get::<Settings>("/api/v1/settings").await });
    let quarantine = RwSignal::new(String::new());
    let reservation = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    Effect::new(move |_| {
        if let Load::Ready(s) = settings.get() {
            quarantine.set(s.default_quarantine_days.to_string());
            reservation.set(
                s.reservation_default_days
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            );
        }
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let q = quarantine.get_untracked().trim().parse::<i64>();
        let r = reservation.get_untracked();
        let r = if r.trim().is_empty() {
            Ok(None)
        } else {
            r.trim().parse::<i64>().map(Some)
        };
        let (Ok(q), Ok(r)) = (q, r) else {
            error.set(Some(ApiError {
                status: 0,
                code: "invalid".into(),
                message: "Days must be whole numbers.".into(),
                details: serde_json::Value::Null,
            }));
            return;
        };
        let patch = SettingsPatch {
            default_quarantine_days: Some(q),
            reservation_default_days: Some(r),
            ..Default::default()
        };
        leptos::task::spawn_local(async move {
            match api::send::<_, Settings>("PATCH", "/api/v1/settings", Some(&patch)).await {
                Ok(s) => {
                    settings.set(Load::Ready(s));
                    error.set(None);
                    toasts.ok("Settings saved")
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <div class="page-head"><h1>"Settings"</h1></div>
        {(!owner).then(|| view! { <div class="alert alert-info">{needs(Role::Owner)}" to change settings."</div> })}
        <div class="panel">
            {move || match settings.get() {
                Load::Loading => view! { <crate::ui::Loading/> }.into_any(),
                Load::Failed(e) => view! { <ErrorBox error=e/> }.into_any(),
                Load::Ready(_) => view! {
                    {move || error.get().map(|e| view! { <Alert error=e/> })}
                    <form on:submit=save>
                        <fieldset disabled=!owner class="plain">
                            <TextField id="set-q" label="Quarantine after unassignment (days)" value=quarantine help="Sites may override it"/>
                            <TextField id="set-r" label="Default reservation length (days)" value=reservation help="Empty: reservations last until released"/>
                            <button type="submit" class="btn btn-primary">"Save"</button>
                        </fieldset>
                    </form>
                }.into_any(),
            }}
        </div>
    }
}
