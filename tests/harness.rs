//! Running the real `aidtrail` binary: finding it (building it when it is missing or older than its
//! sources), starting `aidtrail serve` as a child process on a free loopback port, talking to it over
//! HTTP, and stopping it with SIGTERM or SIGKILL. Every child is killed when its handle is dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ledger::SignedEntry;
use ledger::note::NoteVerifier;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The origin every test log uses: the demo's, so that `server::demo::generate` signs for it.
pub const ORIGIN: &str = server::demo::DEMO_ORIGIN;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the e2e crate sits in the workspace").to_path_buf()
}

/// The `aidtrail` binary under test: `AIDTRAIL_E2E_BIN` when set, else `target/<profile>/aidtrail` next to
/// this test binary (which lives in `target/<profile>/deps/`), built with `cargo build -p server --bin
/// aidtrail` first when it is missing or older than the sources it is built from.
pub fn aidtrail_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(locate_binary)
}

fn locate_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("AIDTRAIL_E2E_BIN") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "AIDTRAIL_E2E_BIN={} is not a file", path.display());
        return path;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("the test binary {} is not in target/<profile>/deps", exe.display()))
        .to_path_buf();
    let binary = profile_dir.join(format!("aidtrail{}", std::env::consts::EXE_SUFFIX));
    if !is_fresh(&binary) {
        build_binary(&profile_dir);
    }
    assert!(
        binary.is_file(),
        "{} is missing after `cargo build -p server --bin aidtrail`; set AIDTRAIL_E2E_BIN to the binary to test",
        binary.display()
    );
    binary
}

/// Whether `binary` exists and is newer than every source file it is built from.
fn is_fresh(binary: &Path) -> bool {
    let Ok(built) = std::fs::metadata(binary).and_then(|metadata| metadata.modified()) else { return false };
    let root = workspace_dir();
    let sources =
        ["server/src", "server/Cargo.toml", "server/openapi.json", "ledger/src", "ledger/Cargo.toml", "migrations"];
    sources.iter().all(|source| newest_modification(&root.join(source)).is_some_and(|newest| newest <= built))
}

pub fn newest_modification(path: &Path) -> Option<SystemTime> {
    let metadata = std::fs::metadata(path).ok()?;
    let mut newest = metadata.modified().ok()?;
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path).ok()? {
            newest = newest.max(newest_modification(&entry.ok()?.path())?);
        }
    }
    Some(newest)
}

fn build_binary(profile_dir: &Path) {
    let profile = profile_dir.file_name().and_then(|name| name.to_str()).expect("a profile directory name");
    let target_dir = profile_dir.parent().expect("the target directory");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_dir())
        .args(["build", "-p", "server", "--bin", "aidtrail", "--target-dir"])
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    eprintln!("e2e: building the aidtrail binary ({profile})");
    let status = command.status().expect("running cargo build");
    assert!(status.success(), "`cargo build -p server --bin aidtrail` failed: {status}");
}

fn unique_suffix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("a clock after 1970").as_nanos();
    format!("{}_{}_{}", std::process::id(), nanos % 1_000_000_000_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fresh name for a database or directory: lowercase letters, digits and underscores.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", unique_suffix())
}

/// A temporary directory, removed on drop unless the test failed (its path is printed then).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique_name(&format!("aidtrail-e2e-{prefix}")));
        std::fs::create_dir_all(&path).expect("creating a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("e2e: kept {} for inspection (server logs are there)", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A checkpoint-signing key file shared by every server of a test.
pub struct KeyFile {
    pub path: PathBuf,
    pub verifier: NoteVerifier,
}

impl KeyFile {
    pub fn create(dir: &Path) -> KeyFile {
        let signer = server::keys::generate(ORIGIN).expect("generating a checkpoint key");
        let path = dir.join("checkpoint.key");
        server::keys::write_key_file(&path, &signer).expect("writing the checkpoint key file");
        KeyFile { path, verifier: signer.verifier() }
    }
}

/// How to start one `aidtrail serve` process.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// A short name for messages and log files.
    pub name: String,
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    /// `postgres://...`, or `None` for SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Where the server's stderr (its log) goes, one file per start.
    pub log_dir: PathBuf,
}

