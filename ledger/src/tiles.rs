//! C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile and entry-bundle paths, which tiles a tree has, and the tile and bundle byte formats.
//!
//! A hash tile at tile level `L` with index `N` and width `W` holds the hashes of the Merkle tree nodes at
//! tree level `8 * L` with indexes `N * 256 .. N * 256 + W`. The entry bundle with index `N` holds the
//! entries whose leaf hashes make up the level 0 tile with the same index and width.

use std::fmt;

use crate::merkle::{HASH_SIZE, Hash, NodeId};

/// The number of tree levels one tile spans.
pub const TILE_HEIGHT: u8 = 8;

/// The number of hashes (or entries) in a full tile (or entry bundle): `2^TILE_HEIGHT`.
pub const TILE_WIDTH_MAX: u64 = 1 << TILE_HEIGHT;

/// The highest tile level a path may name.
pub const TILE_LEVEL_MAX: u8 = 63;

/// The longest entry an entry bundle can hold, since its length is a big-endian u16.
pub const ENTRY_LENGTH_MAX: usize = u16::MAX as usize;

/// The first path element of every tile and entry-bundle path.
pub const TILE_PATH_PREFIX: &str = "tile";

/// The path element naming entry bundles in place of a tile level.
pub const ENTRIES_PATH_ELEMENT: &str = "entries";

/// The suffix of the last index element of a partial tile's path, followed by the width element.
pub const PARTIAL_TILE_SUFFIX: &str = ".p";

/// The number of decimal digits in each element of an encoded tile index.
const INDEX_DIGITS_PER_ELEMENT: usize = 3;

/// The prefix of every index element but the last, so that no file is also a directory.
const INDEX_DIRECTORY_PREFIX: char = 'x';

/// The number of tile levels with any hash in a u64-sized tree: tree levels 0, 8, .., 56.
const TILE_LEVELS_IN_TREE: u8 = (u64::BITS / TILE_HEIGHT as u32) as u8;

/// Why a tile path, tile request, tile or entry bundle was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum TileError {
    /// The path is not of the form `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    #[error("{path:?} is not a tile path of the form tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")]
    MalformedPath {
        /// The rejected path.
        path: String,
    },
    /// The level element is not a decimal between 0 and 63 without leading zeros.
    #[error("tile level {element:?} is not a decimal between 0 and {TILE_LEVEL_MAX} without leading zeros")]
    MalformedLevel {
        /// The rejected path element.
        element: String,
    },
    /// The index elements are not zero-padded three-digit groups with `x` on all but the last, in canonical form.
    #[error("tile index {elements:?} is not encoded as three-digit groups like x001/x234/067")]
    MalformedIndex {
        /// The rejected path elements.
        elements: String,
    },
    /// The width element is not a decimal between 1 and 255 without leading zeros.
    #[error("partial tile width {element:?} is not a decimal between 1 and 255 without leading zeros")]
    MalformedWidth {
        /// The rejected path element.
        element: String,
    },
    /// A tile was asked for that a tree of this size does not have.
    #[error("the tree of {tree_size} leaves has no {path}")]
    TileBeyondTree {
        /// The requested tile's path.
        path: String,
        /// The current tree size.
        tree_size: u64,
    },
    /// A partial tile was asked for with a width other than the one the current tree size gives.
    #[error("the tree of {tree_size} leaves has {path} only with width {available_width}")]
    PartialWidthMismatch {
        /// The requested tile's path.
        path: String,
        /// The width of that tile at the current tree size (256 once it is full).
        available_width: u16,
        /// The current tree size.
        tree_size: u64,
    },
    /// An entry is too long for its big-endian u16 length prefix.
    #[error(
        "entry {entry_index} of the bundle is {length} bytes, more than the {ENTRY_LENGTH_MAX} an entry bundle allows"
    )]
    EntryTooLong {
        /// The position of the entry in the bundle.
        entry_index: usize,
        /// The entry's length.
        length: usize,
    },
    /// A bundle or tile holds more than 256 entries or hashes.
    #[error("{count} entries or hashes are more than the {TILE_WIDTH_MAX} one tile holds")]
    TooManyItems {
        /// The number of entries or hashes.
        count: usize,
    },
    /// An entry bundle ends in the middle of a length prefix or an entry.
    #[error("the entry bundle ends inside entry {entry_index}")]
    TruncatedEntryBundle {
        /// The position of the incomplete entry.
        entry_index: usize,
    },
    /// Tile bytes are not a whole number of hashes.
    #[error("a tile of {length} bytes is not a whole number of {HASH_SIZE}-byte hashes")]
    MalformedTileLength {
        /// The tile's length in bytes.
        length: usize,
    },
    /// A tile's tree level or node indexes do not fit in a u64-sized tree.
    #[error("tile level {level} index {index} lies beyond any tree of at most u64::MAX leaves")]
    TileBeyondAnyTree {
        /// The tile level.
        level: u8,
        /// The tile index.
        index: u64,
    },
}

