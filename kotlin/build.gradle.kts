// SPDX-License-Identifier: Apache-2.0
plugins {
    kotlin("jvm") version "2.1.20" apply false
    kotlin("android") version "2.1.20" apply false
    id("com.android.library") version "8.7.3" apply false
}

/** The repository root: the Cargo workspace and uniffi.toml live there. */
extra["repoRoot"] = rootDir.parentFile
