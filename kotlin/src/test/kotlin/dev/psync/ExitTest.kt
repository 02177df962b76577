// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.Dispatchers
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.ValueSource
import java.io.File
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.TimeUnit

private const val RUNS = 3

/** The classpath entries (jars or folders) holding [classes]. */
private fun classpathOf(vararg classes: Class<*>): String =
    classes.map { Path.of(it.protectionDomain.codeSource.location.toURI()).toString() }
        .distinct()
        .joinToString(File.pathSeparator)

/**
 * A JVM that exits while a database is connected (no `close()`) exits cleanly: code 0, nothing
 * on stderr, and the database closed by the shutdown hook. Each mode runs [RUNS] JVMs at once
 * (see `ConnectedProcess.kt`).
 */
class ExitTest : ServiceTest() {
    private fun startJvm(path: Path, mode: String, stdout: File, stderr: File): Process {
        val java = Path.of(System.getProperty("java.home"), "bin", "java").toString()
        val classpath =
            classpathOf(TestConnector::class.java, Unit::class.java, Dispatchers::class.java, com.sun.jna.Native::class.java)
        val command = mutableListOf(java)
        System.getProperty("jna.library.path")?.let { command.add("-Djna.library.path=$it") }
        command.addAll(listOf("-cp", classpath, "dev.psync.ConnectedProcessKt", service.url, path.toString(), mode))
        return ProcessBuilder(command).redirectOutput(stdout).redirectError(stderr).start()
    }

    @ParameterizedTest
    @ValueSource(strings = ["dropped", "alive", "upload", "failing-upload", "exit"])
    fun `a JVM exits cleanly while connected`(mode: String) {
        val runs =
            (0 until RUNS).map { run ->
                val path = dir.resolve("$mode-$run.db")
                val stdout = dir.resolve("$mode-$run.out").toFile()
                val stderr = dir.resolve("$mode-$run.err").toFile()
                Triple(path, stdout, stderr) to startJvm(path, mode, stdout, stderr)
            }
        for ((files, process) in runs) {
            val (path, stdout, stderr) = files
            assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the JVM did not exit")
            assertEquals("", stderr.readText())
            assertEquals(0, process.exitValue())
            assertEquals("connected\n", stdout.readText())
            // Closed by the shutdown hook, not abandoned: the last connection folded the WAL in.
            assertFalse(Files.exists(Path.of("$path-wal")), "$path-wal is left")
            if (mode == "upload" || mode == "failing-upload") {
                Database.open(path.toString(), LISTS).use { db ->
                    runBlocking { db.getCrudBatch() }.use { batch -> assertEquals(listOf("queued"), batch?.entries?.map { it.id }) }
                }
            }
        }
    }
}
