import Foundation
import JabberKit
import XCTest

final class FilesTests: LiveServerTestCase, @unchecked Sendable {
    func testAFileIsUploadedAndBobReceivesItsLinkWithItsName() async throws {
        let alice = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let bob = try JabberKitSession(config: server.config(try server.newAccount("bob"), store: try newStore()))
        let aliceEvents = record(alice.messages)
        let bobEvents = record(bob.messages)
        try await online(alice)
        try await online(bob)
        let file = try newStore().appendingPathComponent("holiday-photo.jpg")
        let bytes = Data((0..<200 * 1024).map { _ in UInt8.random(in: 0...255) })
        try bytes.write(to: file)

        let sent = try alice.sendFile(to: bob.jid, path: file.path)

        XCTAssertTrue(sent.outgoing)
        XCTAssertEqual(sent.conversation, bob.jid)
        XCTAssertEqual(sent.state, .queued)
        let queued = try XCTUnwrap(sent.attachment, "the sent message's attachment")
        XCTAssertEqual(queued.name, "holiday-photo.jpg")
        XCTAssertEqual(queued.size, UInt64(bytes.count))
        XCTAssertNil(queued.url, "no link before the upload")
        XCTAssertEqual(queued.localPath, file.path)

        let event = try await aliceEvents.awaitValue("the uploaded message") { $0.updatedMessage?.id == sent.id }
        let updated = try XCTUnwrap(event.updatedMessage)
        let url = try XCTUnwrap(updated.attachment?.url, "the link after the upload")
        XCTAssertTrue(url.hasPrefix("https://"), url)
        XCTAssertEqual(updated.body, url)
        let transfers = aliceEvents.values.compactMap { event -> (conversation: String, done: UInt64, total: UInt64?)? in
            if case .transfer(sent.id, let conversation, let done, let total) = event {
                return (conversation, done, total)
            } else {
                return nil
            }
        }
        XCTAssertFalse(transfers.isEmpty, "transfer progress before the link")
        XCTAssertTrue(transfers.allSatisfy { $0.conversation == bob.jid && $0.done <= ($0.total ?? .max) }, "\(transfers)")

        try await aliceEvents.awaitValue("the receipt") {
            $0 == .stateChanged(id: sent.id, conversation: bob.jid, state: .delivered)
        }
        let received = try await bobEvents.awaitValue("the file at Bob") {
            $0.newMessage.map { !$0.outgoing && $0.attachment != nil } ?? false
        }.newMessage!
        let theirs = try XCTUnwrap(received.attachment)
        XCTAssertEqual(theirs.url, url)
        XCTAssertEqual(theirs.name, "holiday-photo.jpg")
        XCTAssertEqual(received.sender, alice.jid)

        // Bob downloads it: the same bytes, at the path the updated message names.
        let inbox = try newStore()
        try bob.download(received.id, into: inbox.path)
        let done = try await bobEvents.awaitValue("Bob's download") { $0.updatedMessage?.id == received.id }
        let local = try XCTUnwrap(done.updatedMessage?.attachment?.localPath, "the downloaded file")
        XCTAssertEqual(local, inbox.appendingPathComponent("holiday-photo.jpg").path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: local)), bytes)
    }

    func testAFileThatDoesNotExistIsAJabberKitErrorInvalidInput() throws {
        let session = try JabberKitSession(config: server.config(try server.newAccount("alice"), store: try newStore()))
        let missing = try newStore().appendingPathComponent("no-such-file.txt")
        assertThrowsJabberKitError(
            "a missing file", try session.sendFile(to: "bob@example.test", path: missing.path), isInvalidInput)
        XCTAssertEqual(try session.history(with: "bob@example.test"), [])
    }
}

extension MessageEvent {
    /// The message of an `.updated` event.
    fileprivate var updatedMessage: Message? { if case .updated(let message) = self { return message } else { return nil } }
}
