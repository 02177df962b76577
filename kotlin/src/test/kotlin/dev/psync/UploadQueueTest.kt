// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlin.time.Duration.Companion.milliseconds
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.time.Duration.Companion.seconds

/** The upload API against the test service: queue stats, crudTransactions with typed data. */
class UploadQueueTest : ServiceTest() {
    @Test
    fun `queue stats and transactions, then an upload transaction by transaction`(): Unit = runBlocking {
        Database.open(dir.resolve("queue.db").toString(), LISTS).use { db ->
            assertEquals(UploadQueueStats(0, 0), db.uploadQueueStats())
            db.writeTransaction { tx ->
                tx.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'a', 'u1')")
                tx.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l2', 'b', 'u1')")
            }
            db.execute("UPDATE lists SET name = 'c' WHERE id = 'l1'")

            val stats = db.uploadQueueStats()
            assertEquals(3L, stats.count)
            assertTrue(stats.size > 0, "$stats")
            val transactions = db.crudTransactions().toList()
            assertEquals(
                listOf(listOf(UpdateType.PUT to "l1", UpdateType.PUT to "l2"), listOf(UpdateType.PATCH to "l1")),
                transactions.map { t -> t.entries.map { it.op to it.id } },
            )
            assertEquals(mapOf("name" to "b", "owner_id" to "u1"), transactions[0].entries[1].data)
            transactions.forEach { it.close() }
            assertEquals(3L, db.uploadQueueStats().count)

            db.connect(TestConnector(service.url, byTransaction = true), SyncOptions(retryDelay = 200.milliseconds, crudThrottle = 50.milliseconds))
            db.requestCheckpoint().waitForSync(20.seconds)

            assertEquals(UploadQueueStats(0, 0), db.uploadQueueStats())
            val rows = service.admin("/admin/source/query", """{"sql":"SELECT id, name FROM lists ORDER BY id"}""")
            assertTrue(Regex("""\[\s*"l1"\s*,\s*"c"\s*]""").containsMatchIn(rows), rows)
            assertTrue(Regex("""\[\s*"l2"\s*,\s*"b"\s*]""").containsMatchIn(rows), rows)
        }
    }
}
