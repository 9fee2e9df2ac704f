// The account on its server (XEP-0077): a new password is what later logins
// use and the old one is refused; a removed account ends the session and can
// no longer log in.
import JabberKit
import XCTest

final class AccountTests: LiveServerTestCase, @unchecked Sendable {
    func testANewPasswordIsWhatLaterLoginsUseAndTheOldOneIsRefused() async throws {
        let jid = try server.newAccount("alice")
        let alice = try JabberKitSession(config: server.config(jid, store: try newStore()))
        await assertThrowsAccountError("offline", try await alice.changePassword(Password(value: "new pw 2"))) {
            if case .NotConnected = $0 { return true } else { return false }
        }
        try await online(alice)
        await assertThrowsAccountError("an empty password", try await alice.changePassword(Password(value: ""))) {
            if case .InvalidInput = $0 { return true } else { return false }
        }
        try await alice.changePassword(Password(value: "new pw 2"))
        await alice.disconnect()

        let old = try await loginEnd(jid, password: TestServer.password)
        guard case .failed(let reason) = old else { return XCTFail("the old password: expected failed, got \(old)") }
        guard case .authentication = reason else { return XCTFail("expected an authentication failure, got \(reason)") }
        let new = try await loginEnd(jid, password: "new pw 2")
        XCTAssertTrue(new.isOnline, "the new password: \(new)")
    }

    func testARemovedAccountEndsTheSessionAndCanNoLongerLogIn() async throws {
        let jid = try server.newAccount("alice")
        let alice = try JabberKitSession(config: server.config(jid, store: try newStore()))
        try await online(alice)
        try await alice.deleteAccount()
        try await awaitState(alice, "\(jid) disconnected") { $0 == .disconnected }
        // Not reconnecting: the state stays.
        try await Task.sleep(for: .seconds(2))
        XCTAssertEqual(alice.state, .disconnected, "2 s after the removal")

        let again = try await loginEnd(jid, password: TestServer.password)
        guard case .failed(let reason) = again else { return XCTFail("the removed account: expected failed, got \(again)") }
        guard case .authentication = reason else { return XCTFail("expected an authentication failure, got \(reason)") }
    }

    /// A new session for `jid` with `password` on a fresh store: where its login ends.
    private func loginEnd(_ jid: String, password: String) async throws -> ConnectionState {
        let session = try JabberKitSession(config: server.config(jid, store: try newStore(), password: password))
        try session.connect()
        return try await awaitState(session, "\(jid) online or failed with \"\(password)\"") { $0.isOnline || $0.isFailed }
    }
}

/// `try await` with the error checked: `expression` must throw an
/// `AccountError` matching `kind`.
private func assertThrowsAccountError(
    _ what: String, _ expression: @autoclosure () async throws -> Void, file: StaticString = #filePath,
    line: UInt = #line, _ kind: (AccountError) -> Bool
) async {
    do {
        try await expression()
        XCTFail("\(what): expected an AccountError", file: file, line: line)
    } catch let error as AccountError {
        if !kind(error) { XCTFail("\(what): unexpected AccountError \(error)", file: file, line: line) }
    } catch {
        XCTFail("\(what): unexpected error \(error)", file: file, line: line)
    }
}
