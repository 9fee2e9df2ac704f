import SwiftUI

struct SignInView: View {
    @EnvironmentObject private var model: AppModel
    @State private var jid = ""
    @State private var password = ""
    @State private var server = ""

    private var signingIn: Bool { model.phase == .signingIn }

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    TextField("user@example.org", text: $jid)
                        .textContentType(.username)
                        .keyboardType(.emailAddress)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                    SecureField("Password", text: $password)
                        .textContentType(.password)
                    TextField("Server host:port (optional)", text: $server)
                        .keyboardType(.URL)
                        .textInputAutocapitalization(.never)
                        .autocorrectionDisabled()
                }
                .disabled(signingIn)

                Section {
                    if signingIn {
                        HStack {
                            ProgressView()
                            Text(model.connection.bannerText ?? "Connecting…")
                                .padding(.leading, 8)
                        }
                        Button("Cancel", role: .cancel) { model.signOut() }
                    } else {
                        Button("Sign in") {
                            model.signIn(jid: jid, password: password, server: server)
                        }
                        .disabled(jid.isEmpty || password.isEmpty)
                    }
                }

                if let error = model.signInError {
                    Section {
                        Text(error).foregroundStyle(.red)
                    }
                }
            }
            .navigationTitle("Sign in")
        }
    }
}
