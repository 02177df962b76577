// SPDX-License-Identifier: Apache-2.0
package dev.psync

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

val SCHEMA = Schema(listOf(Table("todos", listOf(Column.text("title"), Column.integer("done")))))

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

    @Test
    fun `the wrapper schema types reach the database`(): Unit = runBlocking {
        val schema =
            Schema(
                Table(
                    "items",
                    listOf(Column.text("title"), Column.real("price")),
                    indexes = listOf(Index("by_price", IndexedColumn.descending("price"), IndexedColumn.ascending("title"))),
                    viewName = "shop_items",
                    includeOld = IncludeOld.Columns(listOf("title")),
                ),
            )
        Database.open(dir.resolve("schema.db").toString(), schema).use { db ->
            db.execute("INSERT INTO shop_items (id, title, price) VALUES ('i1', 'pen', 1.5)")
            db.execute("UPDATE shop_items SET title = 'ink', price = 2.5 WHERE id = 'i1'")

            assertEquals(mapOf("title" to "ink", "price" to 2.5), db.get("SELECT title, price FROM shop_items"))
            val index = db.get("SELECT sql FROM sqlite_master WHERE type = 'index' AND name LIKE '%by_price%'")
            assertTrue(index["sql"].toString().contains("DESC"), "$index")
            val update = db.getCrudBatch()!!.use { batch -> batch.entries.last() }
            assertEquals(mapOf("title" to "pen"), update.previousValues)
        }
    }
}
