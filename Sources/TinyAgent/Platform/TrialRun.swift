import CShims
import TinyBase

/// A program run once, as another user, for its output (`ta_trial_run`):
/// the trial of a self-update's new agent (`SelfUpdate`).
package enum TrialRun {
    package enum Outcome: Equatable {
        /// It exited with `code`, or was killed by a signal (`code` -1).
        case ended(code: Int32, output: String)
        /// Still running at the deadline: killed.
        case timedOut
    }

    /// Runs the program open on `program` as `name argument` under `user`
    /// (dropped in the child before the exec), for at most `timeout`; keeps
    /// the first 256 bytes of its output.
    package static func run(_ program: FileDescriptor, as user: Identity, argument: String, timeout: Duration) -> Result<Outcome, Errno> {
        var output = [UInt8](repeating: 0, count: 256)
        var status: Int32 = 0
        let count = output.withUnsafeMutableBufferPointer { buffer in
            ta_trial_run(program.rawValue, user.uid, user.gid, argument, Int32(timeout.milliseconds), buffer.baseAddress, buffer.count, &status)
        }
        if count < 0 { return .failure(Errno(rawValue: -count)) }
        if status == -1 { return .success(.timedOut) }
        return .success(.ended(code: ta_exit_code(status), output: String(decoding: output[0..<Int(count)], as: UTF8.self)))
    }
}
