// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.Column
import dev.psync.internal.Schema
import dev.psync.internal.Table
import org.junit.jupiter.api.Assertions.assertEquals
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

val SCHEMA = Schema(listOf(Table("todos", listOf(Column("title", "text"), Column("done", "integer")))))

class DatabaseTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `insert then query round-trips values`(): Unit = runBlocking {
        Database.open(dir.resolve("test.db").toString(), SCHEMA).use { db ->
            db.execute("INSERT INTO todos (id, title, done) VALUES (uuid(), ?, ?)", "milk", true)

            val row = db.get("SELECT title, done FROM todos")

            assertEquals(mapOf("title" to "milk", "done" to 1L), row)
        }
    }

    @Test
    fun `executeBatch runs one statement for every parameter set, all or nothing`(): Unit = runBlocking {
        Database.open(dir.resolve("batch.db").toString(), SCHEMA).use { db ->
            val sets = (0 until 500).map { listOf("id-$it", "todo $it", it % 2 == 0) }

            db.executeBatch("INSERT INTO todos (id, title, done) VALUES (?, ?, ?)", sets)

            assertEquals(mapOf("n" to 500L, "d" to 250L), db.get("SELECT count(*) AS n, sum(done) AS d FROM todos"))
            assertFailsWith<PSyncException.Constraint> {
                db.executeBatch("INSERT INTO todos (id, title) VALUES (?, ?)", listOf(listOf("new", "x"), listOf("id-1", "dup")))
            }
            assertEquals(null, db.getOptional("SELECT id FROM todos WHERE id = 'new'"))

            // Rows are counted on plain tables; rows written by a view's triggers are not (SQLite).
            db.execute("CREATE TABLE local_counts (k INTEGER)")
            val counted = db.executeBatch("INSERT INTO local_counts VALUES (?)", listOf(listOf(1), listOf(2)))
            assertEquals(2L, counted.rowsAffected)
        }
    }
}
