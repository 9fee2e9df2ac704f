package org.jabberkit.kt

import org.jabberkit.JabberKitException

/** The human-readable reason of any [JabberKitException], whatever its kind. */
val JabberKitException.reason: String
    get() = when (this) {
        is JabberKitException.InvalidInput -> reason
        is JabberKitException.NotConnected -> "not connected"
        is JabberKitException.StoreTooNew -> "the message store is from a newer JabberKit (schema $found; this build reads up to $supported)"
        is JabberKitException.Storage -> reason
        is JabberKitException.Other -> reason
    }