/// A tile or entry-bundle path, relative to the log's URL prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct TilePath {
    /// The tile level, or `None` for an entry bundle.
    pub level: Option<u8>,
    /// The tile's index within its level.
    pub index: u64,
    /// The number of hashes or entries: 256 for a full tile, 1 to 255 for a partial one.
    pub width: u16,
}

impl TilePath {
    /// A full hash tile.
    pub fn full_tile(level: u8, index: u64) -> Self {
        TilePath { level: Some(level), index, width: TILE_WIDTH_MAX as u16 }
    }

    /// A full entry bundle.
    pub fn full_entry_bundle(index: u64) -> Self {
        TilePath { level: None, index, width: TILE_WIDTH_MAX as u16 }
    }

    /// Whether this is a partial tile (fewer than 256 hashes or entries).
    pub fn is_partial(&self) -> bool {
        u64::from(self.width) < TILE_WIDTH_MAX
    }

    /// Whether this is an entry bundle rather than a hash tile.
    pub fn is_entry_bundle(&self) -> bool {
        self.level.is_none()
    }

    /// Parses `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`, rejecting any non-canonical form.
    pub fn parse(path: &str) -> Result<Self, TileError> {
        let malformed = || TileError::MalformedPath { path: path.to_owned() };
        let mut elements = path.split('/');
        if elements.next() != Some(TILE_PATH_PREFIX) {
            return Err(malformed());
        }
        let level_element = elements.next().ok_or_else(malformed)?;
        let level = if level_element == ENTRIES_PATH_ELEMENT { None } else { Some(parse_tile_level(level_element)?) };
        let rest: Vec<&str> = elements.collect();
        if rest.is_empty() {
            return Err(malformed());
        }
        // A partial tile's last index element carries the ".p" suffix and is followed by the width.
        let partial_at = rest.iter().position(|element| element.ends_with(PARTIAL_TILE_SUFFIX));
        let (index_elements, width) = match partial_at {
            None => (rest.clone(), TILE_WIDTH_MAX as u16),
            Some(position) => {
                if position + 2 != rest.len() {
                    return Err(malformed());
                }
                let mut index_elements = rest[..=position].to_vec();
                let last = index_elements[position];
                index_elements[position] = &last[..last.len() - PARTIAL_TILE_SUFFIX.len()];
                (index_elements, parse_partial_width(rest[position + 1])?)
            }
        };
        let index = parse_tile_index(&index_elements.join("/"))?;
        Ok(TilePath { level, index, width })
    }

    /// The path, e.g. `tile/0/x001/x234/067.p/8` or `tile/entries/000`.
    pub fn to_path(&self) -> String {
        self.to_string()
    }

    /// The node ids whose hashes a hash tile holds, or those of the level 0 tile an entry bundle matches.
    pub fn node_ids(&self) -> Result<Vec<NodeId>, TileError> {
        tile_node_ids(self.level.unwrap_or(0), self.index, self.width)
    }
}

