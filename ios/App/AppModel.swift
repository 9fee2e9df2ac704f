// The app's one model: holds the signed-in JabberKitSession, follows its
// streams and republishes what the screens show, on the main actor.
import Foundation
import JabberKit
import Network

@MainActor
final class AppModel: ObservableObject {
    enum Phase: Equatable {
        case signedOut
        /// Connecting; the sign-in screen shows `connection` until online or failed.
        case signingIn
        case signedIn
    }

    @Published private(set) var phase: Phase = .signedOut
    @Published private(set) var connection: ConnectionState = .disconnected
    /// Why the last sign-in failed, for the sign-in screen.
    @Published private(set) var signInError: String?
    @Published private(set) var conversations: [Conversation] = []
    /// The open chat's latest messages, oldest first.
    @Published private(set) var chatMessages: [Message] = []
    /// Why the last read or send of the open chat failed.
    @Published private(set) var chatError: String?

    private(set) var jid: String?
    private var session: JabberKitSession?
    private var chatPeer: String?
    private var listeners: [Task<Void, Never>] = []
    private var network: NWPathMonitor?
    /// The previous session's clean disconnect; the next sign-in waits for it,
    /// so that two clients never share a store.
    private var teardown: Task<Void, Never>?
    /// Counts sign-ins, so that a cancelled one that completes late is dropped.
    private var signInAttempts = 0
    // Newer reads win: a result is dropped if another read started after it.
    private var conversationReads = 0
    private var chatReads = 0

    // MARK: Signing in and out

    func signIn(jid rawJid: String, password: String, server rawServer: String) {
        guard phase == .signedOut else { return }
        let jid = rawJid.trimmingCharacters(in: .whitespaces)
        let server = rawServer.trimmingCharacters(in: .whitespaces)
        let config = ClientConfig(
            jid: jid,
            password: Password(value: password),
            server: server.isEmpty ? nil : server,
            tls: .startTls,
            storeDir: Self.storeDirectory(for: jid).path
        )
        phase = .signingIn
        signInError = nil
        connection = .connecting
        signInAttempts += 1
        let attempt = signInAttempts
        let previous = teardown
        Task {
            await previous?.value
            do {
                let session = try await offMain { try JabberKitSession(config: config) }
                // Cancelled meanwhile: dropping the session closes it.
                guard attempt == signInAttempts, phase == .signingIn else { return }
                start(session)
            } catch {
                guard attempt == signInAttempts, phase == .signingIn else { return }
                phase = .signedOut
                signInError = describe(error)
            }
        }
    }

    /// Leaves a sign-in in progress, or the signed-in account.
    func signOut() {
        let session = self.session
        self.session = nil
        jid = nil
        listeners.forEach { $0.cancel() }
        listeners = []
        network?.cancel()
        network = nil
        chatPeer = nil
        chatReads += 1
        conversationReads += 1
        conversations = []
        chatMessages = []
        chatError = nil
        connection = .disconnected
        phase = .signedOut
        if let session {
            let previous = teardown
            teardown = Task {
                await previous?.value
                await session.disconnect()
            }
        }
    }

    private func start(_ session: JabberKitSession) {
        self.session = session
        jid = session.jid
        // Subscribe before connecting and before the first read, so nothing is missed.
        let states = session.states
        let messages = session.messages
        listeners = [
            Task { [weak self] in
                for await state in states {
                    self?.apply(state, from: session)
                }
            },
            Task { [weak self] in
                await self?.reload()
                for await _ in messages {
                    await self?.reload()
                }
            },
        ]
        network = Self.networkMonitor(for: session)
        do {
            try session.connect()
        } catch {
            signOut()
            signInError = describe(error)
        }
    }

    private func apply(_ state: ConnectionState, from session: JabberKitSession) {
        // A state already on its way when the session was signed out.
        guard session === self.session else { return }
        connection = state
        guard phase == .signingIn else { return }
        switch state {
        case .online:
            phase = .signedIn
        case .failed:
            let reason = state.bannerText
            signOut()
            signInError = reason
        default:
            break
        }
    }

    /// Reports the device's network to JabberKit on every change (the first
    /// report comes at once): none stops connection attempts, a new one
    /// retries at once. Nonisolated: the handler runs on the monitor's queue.
    private nonisolated static func networkMonitor(for session: JabberKitSession) -> NWPathMonitor {
        let monitor = NWPathMonitor()
        monitor.pathUpdateHandler = { @Sendable path in
            session.networkAvailable(path.status == .satisfied)
        }
        monitor.start(queue: DispatchQueue(label: "org.jabberkit.app.network"))
        return monitor
    }

    // MARK: Conversations and chat

    /// The app became active (`true`) or left the foreground (`false`).
    func setForeground(_ active: Bool) {
        session?.setForeground(active)
    }

    func openChat(with peer: String) {
        chatPeer = peer
        chatMessages = []
        chatError = nil
        Task { await reloadChat() }
    }

    func closeChat(with peer: String) {
        guard chatPeer == peer else { return }
        chatPeer = nil
        chatReads += 1
        chatMessages = []
        chatError = nil
    }

    func send(_ text: String, to peer: String) {
        let body = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let session, !body.isEmpty else { return }
        Task {
            do {
                // The message shows up through `messages` once stored.
                _ = try await offMain { try session.send(to: peer, body: body) }
                chatError = nil
            } catch {
                chatError = describe(error)
            }
        }
    }

    /// Re-reads what the screens show; the store is the truth.
    private func reload() async {
        await reloadConversations()
        await reloadChat()
    }

    private func reloadConversations() async {
        guard let session else { return }
        conversationReads += 1
        let read = conversationReads
        // A failed read keeps the previous list.
        guard let list = try? await offMain({ try session.conversations() }) else { return }
        if read == conversationReads {
            conversations = list
        }
    }

    private func reloadChat() async {
        guard let session, let peer = chatPeer else { return }
        chatReads += 1
        let read = chatReads
        do {
            let messages = try await offMain { try session.history(with: peer, limit: 100) }
            if read == chatReads {
                chatMessages = messages
            }
        } catch {
            if read == chatReads {
                chatError = describe(error)
            }
        }
    }

    // MARK: Helpers

    /// Application Support/accounts/<jid>: app-private, one store per account.
    private static func storeDirectory(for jid: String) -> URL {
        let base = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        let name = jid.lowercased().replacingOccurrences(of: "/", with: "_")
        return base.appendingPathComponent("accounts", isDirectory: true)
            .appendingPathComponent(name, isDirectory: true)
    }

    private func describe(_ error: Error) -> String {
        (error as? JabberKitError)?.reason ?? error.localizedDescription
    }
}

/// Runs a JabberKit call that reads or writes the store off the main thread.
private func offMain<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await Task.detached(priority: .userInitiated) { try work() }.value
}