impl ServerOptions {
    pub fn sqlite(name: &str, dir: &Path, key: &KeyFile) -> ServerOptions {
        ServerOptions {
            name: name.to_string(),
            data_dir: dir.join(format!("{name}-data")),
            key_file: key.path.clone(),
            database_url: None,
            log_dir: dir.to_path_buf(),
        }
    }

    pub fn postgres(name: &str, dir: &Path, key: &KeyFile, url: &str) -> ServerOptions {
        ServerOptions { database_url: Some(url.to_string()), ..ServerOptions::sqlite(name, dir, key) }
    }
}

/// A running (or starting) `aidtrail serve` child process.
pub struct Server {
    pub name: String,
    child: Option<Child>,
    stdout: mpsc::Receiver<String>,
    log_path: PathBuf,
    /// The HTTP API, once the server listens.
    pub api: Api,
}

impl Server {
    /// Starts a server and waits until it answers `/healthz`.
    pub fn start(options: &ServerOptions) -> Server {
        let mut server = Server::spawn(options);
        server.wait_ready();
        server
    }

    /// Starts the process without waiting for it (call [`Server::wait_ready`]).
    pub fn spawn(options: &ServerOptions) -> Server {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let start = STARTS.fetch_add(1, Ordering::Relaxed);
        let log_path = options.log_dir.join(format!("{}-{start}.log", options.name));
        let log = File::create(&log_path).expect("creating the server's log file");
        let mut command = Command::new(aidtrail_binary());
        command
            .arg("serve")
            .args(["--addr", "127.0.0.1:0", "--origin", ORIGIN])
            .arg("--data-dir")
            .arg(&options.data_dir)
            .arg("--checkpoint-key-file")
            .arg(&options.key_file)
            .args(["--write-rate-per-key", "0", "--write-rate-per-address", "0"]);
        if let Some(url) = &options.database_url {
            command.args(["--database-url", url]);
        }
        command
            .env_remove("AIDTRAIL_DATABASE_URL")
            .env_remove("AIDTRAIL_CHECKPOINT_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        // A test process that dies (killed by a test runner's timeout, say) takes its servers with it.
        // The signal follows the spawning thread: a server must be owned by the thread that started it.
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let mut child =
            command.spawn().unwrap_or_else(|error| panic!("starting {}: {error}", aidtrail_binary().display()));
        let stdout = child.stdout.take().expect("a piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            // Read to the end, so that the server never writes into a closed pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = sender.send(line);
            }
        });
        Server {
            name: options.name.clone(),
            child: Some(child),
            stdout: receiver,
            log_path,
            api: Api::new("http://0.0.0.0:0"),
        }
    }

    /// Waits for the `explorer: URL` line and then for `/healthz` to answer 200.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let url = loop {
            match self.stdout.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("explorer: ") {
                        break url.trim().trim_end_matches('/').to_string();
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().expect("a child").wait().expect("waiting for the server");
                    panic!("server {} exited ({status}) before listening\n{}", self.name, self.log_tail());
                }
            }
            if let Some(status) = self.child.as_mut().expect("a child").try_wait().expect("polling the server") {
                panic!("server {} exited ({status}) before listening\n{}", self.name, self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "server {} did not listen within {STARTUP_TIMEOUT:?}\n{}",
                self.name,
                self.log_tail()
            );
        };
        self.api = Api::new(&url);
        loop {
            match self.api.get("/healthz") {
                Ok((200, _)) => break,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "server {} is not healthy after {STARTUP_TIMEOUT:?}: {other:?}\n{}",
                        self.name,
                        self.log_tail()
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// `kill -9`: the process gets no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit (and SIGKILLs it if it does not in time).
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.pid()).expect("a pid fits pid_t");
        // SAFETY: sending a signal to our own child process, whose pid is not reused before we wait for it.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "sending SIGTERM to server {}", self.name);
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut child = self.child.take().expect("the server is running");
        loop {
            if let Some(status) = child.try_wait().expect("polling the server") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server {} did not stop within {STOP_TIMEOUT:?} of SIGTERM\n{}", self.name, self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.log_path) {
            let length = file.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = file.seek(SeekFrom::Start(length.saturating_sub(6_000)));
            let _ = file.read_to_string(&mut text);
        }
        format!("--- last lines of {} ---\n{text}", self.log_path.display())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client for one server.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: reqwest::blocking::Client,
}

