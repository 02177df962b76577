// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlin.time.Duration.Companion.milliseconds
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import kotlin.time.Duration.Companion.seconds

/** `disconnectAndClear` after syncing: synced rows, queued writes and local-only rows go. */
class LogoutTest : ServiceTest() {
    private val schema =
        Schema(
            listOf(
                Table("lists", listOf(Column.text("name"), Column.text("owner_id"))),
                Table("drafts", listOf(Column.text("body")), localOnly = true),
            ),
        )

    private suspend fun counts(db: Database) =
        listOf("lists", "drafts", "ps_crud").map { db.get("SELECT count(*) AS n FROM $it")["n"] }

    private fun logout(clearLocal: Boolean): List<Any?> = runBlocking {
        Database.open(dir.resolve("logout-$clearLocal.db").toString(), schema).use { db ->
            db.connect(TestConnector(service.url), SyncOptions(retryDelay = 200.milliseconds, crudThrottle = 50.milliseconds))
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'synced', 'u1')")
            db.requestCheckpoint().waitForSync(20.seconds)
            db.execute("INSERT INTO drafts (id, body) VALUES ('d1', 'local only')")
            db.disconnect()
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l2', 'queued', 'u1')")
            assertEquals(listOf<Any?>(2L, 1L, 1L), counts(db))

            db.disconnectAndClear(clearLocal = clearLocal)
            counts(db)
        }
    }

    @Test
    fun `disconnectAndClear deletes local-only rows by default`() {
        assertEquals(listOf<Any?>(0L, 0L, 0L), logout(clearLocal = true))
    }

    @Test
    fun `clearLocal false keeps local-only rows`() {
        assertEquals(listOf<Any?>(0L, 1L, 0L), logout(clearLocal = false))
    }
}
