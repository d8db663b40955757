//! The static mirror: full tiles, full entry bundles and the latest checkpoint written to a directory as
//! files laid out like the C2SP tlog-tiles URLs, so that any web server or CDN can serve the log's reads
//! without touching the database. Partial tiles are not written: a mirror serves only what never changes,
//! plus the checkpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ledger::tiles::{self, TilePath};

use crate::log::Log;
use crate::tile_reader::{TileError, read_tile};

/// How often the mirror looks for a new checkpoint.
pub const MIRROR_INTERVAL_MS: u64 = 1_000;

/// Writes `bytes` to `path` atomically (a temporary file renamed into place).
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let temporary = path.with_extension("partial-write");
    std::fs::write(&temporary, bytes).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// Brings the mirror directory up to the log's latest checkpoint; returns the tree size mirrored.
pub async fn sync(log: &Log, directory: &Path, mirrored_size: u64) -> anyhow::Result<u64> {
    let (tree_size, note) = {
        let view = log.view().await;
        (view.checkpoint.tree_size, view.checkpoint.note.clone())
    };
    if tree_size == mirrored_size && directory.join("checkpoint").exists() {
        return Ok(tree_size);
    }
    for tile in tiles::new_tiles(mirrored_size, tree_size).into_iter().filter(|tile| !tile.is_partial()) {
        let path: PathBuf = directory.join(tile.to_path());
        if path.exists() {
            continue;
        }
        let bytes = tile_bytes(log, &tile).await?;
        write_atomically(&path, &bytes)?;
    }
    // The checkpoint last, so that a mirror never names a tree whose full tiles it lacks.
    write_atomically(&directory.join("checkpoint"), note.as_bytes())?;
    Ok(tree_size)
}

async fn tile_bytes(log: &Log, tile: &TilePath) -> anyhow::Result<axum::body::Bytes> {
    read_tile(log, tile, None).await.map_err(|error| match error {
        TileError::Beyond(message) => anyhow::anyhow!(message),
        TileError::Internal(error) => error,
    })
}

/// Keeps the mirror directory current in the background.
pub fn spawn(log: Arc<Log>, directory: PathBuf) {
    tokio::spawn(async move {
        let mut mirrored_size = 0;
        let mut interval = tokio::time::interval(Duration::from_millis(MIRROR_INTERVAL_MS));
        loop {
            interval.tick().await;
            match sync(&log, &directory, mirrored_size).await {
                Ok(size) => mirrored_size = size,
                Err(error) => tracing::error!(error = %format!("{error:#}"), "updating the static mirror failed"),
            }
        }
    });
}
