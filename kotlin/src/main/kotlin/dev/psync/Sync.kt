// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.CheckpointMode as FfiCheckpointMode
import dev.psync.internal.CheckpointRequest as FfiCheckpointRequest
import dev.psync.internal.Credentials as FfiCredentials
import dev.psync.internal.PriorityStatus as FfiPriorityStatus
import dev.psync.internal.SyncException as FfiSyncException
import dev.psync.internal.SyncOptions as FfiSyncOptions
import dev.psync.internal.SyncStatus as FfiSyncStatus
import dev.psync.internal.BackendConnector as FfiBackendConnector
import dev.psync.internal.Database as FfiDatabase
import dev.psync.internal.StreamKey
import dev.psync.internal.streamStatusIndex
import java.time.Instant
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlin.time.toJavaDuration

/** Where and as whom to sync. [toString] never shows the token. */
data class Credentials(val endpoint: String, val token: String) {
    override fun toString(): String = "Credentials(endpoint=$endpoint, token=...)"
}

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
    override suspend fun fetchCredentials(): FfiCredentials? =
        connector.fetchCredentials()?.let { FfiCredentials(it.endpoint, it.token) }

    override suspend fun uploadData(database: FfiDatabase) = connector.uploadData(wrap(database))
}

/** How the service acknowledges uploads. */
enum class CheckpointMode {
    /** Client-allocated checkpoint requests (falls back to [LEGACY] when the service answers 404). */
    REQUESTS,

    /** `GET /write-checkpoint2.json` after each upload round. */
    LEGACY,
}

/** Options for [Database.connect]. */
data class SyncOptions(
    /** Delay before retrying a failed sync iteration or upload round. */
    val retryDelay: Duration = 5.seconds,
    /** Minimum time between two upload rounds triggered by local writes. */
    val crudThrottle: Duration = 1.seconds,
    /** How uploads are acknowledged. */
    val checkpointMode: CheckpointMode = CheckpointMode.REQUESTS,
    /** Client parameters for sync rules and streams (`String`, numbers, `Boolean`, `null`, lists, maps). */
    val params: Map<String, Any?>? = null,
    /** Ask for BSON sync lines instead of ndjson. */
    val useBson: Boolean = false,
    /** Strings sent with the stream request (shown in the service's logs). */
    val appMetadata: Map<String, String>? = null,
    /** `false` syncs only the streams you subscribe to. */
    val includeDefaultStreams: Boolean = true,
    /** PEM CA certificates trusted for `https` in addition to the built-in and system roots. */
    val extraRootCertificatesPem: List<String> = emptyList(),
) {
    internal fun toFfi(): FfiSyncOptions =
        FfiSyncOptions(
            retryDelayMs = retryDelay.inWholeMilliseconds.toULong(),
            crudThrottleMs = crudThrottle.inWholeMilliseconds.toULong(),
            checkpointMode = if (checkpointMode == CheckpointMode.LEGACY) FfiCheckpointMode.LEGACY else FfiCheckpointMode.REQUESTS,
            paramsJson = params?.let(::toJson),
            extraRootCertificatesPem = extraRootCertificatesPem,
            clientLanguage = "kotlin",
            useBson = useBson,
            appMetadata = appMetadata,
            includeDefaultStreams = includeDefaultStreams,
        )
}

/** Operations downloaded towards the checkpoint being downloaded. */
data class DownloadProgress(val downloaded: Long, val total: Long) {
    /** [downloaded] / [total] between 0 and 1 (0 when there is nothing to fetch). */
    val fraction: Double get() = if (total <= 0) 0.0 else minOf(1.0, downloaded.toDouble() / total)
}

/** Sync state of one bucket priority (0 = highest). */
data class PriorityStatus(val priority: Int, val lastSyncedAt: Instant?, val hasSynced: Boolean?)

/** Sync state of one stream subscription (explicit, default, or both). */
data class SyncStreamStatus(
    val name: String,
    /** Subscription parameters as canonical JSON (keys sorted), `null` without. */
    val parametersJson: String?,
    /** The latest checkpoint includes the stream. */
    val active: Boolean,
    /** The service syncs it without a subscription (auto-subscribed). */
    val isDefault: Boolean,
    val hasExplicitSubscription: Boolean,
    /** When the subscription expires unless held or subscribed again. */
    val expiresAt: Instant?,
    val lastSyncedAt: Instant?,
    /** Priority its data completes at, when known. */
    val priority: Int?,
    val progress: DownloadProgress,
) {
    /** Whether the stream's data was synced at least once. */
    val hasSynced: Boolean get() = lastSyncedAt != null
}

