package org.jabberkit.app

import android.content.Context
import android.net.ConnectivityManager
import android.net.LinkProperties
import android.net.Network
import org.jabberkit.kt.JabberKit

/**
 * Tells JabberKit about the device's default network: its loss stops connection attempts, a
 * new one (say, Wi-Fi to mobile data) retries at once instead of waiting out the backoff.
 * Each network's DNS servers go with it: Android does not let the core read the system's, and
 * without them there is no SRV lookup (XEP-0368), only the domain itself.
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
            connectivity.getLinkProperties(network)?.let(::passDns)
            kit.networkAvailable(true)
        }

        override fun onLinkPropertiesChanged(network: Network, properties: LinkProperties) = report {
            if (network == current) passDns(properties)
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

    /** The network's DNS servers, as addresses (a link-local one loses its `%interface`). */
    private fun passDns(properties: LinkProperties) {
        val servers = properties.dnsServers.mapNotNull { it.hostAddress?.substringBefore('%') }
        runCatching { kit.setDnsServers(servers) }
    }

    private fun report(block: () -> Unit) {
        synchronized(lock) {
            if (!stopped) block()
        }
    }
}
