//! Small building blocks every screen shares: status badges, tags, the loading / empty /
//! error states, toasts, the modal frame and formatting.

use api_types::NumberStatus;
use chrono::{DateTime, Datelike, Timelike, Utc};
use leptos::prelude::*;

use crate::api::ApiError;

/// What a screen's data is doing: screens keep showing the last `Ready` data while a new
/// request runs, so nothing jumps when it arrives.
#[derive(Clone, Debug)]
pub enum Load<T> {
    /// First request still running.
    Loading,
    /// The data.
    Ready(T),
    /// The request failed.
    Failed(ApiError),
}

/// Runs `fetch` now and whenever the signals it reads change, writing the outcome into
/// the returned signal; an answer that arrives after a newer request started is dropped.
pub fn load<T, F, Fut>(fetch: F) -> RwSignal<Load<T>>
where
    T: Clone + Send + Sync + 'static,
    F: Fn() -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>> + 'static,
{
    let out = RwSignal::new(Load::Loading);
    // Only this closure is compiled per call site; the effect, the task and the
    // generation check are `drive`'s, compiled once (they were 20 copies, ~80 KB of wasm).
    drive(Box::new(move || {
        let fut = fetch();
        Box::pin(async move {
            let r = fut.await;
            Box::new(move || {
                out.set(match r {
                    Ok(v) => Load::Ready(v),
                    Err(e) => Load::Failed(e),
                })
            }) as Box<dyn FnOnce()>
        })
    }));
    out
}

/// A request started inside an effect (so the signals it reads are tracked); its answer
/// is a closure that stores it.
type Start =
    Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Box<dyn FnOnce()>>>>>;

fn drive(start: Start) {
    let generation = StoredValue::new(0u64);
    Effect::new(move |_| {
        let fut = start();
        // `try_`: a task that outlives its screen must find nothing, not panic.
        let Some(mine) = generation.try_update_value(|g| {
            *g += 1;
            *g
        }) else {
            return;
        };
        leptos::task::spawn_local(async move {
            let store = fut.await;
            if generation.try_get_value() == Some(mine) {
                store();
            }
        });
    });
}

/// A number's status as a coloured badge.
#[component]
pub fn StatusBadge(status: NumberStatus) -> impl IntoView {
    let s = status.as_str();
    view! { <span class=format!("badge b-{s}")>{s}</span> }
}

/// A list of tags as chips.
#[component]
pub fn Tags(tags: Vec<String>) -> impl IntoView {
    view! { <span class="tags">{tags.into_iter().map(|t| view! { <span class="tag">{t}</span> }).collect_view()}</span> }
}

/// The centred spinner of a screen whose data has not arrived yet.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <div class="loading" role="status" aria-live="polite"><span class="spinner"></span><span class="sr-only">"Loading"</span></div> }
}

/// A failed load, with the server's sentence.
#[component]
pub fn ErrorBox(error: ApiError) -> impl IntoView {
    view! { <div class="error-box" role="alert">{error.message}</div> }
}

/// Nothing to show, and why.
#[component]
pub fn Empty(#[prop(into)] text: String) -> impl IntoView {
    view! { <div class="empty">{text}</div> }
}

/// An inline error message inside a form or dialog; a 412 (an `If-Match` that no longer
/// matches) says what happened in words rather than in versions.
#[component]
pub fn Alert(error: ApiError) -> impl IntoView {
    let text = if error.status == 412 {
        "Someone else changed this since you opened it, so it was not saved. Your edits are still here: copy what you need, close and open it again to see their version.".to_string()
    } else {
        error.message
    };
    view! { <div class="alert alert-error" role="alert" data-testid="form-error">{text}</div> }
}

/// One message in the corner: its id, text, whether it is an error, and an optional link
/// (`href`, text) to what the action made.
type Toast = (u64, String, bool, Option<(String, String)>);

/// Short-lived messages in the corner (the outcome of an action).
#[derive(Clone, Copy)]
pub struct Toasts(RwSignal<Vec<Toast>>);

