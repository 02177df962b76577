// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.Column
import dev.psync.internal.Schema
import dev.psync.internal.Table
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

val SCHEMA = Schema(listOf(Table("todos", listOf(Column("title", "text"), Column("done", "integer")))))

class DatabaseTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `insert then query round-trips values`() {
        Database.open(dir.resolve("test.db").toString(), SCHEMA).use { db ->
            db.execute("INSERT INTO todos (id, title, done) VALUES (uuid(), ?, ?)", "milk", true)

            val row = db.get("SELECT title, done FROM todos")

            assertEquals(mapOf("title" to "milk", "done" to 1L), row)
        }
    }
}
