package org.jabberkit.kt

import java.io.BufferedReader
import java.io.File
import java.io.Writer
import java.util.concurrent.TimeUnit
import org.jabberkit.ClientConfig
import org.jabberkit.Password
import org.jabberkit.TlsMode

/** The repository, found through the property the Maven build sets. */
object Repo {
    val root: File = File(System.getProperty("jabberkit.repo.root") ?: "../..").canonicalFile

    val prosodyScript: File = File(root, "scripts/prosody")

    /** Built by `cargo build -p jabberkit-testkit --example fault_proxy`. */
    val faultProxy: File =
        File(System.getProperty("jabberkit.fault.proxy") ?: File(root, "target/debug/examples/fault_proxy").path)
}

/** Runs [command], returns its stdout, and fails with its stderr if it exits non-zero. */
private fun run(vararg command: String, stderrTo: File): String {
    val process = ProcessBuilder(*command)
        .redirectError(ProcessBuilder.Redirect.appendTo(stderrTo))
        .start()
    val out = process.inputStream.bufferedReader().use(BufferedReader::readText)
    check(process.waitFor(60, TimeUnit.SECONDS)) { "${command.joinToString(" ")} did not finish in 60 s" }
    check(process.exitValue() == 0) {
        "${command.joinToString(" ")} exited with ${process.exitValue()}:\n${stderrTo.readText().takeLast(4000)}"
    }
    return out
}

/**
 * A throwaway Prosody 13 on free loopback ports, started by `scripts/prosody` in [dir], with its
 * own CA. It is stopped by [close], or by the script's watcher if this JVM dies first.
 */
class TestServer private constructor(val dir: File, values: Map<String, String>) : AutoCloseable {
    val domain: String = values.getValue("DOMAIN")
    val starttlsPort: Int = values.getValue("STARTTLS_PORT").toInt()
    val directTlsPort: Int = values.getValue("DIRECT_TLS_PORT").toInt()
    val caPem: String = File(values.getValue("CA")).readText()
    private var accounts = 0

    /** Creates a fresh account on the server and returns its bare JID; the password is [password]. */
    fun newAccount(name: String, password: String = PASSWORD): String {
        accounts += 1
        val user = "$name$accounts"
        run(Repo.prosodyScript.path, "register", dir.path, user, password, stderrTo = File(dir, "script.log"))
        return "$user@$domain"
    }

    /** A test account's configuration: this server, its CA, short keepalive and retry timings. */
    fun config(
        jid: String,
        storeDir: File,
        password: String = PASSWORD,
        tls: TlsMode = TlsMode.START_TLS,
        server: String = "127.0.0.1:${if (tls == TlsMode.START_TLS) starttlsPort else directTlsPort}",
    ) = ClientConfig(
        jid = jid,
        password = Password(password),
        server = server,
        tls = tls,
        extraCaPem = caPem,
        storeDir = storeDir.path,
        keepaliveSecs = 2u,
        minRetryMs = 200u,
        maxRetryMs = 2000u,
    )

    /** The test XEP-0357 app server (`mod_test_push_sink`), a component of this server. */
    val pushService: String get() = "push.$domain"

    /**
     * Every notification [pushService] has received so far, oldest first: the complete lines of
     * `DIR/push.jsonl` (a line being written is left for the next read).
     */
    fun pushNotifications(): List<PushNotification> {
        val file = File(dir, "push.jsonl")
        if (!file.exists()) return emptyList()
        val text = file.readText()
        return text.substring(0, text.lastIndexOf('\n') + 1).lines().filter { it.isNotBlank() }.map(PushNotification::parse)
    }

    override fun close() {
        run(Repo.prosodyScript.path, "stop", dir.path, stderrTo = File(dir, "script.log"))
    }

    companion object {
        const val PASSWORD = "s3cret-Pa55"

        fun start(dir: File): TestServer {
            dir.mkdirs()
            val out = run(
                Repo.prosodyScript.path, "start", dir.path,
                "--watch-pid", ProcessHandle.current().pid().toString(),
                stderrTo = File(dir, "script.log"),
            )
            val values = out.lines().filter { '=' in it }.associate { it.substringBefore('=') to it.substringAfter('=') }
            return TestServer(dir, values)
        }
    }
}

/**
 * One notification as the test app server got it (one line of `push.jsonl`): who published it
 * (our server, not the account), the node and secret the client enabled push with, and the
 * summary. [error] is true for nodes named `fail...`, which the sink answers with an error.
 */
data class PushNotification(
    val from: String?,
    val node: String?,
    val secret: String?,
    val count: Int?,
    val sender: String?,
    val body: String?,
    val error: Boolean,
) {
    companion object {
        // The sink writes one flat JSON object of strings, numbers, booleans and nulls:
        // a regex per member is enough, and the test classpath has no JSON library.
        private val member = Regex(""""(\w+)"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+|true|false|null)""")
        private val escape = Regex("""\\(u[0-9a-fA-F]{4}|.)""")

        fun parse(line: String): PushNotification {
            val values = member.findAll(line).associate { it.groupValues[1] to it.groupValues[2] }
            fun string(key: String): String? = values[key]?.takeIf { it.startsWith('"') }?.let { quoted ->
                escape.replace(quoted.substring(1, quoted.length - 1)) { m ->
                    val e = m.groupValues[1]
                    when {
                        e.length == 5 -> e.substring(1).toInt(16).toChar().toString()
                        e == "n" -> "\n"
                        e == "t" -> "\t"
                        e == "r" -> "\r"
                        else -> e
                    }
                }
            }
            return PushNotification(
                from = string("from"),
                node = string("node"),
                secret = string("secret"),
                count = values["count"]?.toIntOrNull(),
                sender = string("sender"),
                body = string("body"),
                error = values["error"] == "true",
            )
        }
    }
}

/**
 * The testkit's fault-injecting TCP proxy (`fault_proxy`) in front of [upstreamPort]; clients
 * connect to [addr]. [command] sends `reset`, `blackhole`, `pass`, `refuse`, `delay MS` or `status`.
 */
class FaultProxy(upstreamPort: Int, logDir: File) : AutoCloseable {
    private val process: Process = ProcessBuilder(Repo.faultProxy.path, "--upstream", "127.0.0.1:$upstreamPort")
        .redirectError(ProcessBuilder.Redirect.appendTo(File(logDir, "fault_proxy.log")))
        .start()
    private val output: BufferedReader = process.inputStream.bufferedReader()
    private val input: Writer = process.outputStream.bufferedWriter()

    /** `127.0.0.1:PORT`, where clients connect. */
    val addr: String = output.readLine()?.removePrefix("ADDR=")
        ?: error("fault_proxy printed no ADDR= line (exit ${process.waitFor()})")

    /** Sends [line] and returns the proxy's answer (for `status`, the STATUS line). */
    @Synchronized
    fun command(line: String): String {
        input.write(line + "\n")
        input.flush()
        val answer = output.readLine() ?: error("fault_proxy exited")
        if (line == "status") {
            val ok = output.readLine()
            check(ok == "OK status") { "fault_proxy answered $ok to status" }
            return answer
        }
        check(answer == "OK $line") { "fault_proxy answered $answer to $line" }
        return answer
    }

    /** Live connections through the proxy, from `status`. */
    fun liveConnections(): Int =
        Regex("live=(\\d+)").find(command("status"))?.groupValues?.get(1)?.toInt()
            ?: error("no live= in the proxy's status")

    override fun close() {
        runCatching { input.close() }
        if (!process.waitFor(5, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor()
        }
    }
}
