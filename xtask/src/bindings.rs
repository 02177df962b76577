// SPDX-License-Identifier: Apache-2.0
//! Bindings steps of `cargo xtask test`: build the native library once, generate Kotlin,
//! Python and Swift from it (library mode, `--config uniffi.toml`), then build and test the
//! Python wheel and the Kotlin wrapper.
//!
//! Everything generated or built lands under `target/` (never committed), the Python tools and
//! the wheel in a venv there (`target/psync-venv`). Every tool is pinned; installs are
//! idempotent: each is skipped when the pinned version is already there.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cache_dir, run};

const LANGUAGES: [&str; 3] = ["kotlin", "python", "swift"];
const JNA_JAR: &str = "/usr/share/java/jna.jar";
const JUNIT_CONSOLE_JAR: &str = "/usr/share/java/junit-platform-console-standalone.jar";
/// The Kotlin compiler (npm), pinned.
const KOTLIN_COMPILER_VERSION: &str = "2.4.20";
/// The Python tools (PyPI), pinned; installed into the venv.
const PYTHON_TOOLS: [&str; 5] = [
    "maturin==1.16.0",
    "mypy==2.4.1",
    "pytest==9.2.0",
    "pytest-asyncio==1.5.0",
    "ruff==0.17.5",
];

/// Paths shared by the steps.
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
    /// The cargo target folder (`CARGO_TARGET_DIR`, else `target/` in the checkout).
    pub(crate) target: PathBuf,
    /// `target/debug`: the cdylib, `uniffi-bindgen` and the test service live here.
    debug: PathBuf,
    /// `target/debug/bindings-gen/<language>`.
    generated: PathBuf,
}

impl Layout {
    pub(crate) fn new() -> Result<Self, String> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("xtask has no parent folder")?
            .to_path_buf();
        // Honour CARGO_TARGET_DIR (CI keeps it outside the clone) like cargo does.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|dir| {
                if dir.is_absolute() {
                    dir
                } else {
                    root.join(dir)
                }
            })
            .unwrap_or_else(|| root.join("target"));
        let debug = target.join("debug");
        let generated = debug.join("bindings-gen");
        Ok(Layout {
            root,
            target,
            debug,
            generated,
        })
    }

    fn library(&self) -> PathBuf {
        self.debug.join("libpsync_ffi.so")
    }

    /// The venv holding the Python tools and the installed wheel.
    fn venv(&self) -> PathBuf {
        self.target.join("psync-venv")
    }

    /// A program of the venv (`python`, `maturin`, `ruff`, `mypy`).
    pub(crate) fn venv_tool(&self, name: &str) -> Result<String, String> {
        path_str(&self.venv().join("bin").join(name)).map(str::to_owned)
    }
}

/// Runs every bindings step.
pub(crate) fn test() -> Result<(), String> {
    let layout = Layout::new()?;
    build_native(&layout)?;
    generate(&layout)?;
    install_tools(&layout)?;
    let service = build_test_service(&layout)?;
    python(&layout, service.as_deref())?;
    kotlin(&layout, service.as_deref())
}

/// One debug build of the cdylib plus the matching `uniffi-bindgen` (the wheel build reuses
/// the same target folder and dependencies).
fn build_native(layout: &Layout) -> Result<(), String> {
    let _ = layout;
    run(
        "cargo",
        &[
            "build",
            "-p",
            "psync-ffi",
            "--lib",
            "--bin",
            "uniffi-bindgen",
        ],
    )
}

/// Kotlin, Python and Swift in library mode from the built library.
fn generate(layout: &Layout) -> Result<(), String> {
    let bindgen = path_str(&layout.debug.join("uniffi-bindgen"))?.to_owned();
    let config = path_str(&layout.root.join("uniffi.toml"))?.to_owned();
    let library = path_str(&layout.library())?.to_owned();
    for language in LANGUAGES {
        let out = layout.generated.join(language);
        // Stale files of renamed items must not survive a regeneration.
        let _ = std::fs::remove_dir_all(&out);
        run(
            &bindgen,
            &[
                "generate",
                "--no-format",
                "--config",
                &config,
                "--language",
                language,
                "--out-dir",
                path_str(&out)?,
                &library,
            ],
        )?;
    }
    Ok(())
}

