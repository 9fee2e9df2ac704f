// swift-tools-version:6.0
// JabberKit for Swift: the uniffi-generated bindings and a small idiomatic
// layer (JabberKitSession) over the Rust core.
//
// On Apple platforms the Rust core arrives as JabberKitRust.xcframework,
// built by scripts/build-ios: one static library per platform, each with the
// C header and the module map of the `JabberKitFFI` module (the generated
// Swift does `import JabberKitFFI`). See README.md for why it is laid out
// this way.
//
// On Linux (scripts/swift: the package built and tested against the host
// build of the Rust core) the same module comes from a system-library target
// over the generated header, and the Swift target links the shared
// libjabberkit_ffi.so from `cargo build -p jabberkit-ffi`.
import PackageDescription

#if os(Linux)
// Where the host-built libjabberkit_ffi.so is: $JABBERKIT_LIB_DIR, else
// $CARGO_TARGET_DIR/debug, else the repository's target/debug.
let rustLibDir: String = {
    if let dir = Context.environment["JABBERKIT_LIB_DIR"], !dir.isEmpty { return dir }
    let repo = Context.packageDirectory + "/../.."
    if let target = Context.environment["CARGO_TARGET_DIR"], !target.isEmpty {
        return (target.hasPrefix("/") ? target : repo + "/" + target) + "/debug"
    }
    return repo + "/target/debug"
}()

let ffiTargets: [Target] = [
    // Module JabberKitFFI: JabberKitFFILinux/module.modulemap over the
    // generated Sources/JabberKitFFI/include/JabberKitFFI.h.
    .systemLibrary(name: "JabberKitFFI", path: "Sources/JabberKitFFILinux"),
]
let ffiDependency: Target.Dependency = "JabberKitFFI"
let rustLinkerSettings: [LinkerSetting] = [
    .linkedLibrary("jabberkit_ffi"),
    // unsafeFlags: fine in a root package; the rpath lets the test binary
    // find the library where cargo left it.
    .unsafeFlags(["-L", rustLibDir, "-Xlinker", "-rpath", "-Xlinker", rustLibDir]),
]
#else
let ffiTargets: [Target] = [
    // Static libjabberkit_ffi.a + Headers/{JabberKitFFI.h,module.modulemap}.
    .binaryTarget(name: "JabberKitRust", path: "JabberKitRust.xcframework"),
]
let ffiDependency: Target.Dependency = "JabberKitRust"
let rustLinkerSettings: [LinkerSetting] = [
    // A static Rust library carries no link flags of its own: these are the
    // system frameworks its dependencies call (DNS settings through
    // SCDynamicStore, CoreFoundation for time zones).
    .linkedFramework("SystemConfiguration"),
    .linkedFramework("CoreFoundation"),
]
#endif

let package = Package(
    name: "JabberKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "JabberKit", targets: ["JabberKit"]),
    ],
    targets: ffiTargets + [
        .target(
            name: "JabberKit",
            dependencies: [ffiDependency],
            path: "Sources/JabberKit",
            linkerSettings: rustLinkerSettings
        ),
        // Live tests against a throwaway Prosody started through
        // scripts/prosody and the testkit's fault proxy (run them with
        // scripts/swift; see Tests/JabberKitTests/Support.swift).
        .testTarget(
            name: "JabberKitTests",
            dependencies: ["JabberKit"],
            path: "Tests/JabberKitTests"
        ),
    ],
    // The generated bindings are written for Swift 5 mode.
    swiftLanguageModes: [.v5]
)
