// Test support: a throwaway Prosody per test class (scripts/prosody), the
// testkit's fault proxy, and ways to wait on events or on a polled condition
// with a deadline. The Swift counterpart of the Kotlin tests' TestServer.kt
// and LiveServerTest.kt (android/jabberkit/src/test/kotlin/org/jabberkit/kt/).
//
// Run with scripts/swift, which builds the Rust library and the fault proxy
// and provides Prosody. Elsewhere (a Mac) a test class whose server
// `scripts/prosody start` cannot start is skipped; on Linux that is a failure.
import Foundation
import JabberKit
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How long any single expectation may take before the test fails.
let timeout: Duration = .seconds(30)

/// A failed expectation, thrown so that the test stops there.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The repository, from this file's path (…/ios/JabberKit/Tests/JabberKitTests/Support.swift).
enum Repo {
    static let root: URL = {
        if let dir = ProcessInfo.processInfo.environment["JABBERKIT_REPO_ROOT"] {
            return URL(fileURLWithPath: dir)
        }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<5 { url.deleteLastPathComponent() }
        return url
    }()

    static let prosodyScript = root.appendingPathComponent("scripts/prosody").path

    /// Built by `cargo build -p jabberkit-testkit --example fault_proxy`.
    static var faultProxy: String {
        let env = ProcessInfo.processInfo.environment
        if let path = env["JABBERKIT_FAULT_PROXY"] { return path }
        let target = env["CARGO_TARGET_DIR"].map { $0.hasPrefix("/") ? $0 : root.path + "/" + $0 }
            ?? root.path + "/target"
        return target + "/debug/examples/fault_proxy"
    }
}

/// A child process started with posix_spawn and reaped with waitpid.
/// (Foundation's `Process` left its children unreaped under XCTest on Linux:
/// `waitUntilExit()` never returned.)
struct Child {
    let pid: pid_t

    /// Starts `arguments` with the given descriptors as its stdin, stdout
    /// and stderr; every other descriptor of ours is close-on-exec.
    init(_ arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32) throws {
        #if os(Linux)
        var actions = posix_spawn_file_actions_t()
        let environment = environ
        #else
        var actions: posix_spawn_file_actions_t?
        let environment = _NSGetEnviron().pointee
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, environment)
        guard rc == 0 else { throw TestFailure("cannot start \(arguments[0]): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// Waits for the exit and returns the status (128 + signal if killed).
    @discardableResult
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return exitCode(status)
    }

    /// The exit status if it has exited, without blocking.
    func exited() -> Int32? {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == pid ? exitCode(status) : nil
    }

    private func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// A pipe whose two ends are close-on-exec (the child gets its end by dup2).
func makePipe() throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw TestFailure("pipe failed: errno \(errno)") }
    // (pipe2 is Linux-only; nothing else in the tests spawns a child meanwhile.)
    _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
    _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
    return (fds[0], fds[1])
}

/// Opens `url` for appending (created if missing), close-on-exec.
func openLog(_ url: URL) throws -> Int32 {
    let fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw TestFailure("cannot open \(url.path): errno \(errno)") }
    return fd
}

/// write(2), under a name no method shadows.
func writeFD(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, bytes, count)
}

/// Reads `fd` to its end.
func readAll(_ fd: Int32) -> Data {
    var data = Data()
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return data }
        data.append(contentsOf: chunk[0..<n])
    }
}

/// Runs `arguments`, returns its stdout; throws with the end of its stderr
/// (appended to `stderrTo`) if it exits non-zero.
@discardableResult
func run(_ arguments: [String], stderrTo log: URL) throws -> String {
    let errors = try openLog(log)
    defer { close(errors) }
    let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
    defer { close(null) }
    let output = try makePipe()
    let child: Child
    do {
        child = try Child(arguments, stdin: null, stdout: output.write, stderr: errors)
    } catch {
        close(output.read)
        close(output.write)
        throw error
    }
    close(output.write)
    let data = readAll(output.read)
    close(output.read)
    let status = child.wait()
    guard status == 0 else {
        let tail = (try? String(contentsOf: log, encoding: .utf8)).map { String($0.suffix(4000)) } ?? ""
        throw TestFailure("\(arguments.joined(separator: " ")) exited with \(status):\n\(tail)")
    }
    return String(decoding: data, as: UTF8.self)
}