/** What the sync client is doing. */
data class SyncStatus(
    val connected: Boolean = false,
    val connecting: Boolean = false,
    val downloading: Boolean = false,
    val downloadProgress: DownloadProgress? = null,
    val uploading: Boolean = false,
    /** Last complete sync. */
    val lastSyncedAt: Instant? = null,
    /** Whether a complete sync ever happened; `null` until known. */
    val hasSynced: Boolean? = null,
    /** Per-priority entries, ascending priority number. */
    val priorityStatus: List<PriorityStatus> = emptyList(),
    /** Why the last sync attempt failed. */
    val downloadError: PSyncException.Sync? = null,
    /** Why the last upload round failed (a connector exception shows with its message). */
    val uploadError: PSyncException.Sync? = null,
    val lastAppliedCheckpointRequestId: Long? = null,
    /** The service answered 404 to checkpoint requests: legacy write checkpoints are used. */
    val checkpointRequestsUnsupported: Boolean = false,
    /** Stream subscriptions, in subscription order. */
    val streams: List<SyncStreamStatus> = emptyList(),
) {
    // Exceptions compare by identity: statuses compare their errors by class and message.
    private fun key(): List<Any?> =
        listOf(
            connected, connecting, downloading, downloadProgress, uploading, lastSyncedAt, hasSynced, priorityStatus,
            downloadError?.message, uploadError?.message, lastAppliedCheckpointRequestId, checkpointRequestsUnsupported, streams,
        )

    override fun equals(other: Any?): Boolean = other is SyncStatus && key() == other.key()

    override fun hashCode(): Int = key().hashCode()

    /** [downloadError], else [uploadError]. */
    val anyError: PSyncException.Sync? get() = downloadError ?: uploadError

    /** State of everything at [priority] or higher (a lower number). */
    fun forPriority(priority: Int): PriorityStatus =
        priorityStatus.firstOrNull { it.priority >= priority } ?: PriorityStatus(priority, lastSyncedAt, hasSynced)

    /** The entry of stream [name] subscribed with [parameters] (`null` = without), or `null`. */
    fun forStream(name: String, parameters: Map<String, Any?>? = null): SyncStreamStatus? {
        // The native lookup every language shares: parameters match as JSON values.
        val keys = streams.map { StreamKey(it.name, it.parametersJson) }
        return translated { streamStatusIndex(keys, name, parameters?.let(::toJson)) }?.let { streams[it.toInt()] }
    }
}

private fun syncError(message: String?): PSyncException.Sync? = message?.let { PSyncException.Sync(it) }

internal fun instantOf(micros: Long?): Instant? =
    micros?.let { Instant.ofEpochSecond(Math.floorDiv(it, 1_000_000L), Math.floorMod(it, 1_000_000L) * 1_000L) }

private fun FfiPriorityStatus.toPublic() = PriorityStatus(priority, instantOf(lastSyncedAt), hasSynced)

internal fun FfiSyncStatus.toPublic(): SyncStatus {
    val downloaded = downloadedOperations
    val total = totalOperations
    return SyncStatus(
        connected = connected,
        connecting = connecting,
        downloading = downloading,
        downloadProgress = if (downloaded != null && total != null) DownloadProgress(downloaded, total) else null,
        uploading = uploading,
        lastSyncedAt = instantOf(lastSyncedAt),
        hasSynced = hasSynced,
        priorityStatus = priorityStatus.map { it.toPublic() },
        downloadError = syncError(downloadError),
        uploadError = syncError(uploadError),
        lastAppliedCheckpointRequestId = lastAppliedCheckpointRequestId,
        checkpointRequestsUnsupported = checkpointRequestsUnsupported,
        streams = streams.map { it.toPublic() },
    )
}

/** A checkpoint the service acknowledged; see [Database.requestCheckpoint]. */
class CheckpointRequest internal constructor(private val inner: FfiCheckpointRequest) : AutoCloseable {
    /** The id the service accepted. */
    val id: Long get() = translated { inner.id() }

    /** Whether local data already includes this checkpoint. */
    val isSynced: Boolean get() = translated { inner.isSynced() }

    /**
     * Waits until local data includes this checkpoint; throws [PSyncException.Timeout] after
     * [timeout] (`null` = no limit). Cancelling the coroutine drops the wait.
     */
    suspend fun waitForSync(timeout: Duration? = null) {
        try {
            inner.waitForSync(timeout?.toJavaDuration())
        } catch (e: FfiSyncException) {
            throw e.toPublic()
        }
    }

    /** Frees the native object. */
    override fun close() = inner.close()
}
