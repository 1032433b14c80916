// The ARMv6 run-time proof (cross/armv6-probe.sh): compiled against the agent's modules
// TinyBase, TinyWatchdog and TinyAgent (as one more module of the package), linked statically against musl for the arm1176jzf-s and run
// under `qemu-arm -cpu arm1176`, where any ARMv7 instruction would stop it with SIGILL.
// It drives the code the agent's loop lives on — the heartbeat parser, the supervisor's
// state table, the config cipher (mbedTLS AES) and JSON — and checks every answer, so a
// miscompiled or mis-linked path fails here rather than merely running.
// It calls package APIs as the unit tests (Tests/) do, and mirrors a few of their cases:
// a change to those APIs updates this file too: `make unit` type-checks it against them
// (cross/typecheck-probe.sh), `make cross-test` (cross/armv6-probe.sh) builds and runs it.
import CShims
import TinyAgent
import TinyBase
import TinyWatchdog

var passed = 0
var failed = 0

func check(_ ok: Bool, _ what: StaticString) {
    if ok { passed += 1; print("ok   - \(what)") } else { failed += 1; print("FAIL - \(what)") }
}

func heartbeat(_ text: String) -> Result<(name: String, pid: Int32, command: String?, version: String), HeartbeatError> {
    Array(text.utf8).withUnsafeBytes { raw in
        do throws(HeartbeatRejection) {
            let beat = try HeartbeatParser.parse(raw)
            let scanner = JSONScanner(raw)
            return .success((scanner.decode(beat.name), beat.pid, beat.runCommand.map { scanner.decode($0) },
                             beat.version.description))
        } catch {
            return .failure(error.error)
        }
    }
}

func refusal(_ text: String) -> HeartbeatError? {
    if case .failure(let error) = heartbeat(text) { return error }
    return nil
}

