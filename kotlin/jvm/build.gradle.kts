// SPDX-License-Identifier: Apache-2.0
// JVM jar: wrapper + generated code; the host's libpsync_ffi is bundled as a JNA resource
// (`<os>-<arch>/libpsync_ffi.so|dylib|dll`), built by `cargo build --release -p psync-ffi`.
plugins {
    kotlin("jvm")
    `java-library`
}

val repoRoot = rootProject.extra["repoRoot"] as File
val library = provider { repoRoot.resolve("target/release/libpsync_ffi.so") }
val generated = layout.buildDirectory.dir("generated/uniffi")

val buildNative by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine("cargo", "build", "--release", "-p", "psync-ffi", "--lib")
}

val generate = tasks.register<Exec>("generateUniffiBindings") {
    dependsOn(buildNative)
    workingDir = repoRoot
    outputs.dir(generated)
    commandLine(
        "cargo", "run", "-q", "-p", "psync-ffi", "--bin", "uniffi-bindgen", "--",
        "generate", "--no-format", "--config", "uniffi.toml", "--language", "kotlin",
        "--out-dir", generated.get().asFile.path, library.get().path,
    )
}

kotlin {
    jvmToolchain(17)
    sourceSets["main"].kotlin.srcDirs("../src/main/kotlin", generated)
    sourceSets["test"].kotlin.srcDirs("../src/test/kotlin")
}

tasks.named("compileKotlin") { dependsOn(generate) }

tasks.processResources {
    dependsOn(buildNative)
    from(library) { into("linux-x86-64") }
}

dependencies {
    api("net.java.dev.jna:jna:5.14.0")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
    testImplementation("org.junit.jupiter:junit-jupiter:5.11.3")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

tasks.test {
    useJUnitPlatform()
    systemProperty("jna.library.path", repoRoot.resolve("target/release").path)
}
