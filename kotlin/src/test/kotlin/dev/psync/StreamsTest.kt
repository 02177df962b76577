// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

private val APP =
    Schema(
        listOf(
            Table("announcements", listOf(Column.text("title"))),
            Table("lists", listOf(Column.text("name"), Column.text("owner_id"))),
            Table("todos", listOf(Column.text("list_id"), Column.text("description"), Column.text("owner_id"))),
        ),
    )

/**
 * Sync streams, the typed status and connect options against `psync-test-service
 * --streams-example` (auto-subscribed `announcements`, parameterised `list_todos`).
 */
class StreamsTest {
    @TempDir
    lateinit var dir: Path

    private lateinit var service: TestService

    @BeforeEach
    fun startService() {
        service = TestService("--streams-example")
        service.executeOnSource("INSERT INTO announcements(id, title) VALUES ('a1', 'hello')")
        service.executeOnSource("INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'one', 'u1'), ('l2', 'two', 'u1')")
        service.executeOnSource(
            "INSERT INTO todos(id, list_id, description, owner_id) VALUES " +
                "('t1', 'l1', 'a', 'u1'), ('t2', 'l1', 'b', 'u1'), ('t3', 'l2', 'c', 'u1'), ('t4', 'l1', 'not mine', 'u2')",
        )
    }

    @AfterEach
    fun stopService() = service.close()

    private fun open(name: String) = Database.open(dir.resolve(name).toString(), APP)

    private suspend fun count(db: Database, table: String): Long = db.get("SELECT count(*) AS n FROM $table")["n"] as Long

    private suspend fun eventuallyCount(db: Database, table: String, expected: Long) {
        withTimeout(10_000) { while (count(db, table) != expected) delay(50) }
    }

    private val fast = SyncOptions(retryDelay = 100.milliseconds, crudThrottle = 10.milliseconds)

    @Test
    fun `parameterised stream syncs its rows until unsubscribed`() = runBlocking {
        open("streams.db").use { db ->
            val connector = TestConnector(service.url)
            db.connect(connector, fast)
            db.waitForFirstSync(timeout = 10.seconds)
            assertEquals(1L, count(db, "announcements"))
            assertEquals(0L, count(db, "todos"))
            val default = db.currentStatus.forStream("announcements")
            assertTrue(default!!.isDefault && default.hasSynced)

            val stream = db.syncStream("list_todos", mapOf("list_id" to "l1"))
            val subscription = stream.subscribe(ttl = 1.seconds)
            subscription.waitForFirstSync(10.seconds)
            assertEquals(listOf("t1", "t2"), db.getAll("SELECT id FROM todos ORDER BY id").map { it["id"] })
            val status = db.currentStatus.forStream("list_todos", mapOf("list_id" to "l1"))
            assertEquals(stream.status, status)
            assertNull(db.currentStatus.forStream("list_todos", mapOf("list_id" to "elsewhere")))
            assertTrue(status!!.hasExplicitSubscription && status.active && !status.isDefault)
            assertNotNull(status.lastSyncedAt)
            assertNotNull(status.expiresAt)

            db.syncStream("list_todos", mapOf("list_id" to "l2")).use { other ->
                other.subscribe(priority = 1).use { held ->
                    held.waitForFirstSync(10.seconds)
                    assertEquals(3L, count(db, "todos"))
                    assertEquals(1, other.status?.priority)
                    other.unsubscribeAll()
                    eventuallyCount(db, "todos", 2)
                }
            }

            // Releasing the handle: the rows stay until the TTL ran out and the next connect.
            subscription.unsubscribe()
            delay(1_300)
            assertEquals(2L, count(db, "todos"))
            db.disconnect()
            db.connect(connector, fast)
            eventuallyCount(db, "todos", 0)
            assertNull(stream.status)
            subscription.close()
            stream.close()
        }
    }

    @Test
    fun `connect options shape the request`() = runBlocking {
        open("options.db").use { db ->
            db.connect(
                TestConnector(service.url),
                fast.copy(
                    includeDefaultStreams = false,
                    useBson = true,
                    checkpointMode = CheckpointMode.LEGACY,
                    appMetadata = mapOf("app" to "streams-test"),
                    params = mapOf("unused" to listOf(1, "x", null)),
                ),
            )
            db.waitForFirstSync(timeout = 10.seconds)
            assertEquals(0L, count(db, "announcements"))
            assertEquals(0L, count(db, "lists"))
            db.syncStream("list_todos", mapOf("list_id" to "l1")).subscribe().waitForFirstSync(10.seconds)
            assertEquals(2L, count(db, "todos"))
            // Legacy write checkpoints: a write uploads and syncs back without checkpoint requests.
            db.execute("INSERT INTO todos(id, list_id, description, owner_id) VALUES ('t9', 'l1', 'n', 'u1')")
            eventuallyCount(db, "ps_crud", 0)
            // Checkpoint requests are off in legacy mode.
            assertThrows(PSyncException::class.java) { runBlocking { db.requestCheckpoint() } }
        }
    }

    @Test
    fun `typed status and first sync waits`() = runBlocking {
        open("status.db").use { db ->
            assertEquals(SyncStatus(hasSynced = false), db.currentStatus)
            assertThrows(PSyncException.Timeout::class.java) {
                runBlocking { db.waitForFirstSync(priority = 0, timeout = 50.milliseconds) }
            }
            db.connect(TestConnector(service.url), fast)
            db.waitForFirstSync(priority = 0, timeout = 10.seconds)
            assertEquals(true, db.currentStatus.forPriority(0).hasSynced)
            db.waitForFirstSync(timeout = 10.seconds)
            val status = withTimeout(5_000) { db.status.first { it.hasSynced == true } }
            assertNotNull(status.lastSyncedAt)
            assertNotNull(status.forPriority(3).lastSyncedAt)

            db.execute("INSERT INTO lists(id, name, owner_id) VALUES ('l9', 'new', 'u1')")
            val request = db.requestCheckpoint()
            request.waitForSync(10.seconds)
            assertTrue((db.currentStatus.lastAppliedCheckpointRequestId ?: 0) >= request.id)
            request.close()
        }
    }

    @Test
    fun `upload errors in the status are exceptions`() = runBlocking {
        open("errors.db").use { db ->
            db.connect(TestConnector(service.url, failUploads = true), fast)
            db.execute("INSERT INTO lists(id, name, owner_id) VALUES ('l9', 'new', 'u1')")
            val failed = withTimeout(10_000) { db.status.first { it.uploadError != null } }
            assertTrue(failed.uploadError!!.message!!.contains("backend unavailable"))
            assertEquals(failed.uploadError!!.message, failed.anyError?.message)
            assertEquals(failed, failed.copy())
        }
    }

    @Test
    fun `bad stream arguments are rejected`() = runBlocking {
        open("bad.db").use { db ->
            assertThrows(PSyncException.InvalidArgument::class.java) { db.syncStream("") }
            val stream = db.syncStream("s")
            assertThrows(PSyncException.InvalidArgument::class.java) { runBlocking { stream.subscribe(priority = -1) } }
            assertFalse(db.currentStatus.connected)
            assertEquals(0.5, DownloadProgress(5, 10).fraction)
            assertEquals("""{"a":[1,"x\n"],"b":null}""", toJson(mapOf("b" to null, "a" to listOf(1, "x\n"))))
        }
    }
}
