// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.LogLevel as FfiLogLevel
import dev.psync.internal.LogSink

/** Severity of a psync log line. */
enum class LogLevel {
    /** Details of the sync protocol. */
    DEBUG,

    /** Normal progress. */
    INFO,

    /** Something went wrong and is being retried or worked around (a failed sync attempt or upload). */
    WARNING,
}

/**
 * Receives psync's log lines: sync retries, failed uploads, protocol events; never tokens or row
 * data. Called on a psync thread, one line at a time, in order. Route them to your logging
 * library (Kermit, SLF4J, Logcat); psync prints nothing by itself.
 */
fun interface PSyncLogger {
    fun log(level: LogLevel, message: String)
}

/** The generated sink, calling the app's logger; a throwing logger loses only that line. */
internal class LogSinkAdapter(private val logger: PSyncLogger) : LogSink {
    override fun log(level: FfiLogLevel, message: String) {
        val public =
            when (level) {
                FfiLogLevel.DEBUG -> LogLevel.DEBUG
                FfiLogLevel.INFO -> LogLevel.INFO
                FfiLogLevel.WARNING -> LogLevel.WARNING
            }
        try {
            logger.log(public, message)
        } catch (_: Exception) {
            // Nowhere to report it: the logger is where reports go.
        }
    }
}
