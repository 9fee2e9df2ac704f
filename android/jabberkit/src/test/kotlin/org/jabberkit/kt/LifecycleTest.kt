package org.jabberkit.kt

import java.io.File
import java.lang.management.ManagementFactory
import java.lang.ref.WeakReference
import java.util.Collections
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.runBlocking
import org.jabberkit.Client
import org.jabberkit.ConnectionState
import org.jabberkit.ConnectionStateListener
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class LifecycleTest : LiveServerTest() {
    private fun osThreads(): Int = File("/proc/self/task").list()?.size ?: error("no /proc/self/task")

    private fun openFiles(): Int = File("/proc/self/fd").list()?.size ?: error("no /proc/self/fd")

    private fun jvmThreads(): Int = ManagementFactory.getThreadMXBean().threadCount

    /** Waits until [measure] is at most [limit]; the last value is in the failure. */
    private suspend fun awaitAtMost(what: String, limit: Int, measure: () -> Int) {
        polling(measure = measure).await("$what <= $limit") { it <= limit }
    }

    @Test
    fun `close is idempotent and later calls fail cleanly`() = runBlocking<Unit> {
        val proxy = faultProxy()
        val kit = open(server.config(server.newAccount("alice"), newStoreDir(), server = proxy.addr))
        kit.connect()
        kit.connectionState.await("Online") { it is ConnectionState.Online }
        assertEquals(1, proxy.liveConnections())

        kit.close()
        kit.close()

        assertThrows<IllegalStateException> { kit.connect() }
        assertThrows<IllegalStateException> { kit.networkAvailable(true) }
        // Closing ends the connection.
        polling { proxy.liveConnections() }.await("no live connection after close") { it == 0 }
    }

    @Test
    fun `a client opened with a scope closes when the scope ends`() = runBlocking<Unit> {
        val owner = CoroutineScope(Job())
        val kit = closeLater(JabberKit(server.config(server.newAccount("alice"), newStoreDir()), owner))
        kit.connect()
        owner.cancel()
        assertThrows<IllegalStateException> { kit.connect() }
        // A scope that is already over closes the client at once.
        val late = closeLater(JabberKit(server.config(server.newAccount("bob"), newStoreDir()), owner))
        assertThrows<IllegalStateException> { late.connect() }
    }

    @Test
    fun `a cancelled listener hears nothing more, and handles close twice`() = runBlocking<Unit> {
        val client = closeLater(Client(server.config(server.newAccount("alice"), newStoreDir())))
        val cancelled = Collections.synchronizedList(mutableListOf<ConnectionState>())
        val kept = MutableStateFlow<List<ConnectionState>>(emptyList())
        val first = client.observeConnectionState(
            object : ConnectionStateListener {
                override fun onState(state: ConnectionState) {
                    cancelled += state
                }
            },
        )
        val second = client.observeConnectionState(
            object : ConnectionStateListener {
                override fun onState(state: ConnectionState) {
                    kept.update { it + state }
                }
            },
        )
        first.cancel()
        first.close()
        first.close()
        client.connect()

        kept.await("Online at the kept listener") { ConnectionState.Online(resumed = false) in it }
        assertEquals(ConnectionState.Disconnected, kept.value.first(), "the current state comes first")
        assertTrue(cancelled.none { it is ConnectionState.Connecting || it is ConnectionState.Online }, "$cancelled")
        second.cancel()
        second.close()
        assertThrows<IllegalStateException> { second.cancel() }
        client.close()
        client.close()
    }

    @Test
    fun `a client the app forgot to close is freed by the garbage collector`() = runBlocking<Unit> {
        val proxy = faultProxy()
        val jid = server.newAccount("alice")
        // In a function of its own, so no local variable keeps it reachable.
        suspend fun openAndForget(): WeakReference<JabberKit> {
            val kit = JabberKit(server.config(jid, newStoreDir(), server = proxy.addr))
            kit.connect()
            kit.connectionState.await("Online") { it is ConnectionState.Online }
            return WeakReference(kit)
        }
        val forgotten = openAndForget()
        assertEquals(1, proxy.liveConnections())

        polling {
            System.gc()
            forgotten.get() == null
        }.await("the forgotten client collected") { it }
        polling {
            System.gc() // the native handles are freed by uniffi's cleaner after a collection
            proxy.liveConnections()
        }.await("its connection closed") { it == 0 }
    }

    @Test
    fun `opening and closing 20 connected clients leaks no threads and no files`() = runBlocking<Unit> {
        val jid = server.newAccount("alice")
        val peer = server.newAccount("bob")
        suspend fun cycle() {
            JabberKit(server.config(jid, newStoreDir())).use { kit ->
                val events = scope.record(kit.messages) // a subscriber, as an app would have
                kit.connect()
                kit.connectionState.await("Online") { it is ConnectionState.Online }
                kit.send(peer, "hi")
                events.awaitValue("the queued message") { it is MessageEvent.New }
            }
        }
        // Warm up: the runtime, the JNA callback machinery, the server's caches.
        cycle()
        val threads = osThreads()
        val files = openFiles()
        val jvm = jvmThreads()

        repeat(20) { cycle() }

        // Background work winds down after close (streams closing, idle pool threads): wait for
        // it, bounded. A leak per client would leave 20 or more behind.
        awaitAtMost("OS threads (was $threads)", threads + 8) { osThreads() }
        awaitAtMost("open files (was $files)", files + 8) { openFiles() }
        awaitAtMost("JVM threads (was $jvm)", jvm + 8) { jvmThreads() }
    }
}
