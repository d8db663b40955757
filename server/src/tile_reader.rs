//! Reading C2SP tiles out of the log: hash tiles from the in-memory tree, entry bundles from the stored
//! leaves. One place for both readers of tiles: the `/tile/` endpoints and the static mirror.

use axum::body::Bytes;
use ledger::tiles::{self, TilePath};

use crate::log::Log;

/// Bytes of full entry bundles kept in memory by default (full bundles never change): about 150 bundles of
/// typical entries, so that the newest ones, which followers of the log all fetch, are read once.
pub const BUNDLE_CACHE_BYTES_DEFAULT: u64 = 8 << 20;

#[derive(Clone)]
struct ByLength;

/// A full entry bundle, by index.
type TileKey = u64;

impl quick_cache::Weighter<TileKey, Bytes> for ByLength {
    fn weight(&self, _: &TileKey, tile: &Bytes) -> u64 {
        tile.len() as u64
    }
}

/// Full entry bundles recently served, within a byte budget. Reading a bundle from the database costs about
/// a millisecond (256 rows); a full bundle is immutable, so any copy is current. Hash tiles are not cached:
/// each is one copy of 8 KiB out of the in-memory tree.
pub struct BundleCache(quick_cache::sync::Cache<TileKey, Bytes, ByLength>);

impl BundleCache {
    pub fn new(budget_bytes: u64) -> BundleCache {
        // Bundles of typical entries weigh about 50 KB.
        let estimated = (budget_bytes / 50_000).max(16) as usize;
        BundleCache(quick_cache::sync::Cache::with_weighter(estimated, budget_bytes.max(1), ByLength))
    }

    /// The bytes of the tiles held.
    pub fn weight(&self) -> u64 {
        self.0.weight()
    }
}

/// Why a tile cannot be served.
#[derive(Debug)]
pub enum TileError {
    /// The tile reaches beyond the latest checkpoint (or is not a tile of this log).
    Beyond(String),
    /// The database or the tile encoding failed.
    Internal(anyhow::Error),
}

/// The bytes of a tile that the latest checkpoint covers, with full entry bundles kept in `cache`.
pub async fn read_tile(log: &Log, tile: &TilePath, cache: Option<&BundleCache>) -> Result<Bytes, TileError> {
    let cache = cache.filter(|_| !tile.is_partial() && tile.level.is_none());
    let key = tile.index;
    if let Some(bytes) = cache.and_then(|cache| cache.0.get(&key)) {
        return Ok(bytes);
    }
    let bytes = assemble(log, tile).await?;
    if let Some(cache) = cache {
        cache.0.insert(key, bytes.clone());
    }
    Ok(bytes)
}

async fn assemble(log: &Log, tile: &TilePath) -> Result<Bytes, TileError> {
    let width = u64::from(tile.width);
    let start = tile.index.saturating_mul(tiles::TILE_WIDTH_MAX);
    match tile.level {
        None => {
            let tree_size = log.view().await.checkpoint.tree_size;
            if start.saturating_add(width) > tree_size {
                return Err(TileError::Beyond(format!(
                    "the log holds {tree_size} entries; {} is beyond it",
                    tile.to_path()
                )));
            }
            let rows = log.store().leaves_range(start, start + width).await.map_err(TileError::Internal)?;
            if rows.len() as u64 != width {
                return Err(TileError::Internal(anyhow::anyhow!(
                    "{} needs {width} stored entries, found {}",
                    tile.to_path(),
                    rows.len()
                )));
            }
            let leaves: Vec<&[u8]> = rows.iter().map(Vec::as_slice).collect();
            let bundle =
                tiles::entry_bundle(&leaves).map_err(|error| TileError::Internal(anyhow::anyhow!("{error}")))?;
            Ok(Bytes::from(bundle))
        }
        Some(_) => {
            let ids = tile.node_ids().map_err(|error| TileError::Beyond(error.to_string()))?;
            let (first, last) = (ids[0], ids[ids.len() - 1]);
            let beyond = || TileError::Beyond(format!("{} is beyond the latest checkpoint", tile.to_path()));
            // A node is only served if the latest checkpoint covers it: the last one covers the others.
            let covered = last.index.checked_add(1).and_then(|end| end.checked_shl(u32::from(last.level)));
            let view = log.view().await;
            match (covered, view.tree.nodes(first.level, first.index, ids.len() as u64)) {
                (Some(end), Some(hashes)) if end <= view.checkpoint.tree_size => {
                    Ok(Bytes::copy_from_slice(hashes.as_flattened()))
                }
                _ => Err(beyond()),
            }
        }
    }
}
