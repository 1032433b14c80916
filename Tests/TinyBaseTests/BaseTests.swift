import Testing
@testable import TinyBase

/// Base/Version.swift: the versions heartbeats and manifests carry.
@Suite struct VersionTests {
    @Test func versionsParseOnlyAsThreeNumbers() {
        #expect(Version("1.2.3") == Version(major: 1, minor: 2, patch: 3))
        for bad in ["", "1.2", "1.2.3.4", "a.b.c", "1..3", "70000.0.0", "1.2.-3", " 1.2.3"] { #expect(Version(bad) == nil, "\(bad)") }
    }
}
