// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlin.time.Duration.Companion.milliseconds

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.IOException
import java.io.InputStream
import java.net.InetAddress
import java.net.ServerSocket
import java.nio.file.Path
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

private class FixedEndpoint(private val url: String) : BackendConnector {
    override suspend fun fetchCredentials(): Credentials? = Credentials(url, "test-token")

    override suspend fun uploadData(database: Database) {}
}

/** One captured HTTP request: the request line, lower-case header names, the body. */
private class Captured(val line: String, val headers: Map<String, String>, val body: String)

private fun readRequest(input: InputStream): Captured {
    val head = StringBuilder()
    while (!head.endsWith("\r\n\r\n")) {
        val b = input.read()
        if (b < 0) break
        head.append(b.toChar())
    }
    val lines = head.toString().split("\r\n")
    val headers =
        lines.drop(1).filter { it.contains(':') }.associate {
            it.substringBefore(':').trim().lowercase() to it.substringAfter(':').trim()
        }
    val length = headers["content-length"]?.toInt() ?: 0
    val body = ByteArray(length)
    var read = 0
    while (read < length) {
        val n = input.read(body, read, length - read)
        if (n < 0) break
        read += n
    }
    return Captured(lines[0], headers, String(body, Charsets.UTF_8))
}

/**
 * What the Kotlin wrapper puts on the wire, captured by a bare loopback listener: the stream
 * request says `(kotlin)` in its User-Agent and sends `parameters: {}` when the app set none
 * (`null` is refused by the real PowerSync service).
 */
class RequestShapeTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `stream request says kotlin and sends an empty parameters object`() = runBlocking {
        val server = ServerSocket(0, 50, InetAddress.getLoopbackAddress())
        val streams = LinkedBlockingQueue<Captured>()
        val acceptor =
            thread(isDaemon = true) {
                while (!server.isClosed) {
                    val socket =
                        try {
                            server.accept()
                        } catch (e: IOException) {
                            break
                        }
                    socket.use {
                        val request = readRequest(it.getInputStream())
                        // The checkpoint-request seed gets 404: the client falls back to legacy write
                        // checkpoints and opens the stream at once (a 5xx would retry after retryDelay).
                        // `connection: close`, as this listener serves one request per connection.
                        val status = if (request.line.startsWith("POST /sync/stream ")) "503 Service Unavailable" else "404 Not Found"
                        if (request.line.startsWith("POST /sync/stream ")) streams.put(request)
                        it.getOutputStream().write("HTTP/1.1 $status\r\nconnection: close\r\ncontent-length: 0\r\n\r\n".toByteArray())
                    }
                }
            }
        try {
            val schema = Schema(listOf(Table("lists", listOf(Column.text("name")))))
            Database.open(dir.resolve("shape.db").toString(), schema).use { db ->
                db.connect(FixedEndpoint("http://127.0.0.1:${server.localPort}"), SyncOptions(retryDelay = 60_000.milliseconds))
                // Wait off this thread: the connector's suspend calls may need its event loop.
                val request =
                    withContext(Dispatchers.IO) { streams.poll(10, TimeUnit.SECONDS) }
                        ?: throw AssertionError("no stream request; status ${db.status.first()}")
                db.disconnect()
                val agent = request.headers["user-agent"] ?: ""
                assertEquals("psync/${Psync.VERSION} (kotlin)", agent)
                assertEquals("application/json", request.headers["content-type"])
                assertTrue(Regex(""""parameters"\s*:\s*\{\s*\}""").containsMatchIn(request.body), request.body)
            }
        } finally {
            server.close()
            acceptor.join(5_000)
        }
    }
}
