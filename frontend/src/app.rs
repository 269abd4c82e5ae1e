//! The app's frame: session restore and login, the shell (top bar, navigation, live
//! indicator) and the routes. Who may do what comes from `GET /api/v1/me`; the server
//! still checks every request, the app only hides or disables what would be refused.

use api_types::{LocationList, Me, Role};
use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::path;

use crate::api::{self, ApiError, Session};
use crate::live::Live;
use crate::pages;
use crate::ui::{Alert, Toasts};

/// Where the session stands.
#[derive(Clone, Debug)]
pub enum AuthState {
    /// Asking the server whether the cookie session is still valid.
    Checking,
    /// No session: show the login screen.
    LoggedOut,
    /// Logged in as this caller.
    LoggedIn(Box<Me>),
}

/// The session, shared by every screen.
#[derive(Clone, Copy)]
pub struct Auth(pub RwSignal<AuthState>);

impl Auth {
    /// The caller's role, when logged in.
    pub fn role(&self) -> Option<Role> {
        match self.0.get() {
            AuthState::LoggedIn(me) => Some(me.role),
            _ => None,
        }
    }
    /// Whether the caller's role includes `role` (roles are ordered weakest first).
    pub fn can(&self, role: Role) -> bool {
        self.role().is_some_and(|r| r >= role)
    }
}

/// The session context.
pub fn auth() -> Auth {
    expect_context::<Auth>()
}

/// The sentence shown where an action is disabled for lack of a role.
pub fn needs(role: Role) -> String {
    format!("Needs the {} role", role.as_str())
}

/// Why the caller may not take an admin's action, or `None` when it may. With
/// `unscoped` (the reason, e.g. "drift spans the whole platform") the grant must also
/// be unscoped, which the app reads from `/me`'s scope.
pub fn admin_refusal(unscoped: Option<&str>) -> Option<String> {
    match auth().0.get_untracked() {
        AuthState::LoggedIn(me) if me.role >= Role::Admin => unscoped
            .filter(|_| !me.scope.locations.is_empty() || !me.scope.tags.is_empty())
            .map(|why| format!("Needs an unscoped grant: {why}")),
        _ => Some(needs(Role::Admin)),
    }
}

/// Names for the ids numbers carry (sites, ranges, platforms), loaded once after login.
#[derive(Clone, Copy)]
pub struct Lookups {
    /// Sites.
    pub locations: RwSignal<Vec<api_types::Location>>,
    /// Ranges.
    pub ranges: RwSignal<Vec<api_types::Range>>,
    /// Platforms.
    pub platforms: RwSignal<Vec<api_types::Platform>>,
}

impl Lookups {
    /// The site's name for an id.
    pub fn location(&self, id: &Option<String>) -> String {
        let Some(id) = id else { return String::new() };
        self.locations
            .with(|l| l.iter().find(|x| &x.id == id).map(|x| x.name.clone()))
            .unwrap_or_else(|| id.clone())
    }
    /// The range's name for an id.
    pub fn range(&self, id: &Option<String>) -> String {
        let Some(id) = id else { return String::new() };
        self.ranges
            .with(|l| {
                l.iter().find(|x| &x.id == id).map(|x| {
                    x.name
                        .clone()
                        .unwrap_or_else(|| format!("{}–{}", x.start, x.end))
                })
            })
            .unwrap_or_else(|| id.clone())
    }
    /// The platform's name for an id.
    pub fn platform(&self, id: &Option<String>) -> String {
        let Some(id) = id else { return String::new() };
        self.platforms
            .with(|l| l.iter().find(|x| &x.id == id).map(|x| x.name.clone()))
            .unwrap_or_else(|| id.clone())
    }
    /// The sites as a select's choices, after an empty one labelled `none`.
    pub fn site_choices(&self, none: &str) -> Vec<(String, String)> {
        let sites = self.locations.get_untracked().into_iter();
        crate::pages::estate::choices(none, sites.map(|l| (l.id, l.name)))
    }
    /// The platforms as a select's choices, after an empty one labelled `none`.
    pub fn platform_choices(&self, none: &str) -> Vec<(String, String)> {
        let platforms = self.platforms.get_untracked().into_iter();
        crate::pages::estate::choices(none, platforms.map(|p| (p.id, p.name)))
    }
    /// Reloads all three lists, concurrently.
    pub fn refresh(&self) {
        let this = *self;
        leptos::task::spawn_local(async move {
            let (l, (r, p)) = futures_join(
                api::get::<LocationList>("/api/v1/locations?limit=1000"),
                futures_join(
                    api::get::<api_types::RangeList>("/api/v1/ranges?limit=1000"),
                    api::get::<api_types::PlatformList>("/api/v1/platforms?limit=1000"),
                ),
            )
            .await;
            if let Ok(l) = l {
                this.locations.set(l.items);
            }
            if let Ok(r) = r {
                this.ranges.set(r.items);
            }
            if let Ok(p) = p {
                this.platforms.set(p.items);
            }
        });
    }
}