/// JNA and JUnit (apt), the Kotlin compiler (npm, cached) and the Python tools (venv).
fn install_tools(layout: &Layout) -> Result<(), String> {
    if !Path::new(JNA_JAR).exists() || !Path::new(JUNIT_CONSOLE_JAR).exists() {
        run("apt-get", &["update", "-qq"])?;
        run(
            "apt-get",
            &["install", "-y", "-qq", "libjna-java", "junit5"],
        )?;
    }
    let npm = cache_dir()?.join("npm");
    // Compare without whitespace: the published manifest's formatting is not ours to rely on.
    let installed =
        std::fs::read_to_string(kotlin_home(&npm).join("package.json")).is_ok_and(|manifest| {
            let compact: String = manifest.split_whitespace().collect();
            compact.contains(&format!("\"version\":\"{KOTLIN_COMPILER_VERSION}\""))
        });
    if !installed {
        std::fs::create_dir_all(&npm).map_err(|e| format!("create {npm:?}: {e}"))?;
        let package = format!("kotlin-compiler@{KOTLIN_COMPILER_VERSION}");
        run(
            "npm",
            &[
                "install",
                "--prefix",
                path_str(&npm)?,
                "--save-exact",
                &package,
            ],
        )?;
    }
    python_tools(layout)
}

/// Creates the venv when missing and installs the pinned Python tools into it. A stamp file
/// records the installed pins, so changing one reinstalls.
pub(crate) fn python_tools(layout: &Layout) -> Result<(), String> {
    let venv = layout.venv();
    if !venv.join("bin").join("pip").exists() {
        run("python3", &["-m", "venv", "--clear", path_str(&venv)?])?;
    }
    let stamp = venv.join("psync-tools.txt");
    let pins = PYTHON_TOOLS.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == pins) {
        return Ok(());
    }
    let mut args = vec!["-m", "pip", "install", "-q", "--disable-pip-version-check"];
    args.extend(PYTHON_TOOLS);
    run(&layout.venv_tool("python")?, &args)?;
    std::fs::write(&stamp, pins).map_err(|e| format!("write {stamp:?}: {e}"))
}

fn kotlin_home(npm: &Path) -> PathBuf {
    npm.join("node_modules").join("kotlin-compiler")
}

/// The test service binary, when its crate is in the workspace.
fn build_test_service(layout: &Layout) -> Result<Option<PathBuf>, String> {
    if !layout.root.join("tests/service/Cargo.toml").exists() {
        return Ok(None);
    }
    run("cargo", &["build", "-p", "psync-test-service"])?;
    Ok(Some(layout.debug.join("psync-test-service")))
}

