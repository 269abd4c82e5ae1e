//! Telestate's web app: mounts [`app::App`] on the page's body.

mod api;
mod app;
mod live;
mod pages;
mod ui;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
