// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class WrapperTest {
    @Test
    fun `errors become PSyncException subclasses with the Rust message`() {
        Database.inMemory(SCHEMA).use { db ->
            val error = assertFailsWith<PSyncException.Sql> { db.getAll("SELECT * FROM missing") }
            assertTrue(error.message!!.contains("no such table"), error.message)
        }
    }

    @Test
    fun `close twice is allowed and later calls throw Closed`() {
        val db = Database.inMemory(SCHEMA)
        db.close()
        db.close()
        assertFailsWith<PSyncException.Closed> { db.getAll("SELECT 1") }
    }

    @Test
    fun `write batch applies all or nothing`(): Unit = runBlocking {
        Database.inMemory(SCHEMA).use { db ->
            assertFailsWith<PSyncException.Database> {
                db.writeBatch(
                    listOf(
                        "INSERT INTO todos (id, title) VALUES ('1', ?)" to listOf("a"),
                        "INSERT INTO missing VALUES (1)" to emptyList(),
                    ),
                )
            }
            assertEquals(emptyList<Row>(), db.getAll("SELECT * FROM todos"))
        }
    }

    @Test
    fun `table changes flow emits after a write and stops on cancellation`() = runBlocking {
        Database.inMemory(SCHEMA).use { db ->
            val first = async(start = CoroutineStart.UNDISPATCHED) { withTimeout(5_000) { db.tableChanges.first() } }
            yield()
            db.execute("INSERT INTO todos (id, title) VALUES (uuid(), 'a')")
            assertTrue("todos" in first.await())
        }
    }

    @Test
    fun `upload queue batch completes`(): Unit = runBlocking {
        Database.inMemory(SCHEMA).use { db ->
            db.execute("INSERT INTO todos (id, title, done) VALUES ('t1', 'milk', 0)")
            db.getCrudBatch()!!.use { batch ->
                assertEquals(listOf("t1"), batch.entries.map { it.id })
                batch.complete()
            }
            assertNull(db.getCrudBatch())
        }
    }

    @Test
    fun `two hundred databases opened and closed`(): Unit = runBlocking {
        repeat(200) { Database.inMemory(SCHEMA).use { it.getOptional("SELECT 1") } }
    }
}

class SyncWrapperTest {
    @Test
    fun `status flow starts with the current status`() = runBlocking {
        Database.inMemory(SCHEMA).use { db ->
            val first = withTimeout(5_000) { db.status.first() }
            assertEquals(db.currentStatus, first)
            assertEquals(false, first.connected)
        }
    }

    @Test
    fun `requestCheckpoint without connect throws NotConnected, a Sync error`() = runBlocking {
        Database.inMemory(SCHEMA).use { db ->
            val error = runCatching { db.requestCheckpoint() }.exceptionOrNull()
            assertTrue(error is PSyncException.NotConnected, "$error")
        }
    }
}
