//! Tests of the C2SP tlog-tiles helpers: path encoding and parsing, tile contents, entry bundles, and which tiles a tree has.

use ledger::merkle::{MemoryTree, NodeId, NodeSource};
use ledger::tiles::{
    ENTRY_LENGTH_MAX, TILE_HEIGHT, TILE_WIDTH_MAX, TileError, TilePath, check_tile_request, encode_tile_index,
    entry_bundle, new_tiles, parse_entry_bundle, parse_tile_bytes, parse_tile_index, tile_bytes, tile_node_ids,
    tiles_for_tree,
};

fn paths(tiles: &[TilePath]) -> Vec<String> {
    tiles.iter().map(TilePath::to_path).collect()
}

#[test]
fn index_encoding_matches_spec_examples() {
    assert_eq!(encode_tile_index(1_234_067), "x001/x234/067");
    assert_eq!(encode_tile_index(0), "000");
    assert_eq!(encode_tile_index(7), "007");
    assert_eq!(encode_tile_index(999), "999");
    assert_eq!(encode_tile_index(1000), "x001/000");
    assert_eq!(encode_tile_index(1_000_000), "x001/x000/000");
    assert_eq!(encode_tile_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
    for index in [0, 1, 999, 1000, 1001, 123_456_789, u64::MAX - 1, u64::MAX] {
        assert_eq!(parse_tile_index(&encode_tile_index(index)), Ok(index));
    }
}

#[test]
fn tile_paths_parse_and_render_round_trip() {
    let cases = [
        ("tile/0/x001/x234/067", Some(0), 1_234_067, 256),
        ("tile/0/x001/x234/067.p/8", Some(0), 1_234_067, 8),
        ("tile/1/000", Some(1), 0, 256),
        ("tile/63/000.p/255", Some(63), 0, 255),
        ("tile/entries/x001/x234/067.p/8", None, 1_234_067, 8),
        ("tile/entries/000", None, 0, 256),
        ("tile/2/001.p/1", Some(2), 1, 1),
    ];
    for (path, level, index, width) in cases {
        let parsed = TilePath::parse(path).unwrap_or_else(|error| panic!("{path}: {error}"));
        assert_eq!(parsed, TilePath { level, index, width }, "{path}");
        assert_eq!(parsed.to_path(), path);
        assert_eq!(path.parse::<TilePath>(), Ok(parsed));
        assert_eq!(parsed.is_partial(), width < 256);
        assert_eq!(parsed.is_entry_bundle(), level.is_none());
    }
}

#[test]
fn malformed_tile_paths_are_rejected() {
    let malformed = [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "/tile/0/000",
        "tiles/0/000",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/+1/000",
        "tile/data/000",
        "tile/0/0",
        "tile/0/00",
        "tile/0/0000",
        "tile/0/x000",
        "tile/0/001/002",
        "tile/0/x001",
        "tile/0/x000/001",
        "tile/0/x1000/000",
        "tile/0/x01/000",
        "tile/0/+12",
        "tile/0/ 12",
        "tile/0/000.p",
        "tile/0/000.p/",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/08",
        "tile/0/000.p/+8",
        "tile/0/000.p/1/2",
        "tile/0/x001.p/000/1",
        "tile/0/000/",
        "tile/0/000.P/8",
        "tile/entries/000.p/",
        "tile/entries",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
    ];
    for path in malformed {
        assert!(TilePath::parse(path).is_err(), "{path:?} parsed as {:?}", TilePath::parse(path));
    }
    assert!(matches!(TilePath::parse("tile/64/000"), Err(TileError::MalformedLevel { .. })));
    assert!(matches!(TilePath::parse("tile/0/000.p/256"), Err(TileError::MalformedWidth { .. })));
    assert!(matches!(TilePath::parse("tile/0/x000/001"), Err(TileError::MalformedIndex { .. })));
}

#[test]
fn tile_node_ids_cover_the_right_tree_level() {
    let level_0 = tile_node_ids(0, 0, 256).unwrap();
    assert_eq!(level_0.len(), 256);
    assert_eq!(level_0[0], NodeId { level: 0, index: 0 });
    assert_eq!(level_0[255], NodeId { level: 0, index: 255 });
    assert_eq!(
        tile_node_ids(1, 2, 3).unwrap(),
        vec![
            NodeId { level: TILE_HEIGHT, index: 512 },
            NodeId { level: TILE_HEIGHT, index: 513 },
            NodeId { level: TILE_HEIGHT, index: 514 },
        ]
    );
    assert_eq!(tile_node_ids(7, 0, 255).unwrap().last(), Some(&NodeId { level: 56, index: 254 }));
    // A u64-sized tree has only 255 perfect subtrees of 2^56 leaves and none of 2^64.
    assert!(tile_node_ids(7, 0, 256).is_err());
    assert!(tile_node_ids(8, 0, 1).is_err());
    assert!(tile_node_ids(63, u64::MAX, 255).is_err());
    assert!(tile_node_ids(0, u64::MAX, 256).is_err());
    assert_eq!(
        TilePath::parse("tile/entries/001.p/2").unwrap().node_ids().unwrap(),
        vec![NodeId::leaf(256), NodeId::leaf(257)]
    );
}

#[test]
fn tiles_hold_the_hashes_of_a_real_tree() {
    let tree_size = 70_000;
    let mut tree = MemoryTree::new();
    for leaf_index in 0..tree_size {
        tree.push_entry(format!("entry {leaf_index}").as_bytes());
    }
    for tile in tiles_for_tree(tree_size) {
        let Some(level) = tile.level else { continue };
        let hashes: Vec<_> =
            tile.node_ids().unwrap().into_iter().map(|id| tree.node(id).expect("tile node is stored")).collect();
        assert_eq!(hashes.len(), usize::from(tile.width));
        let bytes = tile_bytes(&hashes);
        assert_eq!(bytes.len(), 32 * usize::from(tile.width));
        assert_eq!(parse_tile_bytes(&bytes).unwrap(), hashes);
        // Each hash of a tile above level 0 is the root of a full tile below.
        if level > 0 {
            for (offset, hash) in hashes.iter().enumerate() {
                let below = tile_node_ids(level - 1, tile.index * 256 + offset as u64, 256).unwrap();
                // The tile below, rehashed as the 256 leaves of a tree of its own, has this hash as root.
                let mut below_tree = MemoryTree::new();
                for id in below {
                    below_tree.push_leaf_hash(tree.node(id).unwrap());
                }
                assert_eq!(below_tree.root(), *hash);
            }
        }
    }
}

#[test]
fn tile_bytes_reject_ragged_or_oversized_input() {
    assert_eq!(parse_tile_bytes(&[0; 33]), Err(TileError::MalformedTileLength { length: 33 }));
    assert_eq!(parse_tile_bytes(&[0; 32 * 257]), Err(TileError::TooManyItems { count: 257 }));
    assert_eq!(parse_tile_bytes(&[]).unwrap().len(), 0);
}

#[test]
fn entry_bundles_round_trip_and_enforce_limits() {
    let long = vec![0xAB; ENTRY_LENGTH_MAX];
    let entries: Vec<&[u8]> = vec![b"first", b"", b"third entry", &long];
    let bundle = entry_bundle(&entries).unwrap();
    assert_eq!(&bundle[..7], b"\x00\x05first");
    assert_eq!(&bundle[7..9], b"\x00\x00");
    assert_eq!(bundle.len(), 4 * 2 + 5 + 11 + ENTRY_LENGTH_MAX);
    assert_eq!(parse_entry_bundle(&bundle).unwrap(), entries.iter().map(|entry| entry.to_vec()).collect::<Vec<_>>());

    let too_long = vec![0; ENTRY_LENGTH_MAX + 1];
    assert_eq!(entry_bundle(&[b"ok", &too_long]), Err(TileError::EntryTooLong { entry_index: 1, length: 65_536 }));
    let too_many: Vec<&[u8]> = vec![b"x"; 257];
    assert_eq!(entry_bundle(&too_many), Err(TileError::TooManyItems { count: 257 }));
    let full: Vec<&[u8]> = vec![b"x"; 256];
    let full_bundle = entry_bundle(&full).unwrap();
    assert_eq!(parse_entry_bundle(&full_bundle).unwrap().len(), 256);
    let mut overfull = full_bundle.clone();
    overfull.extend_from_slice(b"\x00\x01x");
    assert_eq!(parse_entry_bundle(&overfull), Err(TileError::TooManyItems { count: 257 }));

    assert_eq!(parse_entry_bundle(b"\x00"), Err(TileError::TruncatedEntryBundle { entry_index: 0 }));
    assert_eq!(parse_entry_bundle(b"\x00\x01a\x00\x03ab"), Err(TileError::TruncatedEntryBundle { entry_index: 1 }));
    assert_eq!(parse_entry_bundle(b"").unwrap().len(), 0);
}

#[test]
fn tiles_for_tree_lists_full_and_partial_tiles() {
    assert!(tiles_for_tree(0).is_empty());
    assert_eq!(paths(&tiles_for_tree(1)), ["tile/0/000.p/1", "tile/entries/000.p/1"]);
    assert_eq!(paths(&tiles_for_tree(255)), ["tile/0/000.p/255", "tile/entries/000.p/255"]);
    assert_eq!(paths(&tiles_for_tree(256)), ["tile/0/000", "tile/1/000.p/1", "tile/entries/000"]);
    assert_eq!(
        paths(&tiles_for_tree(257)),
        ["tile/0/000", "tile/0/001.p/1", "tile/1/000.p/1", "tile/entries/000", "tile/entries/001.p/1"]
    );

    let tiles = tiles_for_tree(65_536 + 3);
    let level_0: Vec<_> = tiles.iter().filter(|tile| tile.level == Some(0)).collect();
    assert_eq!(level_0.len(), 257);
    assert!(level_0[..256].iter().all(|tile| !tile.is_partial()));
    assert_eq!(level_0[256].to_path(), "tile/0/256.p/3");
    let upper: Vec<_> =
        tiles.iter().filter(|tile| tile.level.is_some_and(|level| level > 0)).map(TilePath::to_path).collect();
    assert_eq!(upper, ["tile/1/000", "tile/2/000.p/1"]);
    let bundles: Vec<_> = tiles.iter().filter(|tile| tile.is_entry_bundle()).collect();
    assert_eq!(bundles.len(), 257);
    assert_eq!(bundles[256].to_path(), "tile/entries/256.p/3");

    // The specification's example: a tree of 70,000 leaves.
    let tiles = tiles_for_tree(70_000);
    let count = |level: Option<u8>, partial: bool| {
        tiles.iter().filter(|tile| tile.level == level && tile.is_partial() == partial).count()
    };
    assert_eq!(count(Some(0), false), 273);
    assert_eq!(count(Some(0), true), 1);
    assert_eq!(count(Some(1), false), 1);
    assert_eq!(count(Some(1), true), 1);
    assert_eq!(count(Some(2), true), 1);
    assert_eq!(count(Some(2), false) + count(Some(3), true), 0);
    let partial_paths: Vec<_> =
        tiles.iter().filter(|tile| tile.is_partial() && !tile.is_entry_bundle()).map(TilePath::to_path).collect();
    assert_eq!(partial_paths, ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]);
}

