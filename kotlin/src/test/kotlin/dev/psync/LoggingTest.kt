// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** Core log lines reach the app's [PSyncLogger] with their level, against the test service. */
class LoggingTest : ServiceTest() {
    private val fast = SyncOptions(retryDelay = 200.milliseconds, crudThrottle = 50.milliseconds)

    private class Lines : PSyncLogger {
        val lines = CopyOnWriteArrayList<Pair<LogLevel, String>>()

        override fun log(level: LogLevel, message: String) {
            lines.add(level to message)
        }

        /** The first line at [level] containing [text], waiting up to 20 s for it. */
        suspend fun awaitLine(level: LogLevel, text: String): String =
            withTimeout(20.seconds) {
                var line: String? = null
                while (line == null) {
                    line = lines.firstOrNull { it.first == level && text in it.second }?.second
                    if (line == null) delay(20)
                }
                checkNotNull(line)
            }
    }

    @Test
    fun `a failing upload is logged as a warning`(): Unit = runBlocking {
        val logger = Lines()
        Database.open(dir.resolve("upload.db").toString(), LISTS, logger = logger).use { db ->
            db.connect(TestConnector(service.url, failUploads = true), fast)
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'x', 'u1')")
            val line = logger.awaitLine(LogLevel.WARNING, "upload failed, retrying")
            assertTrue("backend unavailable" in line, line)
        }
    }

    @Test
    fun `a failing sync stream is logged as a warning, and setLogger(null) stops logging`(): Unit = runBlocking {
        service.admin("/admin/faults", """{"faults":{"status":500,"paths":["/sync/stream"]}}""")
        val logger = Lines()
        Database.open(dir.resolve("stream.db").toString(), LISTS).use { db ->
            db.setLogger(logger)
            db.connect(TestConnector(service.url), fast)
            logger.awaitLine(LogLevel.WARNING, "sync iteration failed, retrying")
            db.setLogger(null)
            delay(100) // lines already queued may still arrive
            val count = logger.lines.size
            delay(600) // three more retries
            assertTrue(logger.lines.size == count, "logged after setLogger(null): ${logger.lines}")
        }
    }
}
