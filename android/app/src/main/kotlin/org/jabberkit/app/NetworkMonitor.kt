package org.jabberkit.app

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import org.jabberkit.kt.JabberKit

/**
 * Tells JabberKit about the device's default network: its loss stops connection attempts, a
 * new one (say, Wi-Fi to mobile data) retries at once instead of waiting out the backoff.
 *
 * The callbacks run on ConnectivityManager's own thread; [JabberKit.networkAvailable] returns
 * at once. Call [stop] before closing [kit].
 */
class NetworkMonitor(context: Context, private val kit: JabberKit) {
    private val connectivity = checkNotNull(context.getSystemService(ConnectivityManager::class.java))
    private val lock = Any()
    private var stopped = false

    /** The default network JabberKit was last told about, or null. */
    private var current: Network? = null

    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onAvailable(network: Network) = report {
            current = network
            kit.networkAvailable(true)
        }

        override fun onLost(network: Network) = report {
            // A loss reported after the replacement network's arrival changes nothing.
            if (network == current) {
                current = null
                kit.networkAvailable(false)
            }
        }
    }

    init {
        // With no network at all, no callback comes: say so first.
        if (connectivity.activeNetwork == null) kit.networkAvailable(false)
        connectivity.registerDefaultNetworkCallback(callback)
    }

    /** Stops reporting; no call reaches [kit] once this returns. Idempotent. */
    fun stop() {
        synchronized(lock) {
            if (stopped) return
            stopped = true
        }
        connectivity.unregisterNetworkCallback(callback)
    }

    private fun report(block: () -> Unit) {
        synchronized(lock) {
            if (!stopped) block()
        }
    }
}