func heartbeatParser() {
    let seed = #"{"process_name": "ocr", "pid": 444, "run_command": "python3 /home/pi/technospurs/SmartMeter/ocr.py", "version": {"major": 1, "minor": 2, "patch": 3}}"#
    if case .success(let beat) = heartbeat(seed) {
        check(beat.name == "ocr" && beat.pid == 444 && beat.version == "1.2.3"
              && beat.command == "python3 /home/pi/technospurs/SmartMeter/ocr.py", "heartbeat: the seed's datagram is read")
    } else {
        check(false, "heartbeat: the seed's datagram is read")
    }
    if case .success(let beat) = heartbeat(#"{"version":{"patch":9,"minor":4,"major":0},"pid":77,"process_name":"meter","run_command":"sh -c \"echo \u00e9\\n\""}"#) {
        check(beat.version == "0.4.9" && beat.command == "sh -c \"echo é\\n\"", "heartbeat: any field order, escapes decoded")
    } else {
        check(false, "heartbeat: any field order, escapes decoded")
    }
    let version = #""version": {"major": 1, "minor": 0, "patch": 0}"#
    check(refusal(#"{"process_name":"ocr","pid":4194305,\#(version)}"#) == .pidOutOfRange,
          "heartbeat: a pid above pid_max is refused")
    check(refusal(#"{"process_name":"../etc","pid":44,\#(version)}"#) == .invalidName,
          "heartbeat: a name with a slash is refused")
    check(refusal(#"{"process_name":"ocr","pid":44,"pid":45,\#(version)}"#) == .duplicateField,
          "heartbeat: a duplicate field is refused")
    check(refusal(#"{"process_name":"ocr","pid":44"#) == .malformed(.unexpectedEnd),
          "heartbeat: a truncated datagram is refused")
}

func supervisorTable() {
    let trusted = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false)
    let t0 = Clock.now()
    let times = SupervisorTimes(now: t0, deadline: nil, heartbeatTimeout: .seconds(30), killGrace: .seconds(5),
                                backoff: .seconds(1), stopStartedAt: t0 - .seconds(10))
    var step = SupervisorTable.next(.running, on: .deadline, trusted, times)
    var steps = step.state == .stopping && step.action == .terminate && step.deadline == t0 + .seconds(5)
    step = SupervisorTable.next(step.state, on: .deadline, trusted, times)
    steps = steps && step.state == .killing && step.action == .kill
    step = SupervisorTable.next(step.state, on: .exited, trusted, times)
    steps = steps && step.state == .waiting && step.action == .scheduleRestart && step.deadline == t0 + .seconds(1)
    step = SupervisorTable.next(step.state, on: .deadline, trusted, times)
    steps = steps && step.state == .starting && step.action == .spawn && step.deadline == t0 + .seconds(30)
    step = SupervisorTable.next(step.state, on: .heartbeat, trusted, times)
    check(steps && step.state == .running && step.action == .none,
          "supervisor: a silent process is terminated, killed, restarted and running again")
    let holding = SupervisorFacts(canSignal: true, canRestart: true, restartLimitReached: false, holding: true)
    check(SupervisorTable.next(.killing, on: .exited, holding, times) == SupervisorStep(.stopped, .none, nil),
          "supervisor: a process stopped for an update stays stopped")
    // Full jitter: a draw of 0.5 in the first 1 s window, then 1.0 in the doubled one.
    var backoff = ReconnectBackoff()
    let now = Instant(nanoseconds: 0)
    let first = backoff.next(random: 0.5, now: now), second = backoff.next(random: 1.0, now: now)
    check(first == .milliseconds(500) && second == .seconds(2),
          "reconnect back-off: Double jitter (software floating point in Thumb-1)")
}

// What Thumb-1 code takes from Sources/CShims/ceil.c and thumb1.c: ceil with the double in core
// registers (the stdlib sizes hash tables with it) and atomics for reference counting.
// The values depend on `passed`, so the compiler cannot fold them away.
func thumbRuntime() {
    let half = Double(passed * 2 + 1) / 2
    check(half.rounded(.up) == Double(passed + 1) && (-half).rounded(.up) == -Double(passed),
          "ceil: x.5 rounds up, -x.5 towards zero")
    var table = [Int: String](minimumCapacity: passed + 40)
    for i in 0..<100 { table[i] = String(i) }
    let shared = table
    table[0] = nil
    check(table.count == 99 && shared.count == 100 && shared[42] == "42" && table[0] == nil,
          "dictionary: grown from a capacity, copied on write")
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

func configCipher() {
    // openssl enc -aes-256-cbc -K <seed key> -iv <seed iv> of {"panel":"x"}
    let plain = Array(#"{"panel":"x"}"#.utf8)
    let sealed = ConfigCipher.encrypt(plain, key: .seed)
    check(hex(sealed) == "741433b64efc2f30b10a08584583e7fe", "config cipher: AES-256-CBC output equals openssl's")
    check((try? ConfigCipher.decrypt(sealed, key: .seed)) == plain, "config cipher: decrypts back to the input")
    var tampered = sealed
    tampered[15] ^= 1
    var refused = false
    do throws(ConfigError) { _ = try ConfigCipher.decrypt(tampered, key: .seed) } catch { refused = error == .badPadding }
    check(refused, "config cipher: a damaged last block fails the padding check")
}

func json() {
    let text = #"{"a": [1, -2, 3.5e2, true, false, null], "b": {"c": "d\u00e9\n\ud83d\ude00"}, "n": 9223372036854775807}"#
    guard let value = try? JSONValue.parse(text) else { check(false, "json: a nested document parses"); return }
    var writer = JSONWriter()
    writer.value(value)
    check(writer.text == #"{"a":[1,-2,3.5e2,true,false,null],"b":{"c":"dé\n😀"},"n":9223372036854775807}"#,
          "json: parsed and written back compactly")
    check((try? JSONValue.parse(#"{"a": 1,}"#)) == nil, "json: a trailing comma is refused")
}

heartbeatParser()
supervisorTable()
configCipher()
json()
thumbRuntime()
print("\(passed) passed, \(failed) failed")
ta_exit(failed == 0 ? 0 : 1)
