/// Output of the command-line tool.
public enum Console {
    /// A line on stdout.
    public static func out(_ text: String) { try? FileDescriptor(1).writeAll(text + "\n") }
    /// One line on stderr, prefixed with the program's name: `tinyagent`, the
    /// one people run, unless a helper program speaks for itself.
    public static func error(_ text: String, from program: String = "tinyagent") {
        try? FileDescriptor(2).writeAll("\(program): \(text)\n")
    }
}
