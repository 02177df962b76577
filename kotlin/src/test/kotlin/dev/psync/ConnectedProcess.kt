// SPDX-License-Identifier: Apache-2.0
package dev.psync

import kotlin.time.Duration.Companion.milliseconds

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import kotlin.system.exitProcess

/** Databases kept reachable until the JVM exits. */
private val kept = mutableListOf<Any>()

/**
 * Run by [ExitTest] as its own JVM: connects, syncs for a second, prints whether it is connected,
 * then lets the JVM exit without `close()`. Arguments: `<service url> <db path> <mode>`.
 * Modes: `dropped` (the database is unreachable at exit), `alive` (still referenced),
 * `upload` (alive, with an upload suspended forever), `failing-upload` (the connector throws on
 * every upload; nothing may reach stderr) and `exit` (`exitProcess(0)` while connected).
 */
fun main(args: Array<String>) {
    val (url, path, mode) = args
    runBlocking {
        val db = Database.open(path, LISTS)
        val uploadStarted = CompletableDeferred<Unit>()
        val connector = TestConnector(url, failUploads = mode == "failing-upload")
        val hanging =
            object : BackendConnector {
                override suspend fun fetchCredentials(): Credentials? = connector.fetchCredentials()

                override suspend fun uploadData(database: Database) {
                    uploadStarted.complete(Unit)
                    awaitCancellation()
                }
            }
        db.connect(if (mode == "upload") hanging else connector, SyncOptions(retryDelay = 100.milliseconds, crudThrottle = 10.milliseconds))
        if (mode != "dropped") kept.add(db)
        if (mode == "upload") {
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('queued', 'x', 'u1')")
            withTimeout(10_000) { uploadStarted.await() }
        }
        if (mode == "failing-upload") {
            db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('queued', 'x', 'u1')")
            withTimeout(10_000) { while (db.currentStatus.uploadError == null) delay(20) }
        }
        // Connected (which may take a while on a busy machine), then a second of syncing.
        withTimeoutOrNull(30_000) { while (!db.currentStatus.connected) delay(20) }
        delay(1_000)
        println(if (db.currentStatus.connected) "connected" else "not connected")
        System.out.flush()
        if (mode == "exit") exitProcess(0)
    }
}
