package org.jabberkit.viewmodel

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import org.jabberkit.ConnectionState
import org.jabberkit.FailureReason
import org.jabberkit.kt.JabberKit

/** The line shown above every screen while the account is not online. */
class ConnectionBannerViewModel(kit: JabberKit, scope: CoroutineScope) {
    /** The banner's text, or null when online (no banner). */
    val banner: StateFlow<String?> = kit.connectionState
        .map(::bannerText)
        .stateIn(scope, SharingStarted.Eagerly, bannerText(kit.connectionState.value))

    companion object {
        /** The banner for [state]: null when online. */
        fun bannerText(state: ConnectionState): String? = when (state) {
            is ConnectionState.Online -> null
            is ConnectionState.Disconnected -> "Offline"
            is ConnectionState.Connecting -> "Connecting…"
            is ConnectionState.Suspended -> "Connection lost. Reconnecting…"
            is ConnectionState.Reconnecting -> {
                val seconds = (state.retryInMs + 999uL) / 1000uL
                if (seconds == 0uL) "Reconnecting…" else "No connection. Retrying in $seconds s…"
            }
            is ConnectionState.Failed -> when (val reason = state.reason) {
                is FailureReason.Authentication -> "Wrong address or password. Sign in again."
                is FailureReason.Certificate -> "The server's certificate is not trusted: ${reason.detail}"
                is FailureReason.Downgrade -> "The server offered a weaker sign-in than before. Not connecting."
            }
        }
    }
}
