//! Starting the service: open the store, load the log, bind the socket, serve until asked to stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::{AppState, WriteLimits, app};
use crate::keys;
use crate::log::Log;
use crate::store::Store;

/// The log origin used when none is configured.
pub const DEFAULT_ORIGIN: &str = "aidtrail.local/log";

/// How to run `aidtrail serve`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub origin: String,
    /// The checkpoint-signing key as a private-key string (from the environment).
    pub checkpoint_key: Option<String>,
    pub checkpoint_key_file: Option<PathBuf>,
    pub limits: WriteLimits,
    /// When set, full tiles, entry bundles and the checkpoint are also written here as static files.
    pub mirror_dir: Option<PathBuf>,
    /// The built explorer to serve at `/` (see [`crate::explorer::default_dir`]).
    pub explorer_dir: Option<PathBuf>,
    /// Last-mile aggregates withhold cells of fewer beneficiary spends than this (`docs/PRIVACY.md`).
    pub k_anonymity: u64,
}

/// A started service.
pub struct Running {
    pub addr: SocketAddr,
    pub log: Arc<Log>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Opens everything and starts serving in the background.
pub async fn start(options: &ServeOptions) -> anyhow::Result<Running> {
    let store = Store::open(options.database_url.as_deref(), &options.data_dir).await?;
    let signer = keys::checkpoint_signer(
        options.checkpoint_key.as_deref(),
        options.checkpoint_key_file.as_deref(),
        &options.data_dir,
        &options.origin,
    )?;
    let log = Log::open(store, &options.origin, signer).await?;
    crate::memory::spawn_trimming();
    if let Some(directory) = &options.mirror_dir {
        crate::mirror::spawn(log.clone(), directory.clone());
    }
    let listener = TcpListener::bind(options.addr).await.with_context(|| format!("binding {}", options.addr))?;
    let addr = listener.local_addr()?;
    let explorer = options.explorer_dir.as_deref().map(crate::explorer::Explorer::load).transpose()?;
    match &explorer {
        Some(explorer) => tracing::info!(dir = %explorer.dir().display(), "serving the explorer"),
        None => tracing::warn!(
            "no built explorer found (build it with `trunk build --release --skip-version-check`, or pass \
             --explorer-dir): / describes the API instead"
        ),
    }
    let state = AppState::with_explorer(log.clone(), options.limits, explorer);
    let router = app(AppState::with_k_anonymity(state, options.k_anonymity));
    let server = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await
    });
    Ok(Running { addr, log, server })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// The URL a person or a script should open, for a bound address.
pub fn public_url(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
    if addr.is_ipv6() { format!("http://[{host}]:{}/", addr.port()) } else { format!("http://{host}:{}/", addr.port()) }
}
