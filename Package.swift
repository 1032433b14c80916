// swift-tools-version: 6.0
import PackageDescription

// One package, three builds of the same sources:
//   swift test                                  host build, full Swift, Swift Testing
//   TINYAGENT_EMBEDDED=1 swift build -c release  host Embedded build of the `tinyagent` binary
//   TINYAGENT_FUZZ=1 swift build -c release      libFuzzer targets of Fuzz/ (make fuzz, Fuzz/README.md)
// The armhf device build is driven by cross/build-armhf.sh with swiftc directly.
let embedded = Context.environment["TINYAGENT_EMBEDDED"] == "1"
let fuzz = !embedded && Context.environment["TINYAGENT_FUZZ"] == "1"

// The fuzz build instruments the library for libFuzzer and AddressSanitizer, and
// opens its internal parsers to `@testable import` (-enable-testing) in an optimized
// build; the C shims are not instrumented.
let fuzzFlags = ["-sanitize=fuzzer,address", "-enable-testing"]
let fuzzTargets = ["heartbeat", "command", "config", "http-head", "http-chunked", "http-url",
                   "zip-entry", "zip-archive", "settings-manifest"]

let swiftSettings: [SwiftSetting] = embedded
    ? [.enableExperimentalFeature("Embedded"), .unsafeFlags(["-wmo", "-Osize", "-Xfrontend", "-function-sections"])]
    : fuzz ? [.unsafeFlags(fuzzFlags)] : []

// Embedded String comparison and hashing need the Unicode tables, which the
// embedded stdlib ships as a separate archive; Embedded objects carry no
// autolink entries, so the module maps' libraries are named here too.
let embeddedLinker: [LinkerSetting] = embedded
    ? [.unsafeFlags(["-Xlinker", "--gc-sections",
                     "/opt/swift/usr/lib/swift/embedded/x86_64-unknown-linux-gnu/libswiftUnicodeDataTables.a"]),
       .linkedLibrary("m"), .linkedLibrary("systemd"), .linkedLibrary("strophe"), .linkedLibrary("zip"),
       .linkedLibrary("mbedtls"), .linkedLibrary("mbedx509"), .linkedLibrary("mbedcrypto")]
    : []

var targets: [Target] = [
    .target(name: "CShims"),
    .target(name: "CTLS", linkerSettings: [.linkedLibrary("mbedtls"), .linkedLibrary("mbedx509"), .linkedLibrary("mbedcrypto")]),
    .systemLibrary(name: "CZip"),
    .systemLibrary(name: "CSystemd"),
    .systemLibrary(name: "CMbedTLS"),
    .systemLibrary(name: "CStrophe"),
    .target(
        name: "TinyAgent",
        dependencies: ["CShims", "CSystemd", "CMbedTLS", "CStrophe", "CTLS", "CZip"],
        swiftSettings: swiftSettings
    ),
    .executableTarget(
        name: "tinyagent",
        dependencies: ["TinyAgent", "CShims"],
        swiftSettings: swiftSettings,
        linkerSettings: embeddedLinker
    ),
]
if fuzz {
    // Only the library and the fuzz targets: one executable per parser, libFuzzer's main.
    targets.removeAll { $0.name == "tinyagent" }
    targets.append(.target(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver"))
    targets.append(.target(name: "FuzzSupport", dependencies: ["CFuzzDriver", "TinyAgent"], path: "Fuzz/Support",
                           swiftSettings: [.unsafeFlags(fuzzFlags)]))
    for name in fuzzTargets {
        targets.append(.executableTarget(
            name: "fuzz-" + name, dependencies: ["FuzzSupport", "TinyAgent"], path: "Fuzz/Targets/" + name,
            swiftSettings: [.unsafeFlags(fuzzFlags + ["-parse-as-library"])],
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]))
    }
} else if !embedded {
    targets.append(.testTarget(name: "TinyAgentTests", dependencies: ["TinyAgent"]))
}

let package = Package(
    name: "tinyagent",
    products: fuzz ? [] : [.executable(name: "tinyagent", targets: ["tinyagent"])],
    targets: targets
)
