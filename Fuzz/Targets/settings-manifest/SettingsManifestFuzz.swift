// The agent's settings file (AgentSettings.parse) and an update's manifest
// (UpdateManifest.parse), both JSON. Invariants: every warning and refusal
// is one line; accepted values are within their documented ranges.
import FuzzSupport
@testable import TinyAgent
@testable import TinyBase
@testable import TinyFetch
@testable import TinyWatchdog

@_cdecl("fuzz_settings_manifest_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    do {
        let reading = AgentSettings.parse(input)
        let settings = reading.settings
        for line in reading.warnings + reading.errors { expect(isOneLine(line), "warning: \(line)") }
        expect(settings.heartbeatPort >= 1, "port")
        expect(settings.maximumProcesses >= 1 && settings.maximumProcesses <= 1024, "max_processes")
        expect(settings.logKeep >= 1 && settings.logKeep <= 20 && settings.logMaximumBytes >= 4096, "log settings")
        expect(settings.allowlist.allSatisfy { !$0.isEmpty }, "empty allowlist command")
        for (_, timeout) in settings.processTimeouts { expect(timeout >= .milliseconds(100) && timeout <= .seconds(3600), "timeout") }
    }

    do {
        let manifest = try UpdateManifest.parse(input)
        expect(manifest.processes.count <= UpdateManifest.maximumProcesses, "process count")
        for (i, process) in manifest.processes.enumerated() {
            expect(UpdateManifest.isProcessName(process.name), "name \(process.name)")
            expect(!manifest.processes[..<i].contains { $0.name == process.name }, "name twice")
            let command = process.runCommand.utf8
            expect(!command.isEmpty && command.count <= UpdateManifest.maximumRunCommand && !command.contains(0), "run_command")
        }
    } catch {
        expect(isOneLine(error.reason), "refusal: \(error.reason)")
    }
    return 0
}