/// A throwaway Prosody 13 on free loopback ports, started by `scripts/prosody`
/// in `dir`, with its own CA. Stopped by `stop()`, or by the script's watcher
/// if this process dies first.
final class TestServer: @unchecked Sendable {
    static let password = "s3cret-Pa55"

    let dir: URL
    let domain: String
    let starttlsPort: Int
    let directTlsPort: Int
    let caPem: String
    private let lock = NSLock()
    private var accounts = 0

    private var log: URL { dir.appendingPathComponent("script.log") }

    init(dir: URL) throws {
        self.dir = dir
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let out = try run(
            [Repo.prosodyScript, "start", dir.path, "--watch-pid", String(getpid())],
            stderrTo: dir.appendingPathComponent("script.log"))
        var values: [String: String] = [:]
        for line in out.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            values[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let domain = values["DOMAIN"], let starttls = values["STARTTLS_PORT"].flatMap(Int.init),
              let direct = values["DIRECT_TLS_PORT"].flatMap(Int.init), let ca = values["CA"]
        else { throw TestFailure("scripts/prosody start printed no DOMAIN/ports/CA: \(out)") }
        self.domain = domain
        starttlsPort = starttls
        directTlsPort = direct
        caPem = try String(contentsOfFile: ca, encoding: .utf8)
    }

    /// Creates a fresh account and returns its bare JID.
    func newAccount(_ name: String, password: String = TestServer.password) throws -> String {
        let user: String = lock.withLock {
            accounts += 1
            return "\(name)\(accounts)"
        }
        try run([Repo.prosodyScript, "register", dir.path, user, password], stderrTo: log)
        return "\(user)@\(domain)"
    }

    /// A test account's configuration: this server, its CA, short keepalive and retry timings.
    func config(
        _ jid: String, store: URL, password: String = TestServer.password, tls: TlsMode = .startTls,
        server: String? = nil
    ) -> ClientConfig {
        ClientConfig(
            jid: jid, password: Password(value: password),
            server: server ?? "127.0.0.1:\(tls == .startTls ? starttlsPort : directTlsPort)",
            tls: tls, extraCaPem: caPem, storeDir: store.path,
            keepaliveSecs: 2, minRetryMs: 200, maxRetryMs: 2000)
    }

    /// The test XEP-0357 app server (`mod_test_push_sink`), a component of this server.
    var pushService: String { "push.\(domain)" }

    /// Every notification `pushService` has received so far, oldest first:
    /// the complete lines of `DIR/push.jsonl` (a line being written is left
    /// for the next read).
    func pushNotifications() throws -> [PushNotification] {
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent("push.jsonl").path),
              let end = data.lastIndex(of: UInt8(ascii: "\n"))
        else { return [] }
        return try data[..<end].split(separator: UInt8(ascii: "\n")).map {
            try JSONDecoder().decode(PushNotification.self, from: Data($0))
        }
    }

    func stop() {
        _ = try? run([Repo.prosodyScript, "stop", dir.path], stderrTo: log)
    }
}

/// One notification as the test app server got it (one line of
/// `push.jsonl`): who published it (our server, not the account), the node
/// and secret the client enabled push with, and the summary. `error` is true
/// for nodes named `fail...`, which the sink answers with an error.
struct PushNotification: Decodable, Sendable {
    let from: String?
    let node: String?
    let secret: String?
    let count: Int?
    let sender: String?
    let body: String?
    let error: Bool
}

/// The testkit's fault-injecting TCP proxy (`fault_proxy`) in front of
/// `upstreamPort`; clients connect to `addr`. `command` sends `reset`,
/// `blackhole`, `pass`, `refuse`, `delay MS` or `status`.
final class FaultProxy: @unchecked Sendable {
    private let child: Child
    private let input: Int32
    private let output: Int32
    private let lock = NSLock()
    private var buffer = Data()
    private var stopped = false

    /// `127.0.0.1:PORT`, where clients connect.
    private(set) var addr = ""