/// The lookups context.
pub fn lookups() -> Lookups {
    expect_context::<Lookups>()
}

async fn restore() -> AuthState {
    // Both at once: the cookie authenticates `/me` too, and first load is two requests'
    // latency shorter. The CSRF token comes only from the session answer.
    let (session, me) = futures_join(
        api::get::<Session>("/api/v1/auth/session"),
        api::get::<Me>("/api/v1/me"),
    )
    .await;
    match (session, me) {
        (Ok(s), Ok(me)) => {
            api::set_csrf(Some(s.csrf_token));
            AuthState::LoggedIn(Box::new(me))
        }
        _ => AuthState::LoggedOut,
    }
}

/// Awaits two futures concurrently (the one join this app needs; no futures crate for it).
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let a = std::pin::pin!(a);
    let b = std::pin::pin!(b);
    let (mut a, mut b) = (a, b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(move |cx| {
        use std::task::Poll;
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (ra, rb) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    let auth = Auth(RwSignal::new(AuthState::Checking));
    provide_context(auth);
    let toasts = Toasts::new();
    provide_context(toasts);
    api::on_unauthenticated(move || {
        api::set_csrf(None);
        auth.0.set(AuthState::LoggedOut);
    });
    leptos::task::spawn_local(async move { auth.0.set(restore().await) });
    let logged_in = Memo::new(move |_| matches!(auth.0.get(), AuthState::LoggedIn(_)));
    let checking = Memo::new(move |_| matches!(auth.0.get(), AuthState::Checking));
    view! {
        <Router>
            {move || {
                if checking.get() {
                    view! { <div class="boot" role="status"><span class="spinner"></span><span class="sr-only">"Loading"</span></div> }.into_any()
                } else if logged_in.get() {
                    view! { <Shell/> }.into_any()
                } else {
                    view! { <Login/> }.into_any()
                }
            }}
            {toasts.view()}
        </Router>
    }
}

#[component]
fn Login() -> impl IntoView {
    let auth = auth();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let user_ref = NodeRef::<leptos::html::Input>::new();
    crate::ui::focus_on_mount(user_ref);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        let body = api_types::LoginRequest {
            username: username.get(),
            password: password.get(),
        };
        leptos::task::spawn_local(async move {
            match api::send::<_, Session>("POST", "/api/v1/auth/session", Some(&body)).await {
                Ok(s) => {
                    api::set_csrf(Some(s.csrf_token));
                    match api::get::<Me>("/api/v1/me").await {
                        Ok(me) => auth.0.set(AuthState::LoggedIn(Box::new(me))),
                        Err(e) => error.set(Some(e)),
                    }
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="login">
            <form class="card" on:submit=submit>
                <span class="brand-mark" aria-hidden="true">"T"</span>
                <h1>"Sign in to Telestate"</h1>
                <p class="subtle">"Your organisation's telephone numbers, in one place."</p>
                {move || error.get().map(|e| view! { <Alert error=e/> })}
                <div class="field">
                    <label for="username">"Username"</label>
                    <input id="username" type="text" autocomplete="username" required node_ref=user_ref
                        prop:value=move || username.get() on:input=move |ev| username.set(event_target_value(&ev))/>
                </div>
                <div class="field">
                    <label for="password">"Password"</label>
                    <input id="password" type="password" autocomplete="current-password" required
                        prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                </div>
                <button class="btn btn-primary" type="submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
        </div>
    }
}

#[component]
fn Shell() -> impl IntoView {
    let auth = auth();
    let lookups = Lookups {
        locations: RwSignal::new(Vec::new()),
        ranges: RwSignal::new(Vec::new()),
        platforms: RwSignal::new(Vec::new()),
    };
    lookups.refresh();
    provide_context(lookups);
    let live = Live::start();
    provide_context(live);
    on_cleanup(move || live.stop());
    let nav_open = RwSignal::new(false);
    let location = use_location();
    Effect::new(move |_| {
        location.pathname.track();
        nav_open.set(false);
    });
    let (name, role) = match auth.0.get_untracked() {
        AuthState::LoggedIn(me) => (me.name.clone(), me.role.as_str()),
        _ => (String::new(), ""),
    };
    let logout = move |_| {
        leptos::task::spawn_local(async move {
            let _ =
                api::send::<(), serde_json::Value>("DELETE", "/api/v1/auth/session", None).await;
            api::set_csrf(None);
            auth.0.set(AuthState::LoggedOut);
        });
    };
    let is_owner = auth.can(Role::Owner);
    view! {
        <div class="shell">
            <a class="skip" href="#main">"Skip to content"</a>
            <header class="topbar">
                <button class="btn btn-ghost btn-sm menu-btn" aria-label="Menu" aria-controls="nav"
                    aria-expanded=move || nav_open.get().to_string()
                    on:click=move |_| nav_open.update(|o| *o = !*o)>"☰"</button>
                <A href="/" attr:class="brand"><span class="brand-mark" aria-hidden="true">"T"</span>"Telestate"</A>
                <span class="spacer"></span>
                <span class=move || if live.connected.get() { "live on" } else { "live" }
                    title="Changes appear as they happen">
                    <span class="dot"></span><span class="label">{move || if live.connected.get() { "Live" } else { "Offline" }}</span>
                </span>
                <span class="who"><span class="name">{name}</span><span class="role" data-testid="role">{role}</span></span>
                <button class="btn btn-ghost btn-sm" on:click=logout>"Sign out"</button>
            </header>
            <nav id="nav" class=move || if nav_open.get() { "sidebar open" } else { "sidebar" } aria-label="Main"
                on:click=move |_| nav_open.set(false)>
                <A href="/" exact=true>"Dashboard"</A>
                <A href="/numbers">"Numbers"</A>
                <div class="group">"Estate"</div>
                <A href="/ranges">"Ranges"</A>
                <A href="/locations">"Locations"</A>
                <A href="/services">"Services"</A>
                <A href="/users">"Directory users"</A>
                <A href="/groups">"Groups"</A>
                <div class="group">"Change"</div>
                <A href="/import">"Import"</A>
                <A href="/audit">"Audit log"</A>
                <div class="group">"Platforms"</div>
                <A href="/platforms">"Platforms"</A>
                <A href="/jobs">"Provisioning jobs"</A>
                <A href="/rules">"Rules"</A>
                <div class="group">"Administration"</div>
                {is_owner.then(|| view! {
                    <A href="/admins">"Admins"</A>
                    <A href="/tokens">"API tokens"</A>
                })}
                <A href="/settings">"Settings"</A>
            </nav>
            <main id="main" class="main" tabindex="-1">
                <Routes fallback=|| view! { <crate::ui::Empty text="No such page."/> }>
                    <Route path=path!("/") view=pages::dashboard::Dashboard/>
                    <Route path=path!("/numbers") view=pages::numbers::Numbers/>
                    <Route path=path!("/numbers/:number") view=pages::number::NumberPage/>
                    <Route path=path!("/ranges") view=pages::estate::Ranges/>
                    <Route path=path!("/locations") view=pages::estate::Locations/>
                    <Route path=path!("/services") view=pages::estate::Services/>
                    <Route path=path!("/users") view=pages::estate::Users/>
                    <Route path=path!("/groups") view=pages::estate::Groups/>
                    <Route path=path!("/import") view=pages::import::Import/>
                    <Route path=path!("/audit") view=pages::audit::Audit/>
                    <Route path=path!("/change-sets/:id") view=pages::import::ChangeSet/>
                    <Route path=path!("/platforms") view=pages::ops::Platforms/>
                    <Route path=path!("/jobs") view=pages::ops::Jobs/>
                    <Route path=path!("/rules") view=pages::rules::Rules/>
                    <Route path=path!("/rules/:id") view=pages::rules::RulePage/>
                    <Route path=path!("/rule-runs/:id") view=pages::rules::RunPage/>
                    <Route path=path!("/admins") view=pages::admin::Admins/>
                    <Route path=path!("/tokens") view=pages::admin::Tokens/>
                    <Route path=path!("/settings") view=pages::admin::SettingsPage/>
                </Routes>
            </main>
        </div>
    }
}
