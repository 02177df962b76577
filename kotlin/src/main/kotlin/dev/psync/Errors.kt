// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.SyncException as FfiSyncException

/**
 * Base class of every error thrown by psync. [message] is the SDK's description.
 *
 * Two families are open classes with their own subclasses, so `catch (e: PSyncException.Database)`
 * catches every database error and `catch (e: PSyncException.Sync)` every sync failure:
 * [Database] ([Constraint], [Busy], [NoRows], [Sql]) and [Sync] ([NotConnected],
 * [CheckpointNotSupported], [Unauthenticated]).
 */
sealed class PSyncException(message: String, cause: Throwable? = null) : Exception(message, cause) {
    /** The database was closed. */
    class Closed(message: String) : PSyncException(message)

    /** An argument (or the schema) was rejected. */
    class InvalidArgument(message: String) : PSyncException(message)

    /** SQLite or the database file reported an error. */
    open class Database(message: String) : PSyncException(message)

    /** A `UNIQUE`, `NOT NULL`, `CHECK` or foreign-key constraint rejected a write. */
    class Constraint(message: String) : Database(message)

    /** The database file stayed locked by another connection past the busy timeout. */
    class Busy(message: String) : Database(message)

    /** [dev.psync.Database.get] found no row. */
    class NoRows(message: String) : Database(message)

    /** SQLite rejected the statement: syntax, unknown table or column, parameter count. */
    class Sql(message: String) : Database(message)

    /** Syncing with the service failed. */
    open class Sync(message: String) : PSyncException(message)

    /** `requestCheckpoint` (or a wait) needs an active `connect`. */
    class NotConnected(message: String) : Sync(message)

    /** The service does not support checkpoint requests (404), or legacy mode is in use. */
    class CheckpointNotSupported(message: String) : Sync(message)

    /** The service rejected the credentials; they are fetched again on the next attempt. */
    class Unauthenticated(message: String) : Sync(message)

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
        is FfiSyncException.Constraint -> PSyncException.Constraint(text)
        is FfiSyncException.Busy -> PSyncException.Busy(text)
        is FfiSyncException.NoRows -> PSyncException.NoRows(text)
        is FfiSyncException.Sql -> PSyncException.Sql(text)
        is FfiSyncException.Database -> PSyncException.Database(text)
        is FfiSyncException.NotConnected -> PSyncException.NotConnected(text)
        is FfiSyncException.CheckpointNotSupported -> PSyncException.CheckpointNotSupported(text)
        is FfiSyncException.Unauthenticated -> PSyncException.Unauthenticated(text)
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
