// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.CheckpointRequest
import dev.psync.internal.Credentials
import dev.psync.internal.SyncException as FfiSyncException
import dev.psync.internal.BackendConnector as FfiBackendConnector
import dev.psync.internal.Database as FfiDatabase
import kotlin.time.Duration
import kotlin.time.toJavaDuration

/**
 * Implemented by the app: credentials for the sync service and uploads of local writes.
 * Called from psync threads; both functions may suspend.
 */
interface BackendConnector {
    /** Credentials, or `null` when the user is signed out. */
    suspend fun fetchCredentials(): Credentials?

    /**
     * Uploads queued writes ([Database.getCrudBatch]) and completes them. A thrown exception
     * fails this round; it shows as `SyncStatus.uploadError` and is retried.
     */
    suspend fun uploadData(database: Database)
}

/** The generated trait, implemented by calling the app's connector. */
internal class ConnectorAdapter(
    private val connector: BackendConnector,
    private val wrap: (FfiDatabase) -> Database,
) : FfiBackendConnector {
    override suspend fun fetchCredentials(): Credentials? = connector.fetchCredentials()

    override suspend fun uploadData(database: FfiDatabase) = connector.uploadData(wrap(database))
}

/**
 * Waits until local data includes this checkpoint; throws [PSyncException.Timeout] after
 * [timeout] (`null` = no limit). Cancelling the coroutine drops the wait.
 */
suspend fun CheckpointRequest.waitForSync(timeout: Duration? = null) {
    try {
        waitForSync(timeout?.toJavaDuration())
    } catch (e: FfiSyncException) {
        throw e.toPublic()
    }
}
