import CFuzzDriver
import Glibc
import TinyBase

/// A target's test function, as libFuzzer calls it.
public typealias FuzzTest = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// Runs libFuzzer over `test` with the process's arguments as its options
/// (`-max_total_time=20 corpus/`, a crash file to replay, …).
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, _ test: FuzzTest) -> CInt {
    ta_fuzz_run(argc, argv, test)
}

/// The input's bytes.
public func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Stops the run when an invariant does not hold: libFuzzer reports a crash
/// and writes the input to `crash-<sha1>`, which becomes a regression test.
public func expect(_ condition: Bool, _ message: @autoclosure () -> String,
                   file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError("invariant broken: " + message(), file: file, line: line) }
}

/// Whether `text` reads as one line in a log or a remark: no control
/// characters (a tab is allowed).
public func isOneLine(_ text: String) -> Bool {
    !text.utf8.contains { ($0 < 0x20 && $0 != 9) || $0 == 0x7F }
}

/// A folder of its own for a target that needs files, on tmpfs when there is
/// one (the agent fsyncs what it writes), removed when the run ends.
public func scratchFolder(_ name: String) -> String {
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    var template = Array((base + "/tinyagent-fuzz-" + name + "-XXXXXX").utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    guard made != nil else { fatalError("mkdtemp under " + base + " failed") }
    let path = String(cString: template)
    scratchFolders.append(path)
    if scratchFolders.count == 1 { atexit { for folder in scratchFolders { try? Files.removeTree(folder) } } }
    return path
}

nonisolated(unsafe) private var scratchFolders: [String] = []