impl fmt::Display for TilePath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{TILE_PATH_PREFIX}/")?;
        match self.level {
            Some(level) => write!(formatter, "{level}/")?,
            None => write!(formatter, "{ENTRIES_PATH_ELEMENT}/")?,
        }
        write!(formatter, "{}", encode_tile_index(self.index))?;
        if self.is_partial() {
            write!(formatter, "{PARTIAL_TILE_SUFFIX}/{}", self.width)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for TilePath {
    type Err = TileError;

    fn from_str(path: &str) -> Result<Self, TileError> {
        TilePath::parse(path)
    }
}

/// Whether `element` is a non-empty decimal without leading zeros ("0" itself is allowed).
fn is_canonical_decimal(element: &str) -> bool {
    !element.is_empty()
        && element.bytes().all(|byte| byte.is_ascii_digit())
        && (element == "0" || !element.starts_with('0'))
}

fn parse_tile_level(element: &str) -> Result<u8, TileError> {
    let malformed = || TileError::MalformedLevel { element: element.to_owned() };
    if !is_canonical_decimal(element) {
        return Err(malformed());
    }
    match element.parse::<u8>() {
        Ok(level) if level <= TILE_LEVEL_MAX => Ok(level),
        _ => Err(malformed()),
    }
}

fn parse_partial_width(element: &str) -> Result<u16, TileError> {
    let malformed = || TileError::MalformedWidth { element: element.to_owned() };
    if !is_canonical_decimal(element) {
        return Err(malformed());
    }
    match element.parse::<u16>() {
        Ok(width) if width >= 1 && u64::from(width) < TILE_WIDTH_MAX => Ok(width),
        _ => Err(malformed()),
    }
}

/// Encodes a tile index as zero-padded three-digit path elements, all but the last prefixed with `x`:
/// 1234067 becomes `x001/x234/067`.
pub fn encode_tile_index(index: u64) -> String {
    let digits = index.to_string();
    // Left-pad to a whole number of three-digit groups.
    let group_count = digits.len().div_ceil(INDEX_DIGITS_PER_ELEMENT);
    let padded = format!("{digits:0>width$}", width = group_count * INDEX_DIGITS_PER_ELEMENT);
    let mut encoded = String::with_capacity(group_count * (INDEX_DIGITS_PER_ELEMENT + 2));
    for (group_index, group) in padded.as_bytes().chunks(INDEX_DIGITS_PER_ELEMENT).enumerate() {
        if group_index + 1 < group_count {
            encoded.push(INDEX_DIRECTORY_PREFIX);
        }
        encoded.push_str(std::str::from_utf8(group).expect("decimal digits are ASCII"));
        if group_index + 1 < group_count {
            encoded.push('/');
        }
    }
    encoded
}

/// Parses the index elements of a tile path (`x001/x234/067`), accepting only the canonical encoding.
pub fn parse_tile_index(elements: &str) -> Result<u64, TileError> {
    let malformed = || TileError::MalformedIndex { elements: elements.to_owned() };
    let groups: Vec<&str> = elements.split('/').collect();
    let mut index: u64 = 0;
    for (group_index, group) in groups.iter().enumerate() {
        let digits = if group_index + 1 < groups.len() {
            group.strip_prefix(INDEX_DIRECTORY_PREFIX).ok_or_else(malformed)?
        } else {
            group
        };
        if digits.len() != INDEX_DIGITS_PER_ELEMENT || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let value: u64 = digits.parse().map_err(|_| malformed())?;
        index = index.checked_mul(1000).and_then(|index| index.checked_add(value)).ok_or_else(malformed)?;
    }
    // Leading all-zero groups ("x000/001") would give a second path for the same tile.
    if encode_tile_index(index) != elements {
        return Err(malformed());
    }
    Ok(index)
}

/// The node ids whose hashes the hash tile at tile `level`, `index` and `width` holds, in tile order:
/// tree level `8 * level`, node indexes `index * 256 .. index * 256 + width`.
pub fn tile_node_ids(level: u8, index: u64, width: u16) -> Result<Vec<NodeId>, TileError> {
    let beyond = TileError::TileBeyondAnyTree { level, index };
    if level >= TILE_LEVELS_IN_TREE {
        return Err(beyond);
    }
    let tree_level = level * TILE_HEIGHT;
    let first_node_index = index.checked_mul(TILE_WIDTH_MAX).ok_or(beyond.clone())?;
    // A tree of at most u64::MAX leaves has at most u64::MAX >> tree_level perfect nodes at that level.
    let node_count_at_level_max = u64::MAX >> tree_level;
    if first_node_index.checked_add(u64::from(width)).is_none_or(|end| end > node_count_at_level_max) {
        return Err(beyond);
    }
    Ok((0..u64::from(width)).map(|offset| NodeId { level: tree_level, index: first_node_index + offset }).collect())
}

/// The bytes of a hash tile: its hashes concatenated.
pub fn tile_bytes(hashes: &[Hash]) -> Vec<u8> {
    hashes.concat()
}

/// Splits the bytes of a hash tile into its hashes, rejecting a ragged length or more than 256 hashes.
pub fn parse_tile_bytes(bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
    if !bytes.len().is_multiple_of(HASH_SIZE) {
        return Err(TileError::MalformedTileLength { length: bytes.len() });
    }
    let count = bytes.len() / HASH_SIZE;
    if count as u64 > TILE_WIDTH_MAX {
        return Err(TileError::TooManyItems { count });
    }
    Ok(bytes
        .chunks_exact(HASH_SIZE)
        .map(|chunk| Hash::try_from(chunk).expect("chunks_exact gives whole hashes"))
        .collect())
}

/// The bytes of an entry bundle: each entry prefixed with its length as a big-endian u16.
pub fn entry_bundle(entries: &[&[u8]]) -> Result<Vec<u8>, TileError> {
    if entries.len() as u64 > TILE_WIDTH_MAX {
        return Err(TileError::TooManyItems { count: entries.len() });
    }
    let total_length: usize = entries.iter().map(|entry| 2 + entry.len()).sum();
    let mut bundle = Vec::with_capacity(total_length);
    for (entry_index, entry) in entries.iter().enumerate() {
        let length =
            u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLong { entry_index, length: entry.len() })?;
        bundle.extend_from_slice(&length.to_be_bytes());
        bundle.extend_from_slice(entry);
    }
    Ok(bundle)
}

