import JabberKit
import SwiftUI

struct ChatView: View {
    let peer: String
    @EnvironmentObject private var model: AppModel
    @State private var draft = ""

    var body: some View {
        VStack(spacing: 0) {
            ScrollViewReader { scroller in
                List(model.chatMessages, id: \.id) { message in
                    MessageRow(message: message)
                        .listRowSeparator(.hidden)
                        .id(message.id)
                }
                .listStyle(.plain)
                .onChange(of: model.chatMessages.last?.id) { last in
                    if let last { scroller.scrollTo(last, anchor: .bottom) }
                }
            }
            if let error = model.chatError {
                Text(error)
                    .font(.footnote)
                    .foregroundStyle(.red)
                    .padding(.horizontal)
            }
            HStack {
                TextField("Message", text: $draft, axis: .vertical)
                    .textFieldStyle(.roundedBorder)
                    .lineLimit(1...5)
                Button("Send") {
                    model.send(draft, to: peer)
                    draft = ""
                }
                .disabled(draft.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            }
            .padding()
        }
        .navigationTitle(peer)
        .navigationBarTitleDisplayMode(.inline)
        .onAppear { model.openChat(with: peer) }
        .onDisappear { model.closeChat(with: peer) }
    }
}

private struct MessageRow: View {
    let message: Message

    var body: some View {
        HStack {
            if message.outgoing { Spacer(minLength: 40) }
            VStack(alignment: message.outgoing ? .trailing : .leading, spacing: 2) {
                Text(message.body)
                    .padding(8)
                    .background(message.outgoing ? Color.accentColor.opacity(0.2) : Color.gray.opacity(0.15))
                    .clipShape(RoundedRectangle(cornerRadius: 10))
                Text(caption)
                    .font(.caption2)
                    .foregroundStyle(message.state == .failed ? Color.red : Color.secondary)
            }
            if !message.outgoing { Spacer(minLength: 40) }
        }
    }

    private var caption: String {
        let time = Date(timeIntervalSince1970: TimeInterval(message.timestampMs) / 1000)
            .formatted(date: .omitted, time: .shortened)
        guard message.outgoing else { return time }
        switch message.state {
        case .queued: return "\(time) · queued"
        case .sent: return "\(time) · sent"
        case .acked: return "\(time) · on the server"
        case .delivered: return "\(time) · delivered"
        case .read: return "\(time) · read"
        case .failed: return "\(time) · not sent: \(message.failureReason ?? "failed")"
        case .received: return time
        }
    }
}
