//! The `aidtrail` command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use server::api::WriteLimits;
use server::serve::{self, DEFAULT_ORIGIN, ServeOptions};

#[derive(Parser)]
#[command(
    name = "aidtrail",
    version,
    about = "A signed, append-only ledger of humanitarian money with a verifiable public log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the log service (HTTP API, C2SP tiles).
    Serve(ServeArgs),
    /// Build a realistic demo ledger on embedded SQLite and serve it.
    Demo(DemoArgs),
    /// Measure the service (ingest, single-entry writes, proofs, tiles, memory) against its targets.
    Bench(BenchArgs),
    /// Create or show a key file.
    Key(server::cli::key::KeyArgs),
    /// Sign one entry with a key file and record it (checking the inclusion proof), or write it offline.
    Record(Box<server::cli::record::RecordArgs>),
    /// The recording organisation's private store: people, which spends concern whom, and erasure.
    Private(server::cli::private::PrivateArgs),
    /// Validate a CSV or JSON-lines file against the log, then sign and submit its rows.
    Bulk(server::cli::bulk::BulkArgs),
    /// Verify a whole log: checkpoint signature, every entry signature, the money rules, the root, and
    /// consistency with the checkpoint verified on the previous run.
    Verify(server::cli::audit::VerifyArgs),
    /// Show where a donation's money went (or, with --back, where a spend's money came from), with proofs.
    Trace(server::cli::audit::TraceArgs),
    /// Write an offline copy of a log.
    Export(server::cli::audit::ExportArgs),
    /// Rebuild a fresh database from an offline copy, verifying everything on the way.
    Import(server::cli::audit::ImportArgs),
}

#[derive(Args)]
struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Directory for the demo's SQLite database and checkpoint key.
    #[arg(long, default_value = "aidtrail-demo-data")]
    data_dir: PathBuf,
    /// Directory of the built explorer (`trunk build` output) served at `/` (default: explorer/dist, if built).
    #[arg(long, env = "AIDTRAIL_EXPLORER_DIR")]
    explorer_dir: Option<PathBuf>,
    /// Seed of the generated history: the same seed gives the same ledger.
    #[arg(long, default_value_t = server::demo::DEFAULT_SEED)]
    seed: u64,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Entries of the ingest set (pre-signed before the timed part, sent in batches of 1,000).
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// PostgreSQL server to measure, as the URL of a database the bench may connect to: it creates a fresh
    /// database aidtrail_bench_<random> on that server and drops it afterwards. Default: embedded SQLite
    /// in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Entries of the single-entry scenario, sent one per request after the ingest set.
    #[arg(long, default_value_t = 50_000)]
    single_entries: u64,
    /// Concurrent clients of the single-entry, proof and tile scenarios.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds of each read scenario (proofs, hash tiles, entry bundles).
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Also print a markdown table ready for BENCHMARKS.md.
    #[arg(long)]
    markdown: bool,
    /// Seed of the synthetic ledger.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Directory for the embedded SQLite database and the checkpoint key.
    #[arg(long, default_value = "aidtrail-data")]
    data_dir: PathBuf,
    /// PostgreSQL URL (postgres://...) instead of the embedded SQLite database.
    #[arg(long, env = "AIDTRAIL_DATABASE_URL")]
    database_url: Option<String>,
    /// The log's origin (its name in checkpoints), fixed when the log is created.
    #[arg(long, default_value = DEFAULT_ORIGIN)]
    origin: String,
    /// File holding the checkpoint-signing key (default: DATA_DIR/checkpoint.key, created on first start).
    #[arg(long)]
    checkpoint_key_file: Option<PathBuf>,
    /// Entries per second accepted from one signer key (0: unlimited).
    #[arg(long, default_value_t = WriteLimits::default().per_key_per_second)]
    write_rate_per_key: u32,
    /// Entries per second accepted from one client address (0: unlimited).
    #[arg(long, default_value_t = WriteLimits::default().per_address_per_second)]
    write_rate_per_address: u32,
    /// Also write full tiles, entry bundles and the checkpoint to this directory as static files, for any
    /// web server or CDN to serve.
    #[arg(long)]
    mirror_dir: Option<PathBuf>,
    /// Directory of the built explorer (`trunk build` output) served at `/` (default: explorer/dist, if built).
    #[arg(long, env = "AIDTRAIL_EXPLORER_DIR")]
    explorer_dir: Option<PathBuf>,
    /// Public aggregates of last-mile spending (by clinic and month or week) withhold every cell of fewer
    /// beneficiary spends than K.
    #[arg(long, env = "AIDTRAIL_K_ANONYMITY", default_value_t = ledger::last_mile::K_ANONYMITY_DEFAULT,
          value_parser = clap::value_parser!(u64).range(1..))]
    k_anonymity: u64,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AIDTRAIL_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing(args.log_json);
    let options = ServeOptions {
        addr: args.addr,
        data_dir: args.data_dir,
        database_url: args.database_url,
        origin: args.origin,
        checkpoint_key: std::env::var("AIDTRAIL_CHECKPOINT_KEY").ok(),
        checkpoint_key_file: args.checkpoint_key_file,
        limits: WriteLimits {
            per_key_per_second: args.write_rate_per_key,
            per_address_per_second: args.write_rate_per_address,
        },
        mirror_dir: args.mirror_dir,
        explorer_dir: args.explorer_dir.or_else(server::explorer::default_dir),
        k_anonymity: args.k_anonymity,
    };
    let running = serve::start(&options).await?;
    println!("explorer: {}", serve::public_url(running.addr));
    println!("verifier key: {}", running.log.verifier_key());
    running.server.await??;
    Ok(())
}

async fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    init_tracing(args.log_json);
    let started = std::time::Instant::now();
    let demo = server::demo::generate(args.seed, server::demo::DEMO_ORIGIN, server::demo::DemoScale::default());
    let options = ServeOptions {
        addr: args.addr,
        data_dir: args.data_dir,
        database_url: None,
        origin: server::demo::DEMO_ORIGIN.to_string(),
        checkpoint_key: None,
        checkpoint_key_file: None,
        limits: WriteLimits::default(),
        mirror_dir: None,
        explorer_dir: args.explorer_dir.or_else(server::explorer::default_dir),
        k_anonymity: ledger::last_mile::K_ANONYMITY_DEFAULT,
    };
    let running = serve::start(&options).await?;
    let loaded = server::demo::load(&running.log, &demo).await?;
    let private_store = options.data_dir.join(format!("{}-private.db", server::demo::PRIVATE_STORE_CLINIC));
    server::demo::write_private_store(&demo, &private_store).await?;
    let url = serve::public_url(running.addr);
    tracing::info!(
        entries = demo.entries.len(),
        submitted = loaded,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo ledger ready"
    );
    println!("explorer: {url}");
    println!("verifier key: {}", running.log.verifier_key());
    println!("try:");
    println!("  aidtrail verify {url} --key {}", running.log.verifier_key());
    println!("  aidtrail trace {url} {} --key {}", demo.example_donation, running.log.verifier_key());
    println!("  aidtrail trace {url} --back {}", demo.example_spend);
    println!(
        "  aidtrail private links --store {} {}  (the clinic's private store; {} was erased)",
        private_store.display(),
        demo.private.persons.first().map_or("CG-2026-0001", String::as_str),
        demo.private.erased_person.as_deref().unwrap_or("nobody")
    );
    if let Some(receipt) = demo.donor_receipts.first() {
        println!("  open {url}trace and enter an anonymous donor's receipt code: {}", hex::encode(receipt));
    }
    running.server.await??;
    Ok(())
}

async fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    server::bench::run(server::bench::BenchOptions {
        entries: args.entries,
        single_entries: args.single_entries,
        clients: args.clients,
        duration: std::time::Duration::from_secs(args.duration_secs),
        database_url: args.database_url,
        markdown: args.markdown,
        seed: args.seed,
    })
    .await
}

fn main() -> std::process::ExitCode {
    server::memory::tune_allocator();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> std::process::ExitCode {
    let result = match cli.command {
        Command::Serve(args) => run_serve(args).await,
        Command::Demo(args) => run_demo(args).await,
        Command::Bench(args) => run_bench(args).await,
        Command::Key(args) => server::cli::key::run(args),
        Command::Record(args) => server::cli::record::run(*args).await,
        Command::Bulk(args) => server::cli::bulk::run(args).await,
        Command::Private(args) => server::cli::private::run(args).await,
        Command::Verify(args) => server::cli::audit::run_verify(args).await,
        Command::Trace(args) => server::cli::audit::run_trace(args).await,
        Command::Export(args) => server::cli::audit::run_export(args).await,
        Command::Import(args) => server::cli::audit::run_import(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
