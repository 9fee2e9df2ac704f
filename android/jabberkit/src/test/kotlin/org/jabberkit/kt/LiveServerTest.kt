package org.jabberkit.kt

import java.io.File
import java.nio.file.Files
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.onSubscription
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import org.jabberkit.ClientConfig
import org.jabberkit.LogLevel
import org.jabberkit.initLogging
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.fail

/** How long any single expectation may take before the test fails. */
const val TIMEOUT_MS = 30_000L

/**
 * Base of the tests that need a live server: one [TestServer] per test class (in a temporary
 * directory, stopped after the last test), and per test a [scope] and the clients opened with
 * [open], all closed after it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class LiveServerTest {
    lateinit var root: File
    lateinit var server: TestServer
    lateinit var scope: CoroutineScope
    private val opened = mutableListOf<AutoCloseable>()
    private var stores = 0

    @BeforeAll
    fun startServer() {
        initLogging(LogLevel.WARN)
        root = Files.createTempDirectory("jabberkit-kotlin-").toFile()
        server = TestServer.start(File(root, "server"))
    }

    @AfterAll
    fun stopServer() {
        if (::server.isInitialized) server.close()
        if (::root.isInitialized && System.getProperty("jabberkit.keepTestDirs") != "true") root.deleteRecursively()
    }

    @BeforeEach
    fun newScope() {
        scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    }

    @AfterEach
    fun closeAll() {
        scope.cancel()
        synchronized(opened) {
            opened.asReversed().forEach { it.close() }
            opened.clear()
        }
    }

    /** A new, empty store directory. */
    @Synchronized
    fun newStoreDir(): File = File(root, "store-${++stores}").also { it.mkdirs() }

    /** Closes [closeable] after the test. */
    fun <T : AutoCloseable> closeLater(closeable: T): T = closeable.also { synchronized(opened) { opened += it } }

    /** A client for [config], closed after the test. */
    fun open(config: ClientConfig): JabberKit = closeLater(JabberKit(config))

    /** A fault proxy in front of the server's STARTTLS port, closed after the test. */
    fun faultProxy(): FaultProxy = closeLater(FaultProxy(server.starttlsPort, root))
}

/** [measure]'s value every [intervalMs], for [await]ing a condition that nothing announces. */
fun <T> polling(intervalMs: Long = 100, measure: () -> T): Flow<T> = flow {
    while (true) {
        emit(measure())
        delay(intervalMs)
    }
}

/** The first value matching [predicate], or a failure naming [what] and the last value seen. */
suspend fun <T> Flow<T>.await(what: String, timeoutMs: Long = TIMEOUT_MS, predicate: (T) -> Boolean): T {
    var last: Any? = "nothing"
    val found = withTimeoutOrNull(timeoutMs) {
        listOf(
            first {
                last = it
                predicate(it)
            },
        )
    }
    return found?.single() ?: fail("no $what within $timeoutMs ms; last seen: $last")
}

/** Everything a [SharedFlow] emits from the moment [record] returns, kept for assertions. */
class Recording<T> internal constructor() {
    internal val seen = MutableStateFlow<List<T>>(emptyList())

    /** What was recorded so far. */
    val values: List<T> get() = seen.value

    /** Waits until the recording satisfies [predicate] and returns it. */
    suspend fun await(what: String, predicate: (List<T>) -> Boolean): List<T> = seen.await(what, predicate = predicate)

    /**
     * Waits until [read] (state an event says to re-read, such as the roster) satisfies
     * [predicate], reading again after each new recorded event, and returns it. The event count
     * is taken *before* each read: an event that lands between the read and the wait then still
     * wakes it (counting after the read would wait for an event that already came).
     */
    suspend fun <R> awaitRead(what: String, read: suspend () -> R, predicate: (R) -> Boolean): R {
        var last: Any? = "nothing"
        val found = withTimeoutOrNull(TIMEOUT_MS) {
            var result: R
            while (true) {
                val before = seen.value.size
                result = read()
                last = result
                if (predicate(result)) break
                seen.first { it.size > before }
            }
            listOf(result)
        }
        return found?.single() ?: fail("no $what within $TIMEOUT_MS ms; last read: $last")
    }

    /** Waits for a value matching [predicate] and returns it. */
    suspend fun awaitValue(what: String, predicate: (T) -> Boolean): T =
        await(what) { values -> values.any(predicate) }.first(predicate)
}

/** Starts recording [flow] in this scope; returns once subscribed, so nothing emitted afterwards is missed. */
suspend fun <T> CoroutineScope.record(flow: SharedFlow<T>): Recording<T> {
    val recording = Recording<T>()
    val subscribed = CompletableDeferred<Unit>()
    launch {
        flow.onSubscription { subscribed.complete(Unit) }
            .collect { value -> recording.seen.update { it + value } }
    }
    subscribed.await()
    return recording
}
