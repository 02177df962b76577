// SPDX-License-Identifier: Apache-2.0
package dev.psync

import dev.psync.internal.version as nativeVersion

/** Facts about the psync library itself. */
object Psync {
    /** The psync version, as sent in the `User-Agent` (`psync/<version> (kotlin)`). */
    val VERSION: String by lazy { nativeVersion() }
}
