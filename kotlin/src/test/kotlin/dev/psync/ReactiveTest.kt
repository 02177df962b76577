// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds

/**
 * `watch` re-runs only for tables it reads, throttled; `onChange` reports app table names and
 * filters by table; for local writes and for data synced from the test service.
 */
class ReactiveTest : ServiceTest() {
    private val schema =
        Schema(
            listOf(
                Table("lists", listOf(Column.text("name"), Column.text("owner_id"))),
                Table("notes", listOf(Column.text("body")), localOnly = true),
            ),
        )

    private fun open(name: String) = Database.open(dir.resolve(name).toString(), schema)

    @Test
    fun `watch ignores tables it does not read`(): Unit = runBlocking {
        open("watch.db").use { db ->
            val results = Channel<List<Row>>(Channel.UNLIMITED)
            val job = launch { db.watch("SELECT name FROM lists", throttle = Duration.ZERO).collect { results.send(it) } }
            assertEquals(emptyList<Row>(), withTimeout(5_000) { results.receive() })

            db.execute("INSERT INTO notes (id, body) VALUES ('n1', 'unrelated')")
            db.execute("INSERT INTO lists (id, name) VALUES ('l1', 'a')")

            assertEquals(listOf(mapOf("name" to "a")), withTimeout(5_000) { results.receive() })
            job.cancel()
        }
    }

    @Test
    fun `watch throttles a burst of commits`(): Unit = runBlocking {
        open("throttle.db").use { db ->
            val results = Channel<List<Row>>(Channel.UNLIMITED)
            val job = launch { db.watch("SELECT count(*) AS n FROM lists", throttle = 500.milliseconds).collect { results.send(it) } }
            assertEquals(listOf(mapOf("n" to 0L)), withTimeout(5_000) { results.receive() })

            repeat(10) { db.execute("INSERT INTO lists (id, name) VALUES (?, 'x')", "l$it") }
            val seen = mutableListOf<List<Row>>()
            while (seen.lastOrNull() != listOf(mapOf("n" to 10L))) seen.add(withTimeout(5_000) { results.receive() })

            assertTrue(seen.size <= 2, "$seen")
            job.cancel()
        }
    }

    @Test
    fun `onChange uses app table names and filters`(): Unit = runBlocking {
        open("changes.db").use { db ->
            val first = async(start = CoroutineStart.UNDISPATCHED) { withTimeout(5_000) { db.onChange(setOf("lists")).first() } }
            yield()
            db.execute("INSERT INTO notes (id, body) VALUES ('n1', 'filtered out')")
            db.execute("INSERT INTO lists (id, name) VALUES ('l1', 'reported')")
            assertEquals(setOf("lists"), first.await())
        }
    }

    @Test
    fun `watch sees rows synced from the service`(): Unit = runBlocking {
        Database.open(dir.resolve("synced.db").toString(), LISTS).use { db ->
            val synced = async { withTimeout(20_000) { db.watch("SELECT name FROM lists").first { it.isNotEmpty() } } }
            db.connect(TestConnector(service.url), SyncOptions(retryDelay = 200.milliseconds))
            service.admin("/admin/source/execute", """{"sql":"INSERT INTO lists (id, name, owner_id) VALUES ('s1', 'from server', 'u1')"}""")
            assertEquals(listOf(mapOf("name" to "from server")), synced.await())
        }
    }
}
