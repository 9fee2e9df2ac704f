import JabberKit
import SwiftUI

struct ConversationListView: View {
    @EnvironmentObject private var model: AppModel
    /// The open chat, if any: its peer's JID.
    @State private var path: [String] = []
    @State private var askingForPeer = false
    @State private var newPeer = ""

    var body: some View {
        NavigationStack(path: $path) {
            List(model.conversations, id: \.peer) { conversation in
                NavigationLink(value: conversation.peer) {
                    VStack(alignment: .leading, spacing: 2) {
                        Text(conversation.peer).font(.headline)
                        Text(conversation.lastMessage.body)
                            .font(.subheadline)
                            .foregroundStyle(.secondary)
                            .lineLimit(1)
                    }
                }
            }
            .overlay {
                if model.conversations.isEmpty {
                    Text("No conversations yet").foregroundStyle(.secondary)
                }
            }
            .navigationTitle(model.jid ?? "Chats")
            .navigationBarTitleDisplayMode(.inline)
            .navigationDestination(for: String.self) { peer in
                ChatView(peer: peer)
            }
            .toolbar {
                ToolbarItem(placement: .navigationBarLeading) {
                    Button("Sign out") { model.signOut() }
                }
                ToolbarItem(placement: .navigationBarTrailing) {
                    Button("New chat") {
                        newPeer = ""
                        askingForPeer = true
                    }
                }
            }
            .alert("New chat", isPresented: $askingForPeer) {
                TextField("friend@example.org", text: $newPeer)
                    .textInputAutocapitalization(.never)
                    .autocorrectionDisabled()
                Button("Open") {
                    let peer = newPeer.trimmingCharacters(in: .whitespaces)
                    if !peer.isEmpty { path = [peer] }
                }
                Button("Cancel", role: .cancel) {}
            }
        }
    }
}
