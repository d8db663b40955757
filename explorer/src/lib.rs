//! The aidtrail explorer: a client-side Leptos app that lets anyone browse the ledger, trace donations and
//! verify proofs in their own browser with the `ledger` crate compiled to WebAssembly.
//!
//! - [`verify`]: the checks (leaf hash, author signature, checkpoint signature, inclusion and consistency
//!   proofs), pure Rust over `ledger`, unit tested in the browser.
//! - [`trust`]: the verifier key the browser trusts (build configuration or pinned by the reader) and the
//!   audit of checkpoints across visits.
//! - [`i18n`]: English and French.
//! - [`app`] and [`pages`]: the interface.

pub mod api;
pub mod app;
pub mod i18n;
pub mod pages;
pub mod storage;
pub mod trust;
pub mod verify;

/// Mounts the app on the page's body.
pub fn start() {
    console_error_panic_hook_install();
    leptos::mount::mount_to_body(app::App);
}

fn console_error_panic_hook_install() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("explorer panicked: {info}").into());
    }));
}
