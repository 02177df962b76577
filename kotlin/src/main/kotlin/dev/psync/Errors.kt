// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.SyncException as FfiSyncException

/** Base class of every error thrown by psync. [message] is the SDK's description. */
sealed class PSyncException(message: String, cause: Throwable? = null) : Exception(message, cause) {
    /** The database was closed. */
    class Closed(message: String) : PSyncException(message)

    /** An argument (or the schema) was rejected. */
    class InvalidArgument(message: String) : PSyncException(message)

    /** SQLite or the database file reported an error. */
    class Database(message: String) : PSyncException(message)

    /** Syncing with the service failed. */
    class Sync(message: String) : PSyncException(message)

    /** The backend connector failed (credentials or upload). */
    class Connector(message: String) : PSyncException(message)

    /** A wait ran out of time. */
    class Timeout(message: String) : PSyncException(message)
}

/** The one place generated errors become public ones; the text is Rust's `Display`. */
internal fun FfiSyncException.toPublic(): PSyncException {
    val text = toString()
    return when (this) {
        is FfiSyncException.Closed -> PSyncException.Closed(text)
        is FfiSyncException.InvalidArgument -> PSyncException.InvalidArgument(text)
        is FfiSyncException.Database -> PSyncException.Database(text)
        is FfiSyncException.Sync -> PSyncException.Sync(text)
        is FfiSyncException.Connector -> PSyncException.Connector(text)
        is FfiSyncException.Timeout -> PSyncException.Timeout(text)
    }
}

/** Runs [block], rethrowing generated errors as [PSyncException]. */
internal inline fun <T> translated(block: () -> T): T =
    try {
        block()
    } catch (e: FfiSyncException) {
        throw e.toPublic()
    }
