//! Benchmarks of the Merkle tree at one million leaves: appending entries, and generating and verifying proofs.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ledger::merkle::{MemoryTree, NodeId, NodeSource, verify_consistency, verify_inclusion};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// The number of leaves in every benchmarked tree.
const LEAF_COUNT: u64 = 1_000_000;

/// The size of each generated entry, about that of a signed ledger entry.
const ENTRY_SIZE: usize = 200;

/// The number of random proof requests prepared for the proof benchmarks to cycle through.
const PROOF_REQUEST_COUNT: usize = 1024;

/// A fixed seed, so every run benchmarks the same entries and indexes.
const SEED: u64 = 0xA1D7_FA11;

fn generate_entries(rng: &mut StdRng) -> Vec<Vec<u8>> {
    (0..LEAF_COUNT)
        .map(|_| {
            let mut entry = vec![0u8; ENTRY_SIZE];
            rng.fill_bytes(&mut entry);
            entry
        })
        .collect()
}

fn build_tree(entries: &[Vec<u8>]) -> MemoryTree {
    let mut tree = MemoryTree::with_capacity(entries.len());
    for entry in entries {
        tree.push_entry(entry);
    }
    tree
}

fn merkle_benchmarks(criterion: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let entries = generate_entries(&mut rng);

    let mut group = criterion.benchmark_group("merkle");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(LEAF_COUNT));
    group.bench_function("append_1m", |bencher| {
        // Freeing the previous tree is not part of appending, so it happens outside the timed routine.
        bencher.iter_batched(|| (), |()| build_tree(black_box(&entries)), BatchSize::PerIteration)
    });

    let tree = build_tree(&entries);
    drop(entries);
    let root = tree.root();
    let inclusion_requests: Vec<(u64, Vec<[u8; 32]>, [u8; 32])> = (0..PROOF_REQUEST_COUNT)
        .map(|_| {
            let leaf_index = rng.random_range(0..LEAF_COUNT);
            let proof = tree.inclusion_proof(leaf_index, LEAF_COUNT).unwrap();
            let leaf = tree.node(NodeId::leaf(leaf_index)).unwrap();
            (leaf_index, proof, leaf)
        })
        .collect();
    let consistency_requests: Vec<(u64, [u8; 32], Vec<[u8; 32]>)> = (0..PROOF_REQUEST_COUNT)
        .map(|_| {
            let old_size = rng.random_range(1..LEAF_COUNT);
            let proof = tree.consistency_proof(old_size, LEAF_COUNT).unwrap();
            (old_size, tree.root_at(old_size).unwrap(), proof)
        })
        .collect();

    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    let mut request = 0;
    group.bench_function("inclusion_proof_1m", |bencher| {
        bencher.iter(|| {
            request = (request + 1) % PROOF_REQUEST_COUNT;
            let (leaf_index, _, _) = &inclusion_requests[request];
            tree.inclusion_proof(black_box(*leaf_index), LEAF_COUNT).unwrap()
        })
    });
    group.bench_function("verify_inclusion_1m", |bencher| {
        bencher.iter(|| {
            request = (request + 1) % PROOF_REQUEST_COUNT;
            let (leaf_index, proof, leaf) = &inclusion_requests[request];
            verify_inclusion(leaf, black_box(*leaf_index), LEAF_COUNT, proof, &root).unwrap()
        })
    });
    group.bench_function("consistency_proof_1m", |bencher| {
        bencher.iter(|| {
            request = (request + 1) % PROOF_REQUEST_COUNT;
            let (old_size, _, _) = &consistency_requests[request];
            tree.consistency_proof(black_box(*old_size), LEAF_COUNT).unwrap()
        })
    });
    group.bench_function("verify_consistency_1m", |bencher| {
        bencher.iter(|| {
            request = (request + 1) % PROOF_REQUEST_COUNT;
            let (old_size, old_root, proof) = &consistency_requests[request];
            verify_consistency(black_box(*old_size), LEAF_COUNT, old_root, &root, proof).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, merkle_benchmarks);
criterion_main!(benches);
