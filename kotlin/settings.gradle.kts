// SPDX-License-Identifier: Apache-2.0
// Gradle build of the Kotlin SDK: a JVM jar (`:jvm`) and an Android AAR (`:android`), both
// compiled from the hand-written `dev.psync` wrapper in src/main plus UniFFI-generated code
// (generated into build/, never committed). Not runnable on the CI machine (no Gradle there);
// CI compiles the same sources with kotlinc through `cargo xtask test`.
pluginManagement {
    repositories {
        gradlePluginPortal()
        google()
        mavenCentral()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "psync"
include(":jvm", ":android")