impl Toasts {
    /// A context with no toasts.
    pub fn new() -> Self {
        Toasts(RwSignal::new(Vec::new()))
    }
    /// Shows `text` for five seconds.
    pub fn ok(&self, text: impl Into<String>) {
        self.push(text.into(), false, None, 5);
    }
    /// Shows an error for five seconds.
    pub fn err(&self, text: impl Into<String>) {
        self.push(text.into(), true, None, 5);
    }
    /// Shows `text` with a link to `href` for ten seconds (time to reach the link); the
    /// screen should also keep the link where it stays.
    pub fn ok_link(&self, text: impl Into<String>, href: String, link: impl Into<String>) {
        self.push(text.into(), false, Some((href, link.into())), 10);
    }
    fn push(&self, text: String, err: bool, link: Option<(String, String)>, seconds: u64) {
        // Two toasts in one millisecond must not share an id (one would remove both).
        let list = self.0;
        let now = js_sys::Date::now() as u64;
        let id = list.with_untracked(|l| l.iter().map(|t| t.0 + 1).fold(now, u64::max));
        list.update(|l| l.push((id, text, err, link)));
        set_timeout(
            move || list.update(|l| l.retain(|t| t.0 != id)),
            std::time::Duration::from_secs(seconds),
        );
    }
    /// Renders the toast stack.
    pub fn view(&self) -> impl IntoView + use<> {
        let list = self.0;
        view! {
            <div class="toasts" role="status" aria-live="polite">
                <For each=move || list.get() key=|t| t.0 let:t>
                    <div class=if t.2 { "toast err" } else { "toast" }>{t.1}
                        {t.3.map(|(href, text)| view! { " " <leptos_router::components::A href=href>{text}</leptos_router::components::A> })}
                    </div>
                </For>
            </div>
        }
    }
}

/// The shared toasts.
pub fn toasts() -> Toasts {
    expect_context::<Toasts>()
}

thread_local! {
    /// The elements that had focus when each open dialog opened (dialogs may stack).
    static OPENERS: std::cell::RefCell<Vec<Option<web_sys::HtmlElement>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What Tab can reach inside a dialog.
const FOCUSABLE: &str = "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

/// Keeps Tab and Shift+Tab inside `dialog`: past its last control focus wraps to its
/// first, and back.
fn trap_tab(ev: &web_sys::KeyboardEvent, dialog: &web_sys::Element) {
    use wasm_bindgen::JsCast;
    let Ok(list) = dialog.query_selector_all(FOCUSABLE) else {
        return;
    };
    let (Some(first), Some(last)) = (list.item(0), list.item(list.length().saturating_sub(1)))
    else {
        return;
    };
    let active = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element());
    let at = |n: &web_sys::Node| active.as_ref().is_some_and(|a| a.is_same_node(Some(n)));
    let inside = active.as_ref().is_some_and(|a| dialog.contains(Some(a)));
    let to = if ev.shift_key() && (at(&first) || !inside) {
        last
    } else if !ev.shift_key() && (at(&last) || !inside) {
        first
    } else {
        return;
    };
    if let Ok(el) = to.dyn_into::<web_sys::HtmlElement>() {
        ev.prevent_default();
        let _ = el.focus();
    }
}

