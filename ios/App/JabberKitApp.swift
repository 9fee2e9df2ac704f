import JabberKit
import SwiftUI

@main
struct JabberKitApp: App {
    @StateObject private var model = AppModel()
    @Environment(\.scenePhase) private var scenePhase

    init() {
        JabberKitSession.enableLogging(.info)
    }

    var body: some Scene {
        WindowGroup {
            RootView()
                .environmentObject(model)
                // Client State Indication: in the background the server
                // holds back what can wait.
                .onChange(of: scenePhase) { _, phase in
                    model.setForeground(phase == .active)
                }
        }
    }
}

/// Navigation by state: the sign-in screen until online, then the
/// conversation list (and a chat pushed on it), under the connection banner.
struct RootView: View {
    @EnvironmentObject private var model: AppModel

    var body: some View {
        if model.phase == .signedIn {
            VStack(spacing: 0) {
                ConnectionBanner(state: model.connection)
                ConversationListView()
            }
        } else {
            SignInView()
        }
    }
}
