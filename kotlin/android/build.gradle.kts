// SPDX-License-Identifier: Apache-2.0
// Android AAR: wrapper + code generated with uniffi-android.toml (android = true), and one
// libpsync_ffi.so per ABI under jniLibs, cross-compiled with cargo-ndk
// (`cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o build/jniLibs build --release -p psync-ffi`).
plugins {
    id("com.android.library")
    kotlin("android")
}

val repoRoot = rootProject.extra["repoRoot"] as File
val jniLibsDir = layout.buildDirectory.dir("jniLibs")
val generated = layout.buildDirectory.dir("generated/uniffi")
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")

val buildNative by tasks.registering(Exec::class) {
    workingDir = repoRoot
    outputs.dir(jniLibsDir)
    commandLine(
        listOf("cargo", "ndk") + abis.flatMap { listOf("-t", it) } +
            listOf("-o", jniLibsDir.get().asFile.path, "build", "--release", "-p", "psync-ffi", "--lib"),
    )
}

val generate = tasks.register<Exec>("generateUniffiBindings") {
    dependsOn(buildNative)
    workingDir = repoRoot
    outputs.dir(generated)
    // Library mode reads the metadata of any one ABI's library; they are identical.
    commandLine(
        "cargo", "run", "-q", "-p", "psync-ffi", "--bin", "uniffi-bindgen", "--",
        "generate", "--no-format", "--config", "uniffi-android.toml", "--language", "kotlin",
        "--out-dir", generated.get().asFile.path,
        jniLibsDir.get().asFile.resolve("arm64-v8a/libpsync_ffi.so").path,
    )
}

android {
    namespace = "dev.psync"
    compileSdk = 35
    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }
    sourceSets["main"].apply {
        java.srcDirs("../src/main/kotlin", generated)
        jniLibs.srcDirs(jniLibsDir)
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin { jvmToolchain(17) }

tasks.named("preBuild") { dependsOn(generate) }

dependencies {
    // JNA's AAR carries libjnidispatch.so for every ABI.
    api("net.java.dev.jna:jna:5.14.0@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
}
