//! Owners' screens: admin accounts and API tokens (a new token's secret is shown once,
//! with a copy button), and the lifecycle settings.

use api_types::{
    Admin, AdminList, ApiTokenList, CreatedApiToken, NewAdmin, NewApiToken, Role, Settings,
    SettingsPatch,
};
use leptos::prelude::*;

use crate::api::{self, ApiError, segment};
use crate::app::{auth, needs};
use crate::pages::actions::TextField;
use crate::ui::{Alert, ErrorBox, Load, Modal, fmt_time, load, toasts};

fn owner_only() -> Option<AnyView> {
    (!auth().can(Role::Owner)).then(|| {
        view! { <div class="alert alert-info">{needs(Role::Owner)}" to see this page."</div> }
            .into_any()
    })
}

fn role_select(id: &'static str, value: RwSignal<String>) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>"Role"</label>
            <select id=id on:change=move |ev| value.set(event_target_value(&ev))>
                {["viewer", "operator", "admin", "owner"].map(|r| view! { <option value=r selected=move || value.get() == r>{r}</option> }).collect_view()}
            </select>
        </div>
    }
}

/// Admin accounts (owners only).
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
    let creating = RwSignal::new(false);
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new("viewer".to_string());
    let error = RwSignal::new(None::<ApiError>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = NewAdmin {
            username: username.get_untracked(),
            password: password.get_untracked(),
            role: role.get_untracked(),
            scope: None,
        };
        leptos::task::spawn_local(async move {
            match api::send::<_, Admin>("POST", "/api/v1/admins", Some(&body)).await {
                Ok(a) => {
                    toasts.ok(format!("Created {}", a.username));
                    creating.set(false);
                    refresh.update(|r| *r += 1)
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let delete = move |id: String| {
        leptos::task::spawn_local(async move {
            match api::send::<(), ()>("DELETE", &format!("/api/v1/admins/{}", segment(&id)), None)
                .await
            {
                Ok(()) => {
                    toasts.ok("Deleted");
                    refresh.update(|r| *r += 1)
                }
                Err(e) => toasts.err(e.message),
            }
        });
    };
    view! {
        <div class="page-head"><h1>"Admins"</h1><span class="spacer"></span>
            <button class="btn btn-primary" on:click=move |_| { error.set(None); creating.set(true) }>"New admin"</button></div>
        <div class="table-wrap"><table class="data cards">
            <thead><tr><th>"Username"</th><th>"Role"</th><th>"Scope"</th><th>"Last login"</th><th></th></tr></thead>
            <tbody>{move || match list.get() {
                Load::Loading => view! { <tr><td colspan="5"><crate::ui::Loading/></td></tr> }.into_any(),
                Load::Failed(e) => view! { <tr><td colspan="5"><ErrorBox error=e/></td></tr> }.into_any(),
                Load::Ready(l) => l.items.into_iter().map(|a| {
                    let id = a.id.clone();
                    let scope = [a.scope.locations.join(", "), a.scope.tags.join(", ")].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" · ");
                    view! { <tr>
                        <td data-label="Username">{a.username.clone()}</td>
                        <td data-label="Role"><span class="badge b-neutral">{a.role.as_str()}</span></td>
                        <td data-label="Scope" class="muted">{if scope.is_empty() { "everything".to_string() } else { scope }}</td>
                        <td data-label="Last login">{a.last_login_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())}</td>
                        <td class="actions"><button class="btn btn-sm" on:click=move |_| delete(id.clone())>"Delete"</button></td>
                    </tr> }
                }).collect_view().into_any(),
            }}</tbody>
        </table></div>
        {move || creating.get().then(|| view! {
            <Modal title="New admin" on_close=Callback::new(move |()| creating.set(false))>
                {move || error.get().map(|e| view! { <Alert error=e/> })}
                <form on:submit=create>
                    <TextField id="adm-user" label="Username" value=username required=true focus=true/>
                    <div class="field"><label for="adm-pw">"Password"</label>
                        <input id="adm-pw" type="password" autocomplete="new-password" prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                        <div class="help">"At least 8 characters"</div></div>
                    {role_select("adm-role", role)}
                    <div class="foot"><button type="button" class="btn" on:click=move |_| creating.set(false)>"Cancel"</button>
                        <button type="submit" class="btn btn-primary">"Create"</button></div>
                </form>
            </Modal>
        })}
    }
    .into_any()
}

/// API tokens (owners only); the secret of a new one is shown once.
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
    let error = RwSignal::new(None::<ApiError>);
    let secret = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = NewApiToken {
            name: name.get_untracked(),
            role: role.get_untracked(),
            scope: None,
            expires_at: None,
        };
        leptos::task::spawn_local(async move {
            match api::send::<_, CreatedApiToken>("POST", "/api/v1/api-tokens", Some(&body)).await {
                Ok(t) => {
                    secret.set(Some(t.token));
                    refresh.update(|r| *r += 1)
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let revoke = move |id: String| {
        leptos::task::spawn_local(async move {
            match api::send::<(), ()>(
                "DELETE",
                &format!("/api/v1/api-tokens/{}", segment(&id)),
                None,
            )
            .await
            {
                Ok(()) => {
                    toasts.ok("Revoked");
                    refresh.update(|r| *r += 1)
                }
                Err(e) => toasts.err(e.message),
            }
        });
    };
    let copy = move |_| {
        if let (Some(s), Some(w)) = (secret.get_untracked(), web_sys::window()) {
            let _ = w.navigator().clipboard().write_text(&s);
            toasts.ok("Copied");
        }
    };
    let close = Callback::new(move |()| {
        creating.set(false);
        secret.set(None);
        name.set(String::new())
    });
    view! {
        <div class="page-head"><h1>"API tokens"</h1><span class="spacer"></span>
            <button class="btn btn-primary" on:click=move |_| { error.set(None); creating.set(true) }>"New token"</button></div>
        <div class="table-wrap"><table class="data cards">
            <thead><tr><th>"Name"</th><th>"Prefix"</th><th>"Role"</th><th>"Expires"</th><th>"Last used"</th><th>"State"</th><th></th></tr></thead>
            <tbody>{move || match list.get() {
                Load::Loading => view! { <tr><td colspan="7"><crate::ui::Loading/></td></tr> }.into_any(),
                Load::Failed(e) => view! { <tr><td colspan="7"><ErrorBox error=e/></td></tr> }.into_any(),
                Load::Ready(l) if l.items.is_empty() => view! { <tr><td colspan="7"><crate::ui::Empty text="No API tokens yet."/></td></tr> }.into_any(),
                Load::Ready(l) => l.items.into_iter().map(|t| {
                    let id = t.id.clone();
                    let revoked = t.revoked_at.is_some();
                    view! { <tr>
                        <td data-label="Name">{t.name.clone()}</td>
                        <td data-label="Prefix" class="mono">{t.prefix.clone()}"…"</td>
                        <td data-label="Role"><span class="badge b-neutral">{t.role.as_str()}</span></td>
                        <td data-label="Expires">{t.expires_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())}</td>
                        <td data-label="Last used">{t.last_used_at.as_ref().map(fmt_time).unwrap_or_else(|| "never".into())}</td>
                        <td data-label="State">{if revoked { view! { <span class="badge b-failed">"revoked"</span> } } else { view! { <span class="badge b-available">"active"</span> } }}</td>
                        <td class="actions">{(!revoked).then(|| view! { <button class="btn btn-sm" on:click=move |_| revoke(id.clone())>"Revoke"</button> })}</td>
                    </tr> }
                }).collect_view().into_any(),
            }}</tbody>
        </table></div>
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
                            {role_select("tok-role", role)}
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
