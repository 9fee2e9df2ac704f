// swift-tools-version:6.0
// JabberKit for Swift: the uniffi-generated bindings and a small idiomatic
// layer (JabberKitSession) over the Rust core.
//
// The Rust core arrives as JabberKitRust.xcframework, built by
// scripts/build-ios: one static library per platform, each with the C header
// and the module map of the `JabberKitFFI` module (the generated Swift does
// `import JabberKitFFI`). See README.md for why it is laid out this way.
import PackageDescription

let package = Package(
    name: "JabberKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "JabberKit", targets: ["JabberKit"]),
    ],
    targets: [
        // Static libjabberkit_ffi.a + Headers/{JabberKitFFI.h,module.modulemap}.
        .binaryTarget(name: "JabberKitRust", path: "JabberKitRust.xcframework"),
        .target(
            name: "JabberKit",
            dependencies: ["JabberKitRust"],
            path: "Sources/JabberKit",
            linkerSettings: [
                // A static Rust library carries no link flags of its own: these
                // are the system frameworks its dependencies call (DNS settings
                // through SCDynamicStore, CoreFoundation for time zones).
                .linkedFramework("SystemConfiguration"),
                .linkedFramework("CoreFoundation"),
            ]
        ),
    ],
    // The generated bindings are written for Swift 5 mode.
    swiftLanguageModes: [.v5]
)
