// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

/** Interactive transactions on a real database file, including ones the caller abandons. */
class TransactionTest {
    @TempDir
    lateinit var dir: Path

    private fun open(name: String) = Database.open(dir.resolve(name).toString(), SCHEMA)

    private suspend fun ids(db: Database) = db.getAll("SELECT id FROM todos ORDER BY id").map { it["id"] }

    /** An autocommit write outside the transaction: it completes only once the writer is free. */
    private suspend fun insertElsewhere(db: Database, id: String) =
        withTimeout(10_000) { db.execute("INSERT INTO todos (id, title) VALUES (?, 'other')", id) }

    @Test
    fun `writeTransaction commits on return and reads its own writes`(): Unit = runBlocking {
        open("commit.db").use { db ->
            val title =
                db.writeTransaction { tx ->
                    tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'milk')")
                    assertNull(tx.getOptional("SELECT * FROM todos WHERE id = 'b'"))
                    assertEquals(1, tx.getAll("SELECT * FROM todos").size)
                    assertEquals(emptyList<Row>(), db.getAll("SELECT * FROM todos"))
                    tx.get("SELECT title FROM todos WHERE id = 'a'")["title"]
                }
            assertEquals("milk", title)
            assertEquals(listOf("a"), ids(db))
        }
    }

    @Test
    fun `writeTransaction rolls back when the block throws`(): Unit = runBlocking {
        open("rollback.db").use { db ->
            val error =
                runCatching {
                    db.writeTransaction { tx ->
                        tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'milk')")
                        throw IllegalArgumentException("abort")
                    }
                }.exceptionOrNull()
            assertTrue(error is IllegalArgumentException, "$error")
            insertElsewhere(db, "b")
            assertEquals(listOf("b"), ids(db))
        }
    }

    @Test
    fun `a failing statement throws its family and rolls back`(): Unit = runBlocking {
        open("constraint.db").use { db ->
            val error =
                runCatching {
                    db.writeTransaction { tx ->
                        tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'x')")
                        tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'y')")
                    }
                }.exceptionOrNull()
            assertTrue(error is PSyncException.Constraint, "$error")
            assertEquals(emptyList<Any?>(), ids(db))
        }
    }

    @Test
    fun `readTransaction is a snapshot and rejects writes`(): Unit = runBlocking {
        open("snapshot.db").use { db ->
            db.execute("INSERT INTO todos (id, title) VALUES ('a', 'x')")
            db.readTransaction { tx ->
                assertEquals(1, tx.getAll("SELECT * FROM todos").size)
                insertElsewhere(db, "b")
                assertEquals(1, tx.getAll("SELECT * FROM todos").size)
                val refused = runCatching { tx.execute("INSERT INTO todos (id, title) VALUES ('c', 'x')") }
                assertTrue(refused.exceptionOrNull() is PSyncException.Database, "$refused")
            }
            assertEquals(listOf("a", "b"), ids(db))
        }
    }

    @Test
    fun `a cancelled coroutine rolls back and frees the writer`(): Unit = runBlocking {
        open("cancel.db").use { db ->
            val inside = CompletableDeferred<Unit>()
            val job =
                launch {
                    db.writeTransaction { tx ->
                        tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'x')")
                        inside.complete(Unit)
                        awaitCancellation()
                    }
                }
            inside.await()
            job.cancelAndJoin()
            insertElsewhere(db, "b")
            assertEquals(listOf("b"), ids(db))
        }
    }

    @Test
    fun `close ends a transaction that is still open`(): Unit = runBlocking {
        val db = open("forgotten.db")
        val inside = CompletableDeferred<Unit>()
        val job =
            launch(Dispatchers.IO) {
                runCatching {
                    db.writeTransaction { tx ->
                        tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'x')")
                        inside.complete(Unit)
                        awaitCancellation()
                    }
                }
            }
        inside.await()
        withTimeout(10_000) { withContext(Dispatchers.IO) { db.close() } }
        job.cancelAndJoin()
        open("forgotten.db").use { assertEquals(emptyList<Any?>(), ids(it)) }
    }
}
