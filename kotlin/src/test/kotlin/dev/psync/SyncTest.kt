// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.Column
import dev.psync.internal.Credentials
import dev.psync.internal.Schema
import dev.psync.internal.SyncOptions
import dev.psync.internal.Table
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.future.await
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Path
import java.time.Duration as JavaDuration
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

private val LISTS = Schema(listOf(Table("lists", listOf(Column("name", "text"), Column("owner_id", "text")))))

private val http: HttpClient = HttpClient.newBuilder().connectTimeout(JavaDuration.ofSeconds(10)).build()

private fun postRequest(url: String, json: String, token: String? = null): HttpRequest {
    val builder =
        HttpRequest.newBuilder(URI.create(url))
            .timeout(JavaDuration.ofSeconds(10))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(json))
    if (token != null) builder.header("Authorization", "Token $token")
    return builder.build()
}

private fun checkOk(url: String, response: HttpResponse<String>): String {
    if (response.statusCode() !in 200..299) throw IllegalStateException("POST $url: HTTP ${response.statusCode()}")
    return response.body()
}

/** A JSON string literal; enough escaping for ids, table names and the test's values. */
private fun jsonString(text: String): String {
    val out = StringBuilder("\"")
    for (c in text) {
        when {
            c == '"' -> out.append("\\\"")
            c == '\\' -> out.append("\\\\")
            c < ' ' -> out.append(String.format("\\u%04x", c.code))
            else -> out.append(c)
        }
    }
    return out.append('"').toString()
}

/**
 * `psync-test-service` on a free port (path from `PSYNC_TEST_SERVICE` or the system property
 * `psync.test.service`); it prints its URL as the first stdout line and stops when stdin closes.
 */
private class TestService : AutoCloseable {
    private val process: Process
    val url: String

    init {
        val binary =
            System.getenv("PSYNC_TEST_SERVICE")
                ?: System.getProperty("psync.test.service")
                // A missing service is a failure, never a skip.
                ?: fail("PSYNC_TEST_SERVICE must name psync-test-service; `cargo xtask test` sets it")
        process =
            ProcessBuilder(binary, "--port", "0", "--keepalive-ms", "1000")
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start()
        url = process.inputStream.bufferedReader().readLine()?.trim()
            ?: run {
                process.destroyForcibly()
                fail("psync-test-service printed no URL")
            }
    }

    override fun close() {
        process.outputStream.close()
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            fail<Unit>("psync-test-service did not stop after stdin closed")
        }
    }
}

/** Uploads the crud queue to `POST /api/data`; with [failUploads] every upload throws instead. */
private class TestConnector(private val url: String, private val failUploads: Boolean = false) : BackendConnector {
    val uploads = AtomicInteger()
    private val token: String

    init {
        val tokenUrl = "$url/api/auth/token"
        val body = checkOk(tokenUrl, http.send(postRequest(tokenUrl, """{"user_id":"u1"}"""), HttpResponse.BodyHandlers.ofString()))
        token = Regex(""""token"\s*:\s*"([^"\\]*)"""").find(body)?.groupValues?.get(1)
            ?: throw IllegalStateException("no token in the token response")
    }

    override suspend fun fetchCredentials(): Credentials? = Credentials(url, token)

    override suspend fun uploadData(database: Database) {
        uploads.incrementAndGet()
        if (failUploads) throw IllegalStateException("backend unavailable")
        val batch = database.getCrudBatch() ?: return
        batch.use {
            // data_json is already a JSON object; the rest are plain strings.
            val entries =
                batch.entries.joinToString(",") { entry ->
                    val data = entry.dataJson?.let { ""","data":$it""" } ?: ""
                    """{"op":${jsonString(entry.op.name)},"type":${jsonString(entry.table)},"id":${jsonString(entry.id)}$data}"""
                }
            val dataUrl = "$url/api/data"
            val response = http.sendAsync(postRequest(dataUrl, """{"batch":[$entries]}""", token), HttpResponse.BodyHandlers.ofString()).await()
            checkOk(dataUrl, response)
            batch.complete()
        }
    }
}

class SyncTest {
    @TempDir
    lateinit var dir: Path

    private lateinit var service: TestService

    @BeforeEach
    fun startService() {
        service = TestService()
    }

    @AfterEach
    fun stopService() {
        service.close()
    }

    private fun open(name: String) = Database.open(dir.resolve(name).toString(), LISTS)

    @Test
    fun `local write is uploaded and the checkpoint syncs`() = runBlocking {
        open("sync.db").use { db ->
            val connector = TestConnector(service.url)
            db.connect(connector, SyncOptions(retryDelayMs = 200uL, crudThrottleMs = 50uL))
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'groceries', 'u1')")

            val request = db.requestCheckpoint()
            request.waitForSync(10.seconds)

            assertTrue(request.isSynced())
            assertTrue(connector.uploads.get() >= 1, "uploads: ${connector.uploads.get()}")
            assertNull(db.getCrudBatch())
            assertEquals(mapOf("name" to "groceries"), db.get("SELECT name FROM lists WHERE id = 'l1'"))
        }
    }

    @Test
    fun `status flow reports connected`() = runBlocking {
        open("status.db").use { db ->
            assertFalse(withTimeout(5_000) { db.status.first() }.connected)

            db.connect(TestConnector(service.url), SyncOptions(retryDelayMs = 200uL))
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
            db.connect(connector, SyncOptions(retryDelayMs = 200uL, crudThrottleMs = 50uL))
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l2', 'x', 'u1')")

            val failed = withTimeout(20_000) { db.status.first { it.uploadError != null } }

            assertTrue(failed.uploadError!!.contains("backend unavailable"), failed.uploadError)
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
            db.connect(TestConnector(service.url, failUploads = true), SyncOptions(retryDelayMs = 200uL))
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
    fun `extra root certificates must be PEM`() = runBlocking {
        open("tls.db").use { db ->
            val options = SyncOptions(extraRootCertificatesPem = listOf("not a certificate"))
            val error = runCatching { db.connect(TestConnector(service.url), options) }.exceptionOrNull()
            assertTrue(error is PSyncException.InvalidArgument, "got $error")
            assertTrue(error!!.message!!.contains("extra_root_certificates_pem"), error.message)
        }
    }
}
