// Heartbeat datagrams (HeartbeatParser): whatever reaches UDP 127.0.0.1:4951.
// Invariants: an accepted datagram is JSON the general parser reads the same
// way (a duplicate key inside a skipped unknown value is the one difference
// allowed), with a valid name, pid, command and version; unknown members are
// counted exactly; a refusal's message can be made, its offset in the datagram.
import FuzzSupport
@testable import TinyAgent
@testable import TinyBase
@testable import TinyFetch
@testable import TinyWatchdog

@_cdecl("fuzz_heartbeat_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, fuzz)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = bytes(data, size)
    input.withUnsafeBytes { raw in
        let heartbeat: Heartbeat
        do throws(HeartbeatRejection) {
            heartbeat = try HeartbeatParser.parse(raw)
        } catch {
            expect(error.offset >= 0 && error.offset <= raw.count, "refusal offset \(error.offset) of \(raw.count)")
            _ = error.describe(raw)
            return
        }
        let scanner = JSONScanner(raw)
        let name = scanner.decode(heartbeat.name)
        expect(UpdateManifest.isProcessName(name), "accepted name \(name)")
        expect(heartbeat.pid >= 2 && Int64(heartbeat.pid) <= HeartbeatParser.maximumPID, "accepted pid \(heartbeat.pid)")

        let document: JSONValue
        do throws(JSONError) { document = try JSONValue.parse(input) } catch {
            expect(heartbeat.unknownFields > 0, "heartbeat accepted, JSON refused: \(error.reason)")
            return
        }
        expect(document["process_name"] == .string(name), "process_name differs")
        expect(document["pid"] == .integer(Int64(heartbeat.pid)), "pid differs")
        if let command = heartbeat.runCommand {
            expect(command.count >= 1 && command.count <= HeartbeatParser.maximumCommand, "run_command length")
            expect(document["run_command"] == .string(scanner.decode(command)), "run_command differs")
        } else {
            expect(document["run_command"] == nil || document["run_command"] == .string(""), "run_command dropped")
        }
        let version = document["version"]
        expect(version?["major"] == .integer(Int64(heartbeat.version.major))
               && version?["minor"] == .integer(Int64(heartbeat.version.minor))
               && version?["patch"] == .integer(Int64(heartbeat.version.patch))
               , "version differs")
        let known = ["process_name", "pid", "run_command", "version"]
        let unknownTop = document.objectValue?.filter { !known.contains($0.0) }.count ?? 0
        let unknownInVersion = (version?.objectValue?.count ?? 3) - 3
        expect(heartbeat.unknownFields == unknownTop + unknownInVersion, "unknown members miscounted")
    }
    return 0
}
