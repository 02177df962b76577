// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.CrudEntry as FfiCrudEntry
import dev.psync.internal.UpdateType as FfiUpdateType

/** What a queued local write did. */
enum class UpdateType { PUT, PATCH, DELETE }

/** One queued local write. */
data class CrudEntry(
    /** Position in the queue, increasing in write order. */
    val clientId: Long,
    /** Local transaction id, when the write was part of one. */
    val transactionId: Long?,
    /** What the write did. */
    val op: UpdateType,
    /** Table name (not the view name). */
    val table: String,
    /** Row id. */
    val id: String,
    /**
     * Written columns (`null`, `Long`, `Double` or `String`): all non-null columns for [UpdateType.PUT],
     * the changed ones for [UpdateType.PATCH], `null` for [UpdateType.DELETE].
     */
    val data: Map<String, Any?>?,
    /** [data] as the JSON object stored in the queue, for backends that take JSON. */
    val dataJson: String?,
    /** Previous values, when the table tracks them. */
    val previousValues: Map<String, Any?>?,
    /** Metadata, when the table tracks it. */
    val metadata: String?,
)

/** The upload queue: queued writes and the size of their data in bytes. */
data class UploadQueueStats(val count: Long, val size: Long)

internal fun FfiCrudEntry.toPublic() =
    CrudEntry(
        clientId = clientId,
        transactionId = transactionId,
        op =
            when (op) {
                FfiUpdateType.PUT -> UpdateType.PUT
                FfiUpdateType.PATCH -> UpdateType.PATCH
                FfiUpdateType.DELETE -> UpdateType.DELETE
            },
        table = table,
        id = id,
        data = data?.mapValues { (_, value) -> fromValue(value) },
        dataJson = dataJson,
        previousValues = previousValues?.mapValues { (_, value) -> fromValue(value) },
        metadata = metadata,
    )
