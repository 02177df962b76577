// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

class SyncTest : ServiceTest() {
    private fun open(name: String) = Database.open(dir.resolve(name).toString(), LISTS)

    @Test
    fun `local write is uploaded and the checkpoint syncs`() = runBlocking {
        open("sync.db").use { db ->
            val connector = TestConnector(service.url)
            db.connect(connector, SyncOptions(retryDelay = 200.milliseconds, crudThrottle = 50.milliseconds))
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'groceries', 'u1')")

            val request = db.requestCheckpoint()
            request.waitForSync(10.seconds)

            assertTrue(request.isSynced)
            assertTrue(connector.uploads.get() >= 1, "uploads: ${connector.uploads.get()}")
            assertNull(db.getCrudBatch())
            assertEquals(mapOf("name" to "groceries"), db.get("SELECT name FROM lists WHERE id = 'l1'"))
        }
    }

    @Test
    fun `status flow reports connected`() = runBlocking {
        open("status.db").use { db ->
            assertFalse(withTimeout(5_000) { db.status.first() }.connected)

            db.connect(TestConnector(service.url), SyncOptions(retryDelay = 200.milliseconds))
            val connected = withTimeout(10_000) { db.status.first { it.connected } }

            assertTrue(connected.connected)
            assertNull(connected.downloadError)
            db.disconnect()
        }
    }

    @Test
    fun `connector exception becomes an upload error without a crash`() = runBlocking {
        open("fail.db").use { db ->
            val connector = TestConnector(service.url, failUploads = true)
            db.connect(connector, SyncOptions(retryDelay = 200.milliseconds, crudThrottle = 50.milliseconds))
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l2', 'x', 'u1')")

            val failed = withTimeout(20_000) { db.status.first { it.uploadError != null } }

            assertTrue(failed.uploadError!!.message!!.contains("backend unavailable"), failed.uploadError!!.message)
            assertTrue(connector.uploads.get() >= 1)
            // The write stays queued and the database keeps working.
            db.getCrudBatch().use { batch ->
                assertNotNull(batch)
                assertEquals(listOf("l2"), batch!!.entries.map { it.id })
            }
            assertEquals(mapOf("name" to "x"), db.get("SELECT name FROM lists WHERE id = 'l2'"))
        }
    }

    @Test
    fun `waitForSync fails within its timeout while uploads keep failing`() = runBlocking {
        open("timeout.db").use { db ->
            db.connect(TestConnector(service.url, failUploads = true), SyncOptions(retryDelay = 200.milliseconds))
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l3', 'x', 'u1')")

            val error =
                runCatching {
                    val request = db.requestCheckpoint()
                    request.waitForSync(500.milliseconds)
                }.exceptionOrNull()

            // The wait never succeeds: it either runs out of time or, as documented for
            // CheckpointRequest.wait_for_sync, ends early with the failure that stops syncing.
            when (error) {
                is PSyncException.Timeout -> {}
                is PSyncException.Sync -> assertTrue(error.message!!.contains("backend unavailable"), error.message)
                else -> fail("expected Timeout or Sync, got $error")
            }
            assertNotNull(db.getCrudBatch()?.use { it.entries })
        }
    }

    @Test
    fun `a second database on the same file cannot connect while the first syncs`(): Unit = runBlocking {
        open("shared.db").use { first ->
            open("shared.db").use { second ->
                first.connect(TestConnector(service.url), SyncOptions(retryDelay = 200.milliseconds))
                val error = runCatching { second.connect(TestConnector(service.url)) }.exceptionOrNull()
                assertTrue(error is PSyncException.Sync, "got $error")
                val expected = "${dir.resolve("shared.db")} is already syncing"
                assertTrue(error!!.message!!.contains(expected), error.message)

                first.disconnect()
                second.connect(TestConnector(service.url), SyncOptions(retryDelay = 200.milliseconds))
                withTimeout(10_000) { second.status.first { it.connected } }
            }
        }
    }

    @Test
    fun `extra root certificates must be PEM`() = runBlocking {
        open("tls.db").use { db ->
            val options = SyncOptions(extraRootCertificatesPem = listOf("not a certificate"))
            val error = runCatching { db.connect(TestConnector(service.url), options) }.exceptionOrNull()
            assertTrue(error is PSyncException.InvalidArgument, "got $error")
            assertTrue(error!!.message!!.contains("extra_root_certificates_pem"), error.message)
        }
    }
}
