import JabberKit
import SwiftUI

/// The line shown above the screens while the account is not online.
struct ConnectionBanner: View {
    let state: ConnectionState

    var body: some View {
        if let text = state.bannerText {
            Text(text)
                .font(.footnote)
                .frame(maxWidth: .infinity)
                .padding(.vertical, 6)
                .padding(.horizontal)
                .background(state.isFailure ? Color.red.opacity(0.2) : Color.yellow.opacity(0.3))
        }
    }
}

extension ConnectionState {
    /// The banner for this state: nil when online (no banner).
    var bannerText: String? {
        switch self {
        case .online:
            return nil
        case .disconnected:
            return "Offline"
        case .connecting:
            return "Connecting…"
        case .suspended:
            return "Connection lost. Reconnecting…"
        case .reconnecting(_, let retryInMs):
            let seconds = retryInMs / 1000 + (retryInMs % 1000 == 0 ? 0 : 1)  // rounded up
            return seconds == 0 ? "Reconnecting…" : "Offline — retrying in \(seconds) s"
        case .failed(.authentication):
            return "Wrong address or password. Sign in again."
        case .failed(.certificate(let detail)):
            return "The server's certificate is not trusted: \(detail)"
        case .failed(.downgrade):
            return "The server offered a weaker sign-in than before. Not connecting."
        }
    }

    var isFailure: Bool {
        if case .failed = self { return true }
        return false
    }
}