    init(upstreamPort: Int, logDir: URL) throws {
        let log = try openLog(logDir.appendingPathComponent("fault_proxy.log"))
        defer { close(log) }
        let stdin = try makePipe()
        let stdout = try makePipe()
        do {
            child = try Child(
                [Repo.faultProxy, "--upstream", "127.0.0.1:\(upstreamPort)"],
                stdin: stdin.read, stdout: stdout.write, stderr: log)
        } catch {
            [stdin.read, stdin.write, stdout.read, stdout.write].forEach { close($0) }
            throw error
        }
        close(stdin.read)
        close(stdout.write)
        input = stdin.write
        output = stdout.read
        guard let first = readLine(), first.hasPrefix("ADDR=") else {
            stop()
            throw TestFailure("fault_proxy printed no ADDR= line")
        }
        addr = String(first.dropFirst("ADDR=".count))
    }

    /// One line of the proxy's stdout (blocks; the proxy answers at once).
    private func readLine() -> String? {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                return String(decoding: line, as: UTF8.self)
            }
            let n = read(output, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    private func write(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { writeFD(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TestFailure("cannot write to fault_proxy: errno \(errno)") }
            done += n
        }
    }

    /// Sends `line` and returns the proxy's answer (for `status`, the STATUS line).
    @discardableResult
    func command(_ line: String) throws -> String {
        try lock.withLock {
            try write(line)
            guard let answer = readLine() else { throw TestFailure("fault_proxy exited") }
            if line == "status" {
                let ok = readLine()
                guard ok == "OK status" else { throw TestFailure("fault_proxy answered \(ok ?? "nothing") to status") }
                return answer
            }
            guard answer == "OK \(line)" else { throw TestFailure("fault_proxy answered \(answer) to \(line)") }
            return answer
        }
    }

    /// Live connections through the proxy, from `status`.
    func liveConnections() throws -> Int {
        let status = try command("status")
        guard let range = status.range(of: #"live=\d+"#, options: .regularExpression),
              let live = Int(status[range].dropFirst("live=".count))
        else { throw TestFailure("no live= in the proxy's status: \(status)") }
        return live
    }

    /// Closes its stdin (the proxy then exits) and reaps it; kills it after 5 s.
    func stop() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        close(input)
        let deadline = ContinuousClock.now + .seconds(5)
        while child.exited() == nil {
            if ContinuousClock.now >= deadline {
                kill(child.pid, SIGKILL)
                child.wait()
                break
            }
            usleep(10_000)
        }
        close(output)
    }
}

/// Everything a stream yields from the moment it was created, kept for
/// assertions; its consumer is a task of its own, which `cancel()` ends.
final class Recording<Element: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [Element] = []
    private var finished = false
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    private var consumer: Task<Void, Never>?

    /// Starts consuming `stream`. The session's streams buffer from the
    /// moment they are created, so nothing yielded after that is missed.
    init(_ stream: AsyncStream<Element>) {
        consumer = Task { [weak self] in
            for await value in stream {
                self?.append(value)
            }
            self?.finish()
        }
    }

    deinit { consumer?.cancel() }

    /// What was recorded so far.
    var values: [Element] { lock.withLock { seen } }

    /// Whether the stream has ended (finished, or its consumer was cancelled).
    var isFinished: Bool { lock.withLock { finished } }

    /// Cancels the consuming task, which ends the stream's iteration.
    func cancel() { consumer?.cancel() }

    /// Waits until the consuming task has returned.
    func waitUntilFinished(_ what: String) async throws {
        _ = try await self.waitFor(what) { _ in self.isFinished }
    }

    private func append(_ value: Element) {
        let wake = lock.withLock {
            seen.append(value)
            return takeWaiters()
        }
        wake.forEach { $0.resume() }
    }

    private func finish() {
        let wake = lock.withLock {
            finished = true
            return takeWaiters()
        }
        wake.forEach { $0.resume() }
    }

    private func takeWaiters() -> [CheckedContinuation<Void, Never>] {
        let all = Array(waiters.values)
        waiters.removeAll()
        return all
    }