#[test]
fn new_tiles_lists_what_growth_publishes() {
    assert_eq!(paths(&new_tiles(255, 256)), ["tile/0/000", "tile/1/000.p/1", "tile/entries/000"]);
    // The level 1 partial tile is unchanged from 256 to 257 leaves.
    assert_eq!(paths(&new_tiles(256, 257)), ["tile/0/001.p/1", "tile/entries/001.p/1"]);
    assert!(new_tiles(300, 300).is_empty());
    assert!(new_tiles(300, 200).is_empty());
    assert_eq!(new_tiles(0, 70_000), tiles_for_tree(70_000));
    // Growing step by step publishes, at the end, every tile of the final tree.
    let mut published = std::collections::BTreeSet::new();
    let sizes = [0, 1, 200, 256, 511, 512, 513, 65_535, 65_536, 65_540, 70_000];
    for pair in sizes.windows(2) {
        published.extend(new_tiles(pair[0], pair[1]));
    }
    for tile in tiles_for_tree(70_000) {
        assert!(published.contains(&tile), "{tile} never published");
    }
}

#[test]
fn tile_requests_are_checked_against_the_tree_size() {
    let tree_size = 70_000;
    for tile in tiles_for_tree(tree_size) {
        assert_eq!(check_tile_request(&tile, tree_size), Ok(()), "{tile}");
    }
    let check = |path: &str| check_tile_request(&TilePath::parse(path).unwrap(), tree_size);
    // Beyond the tree.
    for path in [
        "tile/0/274",
        "tile/0/274.p/1",
        "tile/0/273",
        "tile/1/001",
        "tile/2/000",
        "tile/3/000.p/1",
        "tile/63/000.p/1",
        "tile/entries/273",
        "tile/entries/x001/000",
    ] {
        assert!(matches!(check(path), Err(TileError::TileBeyondTree { .. })), "{path}: {:?}", check(path));
    }
    // A partial tile only with exactly the current width.
    assert_eq!(
        check("tile/0/273.p/111"),
        Err(TileError::PartialWidthMismatch { path: "tile/0/273.p/111".into(), available_width: 112, tree_size })
    );
    assert!(matches!(check("tile/0/272.p/5"), Err(TileError::PartialWidthMismatch { available_width: 256, .. })));
    assert!(matches!(check("tile/entries/273.p/113"), Err(TileError::PartialWidthMismatch { .. })));
    assert!(check_tile_request(&TilePath::full_tile(0, 0), 0).is_err());
    assert!(check_tile_request(&TilePath::full_entry_bundle(u64::MAX), u64::MAX).is_err());
    assert_eq!(
        check_tile_request(&TilePath::full_tile(7, 0), u64::MAX),
        Err(TileError::TileBeyondTree { path: "tile/7/000".into(), tree_size: u64::MAX })
    );
    assert_eq!(check_tile_request(&TilePath::parse("tile/7/000.p/255").unwrap(), u64::MAX), Ok(()));
    assert_eq!(TILE_WIDTH_MAX, 256);
}
