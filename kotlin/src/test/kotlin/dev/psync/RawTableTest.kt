// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlin.time.Duration.Companion.milliseconds
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test

/** Raw tables: synced rows land in the app's own table through the schema's statements. */
class RawTableTest : ServiceTest() {
    private val schema =
        Schema(
            tables = emptyList(),
            rawTables =
                listOf(
                    RawTable(
                        name = "lists",
                        tableName = "my_lists",
                        put = RawStatement("INSERT OR REPLACE INTO my_lists (id, name) VALUES (?, ?)", listOf(RawParam.Id, RawParam.Column("name"))),
                        delete = RawStatement("DELETE FROM my_lists WHERE id = ?", listOf(RawParam.Id)),
                    ),
                ),
        )

    @Test
    fun `synced rows use the put and delete statements`(): Unit = runBlocking {
        Database.open(dir.resolve("raw.db").toString(), schema).use { db ->
            db.execute("CREATE TABLE my_lists (id TEXT PRIMARY KEY, name TEXT)")
            db.connect(TestConnector(service.url), SyncOptions(retryDelay = 200.milliseconds))
            val rows = db.watch("SELECT id, name FROM my_lists", throttle = kotlin.time.Duration.ZERO)

            service.admin("/admin/source/execute", """{"sql":"INSERT INTO lists (id, name, owner_id) VALUES ('r1', 'raw', 'u1')"}""")
            withTimeout(20_000) { rows.first { it == listOf(mapOf("id" to "r1", "name" to "raw")) } }

            service.admin("/admin/source/execute", """{"sql":"DELETE FROM lists WHERE id = 'r1'"}""")
            withTimeout(20_000) { rows.first { it.isEmpty() } }
        }
    }
}