    /// Returns once more than `count` values were recorded, the stream
    /// finished, or `deadline` passed.
    private func waitForChange(beyond count: Int, until deadline: ContinuousClock.Instant) async {
        let id: UInt64 = lock.withLock {
            nextWaiter += 1
            return nextWaiter
        }
        let timer = Task { [weak self] in
            try? await Task.sleep(until: deadline, clock: .continuous)
            self?.wake(id)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = lock.withLock {
                if seen.count > count || finished || ContinuousClock.now >= deadline { return true }
                waiters[id] = continuation
                return false
            }
            if now { continuation.resume() }
        }
        timer.cancel()
    }

    private func wake(_ id: UInt64) {
        let waiter = lock.withLock { waiters.removeValue(forKey: id) }
        waiter?.resume()
    }

    /// Waits until the recording satisfies `predicate` and returns it.
    @discardableResult
    func waitFor(_ what: String, within limit: Duration = timeout, _ predicate: ([Element]) -> Bool) async throws -> [Element] {
        let deadline = ContinuousClock.now + limit
        while true {
            let snapshot = values
            if predicate(snapshot) { return snapshot }
            if ContinuousClock.now >= deadline {
                throw TestFailure("no \(what) within \(limit); recorded: \(snapshot)")
            }
            await waitForChange(beyond: snapshot.count, until: deadline)
        }
    }

    /// Waits for a value matching `predicate` and returns the first such value.
    @discardableResult
    func awaitValue(_ what: String, _ predicate: (Element) -> Bool) async throws -> Element {
        let values = try await self.waitFor(what) { $0.contains(where: predicate) }
        return values.first(where: predicate)!
    }

    /// Waits until `read` (state an event says to re-read, such as the
    /// roster) satisfies `predicate`, reading again after each new recorded
    /// event, and returns it. The event count is taken *before* each read:
    /// an event that lands between the read and the wait then still wakes it.
    @discardableResult
    func awaitRead<R>(_ what: String, _ read: () throws -> R, until predicate: (R) -> Bool) async throws -> R {
        let deadline = ContinuousClock.now + timeout
        while true {
            let before = values.count
            let result = try read()
            if predicate(result) { return result }
            if ContinuousClock.now >= deadline {
                throw TestFailure("no \(what) within \(timeout); last read: \(result)")
            }
            await waitForChange(beyond: before, until: deadline)
        }
    }
}

/// Polls `measure` every `interval` until `predicate` holds, for a condition
/// that nothing announces (a proxy's connection count); fails at the deadline
/// with the last value.
@discardableResult
func poll<T>(
    _ what: String, every interval: Duration = .milliseconds(50), within limit: Duration = timeout,
    _ measure: () throws -> T, until predicate: (T) -> Bool
) async throws -> T {
    let deadline = ContinuousClock.now + limit
    while true {
        let value = try measure()
        if predicate(value) { return value }
        if ContinuousClock.now >= deadline { throw TestFailure("no \(what) within \(limit); last: \(value)") }
        try await Task.sleep(for: interval)
    }
}

/// Base of the tests that need a live server: one `TestServer` per test
/// class (in a temporary directory, stopped after the class's last test);
/// per test, the proxies and recordings it made, stopped after it.
class LiveServerTestCase: XCTestCase, @unchecked Sendable {
    nonisolated(unsafe) private static var servers: [ObjectIdentifier: (root: URL, server: TestServer)] = [:]
    nonisolated(unsafe) private static var startErrors: [ObjectIdentifier: String] = [:]
    private static let lock = NSLock()

    private var cleanups: [() -> Void] = []
    private var stores = 0

    override class func setUp() {
        super.setUp()
        guard self != LiveServerTestCase.self else { return }
        JabberKitSession.enableLogging(.warn)
        // SIGPIPE keeps its default action here (it kills the process), as
        // in any Swift or C app: the core must never raise it. It did, about
        // one run in ten, when a TLS write through writev(2) met a link the
        // fault proxy had reset; core/src/connection/socket.rs now writes
        // with send(MSG_NOSIGNAL) only, and these tests prove it.
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("jabberkit-swift-\(self)-\(UUID().uuidString.prefix(8))")
        do {
            let server = try TestServer(dir: root.appendingPathComponent("server"))
            lock.withLock { servers[ObjectIdentifier(self)] = (root, server) }
        } catch {
            lock.withLock { startErrors[ObjectIdentifier(self)] = "\(error)" }
        }
    }

