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
// build; of the C, only CCrypto's key and signature readers are instrumented.
let fuzzFlags = ["-sanitize=fuzzer,address", "-enable-testing"]
let fuzzTargets = ["heartbeat", "command", "config", "http-head", "http-chunked", "http-url",
                   "zip-entry", "zip-archive", "settings-manifest", "signature"]

let swiftSettings: [SwiftSetting] = embedded
    ? [.enableExperimentalFeature("Embedded"), .unsafeFlags(["-wmo", "-Osize", "-Xfrontend", "-function-sections"])]
    : fuzz ? [.unsafeFlags(fuzzFlags)] : []

// Embedded String comparison and hashing need the Unicode tables, which the
// embedded stdlib ships as a separate archive; Embedded objects carry no
// autolink entries, so each executable names its own libraries here: the
// three programs share no C library but libc (ARCHITECTURE.md).
// lld, as on the Pi (zig's). `order`: a folder with run.order, a --symbol-ordering-file
// (bench/order.py), and run-order.ld, which places what the file cannot name.
func embeddedLinker(_ libraries: [String], order: String? = nil) -> [LinkerSetting] {
    guard embedded else { return [] }
    let ordering = order.map { folder in
        ["-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/\(folder)/run.order",
         "-Xlinker", "--no-warn-symbol-ordering", "-Xlinker", "\(Context.packageDirectory)/\(folder)/run-order.ld"]
    } ?? []
    return [.unsafeFlags(["-use-ld=lld", "-Xlinker", "--gc-sections", "-Xlinker", "--as-needed",
                          "/opt/swift/usr/lib/swift/embedded/x86_64-unknown-linux-gnu/libswiftUnicodeDataTables.a"] + ordering)]
        + libraries.map { .linkedLibrary($0) }
}

// The module graph (ARCHITECTURE.md): TinyBase under everything; the watchdog core
// (TinyWatchdog) builds without the link and the updater; the agent, the link and the fetch
// helper each on top, none of them importing another. cross/build.sh reads
// this graph from `swift package describe`.
var targets: [Target] = [
    .target(name: "CShims"),
    .target(name: "CTLS", linkerSettings: [.linkedLibrary("mbedtls"), .linkedLibrary("mbedx509"), .linkedLibrary("mbedcrypto")]),
    // libgcrypt hashes (SHA-NI) and checks the ECDSA signature: see Sources/CCrypto/sig.c.
    .target(name: "CCrypto", cSettings: fuzz ? [.unsafeFlags(["-fsanitize=fuzzer-no-link,address"])] : [],
            linkerSettings: [.linkedLibrary("gcrypt")]),
    .systemLibrary(name: "CZip"),
    .systemLibrary(name: "CSystemd"),
    .systemLibrary(name: "CMbedTLS"),
    .systemLibrary(name: "CStrophe"),
    .target(name: "TinyBase", dependencies: ["CShims"], swiftSettings: swiftSettings),
    .target(name: "TinyWatchdog", dependencies: ["TinyBase", "CShims", "CSystemd"], swiftSettings: swiftSettings),
    .target(name: "TinyAgent", dependencies: ["TinyWatchdog", "TinyBase", "CShims", "CMbedTLS", "CCrypto"], swiftSettings: swiftSettings),
    .target(name: "TinyLink", dependencies: ["TinyBase", "CShims", "CStrophe"], swiftSettings: swiftSettings),
    .target(name: "TinyFetch", dependencies: ["TinyBase", "CShims", "CTLS", "CZip"], swiftSettings: swiftSettings),
    // run.order: what `tinyagent run` executes comes first in the program, so the idle
    // agent maps only those pages of it (bench/order.py, BENCHMARKS.md §3).
    .executableTarget(name: "tinyagent", dependencies: ["TinyAgent", "TinyWatchdog", "TinyBase", "CShims"], exclude: ["run.order", "run-order.ld"],
                      swiftSettings: swiftSettings,
                      linkerSettings: embeddedLinker(["systemd", "gcrypt", "mbedcrypto"], order: "Sources/tinyagent")),
    .executableTarget(name: "tinyagent-link", dependencies: ["TinyLink", "TinyBase", "CShims"], swiftSettings: swiftSettings,
                      linkerSettings: embeddedLinker(["strophe"])),
    .executableTarget(name: "tinyagent-fetch", dependencies: ["TinyFetch", "TinyBase", "CShims"], swiftSettings: swiftSettings,
                      linkerSettings: embeddedLinker(["zip", "mbedtls", "mbedx509", "mbedcrypto"])),
]
let executables = ["tinyagent", "tinyagent-link", "tinyagent-fetch"]
if fuzz {
    // Only the libraries and the fuzz targets: one executable per parser, libFuzzer's main.
    targets.removeAll { executables.contains($0.name) }
    targets.append(.target(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver"))
    targets.append(.target(name: "FuzzSupport", dependencies: ["CFuzzDriver", "TinyBase"], path: "Fuzz/Support",
                           swiftSettings: [.unsafeFlags(fuzzFlags)]))
    for name in fuzzTargets {
        targets.append(.executableTarget(
            name: "fuzz-" + name, dependencies: ["FuzzSupport", "TinyBase", "TinyWatchdog", "TinyAgent", "TinyFetch"], path: "Fuzz/Targets/" + name,
            swiftSettings: [.unsafeFlags(fuzzFlags + ["-parse-as-library"])],
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]))
    }
} else if !embedded {
    // Tests mirror the module graph: each module's tests build against it and what
    // it depends on, so the watchdog core's tests, like the core, need neither the
    // link nor the updater.
    targets.append(.target(name: "TestSupport", path: "Tests/TestSupport"))
    targets += [
        .testTarget(name: "TinyBaseTests", dependencies: ["TinyBase", "TestSupport"]),
        .testTarget(name: "TinyWatchdogTests", dependencies: ["TinyWatchdog", "TinyBase"]),
        .testTarget(name: "TinyLinkTests", dependencies: ["TinyLink", "TinyBase"]),
        .testTarget(name: "TinyFetchTests", dependencies: ["TinyFetch", "TinyBase", "TestSupport"]),
        .testTarget(name: "TinyAgentTests", dependencies: ["TinyAgent", "TinyWatchdog", "TinyBase", "TestSupport"]),
    ]
}

let package = Package(
    name: "tinyagent",
    products: fuzz ? [] : executables.map { .executable(name: $0, targets: [$0]) },
    targets: targets
)