/// A modal dialog: backdrop, `role=dialog`, Escape and a click outside close it, Tab
/// stays inside it, and focus goes back to what opened it (keyboard users stay where
/// they were).
#[component]
pub fn Modal(
    #[prop(into)] title: String,
    on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    use wasm_bindgen::JsCast;
    let opener = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element())
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    OPENERS.with(|o| o.borrow_mut().push(opener));
    on_cleanup(|| {
        if let Some(Some(el)) = OPENERS.with(|o| o.borrow_mut().pop()) {
            // The opener may be re-rendered meanwhile; focusing a detached node is harmless.
            let _ = el.focus();
        }
    });
    let id = format!("dlg-{}", js_sys::Math::random().to_bits());
    let label = id.clone();
    let dialog = NodeRef::<leptos::html::Div>::new();
    view! {
        <div class="backdrop"
            on:click=move |ev| {
                if ev.target() == ev.current_target() { on_close.run(()) }
            }
            on:keydown=move |ev| match ev.key().as_str() {
                "Escape" => on_close.run(()),
                "Tab" => if let Some(d) = dialog.get_untracked() { trap_tab(&ev, &d) },
                _ => {}
            }>
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby=label node_ref=dialog>
                <h2 id=id>{title}</h2>
                {children()}
            </div>
        </div>
    }
}

/// `2026-12-03 07:15 UTC`.
pub fn fmt_time(t: &DateTime<Utc>) -> String {
    format!("{} {:02}:{:02} UTC", fmt_date(t), t.hour(), t.minute())
}

/// `2026-12-03`.
pub fn fmt_date(t: &DateTime<Utc>) -> String {
    // By hand rather than `format("%Y-%m-%d")`: chrono's format-string interpreter is
    // about 10 KB of wasm, and these three shapes are all the app needs.
    format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
}

/// `14:05:09`.
pub fn fmt_clock(t: &DateTime<Utc>) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// `3 Dec`.
pub fn fmt_day_month(d: &chrono::NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!("{} {}", d.day(), MONTHS[d.month0() as usize])
}

/// `x` with `decimals` decimals (`12.5`), by integer arithmetic: formatting an `f64`
/// links core's float printing (about 13 KB of wasm) for a few labels and coordinates.
pub fn fixed(x: f64, decimals: u32) -> String {
    let scale = 10i64.pow(decimals);
    let v = (x * scale as f64).round() as i64;
    let sign = if v < 0 { "-" } else { "" };
    let v = v.abs();
    if decimals == 0 {
        format!("{sign}{v}")
    } else {
        format!(
            "{sign}{}.{:0w$}",
            v / scale,
            v % scale,
            w = decimals as usize
        )
    }
}

/// `1,234,567`.
pub fn fmt_int(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Focuses an input once it is in the page (dialogs focus their first field).
pub fn focus_on_mount(node: NodeRef<leptos::html::Input>) {
    Effect::new(move |_| {
        if let Some(el) = node.get() {
            let _ = el.focus();
        }
    });
}

/// Focuses the element with `id` once the current render is done (the field a refusal
/// names, a row just added).
pub fn focus_id(id: String) {
    set_timeout(
        move || {
            use wasm_bindgen::JsCast;
            if let Some(el) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id(&id))
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = el.focus();
            }
        },
        std::time::Duration::ZERO,
    );
}

/// The server's sentence without its leading `field: `, which the field's label says
/// (`field` is the first segment of the path, e.g. `tags` for `tags[3]`).
pub fn field_message(e: &ApiError, field: &str) -> String {
    let m = e.message.as_str();
    m.split_once(": ")
        .filter(|(head, _)| head.split(['[', '.']).next() == Some(field))
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| m.to_string())
}