/// Splits an entry bundle into its entries, rejecting a truncated bundle or more than 256 entries.
pub fn parse_entry_bundle(bytes: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let entry_index = entries.len();
        if entry_index as u64 == TILE_WIDTH_MAX {
            return Err(TileError::TooManyItems { count: entry_index + 1 });
        }
        let truncated = TileError::TruncatedEntryBundle { entry_index };
        let (length_bytes, after_length) = rest.split_first_chunk::<2>().ok_or(truncated.clone())?;
        let length = usize::from(u16::from_be_bytes(*length_bytes));
        if after_length.len() < length {
            return Err(truncated);
        }
        let (entry, after_entry) = after_length.split_at(length);
        entries.push(entry.to_vec());
        rest = after_entry;
    }
    Ok(entries)
}

/// The number of hashes at tile level `level` for a tree of `tree_size` leaves: one per perfect subtree of
/// `256^level` leaves.
fn hash_count_at_tile_level(tree_size: u64, level: u8) -> u64 {
    tree_size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT)).unwrap_or(0)
}

/// The hash tiles of tile `level` of a tree of `tree_size` leaves whose index is at least `first_index`:
/// the full tiles, then the partial right edge if there is one.
fn push_tiles_at_level(tiles: &mut Vec<TilePath>, level: Option<u8>, hash_count: u64, first_index: u64) {
    let full_tile_count = hash_count / TILE_WIDTH_MAX;
    for index in first_index..full_tile_count {
        tiles.push(TilePath { level, index, width: TILE_WIDTH_MAX as u16 });
    }
    let partial_width = hash_count % TILE_WIDTH_MAX;
    if partial_width > 0 && full_tile_count >= first_index {
        tiles.push(TilePath { level, index: full_tile_count, width: partial_width as u16 });
    }
}

/// Every resource under `tile/` that a tree of `tree_size` leaves has: the hash tiles level by level
/// (full tiles, then the partial right edge), then the entry bundles in the same way.
///
/// A tree of 256 leaves has the full tile `tile/0/000`, the partial tile `tile/1/000.p/1` and the full
/// bundle `tile/entries/000`; the empty tree has none.
pub fn tiles_for_tree(tree_size: u64) -> Vec<TilePath> {
    new_tiles(0, tree_size)
}

/// The resources under `tile/` that a tree of `new_size` leaves has and one of `old_size` leaves does not
/// (a partial tile that grew counts as new, since its path changed), in the order of [`tiles_for_tree`].
/// This is what a log publishes when it grows; nothing when `new_size <= old_size`.
pub fn new_tiles(old_size: u64, new_size: u64) -> Vec<TilePath> {
    let mut tiles = Vec::new();
    if new_size <= old_size {
        return tiles;
    }
    for level in 0..TILE_LEVELS_IN_TREE {
        let hash_count = hash_count_at_tile_level(new_size, level);
        if hash_count == 0 {
            break;
        }
        // Full tiles the old tree already had are unchanged; its partial tile, if any, became a new one.
        let old_full_tile_count = hash_count_at_tile_level(old_size, level) / TILE_WIDTH_MAX;
        let unchanged_partial = hash_count_at_tile_level(old_size, level) == hash_count;
        if unchanged_partial {
            continue;
        }
        push_tiles_at_level(&mut tiles, Some(level), hash_count, old_full_tile_count);
    }
    push_tiles_at_level(&mut tiles, None, new_size, old_size / TILE_WIDTH_MAX);
    tiles
}

/// Whether a log whose current tree has `tree_size` leaves serves `path`: a full tile once it is complete,
/// a partial tile only with exactly the width the current size gives, and nothing beyond the tree.
pub fn check_tile_request(path: &TilePath, tree_size: u64) -> Result<(), TileError> {
    let beyond = || TileError::TileBeyondTree { path: path.to_path(), tree_size };
    let hash_count = hash_count_at_tile_level(tree_size, path.level.unwrap_or(0));
    let full_tile_count = hash_count / TILE_WIDTH_MAX;
    let available_width = if path.index < full_tile_count {
        TILE_WIDTH_MAX
    } else if path.index == full_tile_count && !hash_count.is_multiple_of(TILE_WIDTH_MAX) {
        hash_count % TILE_WIDTH_MAX
    } else {
        return Err(beyond());
    };
    if u64::from(path.width) == available_width {
        return Ok(());
    }
    if !path.is_partial() {
        // A full tile that is still partial does not exist yet.
        return Err(beyond());
    }
    Err(TileError::PartialWidthMismatch { path: path.to_path(), available_width: available_width as u16, tree_size })
}