/// A signed checkpoint as the JSON API shows it.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CheckpointView {
    pub tree_size: u64,
    pub root: String,
    pub note: String,
    pub signed_at_ms: u64,
}

/// The answer to an accepted entry.
#[derive(Deserialize, Debug, Clone)]
pub struct Receipt {
    pub index: u64,
    pub leaf_hash: String,
    pub duplicate: bool,
    pub checkpoint: CheckpointView,
    pub inclusion_proof: Vec<String>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// One entry's result in a batch.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum BatchResult {
    Accepted(Receipt),
    Rejected { error: ErrorBody },
}

#[derive(Deserialize, Debug)]
struct BatchResponse {
    results: Vec<BatchResult>,
}

impl Api {
    pub fn new(base: &str) -> Api {
        let client = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client");
        Api { base: base.to_string(), client }
    }

    /// GET: the status and body, or the transport error.
    pub fn get(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
        let response =
            self.client.get(format!("{}{path}", self.base)).send().map_err(|error| format!("GET {path}: {error}"))?;
        let status = response.status().as_u16();
        let body = response.bytes().map_err(|error| format!("GET {path}: reading the body: {error}"))?;
        Ok((status, body.to_vec()))
    }

    /// GET that must answer 200.
    pub fn get_ok(&self, path: &str) -> Vec<u8> {
        match self.get(path) {
            Ok((200, body)) => body,
            Ok((status, body)) => {
                panic!("GET {}{path}: status {status}: {}", self.base, String::from_utf8_lossy(&body))
            }
            Err(error) => panic!("{}: {error}", self.base),
        }
    }

    pub fn get_text(&self, path: &str) -> String {
        String::from_utf8(self.get_ok(path)).unwrap_or_else(|_| panic!("GET {path}: the body is not UTF-8"))
    }

    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> T {
        let body = self.get_ok(path);
        serde_json::from_slice(&body)
            .unwrap_or_else(|error| panic!("GET {path}: unexpected JSON ({error}): {}", String::from_utf8_lossy(&body)))
    }

    /// POST /api/v1/entries/batch: one result per entry, or why the request as a whole failed (a
    /// transport error, or a status other than 200).
    pub fn submit_batch(&self, entries: &[SignedEntry]) -> Result<Vec<BatchResult>, String> {
        let body =
            serde_json::json!({ "signed_entries": entries.iter().map(|e| hex::encode(e.bytes())).collect::<Vec<_>>() });
        let response = self
            .client
            .post(format!("{}/api/v1/entries/batch", self.base))
            .json(&body)
            .send()
            .map_err(|error| format!("POST /api/v1/entries/batch: {error}"))?;
        let status = response.status().as_u16();
        let bytes =
            response.bytes().map_err(|error| format!("POST /api/v1/entries/batch: reading the answer: {error}"))?;
        if status != 200 {
            return Err(format!("POST /api/v1/entries/batch: status {status}: {}", String::from_utf8_lossy(&bytes)));
        }
        let parsed: BatchResponse = serde_json::from_slice(&bytes).map_err(|error| {
            format!("POST /api/v1/entries/batch: unexpected answer ({error}): {}", String::from_utf8_lossy(&bytes))
        })?;
        if parsed.results.len() != entries.len() {
            return Err(format!(
                "POST /api/v1/entries/batch: {} results for {} entries",
                parsed.results.len(),
                entries.len()
            ));
        }
        Ok(parsed.results)
    }

