// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlinx.coroutines.future.await
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.io.TempDir
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Path
import java.time.Duration as JavaDuration
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

internal val LISTS = Schema(listOf(Table("lists", listOf(Column.text("name"), Column.text("owner_id")))))

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
internal class TestService(vararg extraArgs: String) : AutoCloseable {
    private val process: Process
    val url: String

    init {
        val binary =
            System.getenv("PSYNC_TEST_SERVICE")
                ?: System.getProperty("psync.test.service")
                // A missing service is a failure, never a skip.
                ?: fail("PSYNC_TEST_SERVICE must name psync-test-service; `cargo xtask test` sets it")
        process =
            ProcessBuilder(binary, "--port", "0", "--keepalive-ms", "1000", *extraArgs)
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start()
        url = process.inputStream.bufferedReader().readLine()?.trim()
            ?: run {
                process.destroyForcibly()
                fail("psync-test-service printed no URL")
            }
    }

    /** Runs [sql] on the service's source database, as the app backend would. */
    fun executeOnSource(sql: String) {
        admin("/admin/source/execute", """{"sql":${jsonString(sql)},"params":[]}""")
    }

    /** POSTs [json] to the admin API at [path] (faults, replication; never faulted); the answer. */
    fun admin(path: String, json: String): String {
        val adminUrl = "$url$path"
        return checkOk(adminUrl, http.send(postRequest(adminUrl, json), HttpResponse.BodyHandlers.ofString()))
    }

    override fun close() {
        process.outputStream.close()
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            fail<Unit>("psync-test-service did not stop after stdin closed")
        }
    }
}

/**
 * Uploads the crud queue to `POST /api/data` (a batch at a time, or [byTransaction]); with
 * [failUploads] every upload throws instead.
 */
internal class TestConnector(
    private val url: String,
    private val failUploads: Boolean = false,
    private val byTransaction: Boolean = false,
) : BackendConnector {
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
        if (byTransaction) {
            // One POST per local transaction, walking the queue with crudTransactions().
            database.crudTransactions().collect { transaction -> transaction.use { upload(it) } }
        } else {
            database.getCrudBatch()?.use { upload(it) }
        }
    }

    /** POSTs [batch] to `/api/data`, then completes it. */
    private suspend fun upload(batch: CrudBatch) {
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

/** Runs [block] (which may suspend) and asserts it throws an [E]; returns the exception. */
internal inline fun <reified E : Throwable> assertFailsWith(noinline block: suspend () -> Unit): E {
    val error = runCatching { runBlocking { block() } }.exceptionOrNull()
    if (error !is E) fail<Unit>("expected ${E::class.simpleName}, got $error")
    return error as E
}

/** A test class with a temporary folder and a test service started before each test. */
abstract class ServiceTest {
    @TempDir
    lateinit var dir: Path

    internal lateinit var service: TestService

    @BeforeEach
    fun startService() {
        service = TestService()
    }

    @AfterEach
    fun stopService() {
        service.close()
    }
}
