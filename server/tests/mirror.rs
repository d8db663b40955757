//! The static mirror: full tiles and bundles on disk, equal to what the log serves, and the checkpoint.

use ed25519_dalek::SigningKey;
use ledger::merkle::{NodeId, NodeSource, leaf_hash, node_hash};
use ledger::note::{NoteSigner, verify_checkpoint};
use ledger::tiles::{parse_entry_bundle, parse_tile_bytes};
use server::demo::{DEMO_ORIGIN, DemoScale, generate};
use server::log::Log;
use server::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_directory_holds_every_full_tile_and_the_checkpoint() {
    let base = std::env::temp_dir().join(format!("aidtrail-mirror-test-{}", rand::random::<u64>()));
    let store = Store::open_sqlite(&base.join("data")).await.unwrap();
    let signer = NoteSigner::new(DEMO_ORIGIN, SigningKey::from_bytes(&[3; 32])).unwrap();
    let verifier = signer.verifier();
    let log = Log::open(store, DEMO_ORIGIN, signer).await.unwrap();
    let demo = generate(5, DEMO_ORIGIN, DemoScale { weeks: 8, spends_per_clinic_week: 8, anonymous_donors: 40 });
    server::demo::load(&log, &demo).await.unwrap();
    let mirror = base.join("mirror");
    let size = server::mirror::sync(&log, &mirror, 0).await.unwrap();
    assert_eq!(size, demo.entries.len() as u64);
    assert!(size > 512, "the demo spans several full tiles");

    let note = std::fs::read_to_string(mirror.join("checkpoint")).unwrap();
    let checkpoint = verify_checkpoint(&note, &verifier, Some(DEMO_ORIGIN)).unwrap();
    assert_eq!(checkpoint.tree_size, size);

    let view = log.view().await;
    let full_tiles = size / 256;
    for tile in 0..full_tiles {
        let index = ledger::tiles::encode_tile_index(tile);
        let bundle = parse_entry_bundle(&std::fs::read(mirror.join(format!("tile/entries/{index}"))).unwrap()).unwrap();
        let hashes = parse_tile_bytes(&std::fs::read(mirror.join(format!("tile/0/{index}"))).unwrap()).unwrap();
        assert_eq!(bundle.len(), 256);
        for (position, (leaf, hash)) in bundle.iter().zip(&hashes).enumerate() {
            let leaf_index = tile * 256 + position as u64;
            assert_eq!(leaf.as_slice(), demo.entries[leaf_index as usize].bytes());
            assert_eq!(leaf_hash(leaf), *hash);
        }
        // The tile's hashes fold into the level-8 node the log holds.
        let mut level: Vec<[u8; 32]> = hashes;
        while level.len() > 1 {
            level = level.chunks(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
        }
        assert_eq!(Some(level[0]), view.tree.node(NodeId { level: 8, index: tile }));
    }
    assert!(
        !mirror.join(format!("tile/entries/{}", ledger::tiles::encode_tile_index(full_tiles))).exists(),
        "no partial bundle"
    );
    drop(view);
    // A second sync after growth adds only what is new; existing files stay.
    let before = std::fs::metadata(mirror.join("tile/0/000")).unwrap().modified().unwrap();
    assert_eq!(server::mirror::sync(&log, &mirror, size).await.unwrap(), size);
    assert_eq!(std::fs::metadata(mirror.join("tile/0/000")).unwrap().modified().unwrap(), before);
    let _ = std::fs::remove_dir_all(&base);
}