/// Builds the wheel with maturin (`profile` arguments, shared target folder) into
/// `target/<out>` (emptied first); returns its path.
pub(crate) fn build_wheel(layout: &Layout, profile: &[&str], out: &str) -> Result<PathBuf, String> {
    let wheels = layout.target.join(out);
    let _ = std::fs::remove_dir_all(&wheels);
    let mut args = vec!["build"];
    args.extend(profile);
    args.extend([
        "--target-dir",
        path_str(&layout.target)?,
        "--out",
        path_str(&wheels)?,
    ]);
    run_in(
        &layout.root.join("python"),
        &layout.venv_tool("maturin")?,
        &args,
        &[],
    )?;
    std::fs::read_dir(&wheels)
        .map_err(|e| format!("read {wheels:?}: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| "maturin built no wheel".to_owned())
}

/// Installs `wheel` into the venv of `python`, replacing an installed psync.
pub(crate) fn install_wheel(python: &str, wheel: &Path) -> Result<(), String> {
    run(
        python,
        &[
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--force-reinstall",
            "--no-deps",
            path_str(wheel)?,
        ],
    )
}

/// Builds the wheel with maturin (dev profile, shared target folder), installs it, lints the
/// wrapper and runs pytest against the installed package.
fn python(layout: &Layout, service: Option<&Path>) -> Result<(), String> {
    let python_dir = layout.root.join("python");
    let wheel = build_wheel(layout, &["--profile", "dev"], "wheels")?;
    let python = layout.venv_tool("python")?;
    install_wheel(&python, &wheel)?;
    let ruff = layout.venv_tool("ruff")?;
    run_in(
        &python_dir,
        &ruff,
        &["check", "psync", "tests", "examples"],
        &[],
    )?;
    run_in(
        &python_dir,
        &ruff,
        &["format", "--check", "psync", "tests", "examples"],
        &[],
    )?;
    run_in(&python_dir, &layout.venv_tool("mypy")?, &["psync"], &[])?;
    // -P: import the installed wheel, not the source folder (which lacks `_ffi`).
    let env = service_env(service)?;
    run_in(
        &python_dir,
        &python,
        &["-P", "-m", "pytest", "-q", "tests"],
        &env,
    )
}

/// Compiles generated Kotlin + the `dev.psync` wrapper + JUnit tests with kotlinc (skipped
/// when no input changed since the last jar), then runs the JUnit console launcher.
fn kotlin(layout: &Layout, service: Option<&Path>) -> Result<(), String> {
    let home = kotlin_home(&cache_dir()?.join("npm"));
    let kotlinc = home.join("bin").join("kotlinc");
    let lib = home.join("lib");
    let coroutines = lib.join("kotlinx-coroutines-core-jvm.jar");
    let stdlib = lib.join("kotlin-stdlib.jar");
    let kotlin_dir = layout.root.join("kotlin");
    let sources = [
        layout.generated.join("kotlin"),
        kotlin_dir.join("src/main/kotlin"),
        kotlin_dir.join("src/test/kotlin"),
    ];
    let jar = layout.debug.join("kotlin-tests.jar");
    let compile_classpath =
        join_classpath(&[JNA_JAR.into(), coroutines.clone(), JUNIT_CONSOLE_JAR.into()])?;
    // Regeneration rewrites the Kotlin files every run, so compare contents, not mtimes.
    let fingerprint = format!("{:016x}", fingerprint(&sources));
    let stamp = layout.debug.join("kotlin-tests.fingerprint");
    let up_to_date =
        jar.exists() && std::fs::read_to_string(&stamp).is_ok_and(|old| old == fingerprint);
    if !up_to_date {
        let mut args = vec![
            "-no-reflect".to_owned(),
            "-jvm-target".to_owned(),
            "17".to_owned(),
            "-classpath".to_owned(),
            compile_classpath,
            "-d".to_owned(),
            path_str(&jar)?.to_owned(),
        ];
        for source in &sources {
            args.push(path_str(source)?.to_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(path_str(&kotlinc)?, &args)?;
        std::fs::write(&stamp, &fingerprint).map_err(|e| format!("write {stamp:?}: {e}"))?;
    } else {
        eprintln!("==> kotlinc skipped: {jar:?} is up to date");
    }
    let run_classpath = join_classpath(&[jar, stdlib, coroutines, JNA_JAR.into()])?;
    let library_path = format!("-Djna.library.path={}", path_str(&layout.debug)?);
    let env = service_env(service)?;
    run_in(
        &layout.root,
        "java",
        &[
            &library_path,
            "-jar",
            JUNIT_CONSOLE_JAR,
            "--disable-banner",
            "--details=summary",
            "--fail-if-no-tests",
            "--class-path",
            &run_classpath,
            "--scan-class-path",
        ],
        &env,
    )
}

/// `PSYNC_TEST_SERVICE=<path>` for wrapper tests that start the sync service.
fn service_env(service: Option<&Path>) -> Result<Vec<(String, String)>, String> {
    match service {
        Some(path) => Ok(vec![(
            "PSYNC_TEST_SERVICE".to_owned(),
            path_str(path)?.to_owned(),
        )]),
        None => Ok(Vec::new()),
    }
}

/// Like [`run`], in `dir` with extra environment variables.
pub(crate) fn run_in(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(String, String)],
) -> Result<(), String> {
    eprintln!("==> (in {}) {program} {}", dir.display(), args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

fn join_classpath(entries: &[PathBuf]) -> Result<String, String> {
    let parts: Result<Vec<&str>, String> = entries.iter().map(|p| path_str(p)).collect();
    Ok(parts?.join(":"))
}

pub(crate) fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{path:?} is not UTF-8"))
}

/// A hash over the paths and contents of every file under `roots`.
fn fingerprint(roots: &[PathBuf]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
        } else {
            files.push(path);
        }
    }
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file).unwrap_or_default().hash(&mut hasher);
    }
    hasher.finish()
}