/// `a, b; c` as a list (tags, or the values of an `in` condition); empty items are gaps,
/// not values.
pub fn tag_list(text: &str) -> Vec<String> {
    text.split([',', ';'])
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A form's controls: the prefix of their ids, the refusal the form shows, and where in
/// the form a refusal belongs (the key of the field it names, if any).
#[derive(Clone, Copy)]
pub struct Form {
    /// `rule` makes the field `pool.tags` the control `#rule-pool-tags`.
    pub prefix: &'static str,
    /// The key of the field a refusal names.
    pub key: fn(&ApiError) -> Option<String>,
    /// The refusal shown at its field.
    pub error: RwSignal<Option<ApiError>>,
}

impl Form {
    /// The id of the control for `key`.
    pub fn id(&self, key: &str) -> String {
        format!("{}-{}", self.prefix, key.replace('.', "-"))
    }
    /// The refusal's sentence when it names the field `key`, for under that field.
    pub fn message(self, key: String) -> impl Fn() -> Option<String> + Clone + 'static {
        move || {
            self.error.with(|e| {
                e.as_ref()
                    .filter(|e| (self.key)(e).as_deref() == Some(key.as_str()))
                    .map(|e| {
                        let f = e.details["field"].as_str().unwrap_or_default();
                        field_message(e, f.split(['[', '.']).next().unwrap_or(f))
                    })
            })
        }
    }
    /// Shows `e` at its field and takes the keyboard there; `false` when it names none
    /// of `placed` (the caller shows it above the form).
    pub fn place(&self, e: ApiError, placed: &[&str]) -> bool {
        match (self.key)(&e).filter(|k| placed.contains(&k.as_str())) {
            Some(k) => {
                focus_id(self.id(&k));
                self.error.set(Some(e));
                true
            }
            None => false,
        }
    }
}

/// A refusal's `details.field` without its indices: `scope.locations[2]` →
/// `scope.locations`.
pub fn plain_key(e: &ApiError) -> Option<String> {
    let f = e.details.get("field")?.as_str()?;
    Some(f.split('[').next().unwrap_or(f).to_string())
}

/// A refusal made here rather than by the server (a field that is not a number).
pub fn local_error(field: &str, message: &str) -> ApiError {
    ApiError {
        status: 400,
        code: "invalid_field".into(),
        message: format!("{field}: {message}"),
        details: serde_json::json!({ "field": field }),
    }
}

/// One field of a form: its key (where a refusal belongs), label, value, choices
/// (none: a text input) and help.
pub type Spec = (
    String,
    &'static str,
    RwSignal<String>,
    Vec<(String, String)>,
    &'static str,
);

/// One labelled control: a `<select>` of the choices when there are any, else a text
/// input (a password input, never pre-filled by the browser, when the key ends in
/// `password` or `secret`: what is typed there is not shown). A refusal whose field is
/// the spec's key shows under it and marks it invalid.
/// A plain function called from tables of specs, not a component used at many call
/// sites: each distinct call site of a component costs wasm.
pub fn field(spec: Spec, form: Form, readonly: bool) -> AnyView {
    let (key, label, value, options, help) = spec;
    let id = form.id(&key);
    let err_id = format!("{id}-error");
    let secret = key.ends_with("password") || key.ends_with("secret");
    // A telephone number: the phone keypad on mobiles, digits in the monospace face.
    let tel = matches!(key.as_str(), "number" | "start" | "end");
    let mine = form.message(key);
    let mine2 = mine.clone();
    let invalid = move || mine2().is_some().to_string();
    let control = if options.is_empty() {
        view! { <input id=id.clone() type=if secret { "password" } else { "text" }
            class=tel.then_some("mono") inputmode=tel.then_some("tel")
            autocomplete=if secret { "new-password" } else { "off" } readonly=readonly prop:value=move || value.get()
            aria-invalid=invalid aria-describedby=err_id.clone()
            on:input=move |ev| value.set(event_target_value(&ev))/> }
        .into_any()
    } else {
        view! { <select id=id.clone() disabled=readonly aria-invalid=invalid aria-describedby=err_id.clone()
            on:change=move |ev| value.set(event_target_value(&ev))>
            {options.into_iter().map(|(v, l)| { let sel = value.with_untracked(|x| *x == v); view! { <option value=v selected=sel>{l}</option> } }).collect_view()}
        </select> }
        .into_any()
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {control}
            {(!help.is_empty()).then(|| view! { <div class="help">{help}</div> })}
            {move || mine().map(|m| view! { <div class="field-error" id=err_id.clone() data-testid="field-error">{m}</div> })}
        </div>
    }
    .into_any()
}

/// The specs' fields, in order.
pub fn fields(specs: Vec<Spec>, form: Form, readonly: bool) -> AnyView {
    specs
        .into_iter()
        .map(|s| field(s, form, readonly))
        .collect_view()
        .into_any()
}