    /// Submits entries in order, `batch` at a time, each batch after the previous one was answered;
    /// every entry must be accepted. Returns the receipts in entry order.
    pub fn submit_all(&self, entries: &[SignedEntry], batch: usize) -> Vec<Receipt> {
        let mut receipts = Vec::with_capacity(entries.len());
        for chunk in entries.chunks(batch) {
            let results = self.submit_batch(chunk).unwrap_or_else(|error| panic!("{}: {error}", self.base));
            for (signed, result) in chunk.iter().zip(results) {
                match result {
                    BatchResult::Accepted(receipt) => receipts.push(receipt),
                    BatchResult::Rejected { error } => panic!(
                        "{}: entry {} ({}) was rejected: {}: {}",
                        self.base,
                        signed.entry().entry_id,
                        signed.entry().body.kind().as_str(),
                        error.code,
                        error.message
                    ),
                }
            }
        }
        receipts
    }
}

const DEMO_TIMEOUT: Duration = Duration::from_secs(300);

/// The built explorer that `aidtrail demo` serves at `/`: `explorer/dist` of this workspace.
pub fn explorer_dist() -> PathBuf {
    workspace_dir().join("explorer/dist")
}

/// A running `aidtrail demo`: its stdout says where it listens (`explorer: URL`), which key signs its
/// checkpoints (`verifier key: ...`) and which entries to trace. Killed when dropped.
pub struct Demo {
    child: Option<Child>,
    /// Without the trailing slash.
    pub url: String,
    pub key: String,
    pub example_donation: String,
    pub example_spend: String,
    /// Holds the SQLite database and the checkpoint key (`checkpoint.key`).
    pub data_dir: PathBuf,
}

impl Demo {
    /// Starts `aidtrail demo` with its data in `dir/<name>-data` and waits until it serves the ledger.
    pub fn start(dir: &Path, name: &str, seed: u64) -> Demo {
        Demo::start_with(dir, name, seed, None)
    }

    /// Like [`Demo::start`], serving the explorer built in `explorer_dir` (`--explorer-dir`).
    pub fn start_with_explorer(dir: &Path, name: &str, seed: u64, explorer_dir: &Path) -> Demo {
        Demo::start_with(dir, name, seed, Some(explorer_dir))
    }

    fn start_with(dir: &Path, name: &str, seed: u64, explorer_dir: Option<&Path>) -> Demo {
        let data_dir = dir.join(format!("{name}-data"));
        let log_path = dir.join(format!("{name}.log"));
        let log = File::create(&log_path).expect("creating the demo's log file");
        let mut command = Command::new(aidtrail_binary());
        command
            .arg("demo")
            .args(["--addr", "127.0.0.1:0", "--seed", &seed.to_string()])
            .arg("--data-dir")
            .arg(&data_dir)
            .env_remove("AIDTRAIL_CHECKPOINT_KEY")
            .env_remove("AIDTRAIL_EXPLORER_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        if let Some(explorer_dir) = explorer_dir {
            command.arg("--explorer-dir").arg(explorer_dir);
        }
        // As for `Server`: the demo dies with the thread that started it.
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().expect("starting aidtrail demo");
        let stdout = child.stdout.take().expect("a piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = sender.send(line);
            }
        });
        let deadline = Instant::now() + DEMO_TIMEOUT;
        let (mut url, mut key, mut donation, mut spend) = (None, None, None, None);
        while spend.is_none() {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("explorer: ") {
                        url = Some(rest.trim().trim_end_matches('/').to_string());
                    } else if let Some(rest) = line.strip_prefix("verifier key: ") {
                        key = Some(rest.trim().to_string());
                    } else if let Some((_, rest)) = line.split_once("aidtrail trace ") {
                        // `aidtrail trace URL DONATION --key KEY` and `aidtrail trace URL --back SPEND`.
                        let words: Vec<&str> = rest.split_whitespace().collect();
                        if words.get(1) == Some(&"--back") {
                            spend = words.get(2).map(|id| id.to_string());
                        } else {
                            donation = words.get(1).map(|id| id.to_string());
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().expect("waiting for the demo");
                    panic!(
                        "aidtrail demo exited ({status}) before serving\n{}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                }
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("aidtrail demo did not serve within {DEMO_TIMEOUT:?}");
            }
        }
        Demo {
            child: Some(child),
            url: url.expect("the demo prints its URL"),
            key: key.expect("the demo prints its verifier key"),
            example_donation: donation.expect("the demo prints a donation to trace"),
            example_spend: spend.expect("the demo prints a spend to trace"),
            data_dir,
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop();
    }
}
