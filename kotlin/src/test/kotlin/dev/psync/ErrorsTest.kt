// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * One exception class per outcome: the `requestCheckpoint` outcomes against the test service,
 * the database error families against a real SQLite file.
 */
class ErrorsTest : ServiceTest() {
    private fun open(name: String) = Database.open(dir.resolve(name).toString(), LISTS)

    private val fast = SyncOptions(retryDelay = 200.milliseconds, crudThrottle = 50.milliseconds)

    @Test
    fun `requestCheckpoint without connect is NotConnected`() {
        open("idle.db").use { db ->
            // A NotConnected is also a PSyncException.Sync (its open parent class).
            assertFailsWith<PSyncException.NotConnected> { db.requestCheckpoint() }
        }
    }

    @Test
    fun `a service answering 404 is CheckpointNotSupported`() {
        service.admin("/admin/faults", """{"faults":{"checkpoint_request_not_found":true}}""")
        open("old-service.db").use { db ->
            assertFailsWith<PSyncException.CheckpointNotSupported> {
                db.connect(TestConnector(service.url), fast)
                db.requestCheckpoint()
            }
        }
    }

    @Test
    fun `a service answering 401 is Unauthenticated`() {
        open("unauthenticated.db").use { db ->
            assertFailsWith<PSyncException.Unauthenticated> {
                db.connect(TestConnector(service.url), fast)
                db.requestCheckpoint().waitForSync(20.seconds)
                service.admin("/admin/faults", """{"faults":{"status":401,"paths":["/sync/checkpoint-request"]}}""")
                db.requestCheckpoint()
            }
        }
    }

    @Test
    fun `a wait while replication is paused times out`() {
        open("paused.db").use { db ->
            assertFailsWith<PSyncException.Timeout> {
                db.connect(TestConnector(service.url), fast)
                service.admin("/admin/replication", """{"paused":true}""")
                db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'x', 'u1')")
                db.requestCheckpoint().waitForSync(300.milliseconds)
            }
        }
    }

    @Test
    fun `a wait ended by close is Closed`() {
        val db = open("closing.db")
        assertFailsWith<PSyncException.Closed> {
            db.connect(TestConnector(service.url), fast)
            service.admin("/admin/replication", """{"paused":true}""")
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'x', 'u1')")
            val request = db.requestCheckpoint()
            kotlinx.coroutines.coroutineScope {
                val waiting = async { request.waitForSync(20.seconds) }
                delay(100)
                db.close()
                waiting.await()
            }
        }
    }

    @Test
    fun `a timed-out requestCheckpoint is cancelled, not Closed`() {
        open("cancelled.db").use { db ->
            assertFailsWith<TimeoutCancellationException> {
                db.connect(TestConnector(service.url), fast)
                db.requestCheckpoint().waitForSync(20.seconds)
                service.admin("/admin/faults", """{"faults":{"delay_ms":5000,"paths":["/sync/checkpoint-request"]}}""")
                withTimeout(300.milliseconds) { db.requestCheckpoint() }
            }
            // The database is still usable after the cancelled call.
            runBlocking { db.execute("INSERT INTO lists (id, name) VALUES ('after', 'x')") }
        }
    }

    @Test
    fun `database errors have their family`(): Unit = runBlocking {
        open("families.db").use { db ->
            db.execute("INSERT INTO lists (id, name) VALUES ('dup', 'first')")
            val cases =
                mapOf(
                    "INSERT INTO lists (id, name) VALUES ('dup', 'again')" to PSyncException.Constraint::class.java,
                    "SELEC 1" to PSyncException.Sql::class.java,
                    "SELECT * FROM missing" to PSyncException.Sql::class.java,
                    "SELECT ?" to PSyncException.Sql::class.java,
                )
            for ((sql, family) in cases) {
                val error = assertFailsWith<PSyncException.Database> { db.execute(sql) }
                assertTrue(family.isInstance(error), "$sql: $error")
            }
            assertFailsWith<PSyncException.NoRows> { db.get("SELECT * FROM lists WHERE id = 'none'") }
        }
    }

    @Test
    fun `a write while another connection holds the write lock is Busy`(): Unit = runBlocking {
        val path = dir.resolve("busy.db").toString()
        Database.open(path, LISTS).use { holder ->
            Database.open(path, LISTS, busyTimeout = 100.milliseconds).use { blocked ->
                holder.writeTransaction { tx ->
                    tx.execute("INSERT INTO lists (id, name) VALUES ('held', 'x')")
                    // A Busy is also a PSyncException.Database (its open parent class).
                    val error = assertFailsWith<PSyncException.Database> { blocked.execute("INSERT INTO lists (id, name) VALUES ('blocked', 'y')") }
                    assertTrue(error is PSyncException.Busy, "$error")
                }
                // Once the lock is released the same write goes through.
                blocked.execute("INSERT INTO lists (id, name) VALUES ('blocked', 'y')")
            }
        }
    }

    @Test
    fun `a negative or infinite busyTimeout is InvalidArgument and creates no file`() {
        for (bad in listOf((-1).milliseconds, Duration.INFINITE)) {
            val path = dir.resolve("never.db")
            assertFailsWith<PSyncException.InvalidArgument> { Database.open(path.toString(), LISTS, busyTimeout = bad) }
            assertFalse(path.toFile().exists(), "$bad")
        }
    }
}
