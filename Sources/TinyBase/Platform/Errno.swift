import CShims

/// An error number from the C library, captured right after the failing call.
public struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's errno, read now.
    package static var current: Errno { Errno(rawValue: ta_errno()) }

    public static let notPermitted = Errno(rawValue: 1)
    public static let noSuchFile = Errno(rawValue: 2)
    public static let noDevice = Errno(rawValue: 6)
    public static let interrupted = Errno(rawValue: 4)
    public static let wouldBlock = Errno(rawValue: 11)
    public static let permissionDenied = Errno(rawValue: 13)
    public static let exists = Errno(rawValue: 17)
    public static let notFolder = Errno(rawValue: 20)
    public static let fileTooLarge = Errno(rawValue: 27)
    public static let tooManyLinks = Errno(rawValue: 40)
    public static let addressInUse = Errno(rawValue: 98)

    /// `strerror(3)`.
    public var description: String { String(cString: ta_strerror(rawValue)) }
}