/// `(value, label)` pairs where the label is the value.
pub fn same(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| (v.to_string(), v.to_string()))
        .collect()
}

/// Asks before a destructive action: the sentence, Cancel, and the danger button
/// (focused, so Enter confirms and Escape cancels); a refusal shows inside.
pub fn confirm(
    title: String,
    text: String,
    button: &'static str,
    busy: RwSignal<bool>,
    error: RwSignal<Option<ApiError>>,
    close: Callback<()>,
    go: Callback<()>,
) -> AnyView {
    let node = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(b) = node.get() {
            let _ = b.focus();
        }
    });
    view! {
        <Modal title=title on_close=close>
            <p data-testid="confirm-text">{text}</p>
            {move || error.get().map(|e| view! { <Alert error=e/> })}
            <div class="foot">
                <button type="button" class="btn" on:click=move |_| close.run(())>"Cancel"</button>
                <button type="button" class="btn btn-danger" data-testid="confirm-go" node_ref=node
                    disabled=move || busy.get() on:click=move |_| go.run(())>{button}</button>
            </div>
        </Modal>
    }
    .into_any()
}

/// A request under way whose success is the sentence its toast shows.
pub type Sending = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, ApiError>>>>;

/// What a form's submit does: `None` when the form refused locally (the refusal is
/// placed already), else the request.
pub type Submit = std::sync::Arc<dyn Fn() -> Option<Sending> + Send + Sync>;

/// A form in a dialog: `body` (fields from [`fields`]), Cancel and the submit button
/// (`{prefix}-save`, disabled while the request runs). A refusal naming one of `placed`
/// shows at that field and takes the keyboard there, any other above the form; success
/// shows its sentence as a toast and closes. One function for every such form, so each
/// form costs only its fields and its request.
pub fn form_dialog(
    title: String,
    form: Form,
    placed: &'static [&'static str],
    body: AnyView,
    button: &'static str,
    close: Callback<()>,
    submit: Submit,
) -> AnyView {
    let toasts = toasts();
    let other = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        form.error.set(None);
        other.set(None);
        let Some(request) = submit() else { return };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let r = request.await;
            busy.set(false);
            match r {
                Ok(text) => {
                    toasts.ok(text);
                    close.run(())
                }
                Err(e) => {
                    if !form.place(e.clone(), placed) {
                        other.set(Some(e))
                    }
                }
            }
        });
    };
    view! {
        <Modal title=title on_close=close>
            {move || other.get().map(|e| view! { <Alert error=e/> })}
            <form on:submit=send novalidate=true data-testid=format!("{}-form", form.prefix)>
                {body}
                <div class="foot">
                    <button type="button" class="btn" on:click=move |_| close.run(())>"Cancel"</button>
                    <button type="submit" class="btn btn-primary" data-testid=format!("{}-save", form.prefix)
                        disabled=move || busy.get()>{button}</button>
                </div>
            </form>
        </Modal>
    }
    .into_any()
}

/// Asks before deleting what `path` names (`If-Match` on `version` when given): the
/// sentence, Cancel and `button`. A refusal — e.g. a 409 saying what still uses it —
/// shows inside the dialog in the server's words; success toasts `toast`, closes and
/// runs `done`.
#[allow(clippy::too_many_arguments)]
pub fn delete_dialog(
    title: String,
    text: String,
    button: &'static str,
    path: String,
    version: Option<i64>,
    toast: String,
    close: Callback<()>,
    done: Callback<()>,
) -> AnyView {
    let toasts = toasts();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let go = Callback::new(move |()| {
        let (path, toast) = (path.clone(), toast.clone());
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let r = crate::api::delete(&path, version).await;
            busy.set(false);
            match r {
                Ok(()) => {
                    toasts.ok(toast);
                    close.run(());
                    done.run(())
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
    confirm(title, text, button, busy, error, close, go)
}