    override class func tearDown() {
        if let entry = lock.withLock({ servers.removeValue(forKey: ObjectIdentifier(self)) }) {
            entry.server.stop()
            if ProcessInfo.processInfo.environment["JABBERKIT_KEEP_TEST_DIRS"] == nil {
                try? FileManager.default.removeItem(at: entry.root)
            }
        }
        super.tearDown()
    }

    private var entry: (root: URL, server: TestServer)? {
        Self.lock.withLock { Self.servers[ObjectIdentifier(type(of: self))] }
    }

    /// This class's server.
    var server: TestServer { entry!.server }

    /// This class's temporary directory.
    var root: URL { entry!.root }

    override func setUpWithError() throws {
        try super.setUpWithError()
        if entry == nil {
            let error = Self.lock.withLock { Self.startErrors[ObjectIdentifier(type(of: self))] } ?? "not started"
            #if os(Linux)
            throw TestFailure("no Prosody for \(type(of: self)): \(error)")
            #else
            throw XCTSkip("no Prosody for the live tests (run them on Linux with scripts/swift): \(error)")
            #endif
        }
    }

    override func tearDown() {
        for cleanup in cleanups.reversed() { cleanup() }
        cleanups.removeAll()
        super.tearDown()
    }

    /// A new, empty store directory.
    func newStore() throws -> URL {
        stores += 1
        let dir = root.appendingPathComponent("\(name.filter { $0.isLetter || $0.isNumber })-store-\(stores)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A fault proxy in front of the server's STARTTLS port, stopped after the test.
    func faultProxy() throws -> FaultProxy {
        let proxy = try FaultProxy(upstreamPort: server.starttlsPort, logDir: root)
        cleanups.append { proxy.stop() }
        return proxy
    }

    /// Records `stream` until the end of the test.
    func record<T: Sendable>(_ stream: AsyncStream<T>) -> Recording<T> {
        let recording = Recording(stream)
        cleanups.append { recording.cancel() }
        return recording
    }

    /// Waits until the session's state satisfies `predicate` (the current
    /// state counts) and returns that state.
    @discardableResult
    func awaitState(
        _ session: JabberKitSession, _ what: String, _ predicate: @escaping (ConnectionState) -> Bool
    ) async throws -> ConnectionState {
        let states = Recording(session.states)
        defer { states.cancel() }
        return try await states.awaitValue(what, predicate)
    }

    /// Connects and waits until online.
    func online(_ session: JabberKitSession) async throws {
        try session.connect()
        try await awaitState(session, "\(session.jid) online") {
            if case .online = $0 { return true } else { return false }
        }
    }
}

extension ConnectionState {
    var isOnline: Bool { if case .online = self { return true } else { return false } }
    var isFailed: Bool { if case .failed = self { return true } else { return false } }
    var isReconnecting: Bool { if case .reconnecting = self { return true } else { return false } }
}

extension MessageEvent {
    /// The message of a `.new` event.
    var newMessage: Message? { if case .new(let message) = self { return message } else { return nil } }
    var isCatchUpComplete: Bool { if case .catchUp(_, true) = self { return true } else { return false } }
}

/// `try` with the error checked: `expression` must throw a `JabberKitError`
/// matching `kind`; returns it.
@discardableResult
func assertThrowsJabberKitError<T>(
    _ what: String, _ expression: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line,
    _ kind: (JabberKitError) -> Bool
) -> JabberKitError? {
    do {
        let value = try expression()
        XCTFail("\(what): expected a JabberKitError, got \(value)", file: file, line: line)
    } catch let error as JabberKitError {
        if kind(error) { return error }
        XCTFail("\(what): unexpected JabberKitError \(error)", file: file, line: line)
    } catch {
        XCTFail("\(what): unexpected error \(error)", file: file, line: line)
    }
    return nil
}

func isInvalidInput(_ error: JabberKitError) -> Bool {
    if case .InvalidInput = error { return true } else { return false }
}

func isNotConnected(_ error: JabberKitError) -> Bool {
    if case .NotConnected = error { return true } else { return false }
}
